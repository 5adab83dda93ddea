package packettest

import (
	"fmt"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The endpoints of every frame built here.
var (
	MACA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	MACB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	V4A  = net.IP{198, 18, 0, 1}
	V4B  = net.IP{198, 18, 0, 2}
	V6A  = net.ParseIP("2001:db8::1")
	V6B  = net.ParseIP("2001:db8::2")
)

// Payload is 16 bytes of transport payload.
var Payload = gopacket.Payload([]byte("0123456789abcdef"))

// Serialize builds a frame from layers with lengths and checksums fixed.
func Serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, l := range ls {
		if nl, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, n := range ls {
				if nw, ok := n.(gopacket.NetworkLayer); ok {
					_ = nl.SetNetworkLayerForChecksum(nw)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// Layers flattens layers and slices of layers into one list, for frames
// built of a tunnel's headers and a shared inner part.
func Layers(ls ...any) []gopacket.SerializableLayer {
	var all []gopacket.SerializableLayer
	for _, l := range ls {
		switch l := l.(type) {
		case gopacket.SerializableLayer:
			all = append(all, l)
		case []gopacket.SerializableLayer:
			all = append(all, l...)
		default:
			panic(fmt.Sprintf("packettest.Layers: %T is not a layer", l))
		}
	}
	return all
}

// Eth is an Ethernet header from MACA to MACB.
func Eth(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: MACA, DstMAC: MACB, EthernetType: et}
}

// IP4 is an IPv4 header from V4A to V4B.
func IP4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: V4A, DstIP: V4B, Id: 4242}
}

// IP6 is an IPv6 header from V6A to V6B.
func IP6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: V6A, DstIP: V6B}
}

// TCP is a SYN-ACK from port 40000 to 7000.
func TCP() *layers.TCP {
	return &layers.TCP{SrcPort: 40000, DstPort: 7000, SYN: true, ACK: true, Window: 1000}
}

// UDP is a datagram from port 5353 to 53.
func UDP() *layers.UDP { return &layers.UDP{SrcPort: 5353, DstPort: 53} }

// Frag6 is an IPv6 fragment header in raw bytes (gopacket cannot serialize
// one).
func Frag6(next byte, offset uint16, more bool, id uint32) gopacket.Payload {
	fo := offset &^ 7
	if more {
		fo |= 1
	}
	return gopacket.Payload{next, 0, byte(fo >> 8), byte(fo), byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
}

// BenchFrames is a mix like a hypervisor's: TCP and UDP over IPv4 and
// IPv6, some tagged, cut at a 128-byte snap length.
func BenchFrames(b testing.TB) [][]byte {
	big := make(gopacket.Payload, 1400)
	fs := [][]byte{
		Serialize(b, Eth(layers.EthernetTypeIPv4), IP4(layers.IPProtocolTCP), TCP(), big),
		Serialize(b, Eth(layers.EthernetTypeIPv4), IP4(layers.IPProtocolUDP), UDP(), Payload),
		Serialize(b, Eth(layers.EthernetTypeIPv6), IP6(layers.IPProtocolTCP), TCP(), big),
		Serialize(b, Eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, IP4(layers.IPProtocolTCP), TCP(), big),
	}
	for i, f := range fs {
		if len(f) > 128 {
			fs[i] = f[:128]
		}
	}
	return fs
}

// Inner endpoints of the tunnelled frames: the tenant's addresses inside
// an overlay whose underlay is V4A/V4B or V6A/V6B.
var (
	InnerV4A = net.IP{198, 19, 0, 1}
	InnerV4B = net.IP{198, 19, 0, 2}
	InnerV6A = net.ParseIP("2001:db8:1::1")
	InnerV6B = net.ParseIP("2001:db8:1::2")
)

// InnerIP4 is an IPv4 header from InnerV4A to InnerV4B.
func InnerIP4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: InnerV4A, DstIP: InnerV4B, Id: 7}
}

// InnerIP6 is an IPv6 header from InnerV6A to InnerV6B.
func InnerIP6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: InnerV6A, DstIP: InnerV6B}
}

// InnerTCP is a segment from port 41000 to 3260 (iSCSI: the storage flow
// an overlay hides).
func InnerTCP() *layers.TCP {
	return &layers.TCP{SrcPort: 41000, DstPort: 3260, ACK: true, Window: 1000}
}

// OuterUDP is a tunnel's UDP header from an entropy source port to port.
func OuterUDP(port uint16) *layers.UDP {
	return &layers.UDP{SrcPort: 51000, DstPort: layers.UDPPort(port)}
}

// VXLAN is a VXLAN header (RFC 7348) with its VNI flag set.
func VXLAN(vni uint32) gopacket.Payload {
	return gopacket.Payload{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
}

// Geneve is a Geneve header (RFC 8926) announcing proto, with optWords
// 4-byte words of options (one TLV of class 0x0102 type 0x80 filling them).
func Geneve(proto uint16, vni uint32, optWords int) gopacket.Payload {
	h := gopacket.Payload{byte(optWords & 0x3f), 0, byte(proto >> 8), byte(proto), byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	if optWords > 0 {
		h = append(h, 0x01, 0x02, 0x80, byte(optWords-1))
		h = append(h, make([]byte, 4*(optWords-1))...)
	}
	return h
}

// GRE is a GRE version 0 header announcing proto, with a checksum field,
// a key and a sequence number when asked (key < 0: none).
func GRE(proto uint16, csum bool, key int64, seq bool) gopacket.Payload {
	var flags uint16
	var rest []byte
	if csum {
		flags |= 0x8000
		rest = append(rest, 0, 0, 0, 0)
	}
	if key >= 0 {
		flags |= 0x2000
		rest = append(rest, byte(key>>24), byte(key>>16), byte(key>>8), byte(key))
	}
	if seq {
		flags |= 0x1000
		rest = append(rest, 0, 0, 0, 42)
	}
	return append(gopacket.Payload{byte(flags >> 8), byte(flags), byte(proto >> 8), byte(proto)}, rest...)
}

// ERSPAN2 is an ERSPAN type II header (after a GRE header with a
// sequence number and protocol 0x88BE) for session.
func ERSPAN2(session uint16) gopacket.Payload {
	return gopacket.Payload{0x10, 0x00, 0x18 | byte(session>>8)&0x03, byte(session), 0, 0, 0, 0}
}

// ERSPAN3 is an ERSPAN type III header (GRE protocol 0x22EB) for session,
// with the 8-byte platform subheader when platform is set.
func ERSPAN3(session uint16, platform bool) gopacket.Payload {
	h := gopacket.Payload{0x20, 0x00, 0x18 | byte(session>>8)&0x03, byte(session), 0, 0, 0, 1, 0, 0, 0, 0}
	if platform {
		h[11] = 0x01
		h = append(h, 0x08, 0, 0, 0, 0, 0, 0, 0)
	}
	return h
}

// GTPU is a GTP-U version 1 G-PDU header for teid carrying innerLen bytes;
// with ext, a sequence number and one PDU session container extension
// header precede the payload.
func GTPU(teid uint32, innerLen int, ext bool) gopacket.Payload {
	flags := byte(0x30)
	var rest []byte
	if ext {
		flags |= 0x04 | 0x02 // E and S
		rest = []byte{0, 1, 0, 0x85, 1, 0x10, 0x09, 0}
	}
	n := innerLen + len(rest)
	return append(gopacket.Payload{flags, 0xff, byte(n >> 8), byte(n), byte(teid >> 24), byte(teid >> 16), byte(teid >> 8), byte(teid)}, rest...)
}
