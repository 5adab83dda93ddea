package bond

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// EtherTypes the parser follows.
const (
	etherTypeIPv4  = 0x0800
	etherTypeARP   = 0x0806
	etherTypeRARP  = 0x8035
	etherTypeVLAN  = 0x8100
	etherTypeQinQ  = 0x88a8
	etherTypeIPv6  = 0x86DD
	etherTypeTEB   = 0x6558
	etherTypeMPLSU = 0x8847
	etherTypeMPLSM = 0x8848
	etherTypePPPoE = 0x8864 // session stage
)

// protoIPv6Fragment is the IPv6 fragment header's number: bond_flow_ip
// takes an IPv6 header's own Next Header as the protocol, so to the
// layer2+3 and layer3+4 hashes an IPv6 fragment is of protocol 44, without
// ports or ICMP header.
const protoIPv6Fragment = 44

// maxDissectHeaders bounds the flow dissector's walk (the kernel's
// MAX_FLOW_DISSECT_HDRS).
const maxDissectHeaders = 15

// ErrShortFrame is returned by ParseFrame for a frame shorter than an
// Ethernet header.
var ErrShortFrame = errors.New("frame shorter than an Ethernet header")

// ParseFrame fills f from an Ethernet frame, reading exactly the bytes the
// kernel's hash reads. The outermost VLAN tag, if any, is taken as the
// out-of-band tag a VLAN device above the bond attaches (a capture on a
// slave shows it in the frame). A truncated or odd frame is not an error:
// like the kernel, the result then falls back to what could be read. It
// allocates nothing.
func ParseFrame(frame []byte, f *Flow) error {
	*f = Flow{}
	if len(frame) < 14 {
		return ErrShortFrame
	}
	copy(f.DstMAC[:], frame[0:6])
	copy(f.SrcMAC[:], frame[6:12])
	et := binary.BigEndian.Uint16(frame[12:14])
	off := 14
	if (et == etherTypeVLAN || et == etherTypeQinQ) && len(frame) >= off+4 {
		f.HasVLAN = true
		f.VLANTCI = binary.BigEndian.Uint16(frame[off : off+2])
		et = binary.BigEndian.Uint16(frame[off+2 : off+4])
		off += 4
	}
	f.EtherType = et
	parseNetwork(frame, off, f)
	return nil
}

// ParseIP fills f from a frame that starts at its IP header (raw-IP link
// types, or Linux cooked captures after their header): no MAC addresses,
// so the layer2 part of any hash is 0.
func ParseIP(packet []byte, f *Flow) error {
	*f = Flow{}
	if len(packet) == 0 {
		return ErrShortFrame
	}
	switch packet[0] >> 4 {
	case 4:
		f.EtherType = etherTypeIPv4
	case 6:
		f.EtherType = etherTypeIPv6
	}
	parseNetwork(packet, 0, f)
	return nil
}

// ParseNetwork fills f's network parts from data[off:], the network header
// announced by f.EtherType; the caller has set the MACs, EtherType and VLAN
// fields (e.g. from a Linux cooked capture header).
func ParseNetwork(data []byte, off int, f *Flow) {
	f.Net, f.Quoted, f.Encap, f.EncapOK = Header{}, Header{}, Header{}, false
	parseNetwork(data, off, f)
}

func parseNetwork(b []byte, off int, f *Flow) {
	// ICMP as bond_flow_dissect sees it: ip_proto 1 or 58 (an IPv4
	// fragment has none; an IPv6 one has the fragment header's 44).
	if nh, ok := bondFlowIP(b, off, f.EtherType, &f.Net); ok && (f.Net.Proto == 1 || f.Net.Proto == 58) && !(f.Net.Fragment && f.Net.Src.Is4()) {
		parseICMP(b, nh, &f.Net)
		if f.Net.HasICMP && (f.Net.Proto == 1 && icmpIsErr(f.Net.ICMPType) || f.Net.Proto == 58 && icmpv6IsErr(f.Net.ICMPType)) {
			bondFlowIP(b, nh+8, f.EtherType, &f.Quoted)
		}
	}
	f.EncapOK = flowDissect(b, off, f.EtherType, &f.Encap)
}

// bondFlowIP reads the IP header at off the way bond_flow_ip does: no
// version or length checks beyond the fixed header being present, ports
// read at the IHL-given offset. It returns the transport offset.
func bondFlowIP(b []byte, off int, et uint16, h *Header) (int, bool) {
	switch et {
	case etherTypeIPv4:
		if len(b) < off+20 {
			return 0, false
		}
		ip := b[off:]
		h.Valid = true
		h.Src = netip.AddrFrom4([4]byte(ip[12:16]))
		h.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
		h.Proto = ip[9]
		h.Fragment = binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0
		off += int(ip[0]&0x0f) << 2
	case etherTypeIPv6:
		if len(b) < off+40 {
			return 0, false
		}
		ip := b[off:]
		h.Valid = true
		h.Src = netip.AddrFrom16([16]byte(ip[8:24]))
		h.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
		h.Proto = ip[6]
		h.Fragment = h.Proto == protoIPv6Fragment
		off += 40
	default:
		return 0, false
	}
	readPorts(b, off, h)
	return off, true
}

// readPorts reads the 4 "ports" bytes of h.Proto at off, if present.
func readPorts(b []byte, off int, h *Header) {
	po := portsOffset(h.Proto)
	if po < 0 || off+po+4 > len(b) {
		return
	}
	h.HasL4 = true
	h.Ports = binary.BigEndian.Uint32(b[off+po : off+po+4])
}

// parseICMP reads the ICMP/ICMPv6 header at off (8 bytes, as
// skb_flow_get_icmp_tci needs).
func parseICMP(b []byte, off int, h *Header) {
	if off+8 > len(b) {
		return
	}
	h.HasICMP = true
	h.ICMPType, h.ICMPCode = b[off], b[off+1]
	h.ICMPID = binary.BigEndian.Uint16(b[off+4 : off+6])
}

// flowDissect follows __skb_flow_dissect with the bonding key set far
// enough for the hash: through VLAN tags, IPv4/IPv6 (extension headers
// included), IPIP/SIT, GRE version 0 and GRE-carried Ethernet, to the
// innermost addresses and the ports or ICMP header after them. It reports
// false where the kernel's dissector fails (unknown EtherType, truncated
// header), which makes the hash fall back to layer2.
func flowDissect(b []byte, off int, proto uint16, h *Header) bool {
	for n := 0; n < maxDissectHeaders; n++ {
		switch proto {
		case etherTypeVLAN, etherTypeQinQ:
			if len(b) < off+4 {
				return false
			}
			proto = binary.BigEndian.Uint16(b[off+2 : off+4])
			off += 4
			continue
		case etherTypeARP, etherTypeRARP, etherTypeMPLSU, etherTypeMPLSM:
			// Dissected without addresses the bonding keys use.
			return true
		case etherTypePPPoE:
			var ok, again bool
			off, proto, ok, again = dissectPPPoE(b, off)
			if !again {
				return ok
			}
			continue
		case etherTypeIPv4:
			if len(b) < off+20 {
				return false
			}
			ip := b[off:]
			ihl := int(ip[0]&0x0f) << 2
			if ihl < 20 {
				return false
			}
			*h = Header{Valid: true, Src: netip.AddrFrom4([4]byte(ip[12:16])), Dst: netip.AddrFrom4([4]byte(ip[16:20])), Proto: ip[9]}
			off += ihl
			if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
				// Any fragment, first included (no FLOW_DISSECTOR_F_PARSE_1ST_FRAG):
				// stop before the transport header.
				h.Fragment = true
				return true
			}
		case etherTypeIPv6:
			if len(b) < off+40 {
				return false
			}
			ip := b[off:]
			*h = Header{Valid: true, Src: netip.AddrFrom16([16]byte(ip[8:24])), Dst: netip.AddrFrom16([16]byte(ip[24:40])), Proto: ip[6]}
			off += 40
		default:
			return false
		}
		// The IP protocol chain after an IP header.
		for ; n < maxDissectHeaders; n++ {
			switch h.Proto {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if proto != etherTypeIPv6 {
					return true
				}
				if len(b) < off+2 {
					return false
				}
				h.Proto = b[off]
				off += (int(b[off+1]) + 1) << 3
				continue
			case 44: // fragment
				if proto != etherTypeIPv6 {
					return true
				}
				if len(b) < off+8 {
					return false
				}
				h.Fragment = true
				return true
			case 4: // IPIP
				proto = etherTypeIPv4
			case 41: // IPv6 in IP
				proto = etherTypeIPv6
			case 47: // GRE
				var ok, again bool
				off, proto, ok, again = dissectGRE(b, off)
				if !ok {
					return false
				}
				if !again {
					return true
				}
			default:
				readPorts(b, off, h)
				if h.Proto == 1 || h.Proto == 58 {
					parseICMP(b, off, h)
				}
				return true
			}
			break
		}
	}
	return true
}

// dissectPPPoE is the flow dissector's ETH_P_PPP_SES case: a session
// header (version 1, type 1, code 0), then the PPP protocol, one byte when
// compressed (its low bit set). IP and IPv6 are dissected further; MPLS
// and other valid PPP protocols end the dissection without addresses; an
// invalid header or protocol fails it.
func dissectPPPoE(b []byte, off int) (next int, proto uint16, ok, again bool) {
	if len(b) < off+8 || b[off] != 0x11 || b[off+1] != 0 {
		return off, 0, false, false
	}
	ppp := binary.BigEndian.Uint16(b[off+6 : off+8])
	if ppp&0x0100 != 0 { // compressed to one byte
		ppp >>= 8
		off += 7
	} else {
		off += 8
	}
	switch ppp {
	case 0x0021:
		return off, etherTypeIPv4, true, true
	case 0x0057:
		return off, etherTypeIPv6, true, true
	}
	// ppp_proto_is_valid: the low bit of the protocol's high byte clear
	// and of its low byte set.
	return off, 0, ppp&0x0101 == 0x0001, false
}

// dissectGRE is __skb_flow_dissect_gre for version 0: it skips the
// optional checksum, key and sequence words and a carried Ethernet header.
// again reports whether dissection continues with proto at off.
func dissectGRE(b []byte, off int) (next int, proto uint16, ok, again bool) {
	if len(b) < off+4 {
		return off, 0, false, false
	}
	flags := binary.BigEndian.Uint16(b[off : off+2])
	proto = binary.BigEndian.Uint16(b[off+2 : off+4])
	if flags&0x0007 != 0 || flags&0x4000 != 0 {
		// Version 1 (PPTP) and source routing: the dissector stops here.
		return off, 0, true, false
	}
	off += 4
	for _, bit := range [...]uint16{0x8000, 0x2000, 0x1000} { // checksum, key, sequence
		if flags&bit != 0 {
			off += 4
		}
	}
	if proto == etherTypeTEB {
		if len(b) < off+14 {
			return off, 0, false, false
		}
		proto = binary.BigEndian.Uint16(b[off+12 : off+14])
		off += 14
	}
	return off, proto, true, true
}
