package bond

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseFlow(t *testing.T) {
	f, pk, by, err := ParseFlow("icmp:198.18.0.1-198.18.0.2,id=0x1234,type=0,packets=3,bytes=252,smac=52:54:00:12:34:56,vlan=100,prio=5")
	if err != nil {
		t.Fatal(err)
	}
	if pk != 3 || by != 252 || f.Net.ICMPID != 0x1234 || f.Net.ICMPType != 0 || !f.HasVLAN || f.VLANTCI != 5<<13|100 || f.SrcMAC[0] != 0x52 {
		t.Errorf("flow %+v packets %d bytes %d", f, pk, by)
	}
	f, _, _, err = ParseFlow("udp:[2001:db8::1]:1000-[2001:db8::2]:2000,frag=true")
	if err != nil || !f.Net.Fragment || f.Net.Proto != 44 || f.Encap.Proto != 17 {
		t.Errorf("v6 fragment: %v %+v", err, f.Net)
	}

	a1, a2 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	b1, b2 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	cases := []struct {
		in             string
		want           Header // Net; Encap equals it
		etherType      uint16
		packets, bytes uint64
	}{
		// Ports are source << 16 | destination, as on the wire.
		{"tcp:198.18.0.1:40000-198.18.0.2:7000", Header{Valid: true, Src: a1, Dst: a2, Proto: 6, HasL4: true, Ports: 40000<<16 | 7000}, 0x0800, 1, 0},
		{"UDP:198.18.0.1:1-198.18.0.2:2,packets=7,bytes=9000", Header{Valid: true, Src: a1, Dst: a2, Proto: 17, HasL4: true, Ports: 1<<16 | 2}, 0x0800, 7, 9000},
		{"sctp:198.18.0.1:1-198.18.0.2:2", Header{Valid: true, Src: a1, Dst: a2, Proto: 132, HasL4: true, Ports: 1<<16 | 2}, 0x0800, 1, 0},
		// An IPv4-mapped address is the IPv4 address.
		{"udp:[::ffff:198.18.0.1]:1-198.18.0.2:2", Header{Valid: true, Src: a1, Dst: a2, Proto: 17, HasL4: true, Ports: 1<<16 | 2}, 0x0800, 1, 0},
		{"udp:[2001:db8::1]:1000-[2001:db8::2]:2000", Header{Valid: true, Src: b1, Dst: b2, Proto: 17, HasL4: true, Ports: 1000<<16 | 2000}, 0x86DD, 1, 0},
		// ICMP defaults to an echo request: type 8, ICMPv6 128.
		{"icmp:198.18.0.1-198.18.0.2", Header{Valid: true, Src: a1, Dst: a2, Proto: 1, HasICMP: true, ICMPType: 8}, 0x0800, 1, 0},
		{"icmp6:[2001:db8::1]-[2001:db8::2],id=7", Header{Valid: true, Src: b1, Dst: b2, Proto: 58, HasICMP: true, ICMPType: 128, ICMPID: 7}, 0x86DD, 1, 0},
		{"icmpv6:[2001:db8::1]-[2001:db8::2],type=1,code=4", Header{Valid: true, Src: b1, Dst: b2, Proto: 58, HasICMP: true, ICMPType: 1, ICMPCode: 4}, 0x86DD, 1, 0},
		// The SPI is hashed where the ports are.
		{"esp:198.18.0.1-198.18.0.2,spi=0x1234", Header{Valid: true, Src: a1, Dst: a2, Proto: 50, HasL4: true, Ports: 0x1234}, 0x0800, 1, 0},
		{"47:198.18.0.1-198.18.0.2", Header{Valid: true, Src: a1, Dst: a2, Proto: 47}, 0x0800, 1, 0},
		// An IPv4 fragment keeps its protocol (bond_flow_ip reads it).
		{"udp:198.18.0.1:1-198.18.0.2:2,frag=1", Header{Valid: true, Src: a1, Dst: a2, Proto: 17, HasL4: true, Ports: 1<<16 | 2, Fragment: true}, 0x0800, 1, 0},
	}
	for _, c := range cases {
		f, pk, by, err := ParseFlow(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if f.Net != c.want || f.Encap != c.want || !f.EncapOK || f.EtherType != c.etherType || pk != c.packets || by != c.bytes {
			t.Errorf("%s: net %+v encap %+v (ok %v) ethertype %#x, %d packets %d bytes; want net %+v ethertype %#x %d %d",
				c.in, f.Net, f.Encap, f.EncapOK, f.EtherType, pk, by, c.want, c.etherType, c.packets, c.bytes)
		}
	}
}

func TestParseFlowErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"tcp198.18.0.1", "no protocol"},
		{"bogus:198.18.0.1:1-198.18.0.2:2", `unknown protocol "bogus"`},
		{"256:198.18.0.1-198.18.0.2", `unknown protocol "256"`},
		{"tcp:198.18.0.1:1198.18.0.2:2", "no '-' between source and destination"},
		{"tcp:198.18.0.1-198.18.0.2:2", "source: port missing"},
		{"icmp:198.18.0.1:5-198.18.0.2", "source: this protocol has no ports"},
		{"udp:198.18.0.1:1-198.18.0.2:99999", "destination: port:"},
		{"udp:[2001:db8::1:1-[2001:db8::2]:2", "missing ']'"},
		{"udp:[2001:db8::1]x-[2001:db8::2]:2", `unexpected "x" after ']'`},
		{"udp:[fe80::1%eth0]:1-[fe80::2]:2", "zones are not part of a flow"},
		{"tcp:198.18.0.1:1-[2001:db8::1]:2", "different address families"},
		{"tcp:198.18.0.1:1-198.18.0.2:2,color=red", `unknown option "color"`},
		{"tcp:198.18.0.1:1-198.18.0.2:2,vlan", `option "vlan" is not key=value`},
		{"tcp:198.18.0.1:1-198.18.0.2:2,vlan=5000", "option vlan:"},
		{"tcp:198.18.0.1:1-198.18.0.2:2,smac=zz", "option smac:"},
		{"tcp:198.18.0.1:1-198.18.0.2:2,dmac=02:00:00:00:00:00:00:01", "not a 6-byte MAC address"},
		{"tcp:198.18.0.1:1-198.18.0.2:2,prio=3", "prio= needs vlan="},
		{"tcp:198.18.0.1:1-198.18.0.2:2,id=3", "id= needs protocol icmp or icmpv6"},
		{"tcp:198.18.0.1:1-198.18.0.2:2,type=3", "type= needs protocol icmp or icmpv6"},
		{"udp:198.18.0.1:1-198.18.0.2:2,spi=3", "spi= needs protocol esp or ah"},
	}
	for _, c := range cases {
		_, pk, by, err := ParseFlow(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), `FLOW "`+c.in+`": `) {
			t.Errorf("%s: error %v, want one naming the FLOW and %q", c.in, err, c.want)
		}
		if pk != 0 || by != 0 {
			t.Errorf("%s: %d packets %d bytes with an error", c.in, pk, by)
		}
	}
}
