package sampler

type qdiscKey struct {
	index          int32
	handle, parent uint32
}

type qdiscState struct {
	kind                        string
	drops, overlimits, requeues uint32
	seen                        uint64
}

// qdiscs are reported per device and kind: an mq root's per-queue children
// of one kind add up, which keeps the label set to what DESIGN §5 names.
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
}

// stepQdiscs folds one qdisc reading in. Only qdiscs of sampled devices
// count; their 32-bit drop counters are widened across wraps. A reading of
// the fast set only (fastOnly) says nothing of the slow tier's qdiscs. It
// reports whether the reading named devices that are neither sampled nor
// excluded.
func (s *Sampler) stepQdiscs(now int64, stats []QdiscStat, fastOnly bool) (orphans bool) {
	seq := s.seq
	seenStates, seenAggs := 0, 0
	for i := range stats {
		q := &stats[i]
		d := s.devices[q.Index]
		if d == nil {
			orphans = orphans || !s.excluded[q.Index]
			continue
		}
		k := qdiscKey{q.Index, q.Handle, q.Parent}
		st := s.qdiscs[k]
		ak := qdiscAggKey{q.Index, q.Kind}
		agg := s.qdiscAggs[ak]
		if agg == nil {
			agg = &qdiscAgg{}
			for _, w := range Windows {
				agg.peaks[w] = newMaxWindow(int64(w.Span()), int(w.Span()/s.cfg.Interval)+2)
			}
			s.qdiscAggs[ak] = agg
		}
		if agg.seen != seq {
			agg.seen, agg.backlog, agg.packets = seq, 0, 0
			seenAggs++
		}
		agg.device = d.name
		agg.backlog += uint64(q.Backlog)
		agg.packets += uint64(q.Qlen)
		if st == nil || st.kind != q.Kind {
			st = &qdiscState{kind: q.Kind}
			s.qdiscs[k] = st
		} else {
			addDelta(&agg.drops, uint64(st.drops), uint64(q.Drops))
			addDelta(&agg.overlimits, uint64(st.overlimits), uint64(q.Overlimits))
			addDelta(&agg.requeues, uint64(st.requeues), uint64(q.Requeues))
		}
		if st.seen != seq {
			seenStates++
		}
		st.drops, st.overlimits, st.requeues, st.seen = q.Drops, q.Overlimits, q.Requeues, seq
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
	// covered says whether this reading speaks for a device's qdiscs.
	covered := func(index int32) bool {
		d := s.devices[index]
		return !fastOnly || d == nil || d.fast
	}
	wantStates, wantAggs := len(s.qdiscs), len(s.qdiscAggs)
	if fastOnly {
		wantStates, wantAggs = s.fastQdiscs, s.fastQdiscAggs
	}
	if seenStates != wantStates {
		for k, st := range s.qdiscs {
			if st.seen != seq && covered(k.index) {
				delete(s.qdiscs, k)
			}
		}
	}
	if seenAggs != wantAggs {
		for k, agg := range s.qdiscAggs {
			if agg.seen != seq && covered(k.index) {
				delete(s.qdiscAggs, k)
			}
		}
	}
	if !fastOnly {
		// How many of them a reading of the fast set should see, so that
		// such readings skip the sweeps above while nothing vanished. A
		// device that changes tier before the next full reading at worst
		// costs a sweep, or keeps a vanished qdisc until that reading.
		s.fastQdiscs, s.fastQdiscAggs = 0, 0
		for k := range s.qdiscs {
			if d := s.devices[k.index]; d != nil && d.fast {
				s.fastQdiscs++
			}
		}
		for k := range s.qdiscAggs {
			if d := s.devices[k.index]; d != nil && d.fast {
				s.fastQdiscAggs++
			}
		}
	}
	return orphans
}
