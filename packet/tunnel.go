package packet

import (
	"encoding/binary"
	"net/netip"
)

// Tunnel names an encapsulation the decoder looks inside.
type Tunnel uint8

// The tunnels the decoder decapsulates (docs/capture.md, "Tunnels").
const (
	// TunnelNone is a frame that was not decapsulated.
	TunnelNone Tunnel = iota
	// TunnelVXLAN is VXLAN (RFC 7348) on UDP port 4789, or on 8472, the
	// Linux kernel's default port (flannel's, for one).
	TunnelVXLAN
	// TunnelGeneve is Geneve (RFC 8926) on UDP port 6081 (OVN's overlay).
	TunnelGeneve
	// TunnelGRE is GRE version 0 (RFC 2784/2890) carrying IP, Ethernet
	// (gretap, NVGRE) or MPLS.
	TunnelGRE
	// TunnelERSPAN is ERSPAN type I, II or III mirrored Ethernet over GRE.
	TunnelERSPAN
	// TunnelIPIP is IP directly in IP: IPv4 in IPv4 (ipip), IPv6 in IPv4
	// (6in4, sit), IPv4 or IPv6 in IPv6 (ip6tnl).
	TunnelIPIP
	// TunnelGTPU is GTP-U version 1 user data (G-PDU) on UDP port 2152.
	TunnelGTPU
)

var tunnelNames = [...]string{"", "vxlan", "geneve", "gre", "erspan", "ipip", "gtpu"}

// String returns the tunnel's name as netburst prints it ("vxlan",
// "geneve", "gre", "erspan", "ipip", "gtpu"; "" for TunnelNone).
func (t Tunnel) String() string {
	if int(t) < len(tunnelNames) {
		return tunnelNames[t]
	}
	return "unknown"
}

// Underlay is the outermost IP header of a decapsulated frame: the
// tunnel's own endpoints, and its UDP ports for the UDP tunnels.
type Underlay struct {
	Src, Dst netip.Addr
	// Protocol is the outer IP protocol (17 UDP, 47 GRE, 4 or 41 IP).
	Protocol uint8
	// SrcPort and DstPort are the outer UDP ports (VXLAN, Geneve, GTP-U).
	SrcPort, DstPort uint16
	// Fragment is set when the outer packet is a first fragment (a tunnel
	// is only opened in the fragment that holds its header).
	Fragment bool
	// L3Offset and L4Offset are the offsets of the outer IP header and of
	// what follows it (after any IPv6 extension headers).
	L3Offset, L4Offset int
}

// UDP ports the decoder treats as tunnels.
const (
	PortVXLAN      = 4789
	PortVXLANLinux = 8472
	PortGeneve     = 6081
	PortGTPU       = 2152
)

// maxTunnels bounds how many encapsulations of one frame are opened.
const maxTunnels = 4

// maxGTPExtensions and maxGRERouting bound the walks of hostile headers.
const (
	maxGTPExtensions = 8
	maxGRERouting    = 8
)

// Payload kinds a tunnel carries.
type payloadKind uint8

const (
	payloadEthernet payloadKind = iota
	payloadIPv4
	payloadIPv6
	payloadIPByVersion // the first nibble says (GTP-U)
	payloadMPLS
)

// IsTunnelPort reports whether a UDP port is one the decoder opens a
// tunnel on (the live capture's fast path hands such datagrams to it).
func IsTunnelPort(port uint16) bool {
	return port == PortVXLAN || port == PortVXLANLinux || port == PortGeneve || port == PortGTPU
}

// decodeUDPTunnel looks inside a UDP datagram at off (its header) whose
// lower port, then higher, names a tunnel, as Wireshark tries them. A
// payload that is not what the port announces (a VXLAN header without its
// VNI flag, a Geneve version other than 0, GTP-U signalling) leaves the
// datagram as it is.
func decodeUDPTunnel(data []byte, off int, p *Packet) error {
	lo, hi := p.SrcPort, p.DstPort
	if lo > hi {
		lo, hi = hi, lo
	}
	port := lo
	if !IsTunnelPort(lo) {
		port = hi
	}
	h := data[off+8:]
	switch port {
	case PortVXLAN, PortVXLANLinux:
		// flags (I = 0x08), 3 reserved bytes, VNI, 1 reserved byte.
		if len(h) < 8 || h[0]&0x08 == 0 {
			return nil
		}
		vni := uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
		return decapsulate(data, off+16, payloadEthernet, TunnelVXLAN, vni, true, p)
	case PortGeneve:
		// version and option length, flags, protocol type, VNI, reserved.
		if len(h) < 8 || h[0]>>6 != 0 {
			return nil
		}
		hlen := 8 + int(h[0]&0x3f)*4
		vni := uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
		kind, ok := etherPayload(binary.BigEndian.Uint16(h[2:4]))
		if !ok {
			return nil
		}
		return decapsulate(data, off+8+hlen, kind, TunnelGeneve, vni, true, p)
	case PortGTPU:
		// flags (version 1, PT 1, E S PN), message type, length, TEID, then
		// sequence, N-PDU and next extension type when E, S or PN is set.
		if len(h) < 8 || h[0]>>5 != 1 || h[0]&0x10 == 0 || h[1] != 0xff {
			return nil
		}
		teid := binary.BigEndian.Uint32(h[4:8])
		hlen := 8
		if h[0]&0x07 != 0 {
			if len(h) < 12 {
				return errTruncGTPU
			}
			next := h[11]
			hlen = 12
			for i := 0; next != 0; i++ {
				if i == maxGTPExtensions {
					return errBadGTPU
				}
				if len(h) < hlen+1 {
					return errTruncGTPU
				}
				n := int(h[hlen]) * 4 // length in 4-byte units, next type last
				if n == 0 {
					return errBadGTPU
				}
				if len(h) < hlen+n {
					return errTruncGTPU
				}
				next = h[hlen+n-1]
				hlen += n
			}
		}
		return decapsulate(data, off+8+hlen, payloadIPByVersion, TunnelGTPU, teid, true, p)
	}
	return nil
}

// etherPayload maps an EtherType-valued protocol field (Geneve's, GRE's)
// to the payload it announces.
func etherPayload(proto uint16) (payloadKind, bool) {
	switch proto {
	case etherTypeTEB:
		return payloadEthernet, true
	case EtherTypeIPv4:
		return payloadIPv4, true
	case EtherTypeIPv6:
		return payloadIPv6, true
	case EtherTypeMPLS, EtherTypeMPLSm:
		return payloadMPLS, true
	}
	return 0, false
}

// GRE protocol types beyond the EtherTypes of etherPayload.
const (
	etherTypeTEB      = 0x6558 // transparent Ethernet bridging
	etherTypeERSPAN2  = 0x88BE // ERSPAN type I (no sequence) and II
	etherTypeERSPAN3  = 0x22EB
	greFlagChecksum   = 0x8000
	greFlagRouting    = 0x4000
	greFlagKey        = 0x2000
	greFlagSequence   = 0x1000
	greVersionMask    = 0x0007
	erspanVersionII   = 1
	erspanVersionIII  = 2
	erspanSessionMask = 0x03ff
)

// decodeGRE looks inside a GRE version 0 header at off. Version 1 (PPTP's
// enhanced GRE) and protocols other than IP, Ethernet, MPLS and ERSPAN are
// left as they are: the frame counts under its outer header.
func decodeGRE(data []byte, off int, p *Packet) error {
	if len(data) < off+4 {
		return errTruncGRE
	}
	flags := binary.BigEndian.Uint16(data[off : off+2])
	proto := binary.BigEndian.Uint16(data[off+2 : off+4])
	if flags&greVersionMask != 0 {
		return nil
	}
	p.L4Offset = off
	hlen := 4
	if flags&(greFlagChecksum|greFlagRouting) != 0 {
		hlen += 4 // checksum and offset, present when either bit is set
	}
	var key uint32
	hasKey := flags&greFlagKey != 0
	if hasKey {
		if len(data) < off+hlen+4 {
			return errTruncGRE
		}
		key = binary.BigEndian.Uint32(data[off+hlen : off+hlen+4])
		hlen += 4
	}
	if flags&greFlagSequence != 0 {
		hlen += 4
	}
	if flags&greFlagRouting != 0 {
		// RFC 1701 source route entries: family, offset, length, then
		// length bytes; a family 0 length 0 entry ends the list.
		for i := 0; ; i++ {
			if i == maxGRERouting {
				return errBadGRE
			}
			if len(data) < off+hlen+4 {
				return errTruncGRE
			}
			n := int(data[off+hlen+3])
			end := binary.BigEndian.Uint16(data[off+hlen:off+hlen+2]) == 0 && n == 0
			hlen += 4 + n
			if end {
				break
			}
		}
	}
	if len(data) < off+hlen {
		return errTruncGRE
	}
	off += hlen
	switch proto {
	case etherTypeERSPAN2:
		if flags&greFlagSequence == 0 {
			// Type I: the mirrored frame follows GRE directly.
			return decapsulate(data, off, payloadEthernet, TunnelERSPAN, 0, false, p)
		}
		if len(data) < off+8 {
			return errTruncERSPAN
		}
		if data[off]>>4 != erspanVersionII {
			return errBadERSPAN
		}
		session := uint32(binary.BigEndian.Uint16(data[off+2:off+4]) & erspanSessionMask)
		return decapsulate(data, off+8, payloadEthernet, TunnelERSPAN, session, true, p)
	case etherTypeERSPAN3:
		if len(data) < off+12 {
			return errTruncERSPAN
		}
		if data[off]>>4 != erspanVersionIII {
			return errBadERSPAN
		}
		session := uint32(binary.BigEndian.Uint16(data[off+2:off+4]) & erspanSessionMask)
		hlen := 12
		if data[off+11]&0x01 != 0 { // O: an 8-byte platform subheader
			hlen += 8
		}
		return decapsulate(data, off+hlen, payloadEthernet, TunnelERSPAN, session, true, p)
	}
	kind, ok := etherPayload(proto)
	if !ok {
		return nil
	}
	return decapsulate(data, off, kind, TunnelGRE, key, hasKey, p)
}

// innerFields are the Packet fields a decapsulation overwrites, kept to
// put back when the inside holds no IP header.
type innerFields struct {
	ipVersion, protocol uint8
	src, dst            netip.Addr
	fragOff             uint16
	moreFrags           bool
	fragID              uint32
	hasPorts            bool
	srcPort, dstPort    uint16
	tcpFlags            uint8
	hasICMP             bool
	icmpType, icmpCode  uint8
	icmpID, icmpSeq     uint16
	l3Offset, l4Offset  int
}

func (s *innerFields) save(p *Packet) {
	*s = innerFields{p.IPVersion, p.Protocol, p.Src, p.Dst, p.FragmentOffset, p.MoreFragments, p.FragmentID,
		p.HasPorts, p.SrcPort, p.DstPort, p.TCPFlags, p.HasICMP, p.ICMPType, p.ICMPCode, p.ICMPID, p.ICMPSeq,
		p.L3Offset, p.L4Offset}
}

func (s *innerFields) restore(p *Packet) {
	p.IPVersion, p.Protocol, p.Src, p.Dst = s.ipVersion, s.protocol, s.src, s.dst
	p.FragmentOffset, p.MoreFragments, p.FragmentID = s.fragOff, s.moreFrags, s.fragID
	p.HasPorts, p.SrcPort, p.DstPort, p.TCPFlags = s.hasPorts, s.srcPort, s.dstPort, s.tcpFlags
	p.HasICMP, p.ICMPType, p.ICMPCode, p.ICMPID, p.ICMPSeq = s.hasICMP, s.icmpType, s.icmpCode, s.icmpID, s.icmpSeq
	p.L3Offset, p.L4Offset = s.l3Offset, s.l4Offset
}

// decapsulate decodes the payload of a tunnel at off. The outermost tunnel
// is recorded in p (Tunnel, TunnelID, Outer); the IP fields then describe
// the innermost IP packet found. When the inside holds no IP header (ARP
// in VXLAN, a payload cut short), the fields are put back to the
// tunnel's own IP header, which the frame then counts under, as tshark's
// last occurrence of ip.src would.
func decapsulate(data []byte, off int, kind payloadKind, t Tunnel, id uint32, hasID bool, p *Packet) error {
	if p.Tunnels == maxTunnels {
		return errBadTunnel
	}
	if p.Tunnels == 0 {
		p.Tunnel, p.TunnelID, p.HasTunnelID = t, id, hasID
		p.Outer = Underlay{Src: p.Src, Dst: p.Dst, Protocol: p.Protocol, Fragment: p.Fragment(), L3Offset: p.L3Offset, L4Offset: p.L4Offset}
		if p.HasPorts {
			p.Outer.SrcPort, p.Outer.DstPort = p.SrcPort, p.DstPort
		}
	}
	p.Tunnels++
	var saved innerFields
	saved.save(p)
	p.IPVersion, p.Protocol, p.Src, p.Dst = 0, 0, netip.Addr{}, netip.Addr{}
	p.FragmentOffset, p.MoreFragments, p.FragmentID = 0, false, 0
	p.HasPorts, p.SrcPort, p.DstPort, p.TCPFlags = false, 0, 0, 0
	p.HasICMP, p.ICMPType, p.ICMPCode, p.ICMPID, p.ICMPSeq = false, 0, 0, 0, 0
	p.L3Offset, p.L4Offset = -1, -1
	var err error
	switch kind {
	case payloadEthernet:
		err = decodeInnerEthernet(data, off, p)
	case payloadIPv4:
		err = decodeIPv4(data, off, p)
	case payloadIPv6:
		err = decodeIPv6(data, off, p)
	case payloadIPByVersion:
		if len(data) <= off {
			err = errTruncTunnel
			break
		}
		switch data[off] >> 4 {
		case 4:
			err = decodeIPv4(data, off, p)
		case 6:
			err = decodeIPv6(data, off, p)
		default:
			err = errBadTunnel
		}
	case payloadMPLS:
		err = decodeMPLS(data, off, p)
	}
	if p.IPVersion == 0 {
		saved.restore(p)
	}
	return err
}

// decodeInnerEthernet decodes a carried Ethernet frame (VXLAN, Geneve,
// gretap, ERSPAN) at off: its tags are skipped, not recorded (MACs and
// VLANs stay the outer frame's), and its network layer decoded.
func decodeInnerEthernet(data []byte, off int, p *Packet) error {
	if len(data) < off+14 {
		return errTruncEthernet
	}
	et := binary.BigEndian.Uint16(data[off+12 : off+14])
	off += 14
	for tags := 0; et == EtherTypeVLAN || et == EtherTypeQinQ || et == EtherTypeQinQ2; tags++ {
		if tags == maxVLANTags || len(data) < off+4 {
			return errTruncVLAN
		}
		et = binary.BigEndian.Uint16(data[off+2 : off+4])
		off += 4
	}
	return decodeNetwork(data, off, et, p)
}
