package locate

import (
	"context"
	"fmt"
	"time"
)

// Stream is one capture point's observations in its capture order (a pcap
// file read frame by frame, say).
type Stream interface {
	// Next fills o with the point's next observation and reports whether
	// there was one. An error ends the merge.
	Next(o *Observation) (bool, error)
}

// mergeCheckEvery is how many observations AddStreams merges between looks
// at its context.
const mergeCheckEvery = 4096

// AddStreams adds the observations of streams[i] as point i's (it sets
// their Point), merged by timestamp, which is the order Add needs: the
// matching table then holds only the echoes in flight (plus the clocks'
// disagreement), not whole captures. Of observations with the same
// timestamp, the lower point's comes first. A stream need not be sorted:
// each is read ReorderWindow observations ahead and put in timestamp order
// within that window (a capture merged with mergecap -a, a clock step, one
// frame with a wild timestamp). It returns when every stream has ended,
// with the first stream error, or with ctx's error when ctx is done.
//
// Where a stream's timestamps go back by more than Options.ClockTolerance
// in its own order, the Result has an ErrUnsorted warning for its point:
// the worst step and how often. A clock that stepped shows besides as the
// echoes' contradiction of the point's offset (ErrClockJump).
func (a *Analyzer) AddStreams(ctx context.Context, streams []Stream) error {
	sorted, err := merge(ctx, streams, a.opts.ClockTolerance, a.Add)
	for i, r := range sorted {
		if r == nil || r.back == 0 || a.unsorted[i] {
			continue
		}
		a.unsorted[i] = true
		a.warn = append(a.warn, Warning{Err: ErrUnsorted, Point: i, Message: fmt.Sprintf(
			"point %s: timestamps go back %d time(s) in the capture's order, by up to %v (at %s, %s): sorted by time within %d observations",
			a.points[i].Name, r.back, r.worst, r.worstAt.Time.UTC().Format("15:04:05.000000"), r.worstAt.Key(), ReorderWindow)})
	}
	return err
}

// ReorderWindow is how many observations of each stream AddStreams holds
// to sort it: an observation out of order by up to that many is delivered
// in its place; one later than the rest of its stream waits in the window
// to the end, one earlier than the window comes when read. Memory: about
// 80 bytes per observation and stream.
const ReorderWindow = 4096

// merge hands add the streams' observations in timestamp order; it
// returns each stream's reorder, which counts the steps back by more than
// tolerance in the stream's own order.
func merge(ctx context.Context, streams []Stream, tolerance time.Duration, add func(*Observation)) ([]*reorder, error) {
	sorted := make([]*reorder, len(streams))
	heads := make([]Observation, len(streams))
	live := make([]bool, len(streams))
	next := func(i int) error {
		ok, err := sorted[i].next(&heads[i])
		if err != nil {
			return err
		}
		heads[i].Point, live[i] = i, ok
		return nil
	}
	for i := range streams {
		sorted[i] = &reorder{s: streams[i], tolerance: tolerance}
		if err := next(i); err != nil {
			return sorted, err
		}
	}
	for n := 0; ; n++ {
		if n%mergeCheckEvery == 0 && ctx.Err() != nil {
			return sorted, ctx.Err()
		}
		best := -1
		for i := range heads {
			if live[i] && (best < 0 || heads[i].Time.Before(heads[best].Time)) {
				best = i
			}
		}
		if best < 0 {
			return sorted, nil
		}
		add(&heads[best])
		if err := next(best); err != nil {
			return sorted, err
		}
	}
}

// reorder reads a stream ReorderWindow observations ahead and hands them
// out earliest first (in read order for equal times): a min-heap on
// (Time, read index).
type reorder struct {
	s         Stream
	tolerance time.Duration
	heap      []held
	read      uint64
	done      bool
	prev      time.Time // the last observation read
	back      int       // steps back by more than tolerance, in read order
	worst     time.Duration
	worstAt   Observation // the observation after the worst step
}

type held struct {
	o Observation
	n uint64 // read index, for a stable order
}

func (h *held) less(o *held) bool {
	if !h.o.Time.Equal(o.o.Time) {
		return h.o.Time.Before(o.o.Time)
	}
	return h.n < o.n
}

func (r *reorder) next(o *Observation) (bool, error) {
	for !r.done && len(r.heap) < ReorderWindow {
		r.heap = append(r.heap, held{n: r.read})
		ok, err := r.s.Next(&r.heap[len(r.heap)-1].o)
		if err != nil || !ok {
			r.heap = r.heap[:len(r.heap)-1]
			r.done = true
			if err != nil {
				return false, err
			}
			break
		}
		o := &r.heap[len(r.heap)-1].o
		if d := r.prev.Sub(o.Time); r.read > 0 && d > r.tolerance {
			r.back++
			if d > r.worst {
				r.worst, r.worstAt = d, *o
			}
		}
		r.prev = o.Time
		r.read++
		r.up(len(r.heap) - 1)
	}
	if len(r.heap) == 0 {
		return false, nil
	}
	*o = r.heap[0].o
	last := len(r.heap) - 1
	r.heap[0] = r.heap[last]
	r.heap = r.heap[:last]
	r.down(0)
	return true, nil
}

func (r *reorder) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !r.heap[i].less(&r.heap[p]) {
			return
		}
		r.heap[i], r.heap[p] = r.heap[p], r.heap[i]
		i = p
	}
}

func (r *reorder) down(i int) {
	for {
		l, m := 2*i+1, i
		if l < len(r.heap) && r.heap[l].less(&r.heap[m]) {
			m = l
		}
		if l+1 < len(r.heap) && r.heap[l+1].less(&r.heap[m]) {
			m = l + 1
		}
		if m == i {
			return
		}
		r.heap[i], r.heap[m] = r.heap[m], r.heap[i]
		i = m
	}
}
