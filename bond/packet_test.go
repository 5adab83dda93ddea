package bond

import (
	"net/netip"
	"testing"

	"github.com/netburst/netburst/packet"
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
