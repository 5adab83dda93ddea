package bond

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// FlowKey identifies one directional flow as the transmit hash sees it: an
// IP flow by protocol, addresses and ports (ESP and AH by SPI, ICMP also by
// echo identifier), any other frame by EtherType and MAC addresses.
type FlowKey struct {
	// EtherType is the flow's Flow.EtherType.
	EtherType uint16
	// IP is set for a flow with an IP header (Flow.Net, else Flow.Encap);
	// Proto, Src and Dst are then its protocol and addresses. SrcMAC and
	// DstMAC identify a flow that is not IP.
	IP             bool
	Proto          uint8
	Src, Dst       netip.Addr
	SrcMAC, DstMAC [6]byte
	// HasPorts is set when SrcPort and DstPort were read (a transport
	// header with ports, not a fragment, not ESP or AH).
	HasPorts         bool
	SrcPort, DstPort uint16
	// SPI is the security parameter index of ESP and AH (0 when absent).
	SPI uint32
	// HasICMPID is set for an ICMP or ICMPv6 header; ICMPID is its
	// identifier field.
	HasICMPID bool
	ICMPID    uint16
}

// keyOf is the key of f's flow.
func keyOf(f *Flow) FlowKey {
	k := FlowKey{EtherType: f.EtherType}
	h := &f.Net
	if !h.Valid {
		h = &f.Encap
	}
	if !h.Valid {
		k.SrcMAC, k.DstMAC = f.SrcMAC, f.DstMAC
		return k
	}
	k.IP, k.Proto, k.Src, k.Dst = true, h.Proto, h.Src, h.Dst
	switch {
	case !h.HasL4 || h.Fragment:
	case h.Proto == 50 || h.Proto == 51:
		k.SPI = h.Ports
	default:
		k.HasPorts, k.SrcPort, k.DstPort = true, uint16(h.Ports>>16), uint16(h.Ports)
	}
	if h.HasICMP && (h.Proto == 1 || h.Proto == 58) {
		k.HasICMPID, k.ICMPID = true, h.ICMPID
	}
	return k
}

// Protocol names the flow's protocol as FLOWs write it (ParseFlow): "tcp",
// "icmpv6", a number for an IP protocol without a name; for a flow that is
// not IP "arp", "vlan" or "ethertype-0xNNNN".
func (k FlowKey) Protocol() string {
	if k.IP {
		if n, ok := ipProtoNames[k.Proto]; ok {
			return n
		}
		return strconv.Itoa(int(k.Proto))
	}
	switch k.EtherType {
	case etherTypeARP:
		return "arp"
	case etherTypeVLAN, etherTypeQinQ:
		return "vlan"
	}
	return fmt.Sprintf("ethertype-0x%04x", k.EtherType)
}

// FlowStat is one flow of a FlowTable: what it carried and the slave it
// leaves on.
type FlowStat struct {
	FlowKey
	// Slave is the index of the slave the flow leaves on, Hash the
	// kernel's hash it was taken from (hash % slaves).
	Slave int
	Hash  uint32
	// Packets and Bytes are what the flow carried.
	Packets, Bytes uint64
	// Flow is the flow's first packet: SuggestMoves varies its source
	// port.
	Flow Flow
}

// SlaveStat is what one slave carries.
type SlaveStat struct {
	Packets, Bytes uint64
	// Share is the slave's part of the bond's load, in the Balance's
	// Weight.
	Share float64
}

// Weight is what loads are counted in: bytes when any byte count is known,
// else packets (FLOWs without bytes=).
type Weight uint8

// The weights.
const (
	WeightPackets Weight = iota
	WeightBytes
)

// String returns "packets" or "bytes".
func (w Weight) String() string {
	if w == WeightBytes {
		return "bytes"
	}
	return "packets"
}

// Of returns the load of packets and bytes in w.
func (w Weight) Of(packets, bytes uint64) uint64 {
	if w == WeightBytes {
		return bytes
	}
	return packets
}

// Move is a suggestion to move one flow to another slave.
type Move struct {
	// Flow indexes Balance.Flows; From and To are slave indexes; Weight is
	// the flow's load.
	Flow, From, To int
	Weight         uint64
	// SrcPort, when HasSrcPort, is the nearest source port above the
	// flow's own that the policy would hash onto To (layer3+4, encap3+4).
	SrcPort    uint16
	HasSrcPort bool
}

// Balance is how a FlowTable's flows spread over the slaves.
type Balance struct {
	// Flows are in the order they were first added.
	Flows  []FlowStat
	Slaves []SlaveStat
	// Weight is what the loads below are counted in.
	Weight Weight
	// Imbalance is the busiest slave's load over the mean load: 1 is
	// even, n is everything on one of n slaves (0 with no load at all).
	Imbalance float64
	// Moves are the suggested moves (SuggestMoves), never nil.
	Moves []Move
	// UnlistedPackets and UnlistedBytes are the traffic of flows beyond
	// the table's bound: in the slaves' totals, in no flow.
	UnlistedPackets, UnlistedBytes uint64
	// NonIPPackets counts the packets of flows that are not IP.
	NonIPPackets uint64
}

// tableKey is a flow and the slave it took: a flow whose packets hash
// differently (IP fragments, hashed without ports) has one entry per slave.
type tableKey struct {
	FlowKey
	slave int
}

// FlowTable sums packets and bytes per flow and per slave under one
// hasher and number of slaves. Its memory is bounded by the number of
// distinct flows it keeps; the traffic of further flows counts in the
// slaves' totals only. It is not safe for concurrent use.
type FlowTable struct {
	h        Hasher
	n        int
	maxFlows int
	index    map[tableKey]int
	flows    []FlowStat
	slaves   []SlaveStat
	unlisted [2]uint64 // packets, bytes
	nonIP    uint64
}

// ErrBadFlowTable is returned by NewFlowTable for a size below 1.
var ErrBadFlowTable = errors.New("bad flow table size")

// NewFlowTable returns a table of the flows leaving on slaves usable
// slaves under h, keeping at most maxFlows flows.
func NewFlowTable(h Hasher, slaves, maxFlows int) (*FlowTable, error) {
	if slaves < 1 || maxFlows < 1 {
		return nil, fmt.Errorf("%w: %d slaves and %d flows, want at least 1 of each", ErrBadFlowTable, slaves, maxFlows)
	}
	return &FlowTable{h: h, n: slaves, maxFlows: maxFlows, index: map[tableKey]int{}, slaves: make([]SlaveStat, slaves)}, nil
}

// Add counts packets and bytes of flow f on the slave f hashes to.
func (t *FlowTable) Add(f *Flow, packets, bytes uint64) {
	hash := t.h.Hash(f)
	slave := slaveOf(hash, t.n)
	t.slaves[slave].Packets += packets
	t.slaves[slave].Bytes += bytes
	k := tableKey{keyOf(f), slave}
	if !k.IP {
		t.nonIP += packets
	}
	i, ok := t.index[k]
	if !ok {
		if len(t.flows) >= t.maxFlows {
			t.unlisted[0] += packets
			t.unlisted[1] += bytes
			return
		}
		i = len(t.flows)
		t.index[k] = i
		t.flows = append(t.flows, FlowStat{FlowKey: k.FlowKey, Slave: slave, Hash: hash, Flow: *f})
	}
	t.flows[i].Packets += packets
	t.flows[i].Bytes += bytes
}

// Result returns the shares, the imbalance and at most maxMoves suggested
// moves. Call it once, after the last Add: the Balance holds the table's
// flows, not a copy.
func (t *FlowTable) Result(maxMoves int) *Balance {
	b := &Balance{
		Flows: t.flows, Slaves: t.slaves, Weight: WeightPackets,
		UnlistedPackets: t.unlisted[0], UnlistedBytes: t.unlisted[1], NonIPPackets: t.nonIP,
	}
	if b.Flows == nil {
		b.Flows = []FlowStat{}
	}
	for _, s := range t.slaves {
		if s.Bytes > 0 {
			b.Weight = WeightBytes
		}
	}
	load := make([]uint64, t.n)
	var total, busiest uint64
	for i, s := range t.slaves {
		load[i] = b.Weight.Of(s.Packets, s.Bytes)
		total += load[i]
		busiest = max(busiest, load[i])
	}
	if total > 0 {
		for i, l := range load {
			b.Slaves[i].Share = float64(l) / float64(total)
		}
		b.Imbalance = float64(busiest) / (float64(total) / float64(t.n))
	}
	b.Moves = SuggestMoves(t.h, b.Flows, b.Weight, load, maxMoves)
	return b
}

// SuggestMoves is a greedy rebalancing of flows (each on its Slave) over
// slaves loaded as load says (in w): while moves remain, take the most
// and the least loaded slave and move, from the former to the latter, the
// flow whose weight is closest to half their difference, provided it is
// smaller than the difference (so that the pair's larger load shrinks).
// Each flow moves at most once. It is a hint about which flows matter, not
// an optimum. It returns an empty, non-nil slice when nothing moves.
func SuggestMoves(h Hasher, flows []FlowStat, w Weight, load []uint64, maxMoves int) []Move {
	moves := []Move{}
	load = append([]uint64(nil), load...)
	moved := make([]bool, len(flows))
	for len(moves) < maxMoves && len(load) > 1 {
		hi, lo := 0, 0
		for i, l := range load {
			if l > load[hi] {
				hi = i
			}
			if l < load[lo] {
				lo = i
			}
		}
		diff := load[hi] - load[lo]
		best := -1
		var bestDist uint64
		for i := range flows {
			fw := w.Of(flows[i].Packets, flows[i].Bytes)
			if moved[i] || flows[i].Slave != hi || fw == 0 || fw >= diff {
				continue
			}
			dist := absDiff(2*fw, diff)
			if best < 0 || dist < bestDist {
				best, bestDist = i, dist
			}
		}
		if best < 0 {
			break
		}
		moved[best] = true
		fw := w.Of(flows[best].Packets, flows[best].Bytes)
		load[hi] -= fw
		load[lo] += fw
		m := Move{Flow: best, From: hi, To: lo, Weight: fw}
		m.SrcPort, m.HasSrcPort = portFor(h, &flows[best].Flow, lo, len(load))
		moves = append(moves, m)
	}
	return moves
}

// portFor finds the nearest source port above f's own that would hash it
// onto slave to of n, for the policies that hash ports.
func portFor(h Hasher, f *Flow, to, n int) (uint16, bool) {
	c := *f
	hd := &c.Net
	if h.Policy() == Encap34 {
		hd = &c.Encap
	} else if h.Policy() != Layer34 {
		return 0, false
	}
	if !hd.Valid || !hd.HasL4 || hd.Fragment {
		return 0, false
	}
	sp := uint16(hd.Ports >> 16)
	for d := 1; d < 65536; d++ {
		p := sp + uint16(d)
		hd.Ports = uint32(p)<<16 | hd.Ports&0xffff
		if h.Slave(&c, n) == to {
			return p, true
		}
	}
	return 0, false
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}
