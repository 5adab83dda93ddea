package locate

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

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
