package locate

import (
	"fmt"
	"slices"
	"time"
)

// at returns the offset at time t (Unix ns), epoch being Result.Epoch.
func (o Offset) at(t, epoch int64) time.Duration {
	return o.Value + time.Duration(o.Drift*float64(t-epoch))
}

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
