package bond

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netburst/netburst/packet"
	pt "github.com/netburst/netburst/packet/packettest"
)

// FromPacket must hash plain flows exactly as ParseFrame does.
func TestFromPacketMatchesFrame(t *testing.T) {
	udp := packet.Packet{
		HasEthernet: true, SrcMAC: macSrc, DstMAC: macDst, EtherType: 0x0800,
		IPVersion: 4, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		Protocol: 17, HasPorts: true, SrcPort: 40000, DstPort: 7000, L3Offset: 14, L4Offset: 34,
	}
	echo := packet.Packet{
		HasEthernet: true, SrcMAC: macSrc, DstMAC: macDst, EtherType: 0x0800,
		IPVersion: 4, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		Protocol: 1, HasICMP: true, ICMPType: 8, ICMPID: 0x1234, ICMPSeq: 1, L3Offset: 14, L4Offset: 34,
	}
	frag := udp
	frag.HasPorts, frag.MoreFragments = false, true
	v6 := packet.Packet{
		HasEthernet: true, SrcMAC: macSrc, DstMAC: macDst, EtherType: 0x86DD,
		IPVersion: 6, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"),
		Protocol: 17, HasPorts: true, SrcPort: 1000, DstPort: 2000, L3Offset: 14, L4Offset: 54,
	}
	v6hop := v6
	v6hop.L4Offset = 62
	cases := []struct {
		name  string
		p     packet.Packet
		frame []byte
	}{
		{"udp", udp, vectorTests[0].frame},
		{"echo", echo, ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 1, 0), icmp(8, 0, 0x1234, 1))},
		{"fragment", frag, ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0x2000), l4ports(40000, 7000))},
		{"ipv6", v6, ether(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 17), l4ports(1000, 2000))},
		{"ipv6 hop-by-hop", v6hop, ether(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 0), []byte{17, 0, 0, 0, 0, 0, 0, 0}, l4ports(1000, 2000))},
	}
	for _, c := range cases {
		var a, b Flow
		FromPacket(&c.p, &a)
		if err := ParseFrame(c.frame, &b); err != nil {
			t.Fatal(err)
		}
		for p := range policyNames {
			for v := range variantNames {
				h, err := NewHasher(Policy(p), Variant(v))
				if err != nil {
					continue
				}
				if x, y := h.Hash(&a), h.Hash(&b); x != y {
					t.Errorf("%s %s/%s: FromPacket %#x, ParseFrame %#x", c.name, h.Policy(), h.Variant(), x, y)
				}
			}
		}
	}
}

// TestFromPacketMatchesParseFrameTunnels: over frames of every tunnel the
// decoder opens, a PPPoE session and MPLS, FromPacket on the decoder's
// summary hashes exactly as ParseFrame, the kernel's formula, on the bytes,
// for every policy and kernel variant: encap2+3 and encap3+4 see through
// IP in IP, GRE and PPPoE and stop at UDP tunnels, ERSPAN and MPLS where the
// kernel's flow dissector does.
func TestFromPacketMatchesParseFrameTunnels(t *testing.T) {
	e4 := func() *layers.Ethernet { return pt.Eth(layers.EthernetTypeIPv4) }
	e6 := func() *layers.Ethernet { return pt.Eth(layers.EthernetTypeIPv6) }
	inner := []gopacket.SerializableLayer{pt.Eth(layers.EthernetTypeIPv4), pt.InnerIP4(layers.IPProtocolTCP), pt.InnerTCP(), pt.Payload}
	cat := func(ls []gopacket.SerializableLayer, more ...gopacket.SerializableLayer) []gopacket.SerializableLayer {
		return append(append([]gopacket.SerializableLayer{}, ls...), more...)
	}
	gtpInner := pt.Serialize(t, pt.InnerIP4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 2000, DstPort: 443}, pt.Payload)
	echo := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 77, Seq: 1}
	frames := map[string][]gopacket.SerializableLayer{
		"vxlan":           append([]gopacket.SerializableLayer{e4(), pt.IP4(layers.IPProtocolUDP), pt.OuterUDP(4789), pt.VXLAN(5)}, inner...),
		"vxlan over ipv6": append([]gopacket.SerializableLayer{e6(), pt.IP6(layers.IPProtocolUDP), pt.OuterUDP(8472), pt.VXLAN(5)}, inner...),
		"geneve":          append([]gopacket.SerializableLayer{e4(), pt.IP4(layers.IPProtocolUDP), pt.OuterUDP(6081), pt.Geneve(0x6558, 9, 1)}, inner...),
		"gtp-u": {e4(), pt.IP4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 2152, DstPort: 2152}, pt.GTPU(3, len(gtpInner), false),
			gopacket.Payload(gtpInner)},
		"ipip":        {e4(), pt.IP4(layers.IPProtocolIPv4), pt.InnerIP4(layers.IPProtocolTCP), pt.InnerTCP(), pt.Payload},
		"ipip echo":   {e4(), pt.IP4(layers.IPProtocolIPv4), pt.InnerIP4(layers.IPProtocolICMPv4), echo, pt.Payload},
		"6in4":        {e4(), pt.IP4(layers.IPProtocolIPv6), pt.InnerIP6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}, pt.Payload},
		"4in6":        {e6(), pt.IP6(layers.IPProtocolIPv4), pt.InnerIP4(layers.IPProtocolTCP), pt.InnerTCP(), pt.Payload},
		"gre key":     {e4(), pt.IP4(layers.IPProtocolGRE), pt.GRE(0x0800, true, 7, true), pt.InnerIP4(layers.IPProtocolTCP), pt.InnerTCP(), pt.Payload},
		"gretap":      append([]gopacket.SerializableLayer{e6(), pt.IP6(layers.IPProtocolGRE), pt.GRE(0x6558, false, 0xabcd01, false)}, inner...),
		"gretap arp":  {e4(), pt.IP4(layers.IPProtocolGRE), pt.GRE(0x6558, false, -1, false), pt.Eth(layers.EthernetTypeARP), gopacket.Payload(make([]byte, 28))},
		"erspan II":   cat([]gopacket.SerializableLayer{e4(), pt.IP4(layers.IPProtocolGRE), pt.GRE(0x88BE, false, -1, true), pt.ERSPAN2(5)}, inner...),
		"erspan III":  append([]gopacket.SerializableLayer{e4(), pt.IP4(layers.IPProtocolGRE), pt.GRE(0x22EB, false, -1, true), pt.ERSPAN3(5, true)}, inner...),
		"pppoe":       {pt.Eth(layers.EthernetTypePPPoESession), gopacket.Payload{0x11, 0, 0, 1, 0, 0, 0, 0x21}, pt.IP4(layers.IPProtocolUDP), pt.UDP(), pt.Payload},
		"pppoe ipv6":  {pt.Eth(layers.EthernetTypePPPoESession), gopacket.Payload{0x11, 0, 0, 1, 0, 0, 0, 0x57}, pt.IP6(layers.IPProtocolTCP), pt.TCP(), pt.Payload},
		"mpls":        {pt.Eth(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 5, StackBottom: true, TTL: 64}, pt.IP4(layers.IPProtocolTCP), pt.TCP(), pt.Payload},
		"plain":       {e4(), pt.IP4(layers.IPProtocolUDP), pt.UDP(), pt.Payload},
		"plain ipv6":  {e6(), pt.IP6(layers.IPProtocolTCP), pt.TCP(), pt.Payload},
		"tunnel port": {e4(), pt.IP4(layers.IPProtocolUDP), pt.OuterUDP(4789), gopacket.Payload(make([]byte, 30))}, // no VNI flag: plain UDP
	}
	dec, err := packet.NewDecoder(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for name, ls := range frames {
		frame := pt.Serialize(t, ls...)
		var p packet.Packet
		if err := dec.Decode(frame, gopacket.CaptureInfo{}, &p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var a, b Flow
		FromPacket(&p, &a)
		if err := ParseFrame(frame, &b); err != nil {
			t.Fatal(err)
		}
		for pol := range policyNames {
			for v := range variantNames {
				h, err := NewHasher(Policy(pol), Variant(v))
				if err != nil {
					continue
				}
				if x, y := h.Hash(&a), h.Hash(&b); x != y {
					t.Errorf("%s %s/%s: FromPacket %#x, ParseFrame %#x\nFromPacket %+v\nParseFrame %+v", name, h.Policy(), h.Variant(), x, y, a, b)
				}
			}
		}
	}
}
