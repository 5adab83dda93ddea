package locate

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Point names one capture point.
type Point struct {
	// Name is what the output calls the point (e.g. "hv_a_eth0").
	Name string
	// Clock names the clock that timestamps the point's packets. Points
	// with the same non-empty Clock (two interfaces of one host) share it,
	// so their offset is known to be zero instead of estimated.
	Clock string
}

// Options tunes an Analyzer. The zero value selects the documented defaults.
type Options struct {
	// Threshold, when positive, is the end-to-end round trip above which an
	// echo is slow. When zero it comes from the baseline: the median plus
	// the larger of MADFactor times the scaled MAD and MinExcess.
	Threshold time.Duration
	// MADFactor multiplies the scaled median absolute deviation (MAD x
	// 1.4826, which estimates the standard deviation of normal data while
	// ignoring the slow outliers). Default 6.
	MADFactor float64
	// MinExcess is the least a slow echo exceeds the median by, so that a
	// very steady path does not call microsecond jitter slow. Default 1 ms.
	MinExcess time.Duration
	// ClockTolerance is how far an echo's timestamps may contradict a point's
	// clock offset (timestamp noise, slow drift) before the point's clock is
	// reported as jumping. Default 1 ms.
	ClockTolerance time.Duration
	// MaxEntries and MaxAge bound the matching table (see MatcherConfig).
	// Defaults 262144 and 60 s.
	MaxEntries int
	MaxAge     time.Duration
	// MaxEchoes caps the echoes kept for the analysis; later ones are
	// counted in Stats.EchoesDropped. Default 262144 (about 1 KiB each).
	MaxEchoes int
}

func (o *Options) defaults() {
	if o.MADFactor <= 0 {
		o.MADFactor = 6
	}
	if o.MinExcess <= 0 {
		o.MinExcess = time.Millisecond
	}
	if o.ClockTolerance <= 0 {
		o.ClockTolerance = time.Millisecond
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 1 << 18
	}
	if o.MaxAge <= 0 {
		o.MaxAge = time.Minute
	}
	if o.MaxEchoes <= 0 {
		o.MaxEchoes = 1 << 18
	}
}

// Direction says which way the added delay went.
type Direction string

// The directions of a verdict.
const (
	DirRequest Direction = "request"
	DirReply   Direction = "reply"
	DirBoth    Direction = "both"
	DirUnknown Direction = "unknown"
)

// OffsetMethod says how a point's clock offset was obtained.
type OffsetMethod string

// The offset methods.
const (
	// OffsetReference is the first point, whose clock the others are
	// compared with.
	OffsetReference OffsetMethod = "reference"
	// OffsetShared is a point declared to share its clock with an earlier
	// one (same Point.Clock).
	OffsetShared OffsetMethod = "shared"
	// OffsetEstimated is estimated from the normal echoes.
	OffsetEstimated OffsetMethod = "estimated"
	// OffsetNone is a point with no normal echo in common with an earlier
	// point of known offset: its one-way delays are unknown.
	OffsetNone OffsetMethod = "none"
)

// Offset is a point's clock offset relative to the first point: at time t
// the point's timestamps are the first point's plus Value + Drift x (t -
// Result.Epoch).
type Offset struct {
	Method OffsetMethod
	// Value is the offset at Result.Epoch (zero for the reference and for a
	// clock shared with it).
	Value time.Duration
	// Drift is how fast the offset changes, in seconds per second (1e-6 is
	// 1 ppm): unsynchronised clocks drift by tens of ppm, which over a long
	// capture exceeds the delays sought.
	Drift float64
	// Uncertainty bounds the error of an estimate: an estimate assumes the
	// normal echoes' one-way delays are equal both ways, and is off by half
	// their difference at most, which is at most half their round trip.
	Uncertainty time.Duration
	// Samples is the number of echoes the estimate used.
	Samples int
	// RelativeTo is the index of the point the estimate was made against.
	RelativeTo int
	// Consistent is false when some echo's timestamps contradict the
	// offset by more than Options.ClockTolerance (a clock step or drift):
	// one-way delays into this point are then not reported.
	Consistent bool
}

// Known reports whether one-way delays may use the offset.
func (o Offset) Known() bool { return o.Method != OffsetNone && o.Consistent }

// at returns the offset at time t (Unix ns), epoch being Result.Epoch.
func (o Offset) at(t, epoch int64) time.Duration {
	return o.Value + time.Duration(o.Drift*float64(t-epoch))
}

// PointResult describes one capture point after the analysis.
type PointResult struct {
	Point
	// Requests and Replies count the echo packets seen at the point.
	Requests, Replies int
	// First and Last are the point's first and last echo timestamps.
	First, Last time.Time
	// Offset is the point's clock offset relative to the first point.
	Offset Offset
}

// Span is an optional duration.
type Span struct {
	D     time.Duration
	Valid bool
}

func known(d time.Duration) Span { return Span{D: d, Valid: true} }

// Segment is the part of the path between two points, or beyond the last.
type Segment struct {
	// From and To are point indexes, From < To; To == number of points
	// means "beyond the last point" (the target's own turnaround).
	From, To int
}

// SegmentDelay is one echo's delays across one segment.
type SegmentDelay struct {
	Segment
	// RoundTrip is the round trip added by the segment: From's round trip
	// minus To's (To's is zero beyond the last point). Clock-independent.
	RoundTrip time.Duration
	// Request and Reply are the one-way delays, known when both points'
	// offsets are (never beyond the last point).
	Request, Reply Span
}

// Loss says where a packet of an echo disappeared.
type Loss struct {
	// Direction is request or reply; unknown when the request reached the
	// last point and no reply was ever seen (the request was lost beyond
	// the last point, or the target did not answer).
	Direction Direction
	// Segment is where: the packet was seen at From (request) or To
	// (reply) and never after.
	Segment
}

// Blame is the segment that added a slow echo's delay.
type Blame struct {
	Segment
	Direction Direction
	// Delay is the segment's round-trip delay for this echo; Excess is
	// that minus the segment's baseline (its median over normal echoes).
	Delay, Excess time.Duration
	// OneWay is the one-way delay in Direction (request or reply), when
	// known.
	OneWay Span
}

// Echo is one echo's result.
type Echo struct {
	Record
	// RoundTrip holds each point's round trip.
	RoundTrip []Span
	// EndToEnd is the round trip at the first point that saw both packets.
	EndToEnd Span
	// Segments are the delays between consecutive points that have a round
	// trip (a point that missed the echo is spanned), then beyond the last
	// such point.
	Segments []SegmentDelay
	// Slow is set when EndToEnd is above the threshold.
	Slow bool
	// Reversed is set for an echo of a flow pinging from the far end: it
	// is left out of baselines and verdict.
	Reversed bool
	// OffPath is set for an echo seen at one point only, which therefore
	// does not travel this path (a ping to one of the hosts, say); it is
	// left out like a reversed one. A request seen only at the first point
	// with no reply is not off-path: it is a request lost on the first
	// segment.
	OffPath bool
	// Lost, when set, says where the request or reply disappeared.
	Lost *Loss
	// Missing lists the points that did not capture a packet seen both
	// before and after them on the path (a capture drop, not a loss).
	Missing []int
	// Blame is set for a slow echo.
	Blame *Blame
}

// Threshold is the slow-echo threshold and where it came from.
type Threshold struct {
	// Value is the end-to-end round trip above which an echo is slow.
	Value time.Duration
	// Explicit is set when Options.Threshold gave it.
	Explicit bool
	// Median and MAD describe the end-to-end round trips (MAD unscaled).
	Median, MAD time.Duration
	// Samples is how many round trips the baseline used.
	Samples int
}

// Finding groups slow echoes blamed on the same segment and direction.
type Finding struct {
	Segment
	Direction Direction
	// Echoes are the evidence, in sequence order.
	Echoes []Key
	// MaxDelay is the largest round-trip delay among them, from the echo
	// Worst; WorstOneWay is that echo's one-way delay in Direction, if
	// known. MedianDelay is the median of their round-trip delays.
	MaxDelay, MedianDelay time.Duration
	Worst                 Key
	WorstOneWay           Span
}

// LossSummary counts losses at one segment and direction.
type LossSummary struct {
	Segment
	Direction Direction
	Echoes    []Key
}

// Warning is a problem that does not stop the analysis.
type Warning struct {
	// Err is the class, e.g. ErrClockJump, for errors.Is.
	Err error
	// Point is the point concerned, or -1.
	Point int
	// Message is for people.
	Message string
}

func (w Warning) Error() string { return w.Message }
func (w Warning) Unwrap() error { return w.Err }

// Stats counts the analysis' inputs.
type Stats struct {
	Match MatchStats
	// EchoesDropped counts echoes beyond Options.MaxEchoes.
	EchoesDropped uint64
	// Reversed counts echoes of flows pinging from the far end.
	Reversed int
	// OffPath counts echoes seen at one point only.
	OffPath int
}

// Result is the analysis of one set of captures.
type Result struct {
	// Epoch is the time (in the first point's clock) at which the offsets'
	// Values hold: the first point's first echo.
	Epoch     time.Time
	Points    []PointResult
	Echoes    []Echo
	Threshold Threshold
	// Findings are the groups of slow echoes, most echoes first; Verdict is
	// the first of them (nil when no echo was slow).
	Findings []Finding
	Verdict  *Finding
	Losses   []LossSummary
	Warnings []Warning
	Stats    Stats
}

// SegmentName names a segment with the points' names ("beyond" past the
// last point).
func (r *Result) SegmentName(s Segment) (from, to string) {
	from = r.Points[s.From].Name
	if s.To >= len(r.Points) {
		return from, "beyond"
	}
	return from, r.Points[s.To].Name
}

// Analyzer collects the observations of an offline set of captures and
// analyses them. It is not safe for concurrent use.
type Analyzer struct {
	points  []Point
	opts    Options
	m       *Matcher
	records []Record
	dropped uint64
	pts     []PointResult
	lastT   []time.Time
	stepped []bool // a point's timestamps went back (reported once)
	warn    []Warning
}

// NewAnalyzer returns an Analyzer for the points, in path order from the
// pinging side.
func NewAnalyzer(points []Point, opts Options) (*Analyzer, error) {
	opts.defaults()
	seen := map[string]bool{}
	for i, p := range points {
		if p.Name == "" {
			return nil, fmt.Errorf("%w: point %d has no name", ErrConfig, i+1)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%w: point name %q given twice", ErrConfig, p.Name)
		}
		seen[p.Name] = true
	}
	a := &Analyzer{
		points:  slices.Clone(points),
		opts:    opts,
		pts:     make([]PointResult, len(points)),
		lastT:   make([]time.Time, len(points)),
		stepped: make([]bool, len(points)),
	}
	m, err := NewMatcher(MatcherConfig{Points: len(points), MaxEntries: opts.MaxEntries, MaxAge: opts.MaxAge}, a.keep)
	if err != nil {
		return nil, err
	}
	a.m = m
	for i := range a.pts {
		a.pts[i].Point = points[i]
	}
	return a, nil
}

func (a *Analyzer) keep(r *Record) {
	if len(a.records) >= a.opts.MaxEchoes {
		a.dropped++
		return
	}
	a.records = append(a.records, *r)
}

// Add records one observation. Each point's observations must come in its
// capture order, and the points' streams merged by timestamp: the matching
// table ages echoes on the newest timestamp seen, so a stream running more
// than Options.MaxAge ahead of another splits their echoes.
func (a *Analyzer) Add(o *Observation) {
	if o.Point < 0 || o.Point >= len(a.points) {
		a.m.Add(o) // counted there as BadPoint
		return
	}
	p := &a.pts[o.Point]
	if o.Reply {
		p.Replies++
	} else {
		p.Requests++
	}
	if p.First.IsZero() || o.Time.Before(p.First) {
		p.First = o.Time
	}
	if o.Time.After(p.Last) {
		p.Last = o.Time
	}
	if last := a.lastT[o.Point]; !a.stepped[o.Point] && !last.IsZero() && last.Sub(o.Time) > a.opts.ClockTolerance {
		a.warn = append(a.warn, Warning{Err: ErrClockJump, Point: o.Point, Message: fmt.Sprintf(
			"point %s: timestamps go back by %v at %s (%s): its clock stepped back during the capture",
			a.points[o.Point].Name, last.Sub(o.Time), o.Time.UTC().Format("15:04:05.000000"), o.Key())})
		a.stepped[o.Point] = true
	}
	a.lastT[o.Point] = o.Time
	a.m.Add(o)
}

// Result flushes the matching table and analyses every echo; call it once,
// after the last Add. It returns
// ErrNoEchoes when a point saw no echo, ErrNoMatch when no echo was seen at
// two points, ErrPointOrder when the points are not in path order, and
// ErrNoBaseline when no threshold was given and fewer than 3 echoes have an
// end-to-end round trip.
func (a *Analyzer) Result() (*Result, error) {
	a.m.Flush()
	n := len(a.points)
	for _, p := range a.pts {
		if p.Requests+p.Replies == 0 {
			return nil, fmt.Errorf("point %s: %w", p.Name, ErrNoEchoes)
		}
	}
	res := &Result{Points: a.pts, Stats: Stats{Match: a.m.Stats(), EchoesDropped: a.dropped}}
	res.Warnings = append(res.Warnings, a.warn...)
	// Points whose own timestamps went back are inconsistent whatever the
	// estimate says.
	stepped := a.stepped

	// Echoes seen at one point only say nothing about the path.
	res.Echoes = make([]Echo, 0, len(a.records))
	shared := 0
	sharedAt := make([]int, n) // echoes each point shares with another
	for i := range a.records {
		r := &a.records[i]
		pts := 0
		for p := range n {
			if r.HasRequest(p) || r.HasReply(p) {
				pts++
			}
		}
		if pts >= 2 {
			shared++
			for p := range n {
				if r.HasRequest(p) || r.HasReply(p) {
					sharedAt[p]++
				}
			}
		}
		e := Echo{Record: *r, RoundTrip: make([]Span, n)}
		if pts == 1 && (r.ReplySeen != 0 || !r.HasRequest(0)) {
			e.OffPath = true
			res.Stats.OffPath++
		}
		for p := range n {
			if d, ok := r.RoundTrip(p); ok {
				e.RoundTrip[p] = known(d)
				if !e.EndToEnd.Valid {
					e.EndToEnd = known(d)
				}
			}
		}
		res.Echoes = append(res.Echoes, e)
	}
	a.records = nil // the echoes hold copies
	if shared == 0 {
		return nil, fmt.Errorf("%w: %d echoes, none seen at more than one point (do the captures cover the same time and the same ping, with clocks less than the maximum age apart?)", ErrNoMatch, len(res.Echoes))
	}
	for p, k := range sharedAt {
		if k == 0 {
			res.Warnings = append(res.Warnings, Warning{Point: p, Message: fmt.Sprintf(
				"point %s shares no echo with the other points: a different ping or time, or a clock more than the maximum age off", a.points[p].Name)})
		}
	}
	slices.SortStableFunc(res.Echoes, func(x, y Echo) int { return x.firstTime().Compare(y.firstTime()) })

	if err := markReversed(res); err != nil {
		return nil, err
	}
	if err := checkOrder(res); err != nil {
		return nil, err
	}
	if err := a.threshold(res); err != nil {
		return nil, err
	}
	a.offsets(res, stepped)
	a.segments(res)
	a.losses(res)
	a.verdict(res)
	return res, nil
}

// firstTime is the earliest timestamp of the echo, for ordering output.
func (e *Echo) firstTime() time.Time {
	var t time.Time
	for p := range MaxPoints {
		if e.HasRequest(p) && (t.IsZero() || e.RequestAt(p).Before(t)) {
			t = e.RequestAt(p)
		}
	}
	if t.IsZero() {
		for p := range MaxPoints {
			if e.HasReply(p) && (t.IsZero() || e.ReplyAt(p).Before(t)) {
				t = e.ReplyAt(p)
			}
		}
	}
	return t
}

// orderSlack is the timestamp noise tolerated before a segment's negative
// round trip counts as evidence of swapped points: two capture points of
// one host can stamp the same packet a microsecond or so out of order.
const orderSlack = 2 * time.Microsecond

// pathSign returns +1 when the echo's round trip shrinks along the points
// (the ping comes from the first point's side), -1 when it grows, 0 when it
// cannot tell.
func (e *Echo) pathSign() int {
	first, last := -1, -1
	for p, s := range e.RoundTrip {
		if s.Valid {
			if first < 0 {
				first = p
			}
			last = p
		}
	}
	if first < 0 || first == last {
		return 0
	}
	d := e.RoundTrip[first].D - e.RoundTrip[last].D
	switch {
	case d > orderSlack:
		return 1
	case d < -orderSlack:
		return -1
	}
	return 0
}

type flowKey struct {
	k Key // Seq zeroed
}

// markReversed flags the echoes of flows that ping from the far end (their
// round trip grows along the points). When every flow does, the points were
// given from the target side.
func markReversed(res *Result) error {
	votes := map[flowKey]int{}
	for i := range res.Echoes {
		k := res.Echoes[i].Key
		k.Seq = 0
		votes[flowKey{k}] += res.Echoes[i].pathSign()
	}
	forward := 0
	for i := range res.Echoes {
		e := &res.Echoes[i]
		k := e.Key
		k.Seq = 0
		if votes[flowKey{k}] < 0 {
			e.Reversed = true
			res.Stats.Reversed++
		} else if e.EndToEnd.Valid && !e.OffPath {
			forward++
		}
	}
	if res.Stats.Reversed > 0 && forward == 0 {
		return fmt.Errorf("%w: the round trip grows from %s to %s for every echo: give the points in path order from the pinging side (reverse them)",
			ErrPointOrder, res.Points[0].Name, res.Points[len(res.Points)-1].Name)
	}
	if res.Stats.Reversed > 0 {
		res.Warnings = append(res.Warnings, Warning{Point: -1, Message: fmt.Sprintf(
			"%d echoes belong to flows pinging from the far end (round trip grows along the points); they are left out", res.Stats.Reversed)})
	}
	return nil
}

// checkOrder rejects a point list in which a downstream point's round trip
// consistently exceeds its upstream neighbour's: a segment cannot give
// back time, so the two are swapped. Round trips use one clock each, so
// the test holds whatever the clock offsets.
func checkOrder(res *Result) error {
	n := len(res.Points)
	for p := 0; p+1 < n; p++ {
		var d []time.Duration
		neg := 0
		for i := range res.Echoes {
			e := &res.Echoes[i]
			if e.excluded() || !e.RoundTrip[p].Valid || !e.RoundTrip[p+1].Valid {
				continue
			}
			v := e.RoundTrip[p].D - e.RoundTrip[p+1].D
			d = append(d, v)
			if v < -orderSlack {
				neg++
			}
		}
		m, ok := median(d)
		if ok && m < -orderSlack && 4*neg >= 3*len(d) {
			return fmt.Errorf("%w: the round trip at %s exceeds that at %s (by %v, median of %d echoes): %s is not downstream of %s; give the points in path order from the pinging side",
				ErrPointOrder, res.Points[p+1].Name, res.Points[p].Name, -m, len(d), res.Points[p+1].Name, res.Points[p].Name)
		}
	}
	return nil
}

// threshold sets res.Threshold and marks the slow echoes.
func (a *Analyzer) threshold(res *Result) error {
	var rt []time.Duration
	for i := range res.Echoes {
		e := &res.Echoes[i]
		if !e.excluded() && e.EndToEnd.Valid {
			rt = append(rt, e.EndToEnd.D)
		}
	}
	th := Threshold{Samples: len(rt)}
	if m, ok := median(rt); ok {
		th.Median = m
		th.MAD = mad(rt, m)
	}
	switch {
	case a.opts.Threshold > 0:
		th.Value = a.opts.Threshold
		th.Explicit = true
	case th.Samples < 3:
		return fmt.Errorf("%w: %d echoes with a round trip, need 3 (or give an explicit threshold)", ErrNoBaseline, th.Samples)
	default:
		spread := time.Duration(a.opts.MADFactor * 1.4826 * float64(th.MAD))
		th.Value = th.Median + max(spread, a.opts.MinExcess)
	}
	res.Threshold = th
	for i := range res.Echoes {
		e := &res.Echoes[i]
		e.Slow = !e.excluded() && e.EndToEnd.Valid && e.EndToEnd.D > th.Value
	}
	return nil
}

// excluded reports whether e is left out of the analysis.
func (e *Echo) excluded() bool { return e.Reversed || e.OffPath }

// normal reports whether e may serve as a baseline (and offset) sample.
func (e *Echo) normal() bool { return !e.excluded() && !e.Slow && e.EndToEnd.Valid }

// offsets estimates each point's clock offset relative to the first point.
//
// For a point p downstream of a point q, an echo gives
//
//	req_p - req_q = d_req + θ   and   rep_q - rep_p = d_rep - θ
//
// where θ is p's clock minus q's and d_req, d_rep ≥ 0 are the one-way
// delays. So θ lies in [rep_p - rep_q, req_p - req_q], an interval as wide
// as the segment's round trip, and its midpoint is exact when the two
// one-way delays are equal. The estimate is robust over the midpoints of
// the normal echoes: slow echoes are left out (their one-way delays are as
// unequal as they get), and a median (with a Theil-Sen slope for clocks
// that drift, see fitOffset) ignores the odd one that still is. Its error
// is at most half a normal echo's segment round trip, reported as the
// uncertainty. Every echo, slow or not, must then have θ in its interval
// (give or take ClockTolerance); one that does not shows a clock that
// stepped, and the point's one-way delays are then not reported. Points
// that share a clock (same Point.Clock) skip the estimate but not the
// check: there a violation means the request reached the downstream point
// before the upstream one.
func (a *Analyzer) offsets(res *Result, stepped []bool) {
	n := len(res.Points)
	res.Epoch = res.Points[0].First
	epoch := res.Epoch.UnixNano()
	res.Points[0].Offset = Offset{Method: OffsetReference, Consistent: !stepped[0]}
	for p := 1; p < n; p++ {
		off := &res.Points[p].Offset
		*off = Offset{Method: OffsetNone, RelativeTo: -1, Consistent: !stepped[p]}
		if c := res.Points[p].Clock; c != "" {
			for q := range p {
				if res.Points[q].Clock == c {
					oq := res.Points[q].Offset
					*off = Offset{Method: OffsetShared, Value: oq.Value, Drift: oq.Drift, RelativeTo: q, Consistent: !stepped[p]}
					if oq.Method == OffsetNone {
						// Unknown relative to the first point, but one-way
						// delays to q's other points still need no offset.
						off.Method = OffsetNone
					}
					break
				}
			}
		}
		if off.Method == OffsetShared {
			// Check against the nearest upstream point of known offset.
			for q := p - 1; q >= 0; q-- {
				if oq := res.Points[q].Offset; oq.Method != OffsetNone {
					rel := Offset{Value: off.Value - oq.Value, Drift: off.Drift - oq.Drift}
					off.Consistent = a.consistent(res, q, p, rel, true)
					break
				}
			}
			off.Consistent = off.Consistent && !stepped[p]
			continue
		}
		for q := p - 1; q >= 0; q-- {
			oq := res.Points[q].Offset
			if oq.Method == OffsetNone {
				continue
			}
			var ts []int64
			var mids, halves []time.Duration
			for i := range res.Echoes {
				e := &res.Echoes[i]
				if !e.normal() || !e.HasRequest(q) || !e.HasReply(q) || !e.HasRequest(p) || !e.HasReply(p) {
					continue
				}
				up, lo := time.Duration(e.Request[p]-e.Request[q]), time.Duration(e.Reply[p]-e.Reply[q])
				ts = append(ts, e.Request[q])
				mids = append(mids, lo+(up-lo)/2)
				halves = append(halves, (up-lo)/2)
			}
			if len(mids) == 0 {
				continue
			}
			rel := fitOffset(ts, mids, epoch)
			unc, _ := median(halves)
			if unc < 0 {
				unc = -unc
			}
			*off = Offset{
				Method:      OffsetEstimated,
				Value:       oq.Value + rel.Value,
				Drift:       oq.Drift + rel.Drift,
				Uncertainty: oq.Uncertainty + unc,
				Samples:     len(mids),
				RelativeTo:  q,
			}
			off.Consistent = a.consistent(res, q, p, rel, false) && !stepped[p]
			break
		}
	}
}

// minDriftSpan is the shortest stretch of normal echoes over which a drift
// is estimated: over less, a drift cannot move the offset by more than the
// timestamps' noise, and the slope would only fit that noise.
const minDriftSpan = 10 * time.Second

// fitOffset fits offset(t) = Value + Drift x (t - epoch) to the per-echo
// midpoints mids taken at times ts, robustly: Drift is the Theil-Sen slope
// (the median of the slopes between pairs of samples, at most 256 of them
// evenly spread, so at most 32,640 pairs), Value the median of what is left
// after taking the drift out. A sample or a quarter of them far off moves
// neither. Without a drift (a span under minDriftSpan) this is the median.
func fitOffset(ts []int64, mids []time.Duration, epoch int64) Offset {
	var o Offset
	if n := len(ts); n >= 3 && time.Duration(ts[n-1]-ts[0]) >= minDriftSpan {
		idx := make([]int, 0, 256)
		for i := range min(n, 256) {
			idx = append(idx, i*(n-1)/max(min(n, 256)-1, 1))
		}
		var slopes []float64
		for i, a := range idx {
			for _, b := range idx[i+1:] {
				if dt := ts[b] - ts[a]; dt > 0 {
					slopes = append(slopes, float64(mids[b]-mids[a])/float64(dt))
				}
			}
		}
		if len(slopes) > 0 {
			slices.Sort(slopes)
			o.Drift = slopes[len(slopes)/2]
		}
	}
	rest := make([]time.Duration, len(mids))
	for i := range mids {
		rest[i] = mids[i] - time.Duration(o.Drift*float64(ts[i]-epoch))
	}
	o.Value, _ = median(rest)
	return o
}

// consistent checks every echo seen in full at q and p against rel, p's
// clock minus q's, and records a warning for the worst contradiction.
func (a *Analyzer) consistent(res *Result, q, p int, rel Offset, sharedClock bool) bool {
	epoch := res.Epoch.UnixNano()
	var worst time.Duration
	var worstKey Key
	bad, total := 0, 0
	for i := range res.Echoes {
		e := &res.Echoes[i]
		if e.excluded() || !e.HasRequest(q) || !e.HasReply(q) || !e.HasRequest(p) || !e.HasReply(p) {
			continue
		}
		total++
		up, lo := time.Duration(e.Request[p]-e.Request[q]), time.Duration(e.Reply[p]-e.Reply[q])
		theta := rel.at(e.Request[q], epoch)
		v := max(lo-theta, theta-up)
		if v > a.opts.ClockTolerance {
			bad++
			if v > worst {
				worst, worstKey = v, e.Key
			}
		}
	}
	if bad == 0 {
		return true
	}
	pq, pp := res.Points[q].Name, res.Points[p].Name
	if sharedClock {
		res.Warnings = append(res.Warnings, Warning{Err: ErrClockJump, Point: p, Message: fmt.Sprintf(
			"point %s: declared to share %s's clock, yet %d of %d echoes reach it earlier than %s, or leave it later, by up to %v (worst: %s): check the clock declaration and the point order; one-way delays into %s are not reported",
			pp, res.Points[res.Points[p].Offset.RelativeTo].Name, bad, total, pq, worst, worstKey, pp)})
		return false
	}
	res.Warnings = append(res.Warnings, Warning{Err: ErrClockJump, Point: p, Message: fmt.Sprintf(
		"point %s: %d of %d echoes contradict its clock offset to %s by up to %v (worst: %s): the clock stepped or drifted during the capture, so one-way delays into %s are not reported (round-trip delays still are)",
		pp, bad, total, pq, worst, worstKey, pp)})
	return false
}

// oneWayOffset returns p's clock minus q's at time t (q's clock) for
// one-way delays between them, and whether it is usable: q and p share a
// clock (both consistent), or every offset from q to p is known and
// consistent (p's offset is chained through the points between).
func oneWayOffset(res *Result, q, p int, t int64) (time.Duration, bool) {
	oq, op := res.Points[q].Offset, res.Points[p].Offset
	if c := res.Points[q].Clock; c != "" && c == res.Points[p].Clock {
		return 0, oq.Consistent && op.Consistent
	}
	for i := q; i <= p; i++ {
		if !res.Points[i].Offset.Known() {
			return 0, false
		}
	}
	epoch := res.Epoch.UnixNano()
	return op.at(t, epoch) - oq.at(t, epoch), true
}

// segments fills each echo's segment delays.
func (a *Analyzer) segments(res *Result) {
	n := len(res.Points)
	for i := range res.Echoes {
		e := &res.Echoes[i]
		prev := -1
		for p := range n {
			if !e.RoundTrip[p].Valid {
				continue
			}
			if prev >= 0 {
				e.Segments = append(e.Segments, segmentDelay(res, e, prev, p))
			}
			prev = p
		}
		if prev >= 0 {
			e.Segments = append(e.Segments, SegmentDelay{Segment: Segment{From: prev, To: n}, RoundTrip: e.RoundTrip[prev].D})
		}
	}
}

func segmentDelay(res *Result, e *Echo, q, p int) SegmentDelay {
	s := SegmentDelay{Segment: Segment{From: q, To: p}, RoundTrip: e.RoundTrip[q].D - e.RoundTrip[p].D}
	if theta, ok := oneWayOffset(res, q, p, e.Request[q]); ok {
		s.Request = known(time.Duration(e.Request[p]-e.Request[q]) - theta)
		s.Reply = known(time.Duration(e.Reply[q]-e.Reply[p]) + theta)
	}
	return s
}

// captureMargin keeps the first and last second of each capture out of
// loss reports: a packet missing there may have passed before the capture
// started or after it stopped.
const captureMargin = time.Second

// losses finds, for each echo, where its request or reply disappeared.
func (a *Analyzer) losses(res *Result) {
	n := len(res.Points)
	capturing := func(k int, seenAt int, t time.Time) bool {
		// Convert t from seenAt's clock to k's, with offsets where known.
		var dk, ds time.Duration
		if res.Points[k].Offset.Method != OffsetNone && res.Points[seenAt].Offset.Method != OffsetNone {
			epoch := res.Epoch.UnixNano()
			dk, ds = res.Points[k].Offset.at(t.UnixNano(), epoch), res.Points[seenAt].Offset.at(t.UnixNano(), epoch)
		}
		tk := t.Add(dk - ds)
		return tk.After(res.Points[k].First.Add(captureMargin)) && tk.Before(res.Points[k].Last.Add(-captureMargin))
	}
	type lossKey struct {
		Segment
		Direction
	}
	groups := map[lossKey]int{}
	for i := range res.Echoes {
		e := &res.Echoes[i]
		if e.excluded() {
			continue
		}
		lastReq, firstRep := -1, -1
		anyReply := false
		for p := range n {
			if e.HasRequest(p) {
				lastReq = p
			}
			if e.HasReply(p) {
				anyReply = true
				if firstRep < 0 {
					firstRep = p
				}
			}
		}
		switch {
		case lastReq >= 0 && lastReq < n-1 && !anyReply && capturing(lastReq+1, lastReq, e.RequestAt(lastReq)):
			e.Lost = &Loss{Direction: DirRequest, Segment: Segment{From: lastReq, To: lastReq + 1}}
		case lastReq == n-1 && !anyReply && e.RequestAt(lastReq).Before(res.Points[n-1].Last.Add(-captureMargin)):
			e.Lost = &Loss{Direction: DirUnknown, Segment: Segment{From: n - 1, To: n}}
		case firstRep > 0 && capturing(firstRep-1, firstRep, e.ReplyAt(firstRep)):
			e.Lost = &Loss{Direction: DirReply, Segment: Segment{From: firstRep - 1, To: firstRep}}
		}
		// Points that missed a packet seen on both sides of them.
		for p := 1; p < n-1; p++ {
			if (!e.HasRequest(p) && e.HasRequest(p-1) && e.HasRequest(p+1)) ||
				(!e.HasReply(p) && e.HasReply(p-1) && e.HasReply(p+1)) {
				e.Missing = append(e.Missing, p)
			}
		}
		if e.Lost != nil {
			groups[lossKey{e.Lost.Segment, e.Lost.Direction}]++
		}
	}
	for g := range groups {
		res.Losses = append(res.Losses, LossSummary{Segment: g.Segment, Direction: g.Direction})
	}
	count := func(l LossSummary) int { return groups[lossKey{l.Segment, l.Direction}] }
	slices.SortFunc(res.Losses, func(x, y LossSummary) int {
		return cmp.Or(cmp.Compare(count(y), count(x)), cmp.Compare(x.From, y.From), cmp.Compare(x.Direction, y.Direction))
	})
	for gi := range res.Losses {
		g := &res.Losses[gi]
		for i := range res.Echoes {
			e := &res.Echoes[i]
			if e.Lost != nil && e.Lost.Segment == g.Segment && e.Lost.Direction == g.Direction {
				g.Echoes = append(g.Echoes, e.Key)
			}
		}
	}
}

// baseline holds a segment's medians over the normal echoes.
type baseline struct {
	rt, req, rep Span
}

// verdict blames each slow echo's delay on the segment whose round-trip
// delay exceeds its baseline most, splits it by direction with the one-way
// delays, and groups the blames into findings.
func (a *Analyzer) verdict(res *Result) {
	bases := map[Segment]baseline{}
	base := func(s Segment) baseline {
		if b, ok := bases[s]; ok {
			return b
		}
		var rt, req, rep []time.Duration
		for i := range res.Echoes {
			e := &res.Echoes[i]
			if !e.normal() {
				continue
			}
			for _, d := range e.Segments {
				if d.Segment != s {
					continue
				}
				rt = append(rt, d.RoundTrip)
				if d.Request.Valid {
					req = append(req, d.Request.D)
					rep = append(rep, d.Reply.D)
				}
			}
		}
		var b baseline
		if m, ok := median(rt); ok {
			b.rt = known(m)
		}
		if m, ok := median(req); ok {
			b.req = known(m)
		}
		if m, ok := median(rep); ok {
			b.rep = known(m)
		}
		bases[s] = b
		return b
	}
	type group struct {
		Segment
		Direction
	}
	var order []group
	members := map[group][]int{}
	for i := range res.Echoes {
		e := &res.Echoes[i]
		if !e.Slow {
			continue
		}
		var best *SegmentDelay
		var bestEx time.Duration
		for j := range e.Segments {
			d := &e.Segments[j]
			ex := d.RoundTrip - base(d.Segment).rt.D
			if best == nil || ex > bestEx {
				best, bestEx = d, ex
			}
		}
		if best == nil {
			continue
		}
		b := base(best.Segment)
		bl := &Blame{Segment: best.Segment, Direction: DirUnknown, Delay: best.RoundTrip, Excess: bestEx}
		// Without normal echoes the baselines are zero: the raw delays.
		if best.Request.Valid {
			bl.Direction = split(best.Request.D-b.req.D, best.Reply.D-b.rep.D)
			switch bl.Direction {
			case DirRequest:
				bl.OneWay = best.Request
			case DirReply:
				bl.OneWay = best.Reply
			}
		}
		e.Blame = bl
		g := group{bl.Segment, bl.Direction}
		if _, ok := members[g]; !ok {
			order = append(order, g)
		}
		members[g] = append(members[g], i)
	}
	for _, g := range order {
		f := Finding{Segment: g.Segment, Direction: g.Direction}
		var delays []time.Duration
		for _, i := range members[g] {
			e := &res.Echoes[i]
			f.Echoes = append(f.Echoes, e.Key)
			delays = append(delays, e.Blame.Delay)
			if len(f.Echoes) == 1 || e.Blame.Delay > f.MaxDelay {
				f.MaxDelay, f.Worst, f.WorstOneWay = e.Blame.Delay, e.Key, e.Blame.OneWay
			}
		}
		f.MedianDelay, _ = median(delays)
		slices.SortFunc(f.Echoes, func(x, y Key) int { return cmp.Compare(x.Seq, y.Seq) })
		res.Findings = append(res.Findings, f)
	}
	slices.SortStableFunc(res.Findings, func(x, y Finding) int {
		return cmp.Or(cmp.Compare(len(y.Echoes), len(x.Echoes)), cmp.Compare(y.MaxDelay, x.MaxDelay))
	})
	if len(res.Findings) > 0 {
		res.Verdict = &res.Findings[0]
	}
}

// split names the direction that carries the excess delay: one direction
// when it carries at least three quarters of it, else both. Negative
// excesses (faster than the baseline) count as zero.
func split(req, rep time.Duration) Direction {
	req, rep = max(req, 0), max(rep, 0)
	total := req + rep
	switch {
	case total <= 0:
		return DirUnknown
	case 4*rep >= 3*total:
		return DirReply
	case 4*req >= 3*total:
		return DirRequest
	}
	return DirBoth
}
