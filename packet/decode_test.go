package packet

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestDecode(t *testing.T) {
	a4 := netip.MustParseAddr("198.18.0.1")
	b4 := netip.MustParseAddr("198.18.0.2")
	a6 := netip.MustParseAddr("2001:db8::1")
	b6 := netip.MustParseAddr("2001:db8::2")
	tcpPkt := func(p *Packet) { p.HasPorts, p.SrcPort, p.DstPort, p.TCPFlags, p.Protocol = true, 40000, 7000, 0x12, 6 }
	udpPkt := func(p *Packet) { p.HasPorts, p.SrcPort, p.DstPort, p.Protocol = true, 5353, 53, 17 }
	v4 := func(p *Packet) { p.IPVersion, p.Src, p.Dst, p.EtherType, p.FragmentID = 4, a4, b4, 0x0800, 4242 }
	v6 := func(p *Packet) { p.IPVersion, p.Src, p.Dst, p.EtherType = 6, a6, b6, 0x86DD }
	ethOK := func(p *Packet) { p.HasEthernet, p.SrcMAC, p.DstMAC = true, [6]byte(macA), [6]byte(macB) }

	// Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, protocol.
	sll := func(proto uint16) gopacket.Payload {
		return gopacket.Payload{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0, byte(proto >> 8), byte(proto)}
	}
	sll2 := func(proto uint16) gopacket.Payload {
		return gopacket.Payload{byte(proto >> 8), byte(proto), 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0}
	}
	fragIPv4 := func(off uint16, mf bool) *layers.IPv4 {
		l := ip4(layers.IPProtocolUDP)
		l.FragOffset = off / 8
		if mf {
			l.Flags = layers.IPv4MoreFragments
		}
		return l
	}

	tests := []struct {
		name   string
		link   layers.LinkType
		frame  []byte
		want   func(p *Packet)
		l3, l4 int
	}{
		{"ethernet ipv4 tcp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp(), payload),
			func(p *Packet) { ethOK(p); v4(p); tcpPkt(p) }, 14, 34},
		{"ethernet ipv6 udp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), payload),
			func(p *Packet) { ethOK(p); v6(p); udpPkt(p) }, 14, 54},
		{"802.1Q ipv4 udp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolUDP), udp(), payload),
			func(p *Packet) { ethOK(p); v4(p); udpPkt(p); p.VLANs, p.NumVLANs = [2]uint16{100}, 1 }, 18, 38},
		{"QinQ ipv6 tcp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeQinQ),
			&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 300, Type: layers.EthernetTypeIPv6}, ip6(layers.IPProtocolTCP), tcp(), payload),
			func(p *Packet) { ethOK(p); v6(p); tcpPkt(p); p.VLANs, p.NumVLANs = [2]uint16{200, 300}, 2 }, 22, 62},
		{"three tags keep two", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeQinQ),
			&layers.Dot1Q{VLANIdentifier: 1, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 2, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 3, Type: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolUDP), udp()),
			func(p *Packet) { ethOK(p); v4(p); udpPkt(p); p.VLANs, p.NumVLANs = [2]uint16{1, 2}, 2 }, 26, 46},
		{"arp is not ip", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x0800,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: v4A, DstHwAddress: macB, DstProtAddress: v4B}),
			func(p *Packet) { ethOK(p); p.EtherType = 0x0806 }, -1, -1},
		{"sll ipv4 icmp echo", layers.LinkTypeLinuxSLL, serialize(t, sll(0x0800), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 21616, Seq: 110}, payload),
			func(p *Packet) {
				v4(p)
				p.Protocol, p.HasICMP, p.ICMPType, p.ICMPID, p.ICMPSeq = 1, true, 8, 21616, 110
			}, 16, 36},
		{"sll2 ipv6 icmpv6 echo reply", linkTypeSLL2, serialize(t, sll2(0x86DD), ip6(layers.IPProtocolICMPv6),
			gopacket.Payload{129, 0, 0, 0, 0x54, 0x70, 0, 110}),
			func(p *Packet) {
				v6(p)
				p.Protocol, p.HasICMP, p.ICMPType, p.ICMPID, p.ICMPSeq = 58, true, 129, 21616, 110
			}, 20, 60},
		{"raw 101 ipv4", layers.LinkTypeRaw, serialize(t, ip4(layers.IPProtocolTCP), tcp()),
			func(p *Packet) { v4(p); tcpPkt(p) }, 0, 20},
		{"raw 12 ipv6", linkTypeRawDLT12, serialize(t, ip6(layers.IPProtocolUDP), udp()),
			func(p *Packet) { v6(p); udpPkt(p) }, 0, 40},
		{"raw 14 ipv4", linkTypeRawDLT14, serialize(t, ip4(layers.IPProtocolUDP), udp()),
			func(p *Packet) { v4(p); udpPkt(p) }, 0, 20},
		{"linktype ipv4", layers.LinkTypeIPv4, serialize(t, ip4(layers.IPProtocolUDP), udp()),
			func(p *Packet) { v4(p); udpPkt(p) }, 0, 20},
		{"linktype ipv6", layers.LinkTypeIPv6, serialize(t, ip6(layers.IPProtocolTCP), tcp()),
			func(p *Packet) { v6(p); tcpPkt(p) }, 0, 40},
		{"ipv4 options", layers.LinkTypeRaw, serialize(t, &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolTCP, SrcIP: v4A, DstIP: v4B, Id: 4242,
			Options: []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}}, tcp()),
			func(p *Packet) { v4(p); tcpPkt(p) }, 0, 24},
		{"ipv4 first fragment has ports", layers.LinkTypeRaw, serialize(t, fragIPv4(0, true), udp(), payload),
			func(p *Packet) { v4(p); udpPkt(p); p.MoreFragments = true }, 0, 20},
		{"ipv4 later fragment has none", layers.LinkTypeRaw, serialize(t, fragIPv4(1480, false), payload),
			func(p *Packet) { v4(p); p.Protocol = 17; p.FragmentOffset = 1480 }, 0, -1},
		{"ipv6 hop-by-hop and dest options", layers.LinkTypeIPv6, serialize(t, ip6(layers.IPProtocolIPv6HopByHop),
			gopacket.Payload{60, 0, 1, 4, 0, 0, 0, 0}, gopacket.Payload{6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, tcp()),
			func(p *Packet) { v6(p); tcpPkt(p) }, 0, 64},
		{"ipv6 first fragment", layers.LinkTypeIPv6, serialize(t, ip6(layers.IPProtocolIPv6Fragment), frag6(17, 0, true, 0xdeadbeef), udp(), payload),
			func(p *Packet) { v6(p); udpPkt(p); p.MoreFragments, p.FragmentID = true, 0xdeadbeef }, 0, 48},
		{"ipv6 later fragment", layers.LinkTypeIPv6, serialize(t, ip6(layers.IPProtocolIPv6Fragment), frag6(17, 1448, false, 7), payload),
			func(p *Packet) { v6(p); p.Protocol, p.FragmentOffset, p.FragmentID = 17, 1448, 7 }, 0, -1},
		{"ipv6 AH", layers.LinkTypeIPv6, serialize(t, ip6(layers.IPProtocolAH),
			gopacket.Payload{17, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, udp()),
			func(p *Packet) { v6(p); udpPkt(p) }, 0, 64},
		{"ipv6 esp stops", layers.LinkTypeIPv6, serialize(t, ip6(layers.IPProtocolESP), payload),
			func(p *Packet) { v6(p); p.Protocol = 50 }, 0, -1},
		// Two MPLS labels (bottom of stack on the second), then IPv4: the
		// payload's first nibble names it, as Wireshark guesses.
		{"mpls two labels ipv4 tcp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeMPLSUnicast),
			&layers.MPLS{Label: 100, TTL: 64}, &layers.MPLS{Label: 200, StackBottom: true, TTL: 64}, ip4(layers.IPProtocolTCP), tcp(), payload),
			func(p *Packet) { ethOK(p); v4(p); tcpPkt(p); p.EtherType = 0x8847 }, 22, 42},
		{"mpls ipv6 udp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeMPLSUnicast),
			&layers.MPLS{Label: 7, StackBottom: true, TTL: 64}, ip6(layers.IPProtocolUDP), udp(), payload),
			func(p *Packet) { ethOK(p); v6(p); udpPkt(p); p.EtherType = 0x8847 }, 18, 58},
		// PPPoE session: version/type 0x11, code 0, session, length, then
		// the PPP protocol 0x0021 (IPv4) or 0x0057 (IPv6).
		{"pppoe ipv4 udp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypePPPoESession),
			gopacket.Payload{0x11, 0, 0x12, 0x34, 0, 0, 0x00, 0x21}, ip4(layers.IPProtocolUDP), udp(), payload),
			func(p *Packet) { ethOK(p); v4(p); udpPkt(p); p.EtherType = 0x8864 }, 22, 42},
		{"pppoe ipv6 tcp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypePPPoESession),
			gopacket.Payload{0x11, 0, 0x12, 0x34, 0, 0, 0x00, 0x57}, ip6(layers.IPProtocolTCP), tcp(), payload),
			func(p *Packet) { ethOK(p); v6(p); tcpPkt(p); p.EtherType = 0x8864 }, 22, 62},
		{"pppoe lcp: totals only", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypePPPoESession),
			gopacket.Payload{0x11, 0, 0x12, 0x34, 0, 4, 0xc0, 0x21, 1, 1, 0, 4}),
			func(p *Packet) { ethOK(p); p.EtherType = 0x8864 }, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(tt.link)
			if err != nil {
				t.Fatal(err)
			}
			ts := time.Unix(1700000000, 123456789)
			ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(tt.frame), Length: len(tt.frame) + 100}
			var got Packet
			if err := d.Decode(tt.frame, ci, &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := Packet{Time: ts, WireLen: len(tt.frame) + 100, CapLen: len(tt.frame), L3Offset: tt.l3, L4Offset: tt.l4}
			tt.want(&want)
			if got != want {
				t.Errorf("Decode:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestNewDecoderUnsupported(t *testing.T) {
	for _, lt := range []layers.LinkType{layers.LinkTypeNull, layers.LinkTypeIEEE802_11, 9999} {
		if _, err := NewDecoder(lt); !errors.Is(err, ErrUnsupportedLinkType) {
			t.Errorf("NewDecoder(%d) = %v, want ErrUnsupportedLinkType", lt, err)
		}
	}
}

func TestDecodeTruncatedAndMalformed(t *testing.T) {
	full := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp())
	full6 := serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), gopacket.Payload{6, 0, 1, 4, 0, 0, 0, 0}, tcp())
	badVer := append([]byte(nil), full...)
	badVer[14] = 0x55
	badIHL := append([]byte(nil), full...)
	badIHL[14] = 0x42
	bogusLen := append([]byte(nil), full...)
	bogusLen[14+2], bogusLen[14+3] = 0, 10
	mplsCut := serialize(t, eth(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 1, TTL: 1})[:16]
	mplsLoop := serialize(t, eth(layers.EthernetTypeMPLSUnicast))
	for i := 0; i < 10; i++ {
		mplsLoop = append(mplsLoop, 0, 0, 0x10, 64) // labels without the S bit
	}
	mplsPW := serialize(t, eth(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 9, StackBottom: true, TTL: 64}, gopacket.Payload{0, 0, 0, 0, 2, 0, 0, 0})
	pppoeBad := serialize(t, eth(layers.EthernetTypePPPoESession), gopacket.Payload{0x21, 0, 0, 1, 0, 0, 0, 0x21})
	loop6 := serialize(t, ip6(layers.IPProtocolIPv6HopByHop))
	for i := 0; i < 20; i++ {
		loop6 = append(loop6, 0, 0, 1, 4, 0, 0, 0, 0) // hop-by-hop pointing to hop-by-hop
	}
	tests := []struct {
		name     string
		link     layers.LinkType
		frame    []byte
		layer    string
		sentinel error
		ipv      uint8
	}{
		{"empty ethernet", layers.LinkTypeEthernet, nil, "ethernet", ErrTruncated, 0},
		{"ethernet cut", layers.LinkTypeEthernet, full[:13], "ethernet", ErrTruncated, 0},
		{"ipv4 cut", layers.LinkTypeEthernet, full[:14+19], "ipv4", ErrTruncated, 0},
		{"tcp cut keeps ip", layers.LinkTypeEthernet, full[:34+10], "tcp", ErrTruncated, 4},
		{"ipv6 ext cut", layers.LinkTypeEthernet, full6[:14+40+4], "ipv6_extension", ErrTruncated, 6},
		{"ipv6 cut", layers.LinkTypeEthernet, full6[:14+39], "ipv6", ErrTruncated, 0},
		{"bad version", layers.LinkTypeEthernet, badVer, "ipv4", ErrMalformed, 0},
		{"bad ihl", layers.LinkTypeEthernet, badIHL, "ipv4", ErrMalformed, 0},
		{"vlan cut", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeDot1Q))[:16], "vlan", ErrTruncated, 0},
		{"sll cut", layers.LinkTypeLinuxSLL, make([]byte, 15), "linux_sll", ErrTruncated, 0},
		{"sll2 cut", linkTypeSLL2, make([]byte, 19), "linux_sll2", ErrTruncated, 0},
		{"raw empty", layers.LinkTypeRaw, nil, "raw_ip", ErrTruncated, 0},
		{"raw not ip", layers.LinkTypeRaw, []byte{0x25, 0, 0}, "raw_ip", ErrMalformed, 0},
		{"ipv6 header loop", layers.LinkTypeRaw, loop6, "ipv6_extension", ErrMalformed, 6},
		// Total length 10 < the 20-byte header: Wireshark's bogus IP
		// length, not dissected: no addresses (tshark shows none), no ports.
		{"ipv4 total length below the header", layers.LinkTypeEthernet, bogusLen, "ipv4", ErrMalformed, 0},
		{"mpls cut", layers.LinkTypeEthernet, mplsCut, "mpls", ErrTruncated, 0},
		{"mpls without a bottom", layers.LinkTypeEthernet, mplsLoop, "mpls", ErrMalformed, 0},
		{"mpls pseudowire (not ip)", layers.LinkTypeEthernet, mplsPW, "mpls", ErrMalformed, 0},
		{"pppoe bad version", layers.LinkTypeEthernet, pppoeBad, "pppoe", ErrMalformed, 0},
		{"pppoe cut", layers.LinkTypeEthernet, pppoeBad[:18], "pppoe", ErrTruncated, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(tt.link)
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			err = d.Decode(tt.frame, gopacket.CaptureInfo{Length: 1500}, &p)
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("Decode error = %v, want %v", err, tt.sentinel)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Layer != tt.layer {
				t.Errorf("Decode error = %#v, want layer %q", err, tt.layer)
			}
			if p.IPVersion != tt.ipv {
				t.Errorf("IPVersion = %d, want %d", p.IPVersion, tt.ipv)
			}
			if p.WireLen != 1500 || p.CapLen != len(tt.frame) {
				t.Errorf("WireLen, CapLen = %d, %d; want 1500, %d", p.WireLen, p.CapLen, len(tt.frame))
			}
		})
	}
}

func TestDecodeAllocs(t *testing.T) {
	frames := [][]byte{
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp()),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), frag6(17, 0, true, 1), udp()),
		{1, 2, 3},
	}
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	var p Packet
	ci := gopacket.CaptureInfo{Timestamp: time.Now()}
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			_ = d.Decode(f, ci, &p)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %.1f times per run, want 0", allocs)
	}
}

func BenchmarkDecode(b *testing.B) {
	frames := benchFrames(b)
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	var p Packet
	ci := gopacket.CaptureInfo{Timestamp: time.Now(), Length: 1500}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(frames[i&3], ci, &p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpps")
}

// BenchmarkGopacketDecodingLayerParser is the reference the hand-written
// decoder is measured against: gopacket's allocation-free parser with
// preallocated layers, on the same frames.
func BenchmarkGopacketDecodingLayerParser(b *testing.B) {
	frames := benchFrames(b)
	var (
		e    layers.Ethernet
		q    layers.Dot1Q
		i4   layers.IPv4
		i6   layers.IPv6
		t    layers.TCP
		u    layers.UDP
		pl   gopacket.Payload
		dec  []gopacket.LayerType
		pkt  Packet
		addr netip.Addr
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &e, &q, &i4, &i6, &t, &u, &pl)
	parser.IgnoreUnsupported = true
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = parser.DecodeLayers(frames[i&3], &dec)
		for _, lt := range dec {
			switch lt {
			case layers.LayerTypeIPv4:
				addr, _ = netip.AddrFromSlice(i4.SrcIP)
				pkt.Src = addr
			case layers.LayerTypeTCP:
				pkt.SrcPort = uint16(t.SrcPort)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpps")
}
