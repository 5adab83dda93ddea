package bond

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// Test frames. MACs 02:00:00:00:00:01 (source) and 02:00:00:00:00:02
// (destination) give h_source[5] ^ h_dest[5] = 0x01 ^ 0x02 = 0x03.
var (
	macSrc = [6]byte{2, 0, 0, 0, 0, 1}
	macDst = [6]byte{2, 0, 0, 0, 0, 2}
)

func ether(et uint16, payload ...[]byte) []byte {
	b := append(append([]byte{}, macDst[:]...), macSrc[:]...)
	b = binary.BigEndian.AppendUint16(b, et)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

// ipv4 returns a 20-byte IPv4 header; frag is the flags+offset field.
func ipv4(src, dst string, proto byte, frag uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	h := []byte{0x45, 0, 0, 0, 0, 0, byte(frag >> 8), byte(frag), 64, proto, 0, 0}
	return append(append(h, s[:]...), d[:]...)
}

func ipv6(src, dst string, next byte) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	h := []byte{0x60, 0, 0, 0, 0, 0, next, 64}
	return append(append(h, s[:]...), d[:]...)
}

func l4ports(sp, dp uint16) []byte {
	return []byte{byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), 0, 0, 0, 0}
}

func icmp(typ, code byte, id, seq uint16) []byte {
	return []byte{typ, code, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq)}
}

// The vectors below were computed by hand from the kernel source
// (drivers/net/bonding/bond_main.c); every multi-byte load from packet
// memory is a little-endian load, as on x86-64.
//
// Common terms:
//
//	198.18.0.1 = c6 12 00 01 -> LE word 0x010012c6
//	198.18.0.2 = c6 12 00 02 -> LE word 0x020012c6
//	src ^ dst                = 0x03000000
//	ports 40000 -> 7000 = 9c 40 1b 58 on the wire -> LE word 0x581b409c
//	layer2 part (>= 5.15): 0x02 ^ 0x01 ^ 0x0800 = 0x0803
//	layer2 part (3.17-5.14): 0x03 ^ be16 0x0800 read LE (0x0008) = 0x000b
//
//	fold(x) = x ^= x>>16; x ^= x>>8
//	fold(0x03000000) = 0x03000300 -> ^0x00030003 = 0x03030303
var vectorTests = []struct {
	name    string
	policy  Policy
	variant Variant
	frame   []byte
	want    uint32
}{
	{
		// 0x581b409c ^ 0x03000000 = 0x5b1b409c
		// ^ >>16 (0x5b1b): 0x5b1b1b87; ^ >>8 (0x5b1b1b): 0x5b40009c
		// >>1 = 0x2da0004e
		name: "layer3+4 udp", policy: Layer34, variant: Current,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x2da0004e,
	},
	{
		// Same bytes with TCP: ports are read the same way.
		name: "layer3+4 tcp 4.15", policy: Layer34, variant: V4_15,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 6, 0), l4ports(40000, 7000), make([]byte, 12)),
		want:  0x2da0004e,
	},
	{
		// 3.13-4.14: no final shift: 0x5b40009c.
		name: "layer3+4 udp 3.13", policy: Layer34, variant: V3_13,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x5b40009c,
	},
	{
		// Legacy: ntohl(saddr^daddr) & 0xffff = 0x0003;
		// ntohs(sport ^ dport) = 0x9c40 ^ 0x1b58 = 0x8718; 0x8718 ^ 0x0003 = 0x871b.
		name: "layer3+4 udp legacy", policy: Layer34, variant: Legacy,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x871b,
	},
	{
		// First fragment (MF set): no ports. fold(0x03000000) = 0x03030303, >>1 = 0x01818181.
		name: "layer3+4 first fragment", policy: Layer34, variant: Current,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0x2000), l4ports(40000, 7000)),
		want:  0x01818181,
	},
	{
		// 0x0803 ^ 0x03000000 = 0x03000803; ^>>16 (0x0300): 0x03000b03;
		// ^>>8 (0x03000b): 0x03030b08; no shift since 49aefd131739.
		name: "layer2+3 current", policy: Layer23, variant: Current,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x03030b08,
	},
	{
		// 5.15-5.17 shifted layer2+3 too: 0x03030b08 >> 1 = 0x01818584.
		name: "layer2+3 5.15", policy: Layer23, variant: V5_15,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x01818584,
	},
	{
		// 0x000b ^ 0x03000000 = 0x0300000b; ^>>16: 0x0300030b;
		// ^>>8 (0x030003): 0x03030308; >>1 = 0x01818184.
		name: "layer2+3 4.15 network-order ethertype", policy: Layer23, variant: V4_15,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x01818184,
	},
	{
		// 3.13: layer2 part 0x03 only: 0x03000003 -> 0x03000303 -> 0x03030300.
		name: "layer2+3 3.13", policy: Layer23, variant: V3_13,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x03030300,
	},
	{
		// Legacy: (ntohl(s^d) & 0xffff) ^ (d5 ^ s5) = 0x0003 ^ 0x03 = 0.
		name: "layer2+3 legacy", policy: Layer23, variant: Legacy,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0,
	},
	{name: "layer2 current", policy: Layer2, variant: Current, frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0)), want: 0x0803},
	{name: "layer2 3.17", policy: Layer2, variant: V3_17, frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0)), want: 0x000b},
	{name: "layer2 3.13", policy: Layer2, variant: V3_13, frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0)), want: 0x03},
	{
		// ARP is not IP: layer3+4 falls back to the layer2 hash, unshifted:
		// 0x03 ^ 0x0806 = 0x0805.
		name: "layer3+4 arp fallback", policy: Layer34, variant: Current,
		frame: ether(0x0806, make([]byte, 28)), want: 0x0805,
	},
	{
		// ICMP echo, id 0x1234 (host order since 5.12):
		// {type 8, code 0, id 0x1234} = 0x12340008; ^0x03000000 = 0x11340008;
		// ^>>16 (0x1134): 0x1134113c; ^>>8 (0x113411): 0x1125252d; >>1 = 0x08929296.
		name: "layer3+4 icmp echo", policy: Layer34, variant: Current,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 1, 0), icmp(8, 0, 0x1234, 1)),
		want:  0x08929296,
	},
	{
		// 5.5-5.11 kept the id in network order: 0x3412 -> 0x34120008;
		// ^0x03000000 = 0x37120008; ^>>16: 0x3712371a; ^>>8 (0x371237): 0x3725252d;
		// >>1 = 0x1b929296.
		name: "layer3+4 icmp echo 5.5", policy: Layer34, variant: V5_5,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 1, 0), icmp(8, 0, 0x1234, 1)),
		want:  0x1b929296,
	},
	{
		// Before 5.5 ICMP had no ports and no id: fold(0x03000000) >> 1 = 0x01818181.
		name: "layer3+4 icmp echo 4.15", policy: Layer34, variant: V4_15,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 1, 0), icmp(8, 0, 0x1234, 1)),
		want:  0x01818181,
	},
	{
		// Port unreachable from 198.18.0.2 quoting the UDP flow
		// 198.18.0.1:40000 -> 198.18.0.2:7000: hashed like that flow, 0x2da0004e.
		name: "layer3+4 icmp error", policy: Layer34, variant: Current,
		frame: ether(0x0800, ipv4("198.18.0.2", "198.18.0.1", 1, 0), icmp(3, 3, 0, 0),
			ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want: 0x2da0004e,
	},
	{
		// 2001:db8::1 -> 2001:db8::2: ipv6_addr_hash = XOR of the four LE words;
		// only the last differs: 0x01000000 ^ 0x02000000 = 0x03000000.
		// Ports 1000 -> 2000 = 03 e8 07 d0 -> 0xd007e803; ^0x03000000 = 0xd307e803;
		// ^>>16 (0xd307): 0xd3073b04; ^>>8 (0xd3073b): 0xd3d43c3f; >>1 = 0x69ea1e1f.
		name: "layer3+4 ipv6 udp", policy: Layer34, variant: Current,
		frame: ether(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 17), l4ports(1000, 2000)),
		want:  0x69ea1e1f,
	},
	{
		// A hop-by-hop header first: bond_flow_ip takes Next Header 0, no ports:
		// fold(0x03000000) >> 1 = 0x01818181.
		name: "layer3+4 ipv6 hop-by-hop", policy: Layer34, variant: Current,
		frame: ether(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 0), []byte{17, 0, 0, 0, 0, 0, 0, 0}, l4ports(1000, 2000)),
		want:  0x01818181,
	},
	{
		// encap3+4's flow dissector walks the extension header: 0x69ea1e1f.
		name: "encap3+4 ipv6 hop-by-hop", policy: Encap34, variant: Current,
		frame: ether(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 0), []byte{17, 0, 0, 0, 0, 0, 0, 0}, l4ports(1000, 2000)),
		want:  0x69ea1e1f,
	},
	{
		// Legacy IPv6: s6_addr32[1..3] ^ d6_addr32[1..3] = 0x03000000;
		// ^ ntohs(1000 ^ 2000) = 0x0438 -> 0x03000438;
		// ^ (>>24 ^ >>16 ^ >>8) = ^(0x03 ^ 0x0300 ^ 0x030004 = 0x030307) = 0x0303073f.
		name: "layer3+4 ipv6 legacy", policy: Layer34, variant: Legacy,
		frame: ether(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 17), l4ports(1000, 2000)),
		want:  0x0303073f,
	},
	{
		// IPIP 198.18.1.1 -> 198.18.2.1 around the UDP flow: layer3+4 sees the
		// outer header, protocol 4, no ports: words 0x010112c6 ^ 0x010212c6 =
		// 0x00030000; ^>>16: 0x00030003; ^>>8 (0x000300): 0x00030303; >>1 = 0x00018181.
		name: "layer3+4 ipip outer", policy: Layer34, variant: Current,
		frame: ether(0x0800, ipv4("198.18.1.1", "198.18.2.1", 4, 0), ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x00018181,
	},
	{
		// encap3+4 hashes the inner flow: 0x2da0004e as above.
		name: "encap3+4 ipip inner", policy: Encap34, variant: Current,
		frame: ether(0x0800, ipv4("198.18.1.1", "198.18.2.1", 4, 0), ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x2da0004e,
	},
	{
		// encap2+3: outer layer2 part 0x0803 with the inner addresses: 0x03030b08.
		name: "encap2+3 gre teb inner", policy: Encap23, variant: Current,
		frame: ether(0x0800, ipv4("198.18.1.1", "198.18.2.1", 47, 0), []byte{0x20, 0, 0x65, 0x58, 0, 0, 0, 7}, // GRE with key, TEB
			ether(0x0800), ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want: 0x03030b08,
	},
	{
		// A PPPoE session carrying the UDP flow: encap3+4's dissector reads
		// the IP inside, 0x2da0004e as for the plain flow.
		name: "encap3+4 pppoe inner", policy: Encap34, variant: Current,
		frame: ether(0x8864, []byte{0x11, 0, 0, 1, 0, 30, 0, 0x21}, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x2da0004e,
	},
	{
		// layer3+4 reads IP EtherTypes only: layer2, 02^01 ^ 0x8864 = 0x8867.
		name: "layer3+4 pppoe is layer2", policy: Layer34, variant: Current,
		frame: ether(0x8864, []byte{0x11, 0, 0, 1, 0, 30, 0, 0x21}, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)),
		want:  0x8867,
	},
	{
		// PPP control (LCP 0xc021, a valid protocol): dissected without
		// addresses, so encap3+4 hashes zero keys: 0.
		name: "encap3+4 pppoe lcp", policy: Encap34, variant: Current,
		frame: ether(0x8864, []byte{0x11, 0, 0, 1, 0, 6, 0xc0, 0x21}, []byte{1, 1, 0, 4}),
		want:  0,
	},
	{
		// ESP: the SPI 0x00001234 is hashed as ports: bytes 00 00 12 34 -> LE
		// 0x34120000; 198.18.0.9 = 0x090012c6, ^ 198.18.0.1 = 0x08000000;
		// 0x3c120000 ^>>16 -> 0x3c123c12 ^>>8 (0x3c123c) -> 0x3c2e2e2e; >>1 = 0x1e171717.
		name: "layer3+4 esp spi", policy: Layer34, variant: Current,
		frame: ether(0x0800, ipv4("198.18.0.1", "198.18.0.9", 50, 0), []byte{0, 0, 0x12, 0x34, 0, 0, 0, 1}),
		want:  0x1e171717,
	},
	{
		// vendor 52:54:00 = 0x525400, device 12:34:56 = 0x123456:
		// 0x525400 ^ 0x123456 = 0x406056; ^ TCI 100 (0x064) = 0x406032.
		name: "vlan+srcmac", policy: VLANSrcMAC, variant: Current,
		frame: append([]byte{2, 0, 0, 0, 0, 2, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x81, 0, 0, 100, 8, 0},
			ipv4("198.18.0.1", "198.18.0.2", 17, 0)...),
		want: 0x406032,
	},
}

func TestHashVectors(t *testing.T) {
	for _, tt := range vectorTests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHasher(tt.policy, tt.variant)
			if err != nil {
				t.Fatal(err)
			}
			var f Flow
			if err := ParseFrame(tt.frame, &f); err != nil {
				t.Fatal(err)
			}
			if got := h.Hash(&f); got != tt.want {
				t.Errorf("%s/%s: hash = %#08x, want %#08x", tt.policy, tt.variant, got, tt.want)
			}
		})
	}
}

func TestSlave(t *testing.T) {
	var f Flow
	if err := ParseFrame(ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)), &f); err != nil {
		t.Fatal(err)
	}
	h, _ := NewHasher(Layer34, Current)
	// 0x2da0004e = 765460558: even; digit sum 46 -> 1 mod 3.
	for n, want := range map[int]int{1: 0, 2: 0, 3: 1, 0: -1, -2: -1} {
		if got := h.Slave(&f, n); got != want {
			t.Errorf("Slave(n=%d) = %d, want %d", n, got, want)
		}
	}
}

func TestParsePolicyVariant(t *testing.T) {
	for _, s := range []string{"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"} {
		p, err := ParsePolicy(s)
		if err != nil || p.String() != s {
			t.Errorf("ParsePolicy(%q) = %v, %v", s, p, err)
		}
	}
	if p, err := ParsePolicy("layer3+4 1\n"); err != nil || p != Layer34 {
		t.Errorf("sysfs form: %v, %v", p, err)
	}
	if _, err := ParsePolicy("layer4"); !errors.Is(err, ErrUnknownPolicy) {
		t.Errorf("ParsePolicy(layer4) error = %v", err)
	}
	if v, err := ParseVariant("current"); err != nil || v != V5_18 {
		t.Errorf("ParseVariant(current) = %v, %v", v, err)
	}
	if _, err := ParseVariant("2.4"); !errors.Is(err, ErrUnknownVariant) {
		t.Errorf("ParseVariant(2.4) error = %v", err)
	}
	if _, err := NewHasher(VLANSrcMAC, V5_5); !errors.Is(err, ErrPolicyNotInVariant) {
		t.Errorf("vlan+srcmac on 5.5: %v", err)
	}
	if _, err := NewHasher(Encap34, Legacy); !errors.Is(err, ErrPolicyNotInVariant) {
		t.Errorf("encap3+4 on legacy: %v", err)
	}
}

func TestParseFrameShort(t *testing.T) {
	var f Flow
	if err := ParseFrame(make([]byte, 13), &f); !errors.Is(err, ErrShortFrame) {
		t.Fatalf("error = %v", err)
	}
	// Truncated IPv4: not dissectable, layer3+4 falls back to layer2.
	if err := ParseFrame(ether(0x0800, make([]byte, 10)), &f); err != nil {
		t.Fatal(err)
	}
	h, _ := NewHasher(Layer34, Current)
	if got := h.Hash(&f); got != 0x0803 {
		t.Errorf("truncated: %#x, want 0x0803", got)
	}
}

func TestHashAllocs(t *testing.T) {
	var f Flow
	frame := vectorTests[0].frame
	h, _ := NewHasher(Layer34, Current)
	allocs := testing.AllocsPerRun(100, func() {
		_ = ParseFrame(frame, &f)
		_ = h.Hash(&f)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per parse+hash, want 0", allocs)
	}
}

func BenchmarkParseAndHash(b *testing.B) {
	var f Flow
	frame := vectorTests[0].frame
	h, _ := NewHasher(Layer34, Current)
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		_ = ParseFrame(frame, &f)
		sink += h.Hash(&f)
	}
	_ = sink
}

func BenchmarkHash(b *testing.B) {
	var f Flow
	_ = ParseFrame(vectorTests[0].frame, &f)
	h, _ := NewHasher(Layer34, Current)
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		sink += h.Hash(&f)
	}
	_ = sink
}

func FuzzParseFrame(f *testing.F) {
	for _, tt := range vectorTests {
		f.Add(tt.frame)
	}
	hashers := make([]Hasher, 0, len(policyNames))
	for p := range policyNames {
		h, err := NewHasher(Policy(p), Current)
		if err != nil {
			f.Fatal(err)
		}
		hashers = append(hashers, h)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var fl Flow
		if err := ParseFrame(frame, &fl); err != nil {
			return
		}
		for _, h := range hashers {
			if s := h.Slave(&fl, 3); s < 0 || s > 2 {
				t.Fatalf("slave %d out of range", s)
			}
		}
	})
}

// The numbers printed in the message of kernel commit 49aefd131739
// ("bonding: do not discard lowest hash bit for non layer3+4 hashing"): its
// script computes layer2+3 for h_dest[5] 0xa0 and 0xa1, h_source[5] 0xe3,
// h_proto 0x8 (0x0800 as stored), saddr 0x1e7aa8c0 (192.168.122.30 read
// natively) and daddr 0x17aa8c0 (192.168.122.1): 522133332 and 522133333
// without the shift, 261066666 for both with it. Those are the 3.17 (ethertype
// as stored, no shift) and 4.15 (shift) variants.
func TestHashCommit49aefd131739(t *testing.T) {
	for _, c := range []struct {
		dst5    byte
		variant Variant
		want    uint32
	}{
		{0xa0, V3_17, 522133332}, {0xa1, V3_17, 522133333},
		{0xa0, V4_15, 261066666}, {0xa1, V4_15, 261066666},
	} {
		frame := ether(0x0800, ipv4("192.168.122.30", "192.168.122.1", 6, 0), l4ports(1, 2))
		frame[5], frame[11] = c.dst5, 0xe3
		var f Flow
		if err := ParseFrame(frame, &f); err != nil {
			t.Fatal(err)
		}
		h, _ := NewHasher(Layer23, c.variant)
		if got := h.Hash(&f); got != c.want {
			t.Errorf("dst %#x %s: %d, want %d", c.dst5, c.variant, got, c.want)
		}
	}
}

// Slaves a real kernel chose, as printed (tcpdump on veth0 = "0:", veth1 =
// "1:", taken as slaves 0 and 1) in the messages of kernel commits
// 58deb77cc52d ("bonding: balance ICMP echoes in layer3+4 mode") and
// df98be06c94d ("bonding: symmetric ICMP transmit"): a layer3+4 bond of two
// slaves sending from 192.168.0.1 to 192.168.0.2. Addresses: c0 a8 00 01 /
// c0 a8 00 02 read LE, XOR 0x03000000.
func TestHashKernelObservations(t *testing.T) {
	cases := []struct {
		name    string
		variant Variant
		frame   []byte
		slave   int
	}{
		// Before 58deb77cc52d (4.15 variant), ICMP had no ports: every echo
		// hashed to fold(0x03000000) >> 1 = 0x01818181, odd: "1:" for ids
		// 315, 316, 317.
		{"echo id 315 before", V4_15, ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 1, 0), icmp(8, 0, 315, 1)), 1},
		{"echo id 316 before", V4_15, ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 1, 0), icmp(8, 0, 316, 1)), 1},
		{"echo id 317 before", V4_15, ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 1, 0), icmp(8, 0, 317, 1)), 1},
		// After (5.5: id as stored). id 303 = 01 2f -> 0x2f01: 0x2f010008 ^
		// 0x03000000 = 0x2c010008; ^>>16 (0x2c01) -> 0x2c012c09; ^>>8 ->
		// byte0 0x09^0x2c = 0x25, bit 1 clear: slave 0 ("0:").
		{"echo id 303 after", V5_5, ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 1, 0), icmp(8, 0, 303, 1)), 0},
		// id 304 = 01 30 -> 0x3001: 0x33010008; ^>>16 (0x3301) -> 0x33013309;
		// ^>>8 -> byte0 0x09^0x33 = 0x3a, bit 1 set: slave 1 ("1:").
		{"echo id 304 after", V5_5, ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 1, 0), icmp(8, 0, 304, 1)), 1},
		// UDP 192.168.0.1.P -> 192.168.0.2.9 (df98be06c94d, 4.15 variant):
		// ports 08 xx 00 09 -> 0x0900xx08 ^ 0x03000000; ^>>16 makes byte1
		// xx^0x0a; ^>>8 makes byte0 0x08^xx^0x0a; the slave is its bit 1:
		// 2251 (cb): 0xc9 -> 0; 2252 (cc): 0xce -> 1; 2253 (cd): 0xcf -> 1;
		// 2254 (ce): 0xcc -> 0.
		{"udp 2251", V4_15, ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 17, 0), l4ports(2251, 9)), 0},
		{"udp 2252", V4_15, ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 17, 0), l4ports(2252, 9)), 1},
		{"udp 2253", V4_15, ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 17, 0), l4ports(2253, 9)), 1},
		{"udp 2254", V4_15, ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 17, 0), l4ports(2254, 9)), 0},
	}
	for _, c := range cases {
		var f Flow
		if err := ParseFrame(c.frame, &f); err != nil {
			t.Fatal(err)
		}
		h, _ := NewHasher(Layer34, c.variant)
		if got := h.Slave(&f, 2); got != c.slave {
			t.Errorf("%s (%s): slave %d, the kernel chose %d", c.name, c.variant, got, c.slave)
		}
	}
}
