package packet

import (
	"net/netip"
	"time"
)

// Packet is the header summary of one captured frame: what the summaries,
// locate and bond-hash need, with no pointer into the frame's bytes. A
// Decoder fills one in place, so a loop reuses a single Packet and allocates
// nothing per frame.
type Packet struct {
	// Time is the capture timestamp.
	Time time.Time
	// WireLen is the frame's length on the wire (tshark's frame.len).
	WireLen int
	// CapLen is how many bytes of it were captured.
	CapLen int

	// HasEthernet is set when the frame had an Ethernet header; SrcMAC,
	// DstMAC and the VLAN fields are only meaningful then.
	HasEthernet bool
	// SrcMAC and DstMAC are the Ethernet addresses.
	SrcMAC, DstMAC [6]byte
	// VLANs holds up to two 802.1Q/802.1ad tags, outermost first; NumVLANs
	// says how many are set.
	VLANs    [2]uint16
	NumVLANs uint8
	// EtherType is the type of the network layer after any VLAN tags
	// (0x0800 IPv4, 0x86DD IPv6, ...); it is set for cooked and raw-IP link
	// types as well.
	EtherType uint16

	// IPVersion is 4 or 6 when an IP header was decoded, else 0.
	IPVersion uint8
	// Src and Dst are the IP addresses (valid when IPVersion != 0).
	Src, Dst netip.Addr
	// Protocol is the transport protocol number after any IPv6 extension
	// headers (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
	Protocol uint8
	// FragmentOffset is the IP fragment offset in bytes; MoreFragments is the
	// MF flag (IPv4) or M flag (IPv6 fragment header). A frame is a fragment
	// when either is set; only the first fragment (offset 0) carries ports.
	FragmentOffset uint16
	MoreFragments  bool
	// FragmentID is the IP identification (IPv4) or fragment header
	// identification (IPv6).
	FragmentID uint32

	// HasPorts is set when SrcPort and DstPort were decoded (TCP or UDP,
	// first fragment or unfragmented).
	HasPorts         bool
	SrcPort, DstPort uint16
	// TCPFlags holds the TCP flag bits (FIN=0x01 ... CWR=0x80) for TCP.
	TCPFlags uint8

	// HasICMP is set for ICMP and ICMPv6; ICMPID and ICMPSeq are meaningful
	// for echo requests and replies.
	HasICMP            bool
	ICMPType, ICMPCode uint8
	ICMPID, ICMPSeq    uint16

	// L3Offset and L4Offset are the offsets of the network and transport
	// headers in the frame's bytes (-1 when absent), for callers that need
	// fields this summary does not carry (bond-hash's inner headers).
	L3Offset, L4Offset int

	// Tunnel is the outermost encapsulation the frame was opened from
	// (TunnelNone for a plain packet). The IP, port and ICMP fields above
	// then describe the innermost IP packet found inside (MACs, VLANs and
	// EtherType stay the outer frame's), and Outer holds the tunnel's own
	// IP header. When the inside holds no IP header, the fields are the
	// tunnel's own and Tunnel is still set.
	Tunnel Tunnel
	// Tunnels counts the encapsulations opened (2 for VXLAN in GRE).
	Tunnels uint8
	// HasTunnelID says whether the outermost tunnel carries an ID:
	// TunnelID is then the VNI (VXLAN, Geneve), key (GRE with the K bit),
	// session ID (ERSPAN II and III) or TEID (GTP-U).
	HasTunnelID bool
	TunnelID    uint32
	// Outer is the outermost tunnel's IP header (valid when Tunnel is set).
	Outer Underlay
}

// Fragment reports whether the packet is an IP fragment of any position.
func (p *Packet) Fragment() bool { return p.FragmentOffset != 0 || p.MoreFragments }

// IsEcho reports whether the packet is an ICMP or ICMPv6 echo request or
// reply, and which.
func (p *Packet) IsEcho() (isEcho, isReply bool) {
	if !p.HasICMP {
		return false, false
	}
	switch {
	case p.Protocol == 1 && p.ICMPType == 8, p.Protocol == 58 && p.ICMPType == 128:
		return true, false
	case p.Protocol == 1 && p.ICMPType == 0, p.Protocol == 58 && p.ICMPType == 129:
		return true, true
	}
	return false, false
}
