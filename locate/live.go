package locate

import (
	"fmt"
	"sync"
	"time"

	"github.com/netburst/netburst/spike"
)

// Observer receives what a Live matcher measures, as it measures it. The
// collector implements it with Prometheus histograms and counters. Calls
// come with the Live's lock held: implementations must be quick and must
// not call back into the Live.
type Observer interface {
	// ObserveSegment is one echo packet's one-way delay across the segment
	// from one point to the next (names in path order), in the direction it
	// travelled: request or reply.
	ObserveSegment(from, to string, dir Direction, d time.Duration)
	// ObserveLoss is one echo packet that was seen at one end of the
	// segment and never at the other. to is "beyond" when a request left
	// the last point and no reply came back (the direction is then
	// unknown).
	ObserveLoss(from, to string, dir Direction)
}

// RoundTripObserver may be implemented by an Observer to receive, for each
// complete echo, its round trip at each point that saw both its request and
// its reply: the point's own clock, so exact on any host. nearSide says the
// pinger is on the first point's side of the path (the echo met the points
// in path order); a far-side pinger's echoes have their own distribution.
// Along a path the round trip can only shrink from one point to the next:
// where it drops is where the delay was added.
type RoundTripObserver interface {
	ObserveRoundTrip(point string, nearSide bool, d time.Duration)
}

// LiveConfig configures a Live matcher.
type LiveConfig struct {
	// Points names the capture points in path order (e.g. a VM's vif, then
	// the host's physical NIC). All share one clock: they are this host's
	// interfaces.
	Points []string
	// MaxEntries bounds the matching table (default 4096 echoes).
	MaxEntries int
	// MaxAge is how long an echo waits for its other packets before it is
	// closed and its missing packets counted as lost (default 5 s).
	MaxAge time.Duration
	// Threshold, when positive, raises a spike.TriggerSegment event when a
	// packet's one-way delay across a segment exceeds it.
	Threshold time.Duration
	// MinSpikeInterval spaces the events of one segment and direction, so
	// that a queue that stays full raises one event a second, not one per
	// echo (default 1 s).
	MinSpikeInterval time.Duration
	// Observer receives the delays and losses; Spikes the events (either
	// may be nil).
	Observer Observer
	Spikes   spike.Sink
}

// LiveStats counts a Live matcher's work.
type LiveStats struct {
	Match MatchStats
	// Pending is the number of echoes waiting in the table.
	Pending int
	// Negative counts one-way delays below zero (two interfaces stamping
	// one packet a little out of order), observed as zero.
	Negative uint64
	// Spikes counts the events raised.
	Spikes uint64
	// OffPath counts echoes seen at one point only (not crossing the
	// path), left out.
	OffPath uint64
}

// Live matches echoes crossing several interfaces of one host as they are
// captured and hands each segment's one-way delays to an Observer. Since
// the points share the host's clock, one-way delays are exact: no offset is
// estimated. It is safe for concurrent use (one capture goroutine per
// interface may call Add).
type Live struct {
	cfg   LiveConfig
	mu    sync.Mutex
	m     *Matcher
	stats LiveStats
	// limits spaces the events of each segment and direction (see
	// spike.Limiter).
	limits map[liveKey]spike.Limiter
}

type liveKey struct {
	seg int
	dir Direction
}

// NewLive returns a Live matcher for cfg.
func NewLive(cfg LiveConfig) (*Live, error) {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 4096
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 5 * time.Second
	}
	if cfg.MinSpikeInterval <= 0 {
		cfg.MinSpikeInterval = time.Second
	}
	seen := map[string]bool{}
	for _, p := range cfg.Points {
		if p == "" || seen[p] {
			return nil, fmt.Errorf("%w: live point names must be distinct and non-empty: %q", ErrConfig, cfg.Points)
		}
		seen[p] = true
	}
	l := &Live{cfg: cfg, limits: map[liveKey]spike.Limiter{}}
	m, err := NewMatcher(MatcherConfig{Points: len(cfg.Points), MaxEntries: cfg.MaxEntries, MaxAge: cfg.MaxAge}, l.record)
	if err != nil {
		return nil, err
	}
	l.m = m
	return l, nil
}

// Points returns the point names in path order.
func (l *Live) Points() []string { return l.cfg.Points }

// Add records one echo packet seen at a point (Observation.Point indexes
// LiveConfig.Points).
func (l *Live) Add(o *Observation) {
	l.mu.Lock()
	l.m.Add(o)
	l.mu.Unlock()
}

// Expire closes the echoes older than MaxAge at now; call it periodically so
// that losses are counted when traffic stops.
func (l *Live) Expire(now time.Time) {
	l.mu.Lock()
	l.m.Expire(now)
	l.mu.Unlock()
}

// Flush closes every waiting echo (at shutdown).
func (l *Live) Flush() {
	l.mu.Lock()
	l.m.Flush()
	l.mu.Unlock()
}

// Stats returns the counters so far.
func (l *Live) Stats() LiveStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Match = l.m.Stats()
	s.Pending = l.m.Len()
	return s
}

// record measures one matched (or expired) echo. It runs under l.mu.
func (l *Live) record(r *Record) {
	n := len(l.cfg.Points)
	// Which way did the echo go? An echo pinged from the far side meets
	// the points in reverse order; its request then travels from the last
	// point towards the first.
	first, last := -1, -1
	for p := range n {
		if r.HasRequest(p) {
			if first < 0 {
				first = p
			}
			last = p
		}
	}
	forward := true
	if first >= 0 && first != last && r.Request[last] < r.Request[first] {
		forward = false
	}
	// Consecutive points that both saw a packet give its one-way delay;
	// a point that missed it is spanned.
	l.oneWay(r, r.Request[:n], r.RequestSeen, forward, DirRequest)
	l.oneWay(r, r.Reply[:n], r.ReplySeen, !forward, DirReply)
	l.losses(r, forward)
	if ro, ok := l.cfg.Observer.(RoundTripObserver); ok {
		for p := range n {
			if r.HasRequest(p) && r.HasReply(p) {
				if d := time.Duration(r.Reply[p] - r.Request[p]); d >= 0 {
					ro.ObserveRoundTrip(l.cfg.Points[p], forward, d)
				}
			}
		}
	}
}

// oneWay observes the delays of one packet (request or reply) between
// consecutive points that saw it; down says it travels in path order.
func (l *Live) oneWay(r *Record, ts []int64, seen uint16, down bool, dir Direction) {
	prev := -1
	for p := range ts {
		if seen&(1<<p) == 0 {
			continue
		}
		if prev >= 0 {
			d := time.Duration(ts[p] - ts[prev])
			if !down {
				d = -d
			}
			if d < 0 {
				l.stats.Negative++
				d = 0
			}
			from, to := l.cfg.Points[prev], l.cfg.Points[p]
			if l.cfg.Observer != nil {
				l.cfg.Observer.ObserveSegment(from, to, dir, d)
			}
			if l.cfg.Threshold > 0 && d > l.cfg.Threshold {
				at, dev := ts[p], to
				if !down {
					at, dev = ts[prev], from
				}
				l.spike(prev, dir, time.Unix(0, at), dev, r.Key, d)
			}
		}
		prev = p
	}
}

// spike raises a segment event unless one was raised for the same segment
// and direction within MinSpikeInterval.
func (l *Live) spike(seg int, dir Direction, at time.Time, dev string, k Key, d time.Duration) {
	if l.cfg.Spikes == nil {
		return
	}
	key := liveKey{seg, dir}
	lim := l.limits[key]
	if !lim.Allow(at, l.cfg.MinSpikeInterval) {
		return
	}
	l.limits[key] = lim
	l.stats.Spikes++
	l.cfg.Spikes.Notify(spike.Event{
		Time: at, Trigger: spike.TriggerSegment, Device: dev, Target: k.Dst.String(),
		Value: d.Seconds(), Threshold: l.cfg.Threshold.Seconds(),
	})
}

// losses counts where an incomplete echo's packets disappeared: a request
// seen up to a point and not at the next one (and no reply anywhere); a
// reply seen from the far end and not at the next point towards the
// pinger; a request that left the last point with no reply at all. An
// echo seen at one point only is not on the path (a guest pinging its
// host, a ping to the host from outside) and counts nowhere.
func (l *Live) losses(r *Record, forward bool) {
	if r.Complete || l.cfg.Observer == nil {
		return
	}
	if seen := r.RequestSeen | r.ReplySeen; seen&(seen-1) == 0 {
		l.stats.OffPath++
		return
	}
	n := len(l.cfg.Points)
	// idx maps the travel order of the request onto point indexes.
	idx := func(i int) int {
		if forward {
			return i
		}
		return n - 1 - i
	}
	lastReq, firstRep := -1, -1
	for i := range n {
		p := idx(i)
		if r.HasRequest(p) {
			lastReq = i
		}
		if r.HasReply(p) && firstRep < 0 {
			firstRep = i
		}
	}
	name := func(i int) string { return l.cfg.Points[idx(i)] }
	// Segment names stay in path order whichever way the echo went.
	seg := func(i, j int) (string, string) {
		if forward {
			return name(i), name(j)
		}
		return name(j), name(i)
	}
	switch {
	case lastReq >= 0 && lastReq < n-1 && firstRep < 0:
		from, to := seg(lastReq, lastReq+1)
		l.cfg.Observer.ObserveLoss(from, to, DirRequest)
	case lastReq == n-1 && firstRep < 0:
		l.cfg.Observer.ObserveLoss(name(n-1), "beyond", DirUnknown)
	case firstRep > 0:
		from, to := seg(firstRep-1, firstRep)
		l.cfg.Observer.ObserveLoss(from, to, DirReply)
	}
}
