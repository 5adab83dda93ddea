package capture

import (
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
	raw, err := f.Program(layers.LinkTypeEthernet, 128, ipOnly)
	if err != nil {
		t.Fatal(err)
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("%s: program does not disassemble", f)
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

// filterFrames are untagged Ethernet frames without IPv6 extension headers,
// where the filter language promises to agree with the decoder.
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
	return map[string][]byte{
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
	}
	dec, _ := packet.NewDecoder(layers.LinkTypeEthernet)
	frames := filterFrames(t)
	for _, tt := range tests {
		f, err := ParseFilter(tt.expr)
		if err != nil {
			t.Fatalf("%q: %v", tt.expr, err)
		}
		for name, frame := range frames {
			var p packet.Packet
			_ = dec.Decode(frame, gopacket.CaptureInfo{}, &p)
			want := 0
			if tt.want(&p) {
				want = min(128, len(frame))
			}
			if got := runFilter(t, f, false, frame); got != want {
				t.Errorf("%q on %s: keeps %d bytes, want %d", tt.expr, name, got, want)
			}
			// ipOnly adds "and (ip or ip6)".
			if p.IPVersion == 0 {
				want = 0
			}
			if got := runFilter(t, f, true, frame); got != want {
				t.Errorf("%q with ipOnly on %s: keeps %d bytes, want %d", tt.expr, name, got, want)
			}
		}
	}
}

// TestFilterLimits pins the documented limits: tests see the bytes of the
// frame only, so a tag in the bytes or an IPv6 extension header hides what
// follows, and a frame too short for a field is rejected as by tcpdump.
func TestFilterLimits(t *testing.T) {
	tagged := serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4},
		ip4(layers.IPProtocolUDP), udp(), payload)
	ext := serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), gopacket.Payload{17, 0, 1, 4, 0, 0, 0, 0}, udp(), payload)
	short := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp())[:30]
	tests := []struct {
		expr  string
		frame []byte
		keep  bool
	}{
		{"udp", tagged, false},
		{"udp", ext, false},
		{"ip6", ext, true},
		{"not port 53", short, false},
		{"ip", short, true},
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
}

func TestParseFilterErrors(t *testing.T) {
	for _, expr := range []string{
		"", "  ", "tcp and", "or udp", "(tcp", "tcp)", "port", "port http", "port 65536", "host 198.18.0", "net 198.18.0.1",
		"net ::ffff:0:0/96", "src tcp", "vlan 5", "tcp udp", strings.Repeat("(", 40) + "ip" + strings.Repeat(")", 40),
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
	long := "port 1" + strings.Repeat(" or port 1", 100)
	if f, err := ParseFilter(long); err != nil {
		t.Fatal(err)
	} else if _, err := f.Program(layers.LinkTypeEthernet, 128, false); !errors.Is(err, ErrFilter) {
		t.Errorf("an expression beyond classic BPF's jumps compiled: %v", err)
	}
}

// FuzzParseFilter: any expression parses or fails with ErrFilter, and what
// parses compiles to a program the VM accepts, or fails with ErrFilter.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"tcp and dst port 7000", "not (udp or host 2001:db8::1)", "src net 198.18.0.0/15 or icmp6", "(("} {
		f.Add(s)
	}
	frame := serialize(f, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp(), payload)
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
		prog, _ := bpf.Disassemble(raw)
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%q: the VM rejects the program: %v", expr, err)
		}
		if _, err := vm.Run(frame); err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
	})
}
