package locate

import "github.com/netburst/netburst/packet"

// FromPacket fills o from a frame decoded at capture point point and
// reports whether it is an observation: an ICMP or ICMPv6 echo request or
// reply that is not an IP fragment (a fragment's id and sequence are not
// the echo's, or not there at all). Offline and live locate read their
// frames through it, so both keep the same echoes.
func FromPacket(p *packet.Packet, point int, o *Observation) bool {
	isEcho, isReply := p.IsEcho()
	if !isEcho || p.Fragment() {
		return false
	}
	*o = Observation{
		Point: point, Time: p.Time, Src: p.Src, Dst: p.Dst,
		ID: p.ICMPID, Seq: p.ICMPSeq, Reply: isReply,
	}
	return true
}
