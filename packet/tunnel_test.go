package packet

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netburst/netburst/packet/packettest"
)

// tunnelFrame is one encapsulated frame and what the decoder must make of
// it: the innermost IP packet's fields, the outermost tunnel and its
// underlay.
type tunnelFrame struct {
	name         string
	frame        []byte
	tunnel       Tunnel
	tunnels      uint8
	id           uint32
	hasID        bool
	src, dst     netip.Addr // innermost IP addresses
	proto        uint8
	sport, dport uint16
	hasPorts     bool
	outerProto   uint8
	outerSrc     netip.Addr
	outerDst     netip.Addr
	outerDport   uint16
	l3           int // innermost IP header's offset
}

func tunnelFrames(t testing.TB) []tunnelFrame {
	v4a, v4b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	i4a, i4b := netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("198.19.0.2")
	i6a, i6b := netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::2")
	e4 := func() *layers.Ethernet { return eth(layers.EthernetTypeIPv4) }
	e6 := func() *layers.Ethernet { return eth(layers.EthernetTypeIPv6) }
	inner := func() []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), packettest.InnerIP4(layers.IPProtocolTCP), packettest.InnerTCP(), payload}
	}
	ser := func(ls ...any) []byte { return serialize(t, packettest.Layers(ls...)...) }
	gtpInner := ser(packettest.InnerIP6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 2000, DstPort: 443}, payload)
	// Offsets: Ethernet 14, IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14.
	return []tunnelFrame{
		{name: "vxlan 4789", frame: ser(e4(), ip4(layers.IPProtocolUDP), packettest.OuterUDP(4789), packettest.VXLAN(5001), inner()),
			tunnel: TunnelVXLAN, tunnels: 1, id: 5001, hasID: true, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 17, outerSrc: v4a, outerDst: v4b, outerDport: 4789, l3: 14 + 20 + 8 + 8 + 14},
		{name: "vxlan 8472 (Linux default) over ipv6", frame: ser(e6(), ip6(layers.IPProtocolUDP), packettest.OuterUDP(8472), packettest.VXLAN(7), inner()),
			tunnel: TunnelVXLAN, tunnels: 1, id: 7, hasID: true, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 17, outerSrc: v6a, outerDst: v6b, outerDport: 8472, l3: 14 + 40 + 8 + 8 + 14},
		{name: "vxlan without its VNI flag stays udp", frame: ser(e4(), ip4(layers.IPProtocolUDP), packettest.OuterUDP(4789), gopacket.Payload{0, 0, 0, 0, 0, 0, 1, 0}, inner()),
			src: v4a, dst: v4b, proto: 17, sport: 51000, dport: 4789, hasPorts: true, l3: 14},
		{name: "vxlan carrying arp counts under the tunnel", frame: ser(e4(), ip4(layers.IPProtocolUDP), packettest.OuterUDP(4789), packettest.VXLAN(9),
			eth(layers.EthernetTypeARP), gopacket.Payload(make([]byte, 28))),
			tunnel: TunnelVXLAN, tunnels: 1, id: 9, hasID: true, src: v4a, dst: v4b, proto: 17, sport: 51000, dport: 4789, hasPorts: true,
			outerProto: 17, outerSrc: v4a, outerDst: v4b, outerDport: 4789, l3: 14},
		{name: "geneve ethernet with options", frame: ser(e4(), ip4(layers.IPProtocolUDP), packettest.OuterUDP(6081), packettest.Geneve(0x6558, 0x123456, 3), inner()),
			tunnel: TunnelGeneve, tunnels: 1, id: 0x123456, hasID: true, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 17, outerSrc: v4a, outerDst: v4b, outerDport: 6081, l3: 14 + 20 + 8 + 8 + 12 + 14},
		{name: "geneve ipv6 payload", frame: ser(e4(), ip4(layers.IPProtocolUDP), packettest.OuterUDP(6081), packettest.Geneve(0x86DD, 3, 0),
			packettest.InnerIP6(layers.IPProtocolTCP), packettest.InnerTCP(), payload),
			tunnel: TunnelGeneve, tunnels: 1, id: 3, hasID: true, src: i6a, dst: i6b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 17, outerSrc: v4a, outerDst: v4b, outerDport: 6081, l3: 14 + 20 + 8 + 8},
		{name: "gre ipv4 with checksum key sequence", frame: ser(e4(), ip4(layers.IPProtocolGRE), packettest.GRE(0x0800, true, 77, true),
			packettest.InnerIP4(layers.IPProtocolTCP), packettest.InnerTCP(), payload),
			tunnel: TunnelGRE, tunnels: 1, id: 77, hasID: true, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 47, outerSrc: v4a, outerDst: v4b, l3: 14 + 20 + 16},
		{name: "gretap (NVGRE key) over ipv6", frame: ser(e6(), ip6(layers.IPProtocolGRE), packettest.GRE(0x6558, false, 0x00abcd01, false), inner()),
			tunnel: TunnelGRE, tunnels: 1, id: 0x00abcd01, hasID: true, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 47, outerSrc: v6a, outerDst: v6b, l3: 14 + 40 + 8 + 14},
		{name: "gre without key", frame: ser(e4(), ip4(layers.IPProtocolGRE), packettest.GRE(0x86DD, false, -1, false),
			packettest.InnerIP6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}, payload),
			tunnel: TunnelGRE, tunnels: 1, src: i6a, dst: i6b, proto: 17, sport: 1, dport: 2, hasPorts: true,
			outerProto: 47, outerSrc: v4a, outerDst: v4b, l3: 14 + 20 + 4},
		{name: "erspan type II", frame: ser(e4(), ip4(layers.IPProtocolGRE), packettest.GRE(0x88BE, false, -1, true), packettest.ERSPAN2(300), inner()),
			tunnel: TunnelERSPAN, tunnels: 1, id: 300, hasID: true, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 47, outerSrc: v4a, outerDst: v4b, l3: 14 + 20 + 8 + 8 + 14},
		{name: "erspan type I", frame: ser(e4(), ip4(layers.IPProtocolGRE), packettest.GRE(0x88BE, false, -1, false), inner()),
			tunnel: TunnelERSPAN, tunnels: 1, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 47, outerSrc: v4a, outerDst: v4b, l3: 14 + 20 + 4 + 14},
		{name: "erspan type III with platform subheader", frame: ser(e4(), ip4(layers.IPProtocolGRE), packettest.GRE(0x22EB, false, -1, true), packettest.ERSPAN3(1023, true), inner()),
			tunnel: TunnelERSPAN, tunnels: 1, id: 1023, hasID: true, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 47, outerSrc: v4a, outerDst: v4b, l3: 14 + 20 + 8 + 20 + 14},
		{name: "ipip", frame: ser(e4(), ip4(layers.IPProtocolIPv4), packettest.InnerIP4(layers.IPProtocolTCP), packettest.InnerTCP(), payload),
			tunnel: TunnelIPIP, tunnels: 1, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 4, outerSrc: v4a, outerDst: v4b, l3: 34},
		{name: "6in4 (sit)", frame: ser(e4(), ip4(layers.IPProtocolIPv6), packettest.InnerIP6(layers.IPProtocolTCP), packettest.InnerTCP(), payload),
			tunnel: TunnelIPIP, tunnels: 1, src: i6a, dst: i6b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 41, outerSrc: v4a, outerDst: v4b, l3: 34},
		{name: "4in6 (ip6tnl)", frame: ser(e6(), ip6(layers.IPProtocolIPv4), packettest.InnerIP4(layers.IPProtocolTCP), packettest.InnerTCP(), payload),
			tunnel: TunnelIPIP, tunnels: 1, src: i4a, dst: i4b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 4, outerSrc: v6a, outerDst: v6b, l3: 54},
		{name: "gtp-u with extension header", frame: ser(e4(), ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 2152, DstPort: 2152},
			packettest.GTPU(0xdeadbeef, len(gtpInner), true), gopacket.Payload(gtpInner)),
			tunnel: TunnelGTPU, tunnels: 1, id: 0xdeadbeef, hasID: true, src: i6a, dst: i6b, proto: 17, sport: 2000, dport: 443, hasPorts: true,
			outerProto: 17, outerSrc: v4a, outerDst: v4b, outerDport: 2152, l3: 14 + 20 + 8 + 16},
		{name: "vxlan inside gre: the outermost tunnel is recorded", frame: ser(e4(), ip4(layers.IPProtocolGRE), packettest.GRE(0x0800, false, 5, false),
			packettest.InnerIP4(layers.IPProtocolUDP), packettest.OuterUDP(4789), packettest.VXLAN(42), eth(layers.EthernetTypeIPv6),
			packettest.InnerIP6(layers.IPProtocolTCP), packettest.InnerTCP(), payload),
			tunnel: TunnelGRE, tunnels: 2, id: 5, hasID: true, src: i6a, dst: i6b, proto: 6, sport: 41000, dport: 3260, hasPorts: true,
			outerProto: 47, outerSrc: v4a, outerDst: v4b, l3: 14 + 20 + 8 + 20 + 8 + 8 + 14},
	}
}

func TestDecodeTunnels(t *testing.T) {
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	for _, c := range tunnelFrames(t) {
		var p Packet
		if err := d.Decode(c.frame, gopacket.CaptureInfo{}, &p); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Tunnel != c.tunnel || p.Tunnels != c.tunnels || p.TunnelID != c.id || p.HasTunnelID != c.hasID {
			t.Errorf("%s: tunnel %v x%d id %d (%v), want %v x%d id %d (%v)", c.name, p.Tunnel, p.Tunnels, p.TunnelID, p.HasTunnelID, c.tunnel, c.tunnels, c.id, c.hasID)
		}
		if p.Src != c.src || p.Dst != c.dst || p.Protocol != c.proto || p.HasPorts != c.hasPorts || p.SrcPort != c.sport || p.DstPort != c.dport {
			t.Errorf("%s: inner %v -> %v proto %d ports %v %d -> %d, want %v -> %v proto %d ports %v %d -> %d", c.name,
				p.Src, p.Dst, p.Protocol, p.HasPorts, p.SrcPort, p.DstPort, c.src, c.dst, c.proto, c.hasPorts, c.sport, c.dport)
		}
		compareGopacket(t, c.frame, &p) // where gopacket opens the same tunnels
		if p.L3Offset != c.l3 {
			t.Errorf("%s: inner IP header at %d, want %d", c.name, p.L3Offset, c.l3)
		}
		if c.tunnel == TunnelNone {
			continue
		}
		if o := p.Outer; o.Src != c.outerSrc || o.Dst != c.outerDst || o.Protocol != c.outerProto || o.DstPort != c.outerDport || o.L3Offset != 14 {
			t.Errorf("%s: outer %+v, want %v -> %v proto %d port %d at 14", c.name, o, c.outerSrc, c.outerDst, c.outerProto, c.outerDport)
		}
		// The outer frame's own fields stay.
		if !p.HasEthernet || p.SrcMAC != [6]byte(macA) || (p.EtherType != EtherTypeIPv4 && p.EtherType != EtherTypeIPv6) {
			t.Errorf("%s: outer ethernet %v %v ethertype %#x", c.name, p.HasEthernet, p.SrcMAC, p.EtherType)
		}
	}
}

// TestDecodeTunnelsTruncated cuts every tunnel frame at every length: the
// decoder must return a typed error or none, never panic, and a frame cut
// inside the tunnel's payload counts under the tunnel's own header.
func TestDecodeTunnelsTruncated(t *testing.T) {
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	for _, c := range tunnelFrames(t) {
		for n := 0; n < len(c.frame); n++ {
			var p Packet
			err := d.Decode(c.frame[:n], gopacket.CaptureInfo{}, &p)
			if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s cut at %d: untyped %v", c.name, n, err)
			}
			if p.Tunnel != TunnelNone && p.IPVersion == 0 {
				t.Fatalf("%s cut at %d: tunnel %v without any IP header", c.name, n, p.Tunnel)
			}
			if c.tunnels == 1 && p.Tunnel != TunnelNone && n <= c.l3 && p.Src != p.Outer.Src {
				t.Fatalf("%s cut at %d before the inner IP header: counted under %v, not the tunnel's %v", c.name, n, p.Src, p.Outer.Src)
			}
		}
	}
}

func TestDecodeTunnelBounds(t *testing.T) {
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	// IPIP nested deeper than maxTunnels: the decoder stops and says so.
	ls := []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}
	for i := 0; i < maxTunnels+2; i++ {
		ls = append(ls, ip4(layers.IPProtocolIPv4))
	}
	ls = append(ls, ip4(layers.IPProtocolUDP), udp(), payload)
	var p Packet
	if err := d.Decode(serialize(t, ls...), gopacket.CaptureInfo{}, &p); !errors.Is(err, ErrMalformed) {
		t.Errorf("%d nested IPIP headers: %v, want ErrMalformed", maxTunnels+2, err)
	}
	if p.Tunnels != maxTunnels || p.IPVersion != 4 {
		t.Errorf("nested IPIP: %d tunnels opened, IP version %d", p.Tunnels, p.IPVersion)
	}
	// A GTP-U extension header of length 0 would loop forever.
	gtp := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 2152, DstPort: 2152},
		gopacket.Payload{0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 0, 0, 0, 0})
	if err := d.Decode(gtp, gopacket.CaptureInfo{}, &p); !errors.Is(err, ErrMalformed) {
		t.Errorf("gtp-u extension of length 0: %v, want ErrMalformed", err)
	}
	if p.Tunnel != TunnelNone || p.DstPort != 2152 {
		t.Errorf("gtp-u extension of length 0: tunnel %v port %d, want the plain datagram", p.Tunnel, p.DstPort)
	}
}

// TestDecodeTunnelAllocs holds the tunnel decode to the fast path's rule:
// nothing allocated per frame.
func TestDecodeTunnelAllocs(t *testing.T) {
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	frames := tunnelFrames(t)
	var p Packet
	if n := testing.AllocsPerRun(100, func() {
		for _, c := range frames {
			_ = d.Decode(c.frame, gopacket.CaptureInfo{}, &p)
		}
	}); n != 0 {
		t.Errorf("%v allocations per run of %d tunnel frames", n, len(frames))
	}
}

func BenchmarkDecodeTunnels(b *testing.B) {
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	frames := tunnelFrames(b)
	var p Packet
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = d.Decode(frames[i%len(frames)].frame, gopacket.CaptureInfo{}, &p)
	}
}
