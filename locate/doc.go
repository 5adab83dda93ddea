// Package locate finds the path segment that added delay to ICMP echoes.
//
// The same echo (request and reply) is timestamped at several capture points
// along a path, given in order from the pinging side: for example a VM's
// eth0, its hypervisor's vif, the hypervisor's physical NIC, the far
// hypervisor's NIC, its vif and the far VM's eth0. Each point's round trip
// (reply time minus request time) uses one clock, so the difference of two
// neighbouring points' round trips is the round-trip delay of the segment
// between them whatever the points' clock offsets. One-way delays per
// direction need the clocks' offsets: they are either known to agree (points
// that share a clock) or estimated from the normal echoes (see Analyze).
//
// The package is pure: it reads no file and opens no socket. FromPacket
// turns a decoded frame into an Observation; Matcher pairs observations
// into echoes with bounded memory; Analyzer (offline) merges the points'
// streams by timestamp (AddStreams) and turns the echoes into per-echo
// delays and a verdict; Live (one host, one clock) turns each matched echo
// into per-segment delays as they come.
package locate
