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
// count; their 32-bit drop counters are widened across wraps. It reports
// whether the reading named devices that are neither sampled nor excluded.
func (s *Sampler) stepQdiscs(now int64, stats []QdiscStat) (orphans bool) {
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
	if seenStates != len(s.qdiscs) {
		for k, st := range s.qdiscs {
			if st.seen != seq {
				delete(s.qdiscs, k)
			}
		}
	}
	if seenAggs != len(s.qdiscAggs) {
		for k, agg := range s.qdiscAggs {
			if agg.seen != seq {
				delete(s.qdiscAggs, k)
			}
		}
	}
	return orphans
}
