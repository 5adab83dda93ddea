package packettest

import (
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
