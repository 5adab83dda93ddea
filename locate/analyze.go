package locate

import (
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
	// unsorted: AddStreams reported the point's stream out of time order.
	unsorted []bool
	warn     []Warning
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
		points:   slices.Clone(points),
		opts:     opts,
		pts:      make([]PointResult, len(points)),
		lastT:    make([]time.Time, len(points)),
		stepped:  make([]bool, len(points)),
		unsorted: make([]bool, len(points)),
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
// capture order, and the points' streams merged by timestamp (AddStreams
// merges them): the matching table ages echoes on the newest timestamp
// seen, so a stream running more than Options.MaxAge ahead of another
// splits their echoes.
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
