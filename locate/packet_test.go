package locate

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netburst/netburst/packet"
	pt "github.com/netburst/netburst/packet/packettest"
)

func TestFromPacket(t *testing.T) {
	at := time.Date(2019, 4, 3, 19, 53, 8, 850831000, time.UTC)
	a4, b4 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	icmp := func(proto, typ uint8, src, dst netip.Addr) packet.Packet {
		v := uint8(4)
		if src.Is6() {
			v = 6
		}
		return packet.Packet{Time: at, IPVersion: v, Src: src, Dst: dst, Protocol: proto,
			HasICMP: true, ICMPType: typ, ICMPID: 21616, ICMPSeq: 110, L3Offset: 14, L4Offset: 34}
	}
	frag := icmp(1, 8, a4, b4)
	frag.MoreFragments = true
	later := icmp(1, 0, b4, a4)
	later.FragmentOffset = 1480
	cases := []struct {
		name string
		p    packet.Packet
		ok   bool
		want Observation
	}{
		{"ipv4 request", icmp(1, 8, a4, b4), true, Observation{Point: 3, Time: at, Src: a4, Dst: b4, ID: 21616, Seq: 110}},
		{"ipv4 reply", icmp(1, 0, b4, a4), true, Observation{Point: 3, Time: at, Src: b4, Dst: a4, ID: 21616, Seq: 110, Reply: true}},
		{"ipv6 request", icmp(58, 128, a6, b6), true, Observation{Point: 3, Time: at, Src: a6, Dst: b6, ID: 21616, Seq: 110}},
		{"ipv6 reply", icmp(58, 129, b6, a6), true, Observation{Point: 3, Time: at, Src: b6, Dst: a6, ID: 21616, Seq: 110, Reply: true}},
		// Type 8 is an echo request in ICMP only; ICMPv6's 128 in ICMPv6 only.
		{"icmpv6 type 8", icmp(58, 8, a6, b6), false, Observation{}},
		{"icmp type 128", icmp(1, 128, a4, b4), false, Observation{}},
		{"unreachable", icmp(1, 3, a4, b4), false, Observation{}},
		{"first fragment", frag, false, Observation{}},
		{"later fragment", later, false, Observation{}},
		{"udp", packet.Packet{Time: at, IPVersion: 4, Src: a4, Dst: b4, Protocol: 17, HasPorts: true, SrcPort: 1, DstPort: 2}, false, Observation{}},
		{"not ip", packet.Packet{Time: at, EtherType: 0x0806, L3Offset: -1, L4Offset: -1}, false, Observation{}},
	}
	for _, c := range cases {
		got := Observation{Point: -1}
		ok := FromPacket(&c.p, 3, &got)
		if ok != c.ok {
			t.Errorf("%s: FromPacket = %v, want %v", c.name, ok, c.ok)
			continue
		}
		if ok && got != c.want {
			t.Errorf("%s: observation %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestFromPacketTunnelled: an echo inside an overlay, as a hypervisor's
// physical NIC sees it, is the same observation as at the VM's vif: the
// decoder opens the tunnel and FromPacket reads the inner echo.
func TestFromPacketTunnelled(t *testing.T) {
	dec, err := packet.NewDecoder(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	echo := func() []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{pt.InnerIP4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 0x77, Seq: 9}, pt.Payload}
	}
	plain := pt.Serialize(t, append([]gopacket.SerializableLayer{pt.Eth(layers.EthernetTypeIPv4)}, echo()...)...)
	vxlan := pt.Serialize(t, append([]gopacket.SerializableLayer{pt.Eth(layers.EthernetTypeIPv4), pt.IP4(layers.IPProtocolUDP),
		pt.OuterUDP(4789), pt.VXLAN(100), pt.Eth(layers.EthernetTypeIPv4)}, echo()...)...)
	gre := pt.Serialize(t, append([]gopacket.SerializableLayer{pt.Eth(layers.EthernetTypeIPv4), pt.IP4(layers.IPProtocolGRE),
		pt.GRE(0x0800, false, 5, false)}, echo()...)...)
	var want Observation
	var p packet.Packet
	if err := dec.Decode(plain, gopacket.CaptureInfo{}, &p); err != nil || !FromPacket(&p, 0, &want) {
		t.Fatalf("plain echo: %v", err)
	}
	for name, frame := range map[string][]byte{"vxlan": vxlan, "gre": gre} {
		var got Observation
		if err := dec.Decode(frame, gopacket.CaptureInfo{}, &p); err != nil || !FromPacket(&p, 0, &got) {
			t.Errorf("%s: not an observation (%v)", name, err)
			continue
		}
		if got != want {
			t.Errorf("%s: %+v, want the vif's %+v", name, got, want)
		}
	}
}
