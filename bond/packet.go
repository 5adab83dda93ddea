package bond

import "github.com/netburst/netburst/packet"

// FromPacket fills f from a decoded packet.Packet. The summary lacks a
// few things the kernel reads, so the result is exact for plain TCP, UDP
// and ICMP echo over IPv4 and IPv6 without extension headers, and an
// approximation otherwise: no tunnel insides (encap* then see the outer
// headers), no quoted header of ICMP errors (the hash then falls back as
// for a truncated error), no SCTP/ESP/AH ports, the VLAN priority bits
// unknown (capture keeps the VLAN ID only), and an IPv6 extension header
// before the transport header taken as one without ports. Prefer ParseFrame
// when the frame's bytes are at hand.
func FromPacket(p *packet.Packet, f *Flow) {
	*f = Flow{DstMAC: p.DstMAC, SrcMAC: p.SrcMAC, EtherType: p.EtherType}
	if p.NumVLANs > 0 {
		f.HasVLAN, f.VLANTCI = true, p.VLANs[0]
	}
	if p.NumVLANs > 1 {
		// The inner tag stays in the frame: the bond sees a VLAN EtherType.
		f.EtherType = etherTypeVLAN
	}
	if p.IPVersion != 4 && p.IPVersion != 6 {
		f.EncapOK = p.EtherType == etherTypeARP || p.EtherType == etherTypeRARP ||
			p.EtherType == etherTypeMPLSU || p.EtherType == etherTypeMPLSM
		return
	}
	h := Header{Valid: true, Src: p.Src, Dst: p.Dst, Proto: p.Protocol, Fragment: p.Fragment()}
	if p.HasPorts && !h.Fragment {
		h.HasL4, h.Ports = true, uint32(p.SrcPort)<<16|uint32(p.DstPort)
	}
	if p.HasICMP && !h.Fragment {
		h.HasICMP, h.ICMPType, h.ICMPCode, h.ICMPID = true, p.ICMPType, p.ICMPCode, p.ICMPID
	}
	f.Encap, f.EncapOK = h, true
	if p.IPVersion == 6 {
		switch {
		case h.Fragment:
			h.Proto = protoIPv6Fragment // no ports, no ICMP
		case p.L4Offset >= 0 && p.L3Offset >= 0 && p.L4Offset-p.L3Offset != 40:
			h.Proto, h.HasL4, h.HasICMP = 0, false, false // an extension header first
		}
	}
	if p.NumVLANs <= 1 {
		f.Net = h
	}
}
