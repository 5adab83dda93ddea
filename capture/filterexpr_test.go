package capture

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/netburst/netburst/packet"
)

// runFilter runs a filter's program in x/net/bpf's VM (the kernel's classic
// BPF semantics) and returns the bytes it keeps of frame.
func runFilter(t *testing.T, f *Filter, ipOnly bool, frame []byte) int {
	t.Helper()
	return runFilterTag(t, f, ipOnly, frame, -1)
}

// runFilterTag is runFilter on a frame whose outer VLAN tag the kernel took
// out, with TCI tci (-1: none). The VM knows no VLAN ancillary loads: they
// become the constants the kernel's would load (same length, so the jumps
// hold).
func runFilterTag(t *testing.T, f *Filter, ipOnly bool, frame []byte, tci int) int {
	t.Helper()
	raw, err := f.Program(layers.LinkTypeEthernet, 128, ipOnly)
	if err != nil {
		t.Fatal(err)
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("%s: program does not disassemble", f)
	}
	for i, ins := range prog {
		switch e, _ := ins.(bpf.LoadExtension); e.Num {
		case bpf.ExtVLANTagPresent:
			prog[i] = bpf.LoadConstant{Dst: bpf.RegA, Val: map[bool]uint32{true: 1}[tci >= 0]}
		case bpf.ExtVLANTag: // read only where a tag is present
			prog[i] = bpf.LoadConstant{Dst: bpf.RegA, Val: uint32(max(tci, 0))}
		}
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("%s: the VM rejects the program: %v", f, err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	return min(n, len(frame))
}

// ext6 is an IPv6 extension header of 8*n bytes (hop-by-hop, routing or
// destination options) with a PadN option.
func ext6(next byte, n int) gopacket.Payload {
	h := make(gopacket.Payload, 8*n)
	h[0], h[1], h[2], h[3] = next, byte(n-1), 1, byte(8*n-4)
	return h
}

// ah6 is a 24-byte authentication header.
func ah6(next byte) gopacket.Payload {
	h := make(gopacket.Payload, 24)
	h[0], h[1], h[4], h[11] = next, 4, 0x11, 1
	return h
}

// tag is an 802.1Q-style tag of EtherType et (0x8100, 0x88a8, 0x9100)
// before a header of EtherType next.
func tagged(et layers.EthernetType, id uint16, next layers.EthernetType) []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et},
		&layers.Dot1Q{VLANIdentifier: id, Priority: 5, Type: next}}
}

// untag is the frame as the kernel hands it to a socket filter after taking
// its outer tag out (VLAN offload, or skb_vlan_untag on receive), with the
// tag's TCI; ok is false for a frame it leaves alone.
func untag(frame []byte) (b []byte, tci int, ok bool) {
	if et := binary.BigEndian.Uint16(frame[12:14]); et != packet.EtherTypeVLAN && et != packet.EtherTypeQinQ {
		return frame, -1, false
	}
	return append(append([]byte{}, frame[:12]...), frame[16:]...), int(binary.BigEndian.Uint16(frame[14:16])), true
}

// filterFrames are Ethernet frames (with tags and IPv6 extension headers
// within the documented bounds) where the filter language promises to agree
// with the decoder.
func filterFrames(t *testing.T) map[string][]byte {
	v4 := func(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	}
	v6 := func(src, dst string, next layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	}
	opts := v4("198.18.1.1", "198.18.2.2", layers.IPProtocolTCP)
	opts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	first := v4("198.18.1.1", "198.18.2.2", layers.IPProtocolUDP)
	first.Flags = layers.IPv4MoreFragments
	later := v4("198.18.1.1", "198.18.2.2", layers.IPProtocolUDP)
	later.FragOffset = 64
	with := func(ls []gopacket.SerializableLayer, more ...gopacket.SerializableLayer) []byte {
		return serialize(t, append(ls, more...)...)
	}
	qinq := func(next layers.EthernetType) []gopacket.SerializableLayer {
		return append(tagged(layers.EthernetTypeQinQ, 100, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 200, Type: next})
	}
	later6 := gopacket.Payload{0x1b, 0x58, 0x1b, 0x58, 0, 16, 0, 0} // what a UDP header to 7000 from 7000 would look like
	return map[string][]byte{
		"tcp6 hbh dst": serialize(t, eth(layers.EthernetTypeIPv6), v6("2001:db8::1", "2001:db8:1::2", layers.IPProtocolIPv6HopByHop),
			ext6(60, 1), ext6(6, 2), &layers.TCP{SrcPort: 40000, DstPort: 7000}, payload),
		"udp6 rt ah": serialize(t, eth(layers.EthernetTypeIPv6), v6("2001:db8:1::2", "2001:db8::1", layers.IPProtocolIPv6Routing),
			ext6(51, 1), ah6(17), &layers.UDP{SrcPort: 7000, DstPort: 53}, payload),
		"udp6 f1": serialize(t, eth(layers.EthernetTypeIPv6), v6("2001:db8::1", "2001:db8:1::2", layers.IPProtocolIPv6Fragment),
			frag6(17, 0, true, 9), &layers.UDP{SrcPort: 53, DstPort: 7000}, payload),
		"udp6 f2": serialize(t, eth(layers.EthernetTypeIPv6), v6("2001:db8::1", "2001:db8:1::2", layers.IPProtocolIPv6HopByHop),
			ext6(44, 1), frag6(17, 1448, false, 9), later6, payload),
		"tcp6 6 ext": serialize(t, eth(layers.EthernetTypeIPv6), v6("2001:db8::1", "2001:db8:1::2", layers.IPProtocolIPv6HopByHop),
			ext6(60, 1), ext6(43, 1), ext6(44, 3), frag6(51, 0, true, 7), ah6(60), ext6(6, 1), &layers.TCP{SrcPort: 7000, DstPort: 443}, payload),
		"icmp6 dst": serialize(t, eth(layers.EthernetTypeIPv6), v6("2001:db8::1", "fe80::1", layers.IPProtocolIPv6Destination),
			ext6(58, 1), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, payload),
		"tcp4 v5": with(tagged(layers.EthernetTypeDot1Q, 5, layers.EthernetTypeIPv4), v4("198.18.1.1", "198.18.2.2", layers.IPProtocolTCP),
			&layers.TCP{SrcPort: 40000, DstPort: 7000}, payload),
		"udp6 v5 hbh": with(tagged(layers.EthernetTypeDot1Q, 5, layers.EthernetTypeIPv6), v6("2001:db8:1::2", "2001:db8::1", layers.IPProtocolIPv6HopByHop),
			ext6(17, 1), &layers.UDP{SrcPort: 7000, DstPort: 53}, payload),
		"udp4 v7 9100": with(tagged(layers.EthernetType(packet.EtherTypeQinQ2), 7, layers.EthernetTypeIPv4), v4("198.18.2.2", "198.18.1.1", layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 7000, DstPort: 53}, payload),
		"udp4 qinq": with(qinq(layers.EthernetTypeIPv4), v4("198.18.2.2", "198.19.0.9", layers.IPProtocolUDP), &layers.UDP{SrcPort: 53, DstPort: 7001}, payload),
		"tcp6 qinq dst": with(qinq(layers.EthernetTypeIPv6), v6("2001:db8::1", "2001:db8:1::2", layers.IPProtocolIPv6Destination),
			ext6(6, 1), &layers.TCP{SrcPort: 40000, DstPort: 7000}, payload),
		"udp6 qinq f2": with(qinq(layers.EthernetTypeIPv6), v6("2001:db8::1", "2001:db8:1::2", layers.IPProtocolIPv6Fragment),
			frag6(17, 8, false, 3), later6, payload),
		"arp v5": with(tagged(layers.EthernetTypeDot1Q, 5, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: macA, SourceProtAddress: net.IP{198, 18, 1, 1}, DstHwAddress: macB, DstProtAddress: net.IP{198, 18, 2, 2}}),
		"tcp4":     serialize(t, eth(layers.EthernetTypeIPv4), v4("198.18.1.1", "198.18.2.2", layers.IPProtocolTCP), &layers.TCP{SrcPort: 40000, DstPort: 7000}, payload),
		"tcp4 opt": serialize(t, eth(layers.EthernetTypeIPv4), opts, &layers.TCP{SrcPort: 7000, DstPort: 443}, payload),
		"udp4":     serialize(t, eth(layers.EthernetTypeIPv4), v4("198.18.2.2", "198.18.1.1", layers.IPProtocolUDP), &layers.UDP{SrcPort: 53, DstPort: 7001}, payload),
		"udp4 f1":  serialize(t, eth(layers.EthernetTypeIPv4), first, &layers.UDP{SrcPort: 53, DstPort: 7000}, payload),
		"udp4 f2":  serialize(t, eth(layers.EthernetTypeIPv4), later, payload),
		"icmp4":    serialize(t, eth(layers.EthernetTypeIPv4), v4("198.18.1.1", "198.19.0.9", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload),
		"tcp6":     serialize(t, eth(layers.EthernetTypeIPv6), v6("2001:db8::1", "2001:db8:1::2", layers.IPProtocolTCP), &layers.TCP{SrcPort: 40000, DstPort: 7000}, payload),
		"udp6":     serialize(t, eth(layers.EthernetTypeIPv6), v6("2001:db8:1::2", "2001:db8::1", layers.IPProtocolUDP), &layers.UDP{SrcPort: 7000, DstPort: 53}, payload),
		"icmp6":    serialize(t, eth(layers.EthernetTypeIPv6), v6("2001:db8::1", "fe80::1", layers.IPProtocolICMPv6), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, payload),
		"arp": serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: macA, SourceProtAddress: net.IP{198, 18, 1, 1}, DstHwAddress: macB, DstProtAddress: net.IP{198, 18, 2, 2}}),
	}
}

// TestFilterMatchesDecoder compiles expressions, runs them in the BPF VM on
// generated frames and compares each verdict with the language's meaning
// written against the decoder's summary of the same frame.
func TestFilterMatchesDecoder(t *testing.T) {
	host := func(a string) func(p *packet.Packet) bool {
		x := netip.MustParseAddr(a)
		return func(p *packet.Packet) bool { return p.IPVersion != 0 && (p.Src == x || p.Dst == x) }
	}
	inNet := func(s string, src, dst bool) func(p *packet.Packet) bool {
		x := netip.MustParsePrefix(s)
		return func(p *packet.Packet) bool {
			return p.IPVersion != 0 && (src && x.Contains(p.Src) || dst && x.Contains(p.Dst))
		}
	}
	port := func(n uint16, src, dst bool) func(p *packet.Packet) bool {
		return func(p *packet.Packet) bool {
			return p.HasPorts && (p.Protocol == 6 || p.Protocol == 17) && (src && p.SrcPort == n || dst && p.DstPort == n)
		}
	}
	proto := func(v, pr uint8) func(p *packet.Packet) bool {
		return func(p *packet.Packet) bool { return p.IPVersion == v && p.Protocol == pr }
	}
	// vlan: the frame has at least n tags and the n-th is id.
	vlan := func(n int, id uint16) func(p *packet.Packet) bool {
		return func(p *packet.Packet) bool { return int(p.NumVLANs) >= n && p.VLANs[n-1] == id }
	}
	tests := []struct {
		expr string
		want func(p *packet.Packet) bool
	}{
		{"ip", func(p *packet.Packet) bool { return p.IPVersion == 4 }},
		{"ip6", func(p *packet.Packet) bool { return p.IPVersion == 6 }},
		{"tcp", func(p *packet.Packet) bool { return p.IPVersion != 0 && p.Protocol == 6 }},
		{"udp", func(p *packet.Packet) bool { return p.IPVersion != 0 && p.Protocol == 17 }},
		{"icmp", proto(4, 1)},
		{"icmp6", proto(6, 58)},
		{"not ip and not ip6", func(p *packet.Packet) bool { return p.IPVersion == 0 }},
		{"host 198.18.1.1", host("198.18.1.1")},
		{"src host 198.18.1.1", func(p *packet.Packet) bool { return p.IPVersion == 4 && p.Src == netip.MustParseAddr("198.18.1.1") }},
		{"dst host 198.18.1.1", func(p *packet.Packet) bool { return p.IPVersion == 4 && p.Dst == netip.MustParseAddr("198.18.1.1") }},
		{"host 2001:db8::1", host("2001:db8::1")},
		{"host ::ffff:198.18.2.2", host("198.18.2.2")},
		{"net 198.18.0.0/15", inNet("198.18.0.0/15", true, true)},
		{"dst net 198.19.0.0/16", inNet("198.19.0.0/16", false, true)},
		{"src net 198.18.2.0/23", inNet("198.18.2.0/23", true, false)},
		{"net 2001:db8:1::/48", inNet("2001:db8:1::/48", true, true)},
		{"src net 2001:db8::/33", inNet("2001:db8::/33", true, false)},
		{"net 0.0.0.0/0", func(p *packet.Packet) bool { return p.IPVersion == 4 }},
		{"net ::/0", func(p *packet.Packet) bool { return p.IPVersion == 6 }},
		{"port 7000", port(7000, true, true)},
		{"dst port 7000", port(7000, false, true)},
		{"src port 7000", port(7000, true, false)},
		{"udp and not port 53", func(p *packet.Packet) bool { return p.Protocol == 17 && p.IPVersion != 0 && !port(53, true, true)(p) }},
		{"tcp and dst port 7000 or icmp", func(p *packet.Packet) bool { return p.Protocol == 6 && port(7000, false, true)(p) || proto(4, 1)(p) }},
		{"tcp and (dst port 7000 or icmp)", func(p *packet.Packet) bool { return p.Protocol == 6 && port(7000, false, true)(p) }},
		{"not (udp or tcp)", func(p *packet.Packet) bool { return !(p.IPVersion != 0 && (p.Protocol == 6 || p.Protocol == 17)) }},
		{"not not ip", func(p *packet.Packet) bool { return p.IPVersion == 4 }},
		{"tcp port 7000", func(p *packet.Packet) bool { return p.Protocol == 6 && port(7000, true, true)(p) }},
		{"udp dst port 53", func(p *packet.Packet) bool { return p.Protocol == 17 && port(53, false, true)(p) }},
		{"tcp src port 7000 or udp src port 7000", port(7000, true, false)},
		{"udp and not udp port 7000", func(p *packet.Packet) bool { return p.IPVersion != 0 && p.Protocol == 17 && !port(7000, true, true)(p) }},
		// "vlan" first: every verdict is the decoder's reading of the
		// frame on the wire, whether the kernel took the outer tag out or
		// not. Each "vlan" moves what follows by a tag, so a primitive
		// after one "vlan" sees only singly tagged frames.
		{"vlan", func(p *packet.Packet) bool { return p.NumVLANs >= 1 }},
		{"vlan 5", vlan(1, 5)},
		{"vlan 200", vlan(1, 200)},
		{"vlan and ip", func(p *packet.Packet) bool { return p.NumVLANs == 1 && p.IPVersion == 4 }},
		{"vlan 5 and udp", func(p *packet.Packet) bool {
			return vlan(1, 5)(p) && p.NumVLANs == 1 && p.IPVersion != 0 && p.Protocol == 17
		}},
		{"vlan and tcp port 7000", func(p *packet.Packet) bool { return p.NumVLANs == 1 && p.Protocol == 6 && port(7000, true, true)(p) }},
		{"vlan and port 7000", func(p *packet.Packet) bool { return p.NumVLANs == 1 && port(7000, true, true)(p) }},
		{"vlan and not ip6", func(p *packet.Packet) bool { return p.NumVLANs >= 1 && !(p.NumVLANs == 1 && p.IPVersion == 6) }},
		{"vlan and (icmp or src port 7000)", func(p *packet.Packet) bool { return p.NumVLANs == 1 && (proto(4, 1)(p) || port(7000, true, false)(p)) }},
		{"vlan and host 198.18.1.1", func(p *packet.Packet) bool { return p.NumVLANs == 1 && host("198.18.1.1")(p) }},
		{"vlan and vlan", func(p *packet.Packet) bool { return p.NumVLANs >= 2 }},
		{"vlan 100 and vlan 200 and udp", func(p *packet.Packet) bool {
			return vlan(2, 200)(p) && p.VLANs[0] == 100 && p.NumVLANs == 2 && p.IPVersion != 0 && p.Protocol == 17
		}},
		{"vlan and vlan 200 and tcp dst port 7000", func(p *packet.Packet) bool {
			return vlan(2, 200)(p) && p.NumVLANs == 2 && p.Protocol == 6 && port(7000, false, true)(p)
		}},
		{"vlan 100 and vlan and (udp or net 2001:db8::/32)", func(p *packet.Packet) bool {
			return vlan(1, 100)(p) && p.NumVLANs == 2 && (p.IPVersion != 0 && p.Protocol == 17 || inNet("2001:db8::/32", true, true)(p))
		}},
		{"vlan 100 and vlan 200 and port 7000", func(p *packet.Packet) bool { return vlan(1, 100)(p) && p.NumVLANs == 2 && port(7000, true, true)(p) }},
		{"vlan and udp and not vlan", func(p *packet.Packet) bool { return p.NumVLANs == 1 && p.IPVersion != 0 && p.Protocol == 17 }},
	}
	dec, _ := packet.NewDecoder(layers.LinkTypeEthernet)
	decode := func(frame []byte) packet.Packet {
		var p packet.Packet
		_ = dec.Decode(frame, gopacket.CaptureInfo{}, &p)
		return p
	}
	tagInBytes := func(b []byte) bool {
		et := binary.BigEndian.Uint16(b[12:14])
		return et == packet.EtherTypeVLAN || et == packet.EtherTypeQinQ || et == packet.EtherTypeQinQ2
	}
	frames := filterFrames(t)
	for _, tt := range tests {
		f, err := ParseFilter(tt.expr)
		if err != nil {
			t.Fatalf("%q: %v", tt.expr, err)
		}
		vlanFirst := strings.HasPrefix(tt.expr, "vlan")
		if !vlanFirst && strings.Contains(tt.expr, "vlan") {
			t.Fatalf("%q: the table holds expressions that start with vlan or have none", tt.expr)
		}
		for name, frame := range frames {
			type variant struct {
				name  string
				bytes []byte
				tci   int
			}
			vs := []variant{{name, frame, -1}}
			if b, tci, ok := untag(frame); ok {
				vs = append(vs, variant{name + " (outer tag taken out by the kernel)", b, tci})
			}
			for _, v := range vs {
				inBytes := decode(v.bytes)
				// Without "vlan", the filter reads the bytes as they
				// are: a tag that the kernel took out is invisible,
				// one in the bytes hides the rest.
				p := inBytes
				if vlanFirst {
					p = decode(frame)
				} else if tagInBytes(v.bytes) {
					p = packet.Packet{}
				}
				want := 0
				if tt.want(&p) {
					want = min(128, len(frame))
				}
				if got := runFilterTag(t, f, false, v.bytes, v.tci); got != min(want, len(v.bytes)) {
					t.Errorf("%q on %s: keeps %d bytes, want %d", tt.expr, v.name, got, want)
				}
				// ipOnly adds "and (ip or ip6 or a tag in the bytes)".
				if inBytes.IPVersion == 0 && !tagInBytes(v.bytes) {
					want = 0
				}
				if got := runFilterTag(t, f, true, v.bytes, v.tci); got != min(want, len(v.bytes)) {
					t.Errorf("%q with ipOnly on %s: keeps %d bytes, want %d", tt.expr, v.name, got, want)
				}
			}
		}
	}
}

// TestFilterVLANShift pins the lexical shift of "vlan", libpcap's: what is
// written after a "vlan" reads 4 bytes further, whatever the grouping and
// whether or not that "vlan" matched.
func TestFilterVLANShift(t *testing.T) {
	fr := filterFrames(t)
	tests := []struct {
		expr, frame string
		tci         int // the kernel took the outer tag out: its TCI, else -1
		keep        bool
	}{
		{"vlan 100 or udp", "udp4", -1, false},        // udp is read 4 bytes on
		{"vlan 100 or udp", "udp4 v7 9100", -1, true}, // inside one tag
		{"not vlan and ip", "tcp4", -1, false},        // not "untagged IPv4": ip is read 4 bytes on
		{"ip and not vlan", "tcp4", -1, true},         // this is
		{"ip and not vlan", "tcp4 v5", -1, false},
		{"ip", "tcp4 v5", -1, false},           // a tag in the bytes hides the rest
		{"ip and vlan", "tcp4 v5", 5, true},    // before "vlan", a tag the kernel took out is invisible
		{"vlan and ip", "tcp4 v5", 5, true},    // the first "vlan" is the kernel's tag then, and shifts nothing
		{"vlan 6 and ip", "tcp4 v5", 5, false}, //
		{"vlan 5 and vlan", "udp6 v5 hbh", 5, false},
		{"(vlan and ip6) or (vlan and tcp)", "tcp4 v5", -1, false}, // the second vlan is read 4 bytes on, tcp 8
		{"(vlan and ip6) or (vlan and udp)", "udp4 qinq", -1, true},
		{"vlan and (ip or vlan and udp)", "udp4 qinq", -1, true},
		{"vlan and (ip or vlan and udp)", "udp4 qinq", 100<<0 | 3<<13, true}, // the kernel's TCI has the priority bits
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		b := fr[tt.frame]
		if tt.tci >= 0 {
			b, _, _ = untag(b)
		}
		if got := runFilterTag(t, f, false, b, tt.tci) > 0; got != tt.keep {
			t.Errorf("%q on %s (kernel tag %d): keeps %v, want %v", tt.expr, tt.frame, tt.tci, got, tt.keep)
		}
	}
}

// worstFilter has the most extension-header walks an expression can need
// (a walk per "vlan" depth, in both compilations of a program with "vlan").
const worstFilter = "tcp or vlan 1 and (port 1 or tcp) or vlan 2 and (port 2 or udp) or vlan 3 and (port 3 or icmp6) or vlan 4 and (udp src port 4 or tcp)"

// TestFilterLimits pins the documented limits: without "vlan" a tag in the
// bytes hides what follows; more than maxIPv6ExtHeaders extension headers
// hide the protocol; a frame too short for a field the filter reads is
// rejected as by tcpdump; the worst case of walks fits the kernel's limit,
// and a longer expression fails cleanly.
func TestFilterLimits(t *testing.T) {
	tagged := serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4},
		ip4(layers.IPProtocolUDP), udp(), payload)
	ext := serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), ext6(17, 1), udp(), payload)
	ls := []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop)}
	for range maxIPv6ExtHeaders {
		ls = append(ls, ext6(60, 1))
	}
	deep := serialize(t, append(ls, ext6(17, 1), udp(), payload)...)
	ls[len(ls)-1] = ext6(17, 1)
	deepest := serialize(t, append(ls, udp(), payload)...) // maxIPv6ExtHeaders headers
	cut := ext[:14+40+6]                                   // in the hop-by-hop header
	short := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp())[:30]
	dec, _ := packet.NewDecoder(layers.LinkTypeEthernet)
	var p packet.Packet
	if _ = dec.Decode(deep, gopacket.CaptureInfo{}, &p); p.Protocol != 17 || !p.HasPorts {
		t.Fatalf("the decoder reads %d (ports %v) behind %d extension headers", p.Protocol, p.HasPorts, maxIPv6ExtHeaders+1)
	}
	tests := []struct {
		expr  string
		frame []byte
		keep  bool
	}{
		{"udp", tagged, false},
		{"vlan and udp", tagged, true},
		{"udp", ext, true},
		{"udp", deepest, true},
		{"port 53", deepest, true},
		{"udp", deep, false}, // the decoder walks 16
		{"port 53", deep, false},
		{"ip6", deep, true},
		{"ip6 and not udp", cut, true},
		{"not port 53", short, false},
		{"ip", short, true},
		{worstFilter, deepest, false},
		{worstFilter, serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), tcp(), payload), true},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := runFilter(t, f, false, tt.frame) > 0; got != tt.keep {
			t.Errorf("%q keeps the frame: %v, want %v", tt.expr, got, tt.keep)
		}
	}
	for _, ipOnly := range []bool{false, true} {
		f, _ := ParseFilter(worstFilter)
		raw, err := f.Program(layers.LinkTypeEthernet, 128, ipOnly)
		if err != nil || len(raw) > maxBPFInstructions {
			t.Errorf("the worst case of walks: %d instructions, %v", len(raw), err)
		}
		t.Logf("%q: %d instructions", worstFilter, len(raw))
	}
	// Beyond classic BPF's 255-instruction conditional jumps, the
	// assembler jumps on; beyond the kernel's 4096 instructions, the
	// expression is refused.
	for n, ok := range map[int]bool{60: true, 400: false} {
		long := "port 1" + strings.Repeat(" or port 1", n)
		f, err := ParseFilter(long)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Program(layers.LinkTypeEthernet, 128, false); (err == nil) != ok || err != nil && !errors.Is(err, ErrFilter) {
			t.Errorf("%d ports: %v", n+1, err)
		}
	}
	if f, _ := ParseFilter("port 1" + strings.Repeat(" or port 1", 60)); runFilter(t, f, false, deepest) != 0 {
		t.Error("61 ports kept a datagram to port 53")
	}
}

func TestParseFilterErrors(t *testing.T) {
	for _, expr := range []string{
		"", "  ", "tcp and", "or udp", "(tcp", "tcp)", "port", "port http", "port 65536", "host 198.18.0", "net 198.18.0.1",
		"net ::ffff:0:0/96", "src tcp", "tcp udp", "vlan 4096", "vlan -1", "vlan 0x10", "vlan port 1", "udp port", "tcp src host 198.18.0.1",
		"icmp port 1", "vlan and vlan and vlan and vlan and vlan", strings.Repeat("(", 40) + "ip" + strings.Repeat(")", 40),
		strings.Repeat("not ", 40) + "ip",
	} {
		if f, err := ParseFilter(expr); err == nil {
			t.Errorf("%q parsed as %v", expr, f)
		} else if !errors.Is(err, ErrFilter) {
			t.Errorf("%q: error %v does not wrap ErrFilter", expr, err)
		}
	}
	f, _ := ParseFilter("tcp")
	if _, err := f.Program(layers.LinkTypeLinuxSLL, 128, false); !errors.Is(err, ErrFilter) {
		t.Errorf("a cooked-capture device took a filter: %v", err)
	}
}

// FuzzParseFilter: any expression parses or fails with ErrFilter, and what
// parses compiles to a program the VM accepts, or fails with ErrFilter.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"tcp and dst port 7000", "not (udp or host 2001:db8::1)", "src net 198.18.0.0/15 or icmp6", "((",
		"vlan 100 and vlan 200 and tcp port 80", "vlan and (udp src port 53 or not vlan 7)", "not vlan and ip6", "vlan 4095 or vlan", worstFilter} {
		f.Add(s)
	}
	frame := serialize(f, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp(), payload)
	frame6 := serialize(f, tagged(layers.EthernetTypeQinQ, 100, layers.EthernetTypeIPv6)[0], &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv6},
		ip6(layers.IPProtocolIPv6HopByHop), ext6(44, 1), frag6(6, 0, true, 1), tcp(), payload)
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := ParseFilter(expr)
		if err != nil {
			if !errors.Is(err, ErrFilter) {
				t.Fatalf("%q: %v", expr, err)
			}
			return
		}
		raw, err := flt.Program(layers.LinkTypeEthernet, 128, false)
		if err != nil {
			if !errors.Is(err, ErrFilter) {
				t.Fatalf("%q: %v", expr, err)
			}
			return
		}
		if len(raw) > maxBPFInstructions {
			t.Fatalf("%q: %d instructions", expr, len(raw))
		}
		for _, b := range [][]byte{frame, frame6} {
			runFilter(t, flt, false, b)
			if b2, tci, ok := untag(b); ok {
				runFilterTag(t, flt, true, b2, tci)
			}
		}
	})
}
