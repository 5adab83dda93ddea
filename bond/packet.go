package bond

import "github.com/netburst/netburst/packet"

// FromPacket fills f from a decoded packet.Packet. The layer2+3 and
// layer3+4 policies read the frame's own IP header (a tunnel's outer one);
// encap2+3 and encap3+4 read what the kernel's flow dissector reaches
// through the decoder's inner decode: the inside of IP in IP, GRE and
// gretap, the IP of a PPPoE session, but not the inside of UDP tunnels
// (VXLAN, Geneve, GTP-U: the dissector stops at their UDP header, whose
// source port already carries the inner flow's entropy), nor of ERSPAN
// (the dissector fails and the hash falls back to layer2) or MPLS.
//
// The summary lacks a few things the kernel reads, so the result is exact
// for plain TCP, UDP and ICMP echo over IPv4 and IPv6 and for one level of
// the tunnels above (TestFromPacketMatchesParseFrame), and an
// approximation otherwise: for nested tunnels the innermost packet stands
// for where the dissector stops, MPLS carried by GRE is taken as IP, no
// quoted header of ICMP errors (the hash then falls back as for a
// truncated error), no SCTP/ESP/AH ports, the VLAN priority bits unknown
// (capture keeps the VLAN ID only), and an IPv6 extension header before the
// transport header taken as one without ports. Prefer ParseFrame when the
// frame's bytes are at hand.
func FromPacket(p *packet.Packet, f *Flow) {
	*f = Flow{DstMAC: p.DstMAC, SrcMAC: p.SrcMAC, EtherType: p.EtherType}
	if p.NumVLANs > 0 {
		f.HasVLAN, f.VLANTCI = true, p.VLANs[0]
	}
	if p.NumVLANs > 1 {
		// The inner tag stays in the frame: the bond sees a VLAN EtherType.
		f.EtherType = etherTypeVLAN
	}
	switch p.EtherType {
	case etherTypeIPv4, etherTypeIPv6:
	case packet.EtherTypePPPoE:
		// Not IP to layer2+3 and layer3+4; the dissector reads the
		// session's IP (or stops, without addresses, at PPP control).
		if p.IPVersion != 0 {
			f.Encap, f.EncapOK = innerHeader(p), true
		} else {
			f.EncapOK = true
		}
		return
	default:
		f.EncapOK = p.EtherType == etherTypeARP || p.EtherType == etherTypeRARP ||
			p.EtherType == etherTypeMPLSU || p.EtherType == etherTypeMPLSM
		return
	}
	if p.IPVersion != 4 && p.IPVersion != 6 {
		return
	}
	var own Header
	switch {
	case p.Tunnel == packet.TunnelNone:
		f.Encap, f.EncapOK = innerHeader(p), true
		own = ownView(f.Encap, p)
	default:
		o := &p.Outer
		own = Header{Valid: true, Src: o.Src, Dst: o.Dst, Proto: o.Protocol, Fragment: o.Fragment}
		if o.Protocol == 17 && !o.Fragment {
			own.HasL4, own.Ports = true, uint32(o.SrcPort)<<16|uint32(o.DstPort)
		}
		switch p.Tunnel {
		case packet.TunnelIPIP, packet.TunnelGRE:
			if p.L3Offset != o.L3Offset {
				f.Encap = innerHeader(p)
			} else {
				f.Encap = own // nothing IP inside: the outer keys stay
			}
			f.EncapOK = true
		case packet.TunnelERSPAN:
			// The dissector knows no ERSPAN: it fails, layer2 it is.
		default:
			f.Encap, f.EncapOK = own, true
		}
		switch {
		case o.Src.Is6() && o.Fragment:
			own.Proto, own.HasL4 = protoIPv6Fragment, false
		case o.Src.Is6() && o.L4Offset-o.L3Offset != 40:
			own.Proto, own.HasL4 = 0, false // an extension header first
		}
	}
	if p.NumVLANs <= 1 {
		f.Net = own
	}
}

// innerHeader is the Header of p's (innermost) IP packet as the flow
// dissector reads it: through IPv6 extension headers.
func innerHeader(p *packet.Packet) Header {
	h := Header{Valid: true, Src: p.Src, Dst: p.Dst, Proto: p.Protocol, Fragment: p.Fragment()}
	if p.HasPorts && !h.Fragment {
		h.HasL4, h.Ports = true, uint32(p.SrcPort)<<16|uint32(p.DstPort)
	}
	if p.HasICMP && !h.Fragment {
		h.HasICMP, h.ICMPType, h.ICMPCode, h.ICMPID = true, p.ICMPType, p.ICMPCode, p.ICMPID
	}
	return h
}

// ownView is h as bond_flow_ip reads an IPv6 header: its own Next Header
// is the protocol, so an extension header or a fragment hides the ports.
func ownView(h Header, p *packet.Packet) Header {
	if p.IPVersion == 6 {
		switch {
		case h.Fragment:
			h.Proto = protoIPv6Fragment // no ports, no ICMP
		case p.L4Offset >= 0 && p.L3Offset >= 0 && p.L4Offset-p.L3Offset != 40:
			h.Proto, h.HasL4, h.HasICMP = 0, false, false // an extension header first
		}
	}
	return h
}
