package packet

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// RateBucket is the interval over which peak rates are measured: a peak of
// 1 MB in one 100 ms bucket is 10 MB/s. Buckets are aligned on multiples of
// 100 ms since the Unix epoch, so two summaries of the same packets agree.
const RateBucket = 100 * time.Millisecond

// DefaultMaxFlows is the default bound on entries per table (ports, host
// pairs, conversations) of an Aggregator.
const DefaultMaxFlows = 1 << 16

// Counter is a packet and byte count.
type Counter struct {
	// Packets is the number of frames.
	Packets uint64 `json:"packets"`
	// Bytes is the sum of their wire lengths (tshark's frame.len).
	Bytes uint64 `json:"bytes"`
}

// PortStat is the traffic to one destination port.
type PortStat struct {
	// Protocol is "tcp" or "udp".
	Protocol string `json:"protocol"`
	// Port is the destination port.
	Port uint16 `json:"port"`
	Counter
	// PeakBytesPerSecond is the largest 100 ms bucket's bytes, per second.
	PeakBytesPerSecond float64 `json:"peak_bytes_per_second"`
}

// HostStat is the traffic from one IP address to another, in that
// direction.
type HostStat struct {
	// Src and Dst are the IP addresses.
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	Counter
	// PeakBytesPerSecond is the largest 100 ms bucket's bytes, per second.
	PeakBytesPerSecond float64 `json:"peak_bytes_per_second"`
}

// ConversationStat is a TCP or UDP conversation in both directions, keyed by
// its 5-tuple regardless of direction, like tshark's conversation tables:
// Src and SrcPort are the sender of the first packet seen ("A" in tshark),
// Dst and DstPort its peer ("B").
type ConversationStat struct {
	// Protocol is "tcp" or "udp".
	Protocol string     `json:"protocol"`
	Src      netip.Addr `json:"src"`
	SrcPort  uint16     `json:"src_port"`
	Dst      netip.Addr `json:"dst"`
	DstPort  uint16     `json:"dst_port"`
	// Counter is the total of both directions.
	Counter
	// SrcToDst and DstToSrc split the total by direction (tshark's "->"
	// and "<-" columns).
	SrcToDst Counter `json:"src_to_dst"`
	DstToSrc Counter `json:"dst_to_src"`
	// PeakBytesPerSecond is the largest 100 ms bucket's bytes (both
	// directions), per second.
	PeakBytesPerSecond float64 `json:"peak_bytes_per_second"`
	// Tunnel and TunnelID name the overlay a tunnelled conversation was
	// found in ("vxlan" and its VNI, ...): part of the key, so that two
	// tenants' equal addresses in two VNIs stay two conversations.
	Tunnel   string  `json:"tunnel,omitempty"`
	TunnelID *uint32 `json:"tunnel_id,omitempty"`
}

// TunnelStat is the traffic of one tunnel between two underlay addresses,
// in that direction (netburst top --by tunnel): what the outer headers
// alone would show.
type TunnelStat struct {
	// Tunnel is the encapsulation ("vxlan", "geneve", "gre", "erspan",
	// "ipip", "gtpu"); TunnelID its VNI, key, session or TEID when it has
	// one.
	Tunnel   string  `json:"tunnel"`
	TunnelID *uint32 `json:"tunnel_id,omitempty"`
	// Src and Dst are the outer IP addresses.
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	Counter
	// PeakBytesPerSecond is the largest 100 ms bucket's bytes, per second.
	PeakBytesPerSecond float64 `json:"peak_bytes_per_second"`
}

// TunnelLabel is a tunnel and its ID as netburst's tables print them
// ("vxlan 5001", "ipip"; "-" for none): the Tunnel and TunnelID fields of
// a ConversationStat or TunnelStat.
func TunnelLabel(tunnel string, id *uint32) string {
	switch {
	case tunnel == "":
		return "-"
	case id == nil:
		return tunnel
	}
	return tunnel + " " + strconv.FormatUint(uint64(*id), 10)
}

// Overflow counts the traffic that found its table full: it is in the
// totals but in no entry of that table.
type Overflow struct {
	Ports         Counter `json:"ports"`
	Hosts         Counter `json:"hosts"`
	Conversations Counter `json:"conversations"`
	Tunnels       Counter `json:"tunnels"`
}

// Summary is the result of aggregating packets: totals and the top entries of
// each table, largest bytes first.
type Summary struct {
	// Start and End are the times of the first and last packet (zero when
	// there was none).
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Counter is the total of every frame, IP or not.
	Counter
	// PeakBytesPerSecond is the largest 100 ms bucket of all traffic.
	PeakBytesPerSecond float64            `json:"peak_bytes_per_second"`
	Ports              []PortStat         `json:"ports"`
	Hosts              []HostStat         `json:"hosts"`
	Conversations      []ConversationStat `json:"conversations"`
	// Tunnels is the tunnelled traffic by tunnel and outer address pair;
	// the other tables count what is inside. Tunnelled is its total.
	Tunnels   []TunnelStat `json:"tunnels"`
	Tunnelled Counter      `json:"tunnelled"`
	// Overflow is what the tables' bound kept out of them.
	Overflow Overflow `json:"overflow"`
	// MACsec is the frames encrypted by MACsec (EtherType 0x88E5): in the
	// totals, their IP headers not readable.
	MACsec Counter `json:"macsec"`
}

// PeakSlots is how many 100 ms buckets each entry keeps for its peak: a
// frame up to PeakSlots-1 buckets (300 ms) older than the newest the entry
// has seen still counts in its own bucket, so the jitter between the CPUs
// that stamped a capture costs nothing. An older frame counts in the
// totals but not in the peaks (Aggregator.Late); a caller with a badly
// unsorted file feeds it in time order instead (netburst top merges the
// file's sorted runs).
const PeakSlots = 4

// flowStat is one entry's running counts. Rates are kept as the bytes of the
// last PeakSlots 100 ms buckets and the largest bucket so far: constant
// memory per entry, whatever the duration.
type flowStat struct {
	Counter
	fwd       Counter // conversations: the first sender's direction
	loFirst   bool    // conversations: the lower endpoint sent first
	timed     bool    // a frame with a bucket was added: head is set
	head      int64   // the newest bucket added
	slots     [PeakSlots]uint64
	peakBytes uint64
}

// count adds a frame of n bytes to the totals.
func (s *flowStat) count(n uint64) {
	s.Packets++
	s.Bytes += n
}

// addPeak adds n bytes to bucket's slot; it reports false, adding nothing,
// when the bucket is too old for the slots.
func (s *flowStat) addPeak(bucket int64, n uint64) bool {
	switch {
	case !s.timed || bucket-s.head >= PeakSlots:
		s.slots, s.head, s.timed = [PeakSlots]uint64{}, bucket, true
	case bucket > s.head:
		for b := s.head + 1; b <= bucket; b++ {
			s.slots[b%PeakSlots] = 0
		}
		s.head = bucket
	case s.head-bucket >= PeakSlots:
		return false
	}
	i := bucket % PeakSlots
	s.slots[i] += n
	s.peakBytes = max(s.peakBytes, s.slots[i])
	return true
}

func (s *flowStat) peakRate() float64 {
	return float64(s.peakBytes) / RateBucket.Seconds()
}

// table is a bounded map from a key to its flowStat, stored in slices to keep
// pointers out of the map.
type table[K comparable] struct {
	index    map[K]int32
	keys     []K
	stats    []flowStat
	max      int
	overflow Counter
}

func newTable[K comparable](max int) table[K] {
	return table[K]{index: make(map[K]int32), max: max}
}

// get returns k's entry, creating it (created is then true), or nil when
// the table is full.
func (t *table[K]) get(k K, n uint64) (s *flowStat, created bool) {
	i, ok := t.index[k]
	if !ok {
		if len(t.keys) >= t.max {
			t.overflow.Packets++
			t.overflow.Bytes += n
			return nil, false
		}
		i = int32(len(t.keys))
		t.index[k] = i
		t.keys = append(t.keys, k)
		t.stats = append(t.stats, flowStat{})
	}
	return &t.stats[i], !ok
}

func (t *table[K]) reset() {
	clear(t.index)
	t.keys, t.stats, t.overflow = t.keys[:0], t.stats[:0], Counter{}
}

type portKey struct {
	proto uint8
	port  uint16
}

type hostKey struct {
	src, dst netip.Addr
}

// convKey holds the endpoints in canonical order (lower address, then lower
// port, first), so both directions find the same entry.
type convKey struct {
	proto          uint8
	lo, hi         netip.Addr
	loPort, hiPort uint16
	tunnel         tunnelRef
}

// tunnelRef is a tunnel and its ID, if it has one.
type tunnelRef struct {
	kind  Tunnel
	hasID bool
	id    uint32
}

func (r tunnelRef) json() (string, *uint32) {
	if !r.hasID {
		return r.kind.String(), nil
	}
	id := r.id
	return r.kind.String(), &id
}

type tunnelKey struct {
	tunnel   tunnelRef
	src, dst netip.Addr
}

// Aggregator accumulates packets into totals and per-port, per-host-pair and
// per-conversation counts. Its memory is bounded by the number of distinct
// entries, at most maxFlows per table; traffic that finds a table full is
// counted in Summary.Overflow. A packet whose time is not ValidTime counts
// everywhere but in the peaks, Start and End. An Aggregator is not safe for
// concurrent use.
type Aggregator struct {
	total      flowStat
	start, end time.Time
	late       uint64
	macsec     Counter
	tunnelled  Counter
	ports      table[portKey]
	hosts      table[hostKey]
	convs      table[convKey]
	tunnels    table[tunnelKey]
}

// NewAggregator returns an aggregator keeping at most maxFlows entries per
// table (DefaultMaxFlows when maxFlows <= 0).
func NewAggregator(maxFlows int) *Aggregator {
	if maxFlows <= 0 {
		maxFlows = DefaultMaxFlows
	}
	return &Aggregator{
		ports:   newTable[portKey](maxFlows),
		hosts:   newTable[hostKey](maxFlows),
		convs:   newTable[convKey](maxFlows),
		tunnels: newTable[tunnelKey](maxFlows),
	}
}

// Reset empties the aggregator, keeping its allocated memory.
func (a *Aggregator) Reset() {
	a.total = flowStat{}
	a.start, a.end, a.late, a.macsec, a.tunnelled = time.Time{}, time.Time{}, 0, Counter{}, Counter{}
	a.ports.reset()
	a.hosts.reset()
	a.convs.reset()
	a.tunnels.reset()
}

// bucketOf is t's 100 ms bucket since the epoch, for a ValidTime t.
func bucketOf(t time.Time) int64 { return t.UnixNano() / int64(RateBucket) }

// Add counts one packet. Every frame counts in the totals; IP frames in the
// host pairs; TCP and UDP frames that carry ports (not later fragments) in
// the ports and conversations. A tunnelled frame counts by what is inside
// (its conversation keyed by the tunnel too) and in the tunnel table by
// its outer addresses.
func (a *Aggregator) Add(p *Packet) {
	n := uint64(p.WireLen)
	timed := ValidTime(p.Time)
	bucket := int64(0)
	if timed {
		bucket = bucketOf(p.Time)
		if !a.total.timed || p.Time.Before(a.start) {
			a.start = p.Time
		}
		if !a.total.timed || p.Time.After(a.end) {
			a.end = p.Time
		}
		if !a.total.addPeak(bucket, n) {
			a.late++
		}
	}
	a.total.count(n)
	add := func(s *flowStat) {
		s.count(n)
		if timed {
			s.addPeak(bucket, n)
		}
	}
	if p.IPVersion == 0 {
		if p.EtherType == EtherTypeMACsec {
			a.macsec.Packets++
			a.macsec.Bytes += n
		}
		return
	}
	var tun tunnelRef // the conversation's: only for an IP header found inside
	if p.Tunnel != TunnelNone {
		a.tunnelled.Packets++
		a.tunnelled.Bytes += n
		ref := tunnelRef{kind: p.Tunnel, hasID: p.HasTunnelID, id: p.TunnelID}
		if s, _ := a.tunnels.get(tunnelKey{ref, p.Outer.Src, p.Outer.Dst}, n); s != nil {
			add(s)
		}
		if p.L3Offset != p.Outer.L3Offset {
			tun = ref
		}
	}
	if s, _ := a.hosts.get(hostKey{p.Src, p.Dst}, n); s != nil {
		add(s)
	}
	if !p.HasPorts || (p.Protocol != 6 && p.Protocol != 17) {
		return
	}
	if s, _ := a.ports.get(portKey{p.Protocol, p.DstPort}, n); s != nil {
		add(s)
	}
	k := convKey{proto: p.Protocol, lo: p.Src, hi: p.Dst, loPort: p.SrcPort, hiPort: p.DstPort, tunnel: tun}
	srcIsLo := true
	if c := p.Src.Compare(p.Dst); c > 0 || (c == 0 && p.SrcPort > p.DstPort) {
		k.lo, k.hi, k.loPort, k.hiPort = p.Dst, p.Src, p.DstPort, p.SrcPort
		srcIsLo = false
	}
	s, created := a.convs.get(k, n)
	if s == nil {
		return
	}
	if created {
		s.loFirst = srcIsLo
	}
	add(s)
	if srcIsLo == s.loFirst {
		s.fwd.Packets++
		s.fwd.Bytes += n
	}
}

// Late returns how many frames came more than PeakSlots-1 buckets behind
// the newest: they are in the totals and tables but not in the peaks.
func (a *Aggregator) Late() uint64 { return a.late }

// Packets returns the number of frames added so far.
func (a *Aggregator) Packets() uint64 { return a.total.Packets }

// Summary returns the totals and the k largest entries of each table by
// bytes (then packets, then key); k <= 0 returns every entry.
func (a *Aggregator) Summary(k int) Summary {
	s := Summary{
		Start:              a.start,
		End:                a.end,
		Counter:            a.total.Counter,
		PeakBytesPerSecond: a.total.peakRate(),
		Ports:              make([]PortStat, 0, len(a.ports.keys)),
		Hosts:              make([]HostStat, 0, len(a.hosts.keys)),
		Conversations:      make([]ConversationStat, 0, len(a.convs.keys)),
		Overflow: Overflow{
			Ports:         a.ports.overflow,
			Hosts:         a.hosts.overflow,
			Conversations: a.convs.overflow,
			Tunnels:       a.tunnels.overflow,
		},
		Tunnels:   make([]TunnelStat, 0, len(a.tunnels.keys)),
		MACsec:    a.macsec,
		Tunnelled: a.tunnelled,
	}
	for i, key := range a.ports.keys {
		st := &a.ports.stats[i]
		s.Ports = append(s.Ports, PortStat{Protocol: protoName(key.proto), Port: key.port, Counter: st.Counter, PeakBytesPerSecond: st.peakRate()})
	}
	for i, key := range a.hosts.keys {
		st := &a.hosts.stats[i]
		s.Hosts = append(s.Hosts, HostStat{Src: key.src, Dst: key.dst, Counter: st.Counter, PeakBytesPerSecond: st.peakRate()})
	}
	for i, key := range a.convs.keys {
		st := &a.convs.stats[i]
		c := ConversationStat{Protocol: protoName(key.proto), Counter: st.Counter, PeakBytesPerSecond: st.peakRate(),
			SrcToDst: st.fwd, DstToSrc: Counter{Packets: st.Packets - st.fwd.Packets, Bytes: st.Bytes - st.fwd.Bytes}}
		if key.tunnel.kind != TunnelNone {
			c.Tunnel, c.TunnelID = key.tunnel.json()
		}
		if st.loFirst {
			c.Src, c.SrcPort, c.Dst, c.DstPort = key.lo, key.loPort, key.hi, key.hiPort
		} else {
			c.Src, c.SrcPort, c.Dst, c.DstPort = key.hi, key.hiPort, key.lo, key.loPort
		}
		s.Conversations = append(s.Conversations, c)
	}
	for i, key := range a.tunnels.keys {
		st := &a.tunnels.stats[i]
		ts := TunnelStat{Src: key.src, Dst: key.dst, Counter: st.Counter, PeakBytesPerSecond: st.peakRate()}
		ts.Tunnel, ts.TunnelID = key.tunnel.json()
		s.Tunnels = append(s.Tunnels, ts)
	}
	slices.SortFunc(s.Tunnels, func(x, y TunnelStat) int {
		return cmpCounters(x.Counter, y.Counter, cmp.Or(cmp.Compare(x.Tunnel, y.Tunnel), cmpID(x.TunnelID, y.TunnelID),
			x.Src.Compare(y.Src), x.Dst.Compare(y.Dst)))
	})
	slices.SortFunc(s.Ports, func(x, y PortStat) int {
		return cmpCounters(x.Counter, y.Counter, cmp.Or(cmp.Compare(x.Protocol, y.Protocol), cmp.Compare(x.Port, y.Port)))
	})
	slices.SortFunc(s.Hosts, func(x, y HostStat) int {
		return cmpCounters(x.Counter, y.Counter, cmp.Or(x.Src.Compare(y.Src), x.Dst.Compare(y.Dst)))
	})
	slices.SortFunc(s.Conversations, func(x, y ConversationStat) int {
		return cmpCounters(x.Counter, y.Counter, cmp.Or(cmp.Compare(x.Protocol, y.Protocol),
			x.Src.Compare(y.Src), cmp.Compare(x.SrcPort, y.SrcPort), x.Dst.Compare(y.Dst), cmp.Compare(x.DstPort, y.DstPort),
			cmp.Compare(x.Tunnel, y.Tunnel), cmpID(x.TunnelID, y.TunnelID)))
	})
	if k > 0 {
		s.Ports = s.Ports[:min(k, len(s.Ports))]
		s.Hosts = s.Hosts[:min(k, len(s.Hosts))]
		s.Conversations = s.Conversations[:min(k, len(s.Conversations))]
		s.Tunnels = s.Tunnels[:min(k, len(s.Tunnels))]
	}
	return s
}

// cmpID orders tunnel IDs, none first.
func cmpID(x, y *uint32) int {
	switch {
	case x == nil || y == nil:
		return cmp.Compare(boolInt(x != nil), boolInt(y != nil))
	}
	return cmp.Compare(*x, *y)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cmpCounters orders by bytes, then packets, descending, then by tie.
func cmpCounters(x, y Counter, tie int) int {
	return cmp.Or(cmp.Compare(y.Bytes, x.Bytes), cmp.Compare(y.Packets, x.Packets), tie)
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	}
	return "unknown"
}
