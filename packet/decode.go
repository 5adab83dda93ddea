package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Sentinel errors of the decoder, matched with errors.Is. The decoder wraps
// them in a *DecodeError that names the layer.
var (
	// ErrUnsupportedLinkType is returned by NewDecoder for a link type it
	// cannot decode.
	ErrUnsupportedLinkType = errors.New("unsupported link type")
	// ErrTruncated means the captured bytes end inside a header.
	ErrTruncated = errors.New("truncated header")
	// ErrMalformed means a header field is impossible (bad version, a
	// header length shorter than the minimum, ...).
	ErrMalformed = errors.New("malformed header")
)

// DecodeError is a decoding failure in one layer. The summary is filled up to
// the failing layer.
type DecodeError struct {
	// Layer names the header that failed ("ethernet", "ipv4", "tcp", ...).
	Layer string
	// Err is ErrTruncated or ErrMalformed.
	Err error
}

func (e *DecodeError) Error() string { return e.Layer + ": " + e.Err.Error() }

// Unwrap returns the sentinel error.
func (e *DecodeError) Unwrap() error { return e.Err }

// The decoder's errors are built once: returning them allocates nothing, so
// hostile traffic costs no more than good traffic. They are never modified.
var (
	errTruncEthernet = &DecodeError{"ethernet", ErrTruncated}
	errTruncVLAN     = &DecodeError{"vlan", ErrTruncated}
	errTruncSLL      = &DecodeError{"linux_sll", ErrTruncated}
	errTruncSLL2     = &DecodeError{"linux_sll2", ErrTruncated}
	errTruncIPv4     = &DecodeError{"ipv4", ErrTruncated}
	errBadIPv4       = &DecodeError{"ipv4", ErrMalformed}
	errTruncIPv6     = &DecodeError{"ipv6", ErrTruncated}
	errBadIPv6       = &DecodeError{"ipv6", ErrMalformed}
	errTruncIPv6Ext  = &DecodeError{"ipv6_extension", ErrTruncated}
	errBadIPv6Ext    = &DecodeError{"ipv6_extension", ErrMalformed}
	errTruncTCP      = &DecodeError{"tcp", ErrTruncated}
	errTruncUDP      = &DecodeError{"udp", ErrTruncated}
	errTruncICMP     = &DecodeError{"icmp", ErrTruncated}
	errBadRawIP      = &DecodeError{"raw_ip", ErrMalformed}
	errTruncRawIP    = &DecodeError{"raw_ip", ErrTruncated}
	errTruncMPLS     = &DecodeError{"mpls", ErrTruncated}
	errBadMPLS       = &DecodeError{"mpls", ErrMalformed}
	errTruncPPPoE    = &DecodeError{"pppoe", ErrTruncated}
	errBadPPPoE      = &DecodeError{"pppoe", ErrMalformed}
	errTruncGRE      = &DecodeError{"gre", ErrTruncated}
	errBadGRE        = &DecodeError{"gre", ErrMalformed}
	errTruncERSPAN   = &DecodeError{"erspan", ErrTruncated}
	errBadERSPAN     = &DecodeError{"erspan", ErrMalformed}
	errTruncGTPU     = &DecodeError{"gtpu", ErrTruncated}
	errBadGTPU       = &DecodeError{"gtpu", ErrMalformed}
	errTruncTunnel   = &DecodeError{"tunnel", ErrTruncated}
	errBadTunnel     = &DecodeError{"tunnel", ErrMalformed}
)

// Link types the decoder accepts beyond gopacket's named constants: DLT_RAW
// is 12 on most systems and 14 on OpenBSD, while pcap files use 101.
const (
	linkTypeRawDLT12 layers.LinkType = 12
	linkTypeRawDLT14 layers.LinkType = 14
	linkTypeSLL2     layers.LinkType = 276
)

// EtherTypes the decoder follows (and the live capture's fast path and
// kernel filters read).
const (
	EtherTypeIPv4   = 0x0800
	EtherTypeIPv6   = 0x86DD
	EtherTypeVLAN   = 0x8100
	EtherTypeQinQ   = 0x88A8
	EtherTypeQinQ2  = 0x9100 // pre-standard QinQ, still seen on switches
	EtherTypeMPLS   = 0x8847
	EtherTypeMPLSm  = 0x8848 // multicast MPLS
	EtherTypePPPoE  = 0x8864 // PPPoE session stage
	EtherTypeMACsec = 0x88E5 // IEEE 802.1AE: encrypted, counted as such
)

// maxMPLSLabels bounds the label stack walked in hostile frames.
const maxMPLSLabels = 8

// maxVLANTags bounds how many stacked tags are skipped; only the first two
// are recorded in Packet.VLANs.
const maxVLANTags = 8

// maxIPv6ExtHeaders bounds the extension-header walk of hostile packets.
const maxIPv6ExtHeaders = 16

type linkKind uint8

const (
	linkEthernet linkKind = iota
	linkSLL
	linkSLL2
	linkRawIP
	linkIPv4
	linkIPv6
)

// Decoder fills Packet summaries from frames of one link type. It parses the
// headers by hand rather than with gopacket's layers: that is several times
// faster, allocates nothing even for IPv6 extension headers and malformed
// input, and yields netip.Addr directly. A Decoder holds no per-packet state,
// so one may be shared by goroutines.
type Decoder struct {
	linkType layers.LinkType
	kind     linkKind
}

// NewDecoder returns a decoder for frames of linkType: Ethernet (with
// 802.1Q/802.1ad tags), Linux cooked capture v1 and v2, and raw IP (101, 12,
// 14, 228 IPv4, 229 IPv6).
func NewDecoder(linkType layers.LinkType) (*Decoder, error) {
	d := &Decoder{linkType: linkType}
	switch linkType {
	case layers.LinkTypeEthernet:
		d.kind = linkEthernet
	case layers.LinkTypeLinuxSLL:
		d.kind = linkSLL
	case linkTypeSLL2:
		d.kind = linkSLL2
	case layers.LinkTypeRaw, linkTypeRawDLT12, linkTypeRawDLT14:
		d.kind = linkRawIP
	case layers.LinkTypeIPv4:
		d.kind = linkIPv4
	case layers.LinkTypeIPv6:
		d.kind = linkIPv6
	default:
		return nil, fmt.Errorf("link type %d (%s): %w", uint16(linkType), linkType, ErrUnsupportedLinkType)
	}
	return d, nil
}

// LinkType returns the link type the decoder was made for.
func (d *Decoder) LinkType() layers.LinkType { return d.linkType }

// Decode fills p from one frame. p is reset first, so a caller reuses one
// Packet. Time, WireLen and CapLen come from ci (WireLen falls back to
// len(data) when ci.Length is 0). A frame that is not IP (ARP, LLDP, ...)
// decodes without error with IPVersion 0. When the bytes end inside a header
// or a header is impossible, Decode returns a *DecodeError wrapping
// ErrTruncated or ErrMalformed and p keeps what was decoded before that
// layer. Decode never panics on any input.
func (d *Decoder) Decode(data []byte, ci gopacket.CaptureInfo, p *Packet) error {
	*p = Packet{}
	p.Time, p.WireLen, p.CapLen, p.L3Offset, p.L4Offset = ci.Timestamp, ci.Length, len(data), -1, -1
	if p.WireLen == 0 {
		p.WireLen = len(data)
	}
	switch d.kind {
	case linkEthernet:
		return decodeEthernet(data, p)
	case linkSLL:
		if len(data) < 16 {
			return errTruncSLL
		}
		return decodeEtherType(data, 16, binary.BigEndian.Uint16(data[14:16]), p)
	case linkSLL2:
		if len(data) < 20 {
			return errTruncSLL2
		}
		return decodeEtherType(data, 20, binary.BigEndian.Uint16(data[0:2]), p)
	case linkRawIP:
		if len(data) < 1 {
			return errTruncRawIP
		}
		switch data[0] >> 4 {
		case 4:
			p.EtherType = EtherTypeIPv4
			return decodeIPv4(data, 0, p)
		case 6:
			p.EtherType = EtherTypeIPv6
			return decodeIPv6(data, 0, p)
		}
		return errBadRawIP
	case linkIPv4:
		p.EtherType = EtherTypeIPv4
		return decodeIPv4(data, 0, p)
	case linkIPv6:
		p.EtherType = EtherTypeIPv6
		return decodeIPv6(data, 0, p)
	}
	return nil
}

func decodeEthernet(data []byte, p *Packet) error {
	if len(data) < 14 {
		return errTruncEthernet
	}
	p.HasEthernet = true
	copy(p.DstMAC[:], data[0:6])
	copy(p.SrcMAC[:], data[6:12])
	return decodeEtherType(data, 14, binary.BigEndian.Uint16(data[12:14]), p)
}

// decodeEtherType skips VLAN tags starting at off and decodes the network
// layer named by et.
func decodeEtherType(data []byte, off int, et uint16, p *Packet) error {
	for tags := 0; et == EtherTypeVLAN || et == EtherTypeQinQ || et == EtherTypeQinQ2; tags++ {
		if tags == maxVLANTags || len(data) < off+4 {
			p.EtherType = et
			return errTruncVLAN
		}
		if p.NumVLANs < uint8(len(p.VLANs)) {
			p.VLANs[p.NumVLANs] = binary.BigEndian.Uint16(data[off:off+2]) & 0x0fff
			p.NumVLANs++
		}
		et = binary.BigEndian.Uint16(data[off+2 : off+4])
		off += 4
	}
	p.EtherType = et
	return decodeNetwork(data, off, et, p)
}

// decodeNetwork decodes the network layer at off that EtherType et names.
func decodeNetwork(data []byte, off int, et uint16, p *Packet) error {
	switch et {
	case EtherTypeIPv4:
		return decodeIPv4(data, off, p)
	case EtherTypeIPv6:
		return decodeIPv6(data, off, p)
	case EtherTypeMPLS, EtherTypeMPLSm:
		return decodeMPLS(data, off, p)
	case EtherTypePPPoE:
		return decodePPPoE(data, off, p)
	}
	return nil
}

// decodeMPLS walks the label stack to its bottom (the S bit) and decodes
// the payload as IP by its first nibble, as Wireshark's heuristic does for
// a stack without a control word: 4 is IPv4, 6 IPv6; anything else
// (Ethernet pseudowires, a control word) is not decoded and the frame
// counts as undecoded. EtherType stays the MPLS one.
func decodeMPLS(data []byte, off int, p *Packet) error {
	for i := 0; ; i++ {
		if i == maxMPLSLabels {
			return errBadMPLS
		}
		if len(data) < off+4 {
			return errTruncMPLS
		}
		bottom := data[off+2]&1 != 0
		off += 4
		if bottom {
			break
		}
	}
	if len(data) <= off {
		return errTruncMPLS
	}
	switch data[off] >> 4 {
	case 4:
		return decodeIPv4(data, off, p)
	case 6:
		return decodeIPv6(data, off, p)
	}
	return errBadMPLS
}

// decodePPPoE decodes a PPPoE session frame (RFC 2516: version/type 0x11,
// code 0, then the PPP protocol): IPv4 (0x0021) and IPv6 (0x0057) are
// followed; PPP control traffic (LCP, IPCP...) carries no IP and counts in
// the totals only.
func decodePPPoE(data []byte, off int, p *Packet) error {
	if len(data) < off+8 {
		return errTruncPPPoE
	}
	if data[off] != 0x11 || data[off+1] != 0 {
		return errBadPPPoE
	}
	switch binary.BigEndian.Uint16(data[off+6 : off+8]) {
	case 0x0021:
		return decodeIPv4(data, off+8, p)
	case 0x0057:
		return decodeIPv6(data, off+8, p)
	}
	return nil
}

func decodeIPv4(data []byte, off int, p *Packet) error {
	if len(data) < off+20 {
		return errTruncIPv4
	}
	h := data[off:]
	if h[0]>>4 != 4 {
		return errBadIPv4
	}
	ihl := int(h[0]&0x0f) * 4
	if ihl < 20 {
		return errBadIPv4
	}
	if tl := binary.BigEndian.Uint16(h[2:4]); tl != 0 && tl < uint16(ihl) {
		// A total length shorter than the header: Wireshark's "bogus IP
		// length", the packet not dissected (no addresses, no ports). Zero
		// is a segmentation offload's super-packet (BIG TCP, captured
		// TSO), which Wireshark decodes (its "TSO support" default).
		return errBadIPv4
	}
	p.L3Offset = off
	p.IPVersion = 4
	p.Src = netip.AddrFrom4([4]byte(h[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(h[16:20]))
	p.Protocol = h[9]
	p.FragmentID = uint32(binary.BigEndian.Uint16(h[4:6]))
	frag := binary.BigEndian.Uint16(h[6:8])
	p.MoreFragments = frag&0x2000 != 0
	p.FragmentOffset = (frag & 0x1fff) * 8
	if len(h) < ihl {
		return errTruncIPv4
	}
	if p.FragmentOffset != 0 {
		// Later fragments carry no transport header.
		return nil
	}
	return decodeTransport(data, off+ihl, p)
}

func decodeIPv6(data []byte, off int, p *Packet) error {
	if len(data) < off+40 {
		return errTruncIPv6
	}
	h := data[off:]
	if h[0]>>4 != 6 {
		return errBadIPv6
	}
	p.L3Offset = off
	p.IPVersion = 6
	p.Src = netip.AddrFrom16([16]byte(h[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(h[24:40]))
	next := h[6]
	off += 40
	for i := 0; ; i++ {
		var hlen int
		switch next {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(data) < off+2 {
				p.Protocol = next
				return errTruncIPv6Ext
			}
			hlen = (int(data[off+1]) + 1) * 8
		case 51: // AH counts 4-byte units, minus two
			if len(data) < off+2 {
				p.Protocol = next
				return errTruncIPv6Ext
			}
			hlen = (int(data[off+1]) + 2) * 4
		case 44: // fragment
			if len(data) < off+8 {
				p.Protocol = next
				return errTruncIPv6Ext
			}
			fo := binary.BigEndian.Uint16(data[off+2 : off+4])
			p.FragmentOffset = fo & 0xfff8
			p.MoreFragments = fo&1 != 0
			p.FragmentID = binary.BigEndian.Uint32(data[off+4 : off+8])
			hlen = 8
		default:
			p.Protocol = next
			if p.FragmentOffset != 0 {
				return nil
			}
			return decodeTransport(data, off, p)
		}
		if i == maxIPv6ExtHeaders {
			p.Protocol = next
			return errBadIPv6Ext
		}
		if len(data) < off+hlen {
			p.Protocol = next
			return errTruncIPv6Ext
		}
		next = data[off]
		off += hlen
		if next == 44 || p.FragmentOffset == 0 {
			continue
		}
		// A later fragment: what follows the fragment header is payload.
		p.Protocol = next
		return nil
	}
}

// decodeTransport decodes the TCP, UDP, ICMP or ICMPv6 header at off, and
// opens the tunnels (UDP ports, IP in IP, GRE) of tunnel.go.
func decodeTransport(data []byte, off int, p *Packet) error {
	var h []byte
	if off <= len(data) {
		h = data[off:]
	}
	switch p.Protocol {
	case 6:
		if len(h) < 14 {
			return errTruncTCP
		}
		p.L4Offset = off
		p.SrcPort = binary.BigEndian.Uint16(h[0:2])
		p.DstPort = binary.BigEndian.Uint16(h[2:4])
		p.HasPorts = true
		p.TCPFlags = h[13]
	case 17:
		if len(h) < 8 {
			return errTruncUDP
		}
		p.L4Offset = off
		p.SrcPort = binary.BigEndian.Uint16(h[0:2])
		p.DstPort = binary.BigEndian.Uint16(h[2:4])
		p.HasPorts = true
		if IsTunnelPort(p.SrcPort) || IsTunnelPort(p.DstPort) {
			return decodeUDPTunnel(data, off, p)
		}
	case 4, 41: // IPv4 or IPv6 in IP
		p.L4Offset = off
		kind := payloadIPv4
		if p.Protocol == 41 {
			kind = payloadIPv6
		}
		return decapsulate(data, off, kind, TunnelIPIP, 0, false, p)
	case 47:
		return decodeGRE(data, off, p)
	case 1, 58:
		if len(h) < 8 {
			return errTruncICMP
		}
		p.L4Offset = off
		p.HasICMP = true
		p.ICMPType = h[0]
		p.ICMPCode = h[1]
		p.ICMPID = binary.BigEndian.Uint16(h[4:6])
		p.ICMPSeq = binary.BigEndian.Uint16(h[6:8])
	}
	return nil
}
