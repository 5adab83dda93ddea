package sampler

type qdiscKey struct {
	index          int32
	handle, parent uint32
}

type qdiscState struct {
	kind                        string
	drops, overlimits, requeues uint32
	seen                        uint64
	dead                        bool // deleted from the sampler's map
}

// qdiscs are reported per device and kind: an mq root's per-queue children
// of one kind add up, so the qdisc metrics carry only the labels device and
// kind (docs/metrics.md), not one series per hardware queue.
type qdiscAggKey struct {
	index int32
	kind  string
}

type qdiscAgg struct {
	device                      string
	backlog                     uint64
	packets                     uint64
	peaks                       [NumWindows]maxWindow
	drops, overlimits, requeues uint64
	seen                        uint64
	dead                        bool
}

// qdiscHint is what the entry at one position of the previous reading
// resolved to. Readings list the same qdiscs in the same order until a
// qdisc or a device changes, so a hint that still matches spares the three
// map lookups of each entry: with 1,000 up vifs (a noqueue each) a reading
// of every device folds in ten times faster.
type qdiscHint struct {
	key  qdiscKey
	kind string
	d    *device
	st   *qdiscState
	agg  *qdiscAgg
}

func (h *qdiscHint) matches(q *QdiscStat) bool {
	return h.st != nil && h.key == qdiscKey{q.Index, q.Handle, q.Parent} && h.kind == q.Kind &&
		!h.st.dead && !h.agg.dead && !h.d.removed
}

// qdiscFold remembers the latest full fold of one kind of reading (every
// device, or the fast set), for the quick folds that follow it.
type qdiscFold struct {
	ok        bool
	structure uint64 // the source's Structure()
	devGen    uint64 // the sampler's devGen
	n         int    // entries of the reading
	dyn       []int  // positions of the entries other than noqueue
	orphans   bool
}

// stepQdiscs folds one qdisc reading in. Only qdiscs of sampled devices
// count; their 32-bit drop counters are widened across wraps. A reading of
// the fast set only (fastOnly) says nothing of the slow tier's qdiscs. It
// reports whether the reading named devices that are neither sampled nor
// excluded. structure is the source's Structure() (haveStructure false when
// it has none): while neither it nor the sampled devices changed since the
// previous full fold of that kind of reading, only the qdiscs other than
// noqueue are folded in (a noqueue never moves, and nothing can vanish).
func (s *Sampler) stepQdiscs(now int64, stats []QdiscStat, fastOnly bool, structure uint64, haveStructure bool) (orphans bool) {
	hints, fold := &s.qhint, &s.qfold[0]
	if fastOnly {
		hints, fold = &s.qhintFast, &s.qfold[1]
	}
	if haveStructure && fold.ok && fold.structure == structure && fold.devGen == s.devGen && fold.n == len(stats) {
		quick := true
		for _, p := range fold.dyn {
			if !(*hints)[p].matches(&stats[p]) {
				quick = false
				break
			}
		}
		if quick {
			for _, p := range fold.dyn {
				s.foldQdisc(now, &stats[p], &(*hints)[p])
			}
			return fold.orphans
		}
	}
	fold.ok = false
	seq := s.seq
	seenStates, seenAggs := 0, 0
	if len(*hints) < len(stats) {
		*hints = append(*hints, make([]qdiscHint, len(stats)-len(*hints))...)
	}
	fold.dyn = fold.dyn[:0]
	for i := range stats {
		q := &stats[i]
		h := &(*hints)[i]
		if !h.matches(q) {
			*h = qdiscHint{}
			d := s.devices[q.Index]
			if d == nil {
				orphans = orphans || !s.excluded[q.Index]
				continue
			}
			k := qdiscKey{q.Index, q.Handle, q.Parent}
			st := s.qdiscs[k]
			if st == nil || st.kind != q.Kind {
				if st != nil {
					st.dead = true
				}
				st = &qdiscState{kind: q.Kind, drops: q.Drops, overlimits: q.Overlimits, requeues: q.Requeues}
				s.qdiscs[k] = st
				s.qdiscRecount = true
			}
			ak := qdiscAggKey{q.Index, q.Kind}
			agg := s.qdiscAggs[ak]
			if agg == nil {
				agg = &qdiscAgg{}
				for _, w := range Windows {
					agg.peaks[w] = newMaxWindow(int64(w.Span()), int(w.Span()/s.cfg.Interval)+2)
				}
				s.qdiscAggs[ak] = agg
				s.qdiscRecount = true
			}
			*h = qdiscHint{key: k, kind: q.Kind, d: d, st: st, agg: agg}
		}
		if q.Kind != "noqueue" {
			fold.dyn = append(fold.dyn, i)
		}
		if h.agg.seen != seq {
			seenAggs++
		}
		if h.st.seen != seq {
			seenStates++
		}
		s.foldQdisc(now, q, h)
	}
	// covered says whether a reading of the fast set speaks for a
	// device's qdiscs.
	covered := func(index int32) bool {
		d := s.devices[index]
		return d == nil || d.fast
	}
	if s.qdiscRecount {
		// How many of them a reading of the fast set speaks for (those of
		// fast devices, and of devices gone), so that such readings skip
		// the sweeps below while it saw them all; counted again only after
		// qdiscs, devices or tiers changed.
		s.qdiscRecount = false
		s.fastQdiscs, s.fastQdiscAggs = 0, 0
		for k := range s.qdiscs {
			if covered(k.index) {
				s.fastQdiscs++
			}
		}
		for k := range s.qdiscAggs {
			if covered(k.index) {
				s.fastQdiscAggs++
			}
		}
	}
	wantStates, wantAggs := len(s.qdiscs), len(s.qdiscAggs)
	if fastOnly {
		wantStates, wantAggs = s.fastQdiscs, s.fastQdiscAggs
	}
	if seenStates != wantStates {
		for k, st := range s.qdiscs {
			if st.seen != seq && (!fastOnly || covered(k.index)) {
				st.dead = true
				delete(s.qdiscs, k)
				s.qdiscRecount = true
			}
		}
	}
	if seenAggs != wantAggs {
		for k, agg := range s.qdiscAggs {
			if agg.seen != seq && (!fastOnly || covered(k.index)) {
				agg.dead = true
				delete(s.qdiscAggs, k)
				s.qdiscRecount = true
			}
		}
	}
	*fold = qdiscFold{ok: true, structure: structure, devGen: s.devGen, n: len(stats), dyn: fold.dyn, orphans: orphans}
	return orphans
}

// foldQdisc folds one qdisc's reading into its state and its device's
// aggregate of that kind.
func (s *Sampler) foldQdisc(now int64, q *QdiscStat, h *qdiscHint) {
	st, agg := h.st, h.agg
	if agg.seen != s.seq {
		agg.seen, agg.backlog, agg.packets = s.seq, 0, 0
	}
	agg.device = h.d.name
	agg.backlog += uint64(q.Backlog)
	agg.packets += uint64(q.Qlen)
	addDelta(&agg.drops, uint64(st.drops), uint64(q.Drops))
	addDelta(&agg.overlimits, uint64(st.overlimits), uint64(q.Overlimits))
	addDelta(&agg.requeues, uint64(st.requeues), uint64(q.Requeues))
	st.drops, st.overlimits, st.requeues, st.seen = q.Drops, q.Overlimits, q.Requeues, s.seq
	if agg.backlog > 0 {
		// An empty queue never raises a trailing maximum, so most
		// qdiscs (noqueue, idle pfifo_fast) need no push at all. A
		// partial sum pushed before the device's last qdisc of this
		// kind is superseded by the full one at the same time.
		for w := range agg.peaks {
			agg.peaks[w].push(now, float64(agg.backlog))
		}
	}
}
