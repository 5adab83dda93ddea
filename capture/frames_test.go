package capture

import "github.com/netburst/netburst/packet/packettest"

// Short names for packettest's frame builders, which packet's tests share.
var (
	macA, macB  = packettest.MACA, packettest.MACB
	v4A, v4B    = packettest.V4A, packettest.V4B
	serialize   = packettest.Serialize
	eth         = packettest.Eth
	ip4         = packettest.IP4
	ip6         = packettest.IP6
	tcp         = packettest.TCP
	udp         = packettest.UDP
	payload     = packettest.Payload
	frag6       = packettest.Frag6
	benchFrames = packettest.BenchFrames
)
