package locate

import "context"

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
// timestamp, the lower point's comes first. It returns when every stream
// has ended, with the first stream error, or with ctx's error when ctx is
// done.
func (a *Analyzer) AddStreams(ctx context.Context, streams []Stream) error {
	return merge(ctx, streams, a.Add)
}

// merge hands add the streams' observations in timestamp order.
func merge(ctx context.Context, streams []Stream, add func(*Observation)) error {
	heads := make([]Observation, len(streams))
	live := make([]bool, len(streams))
	next := func(i int) error {
		ok, err := streams[i].Next(&heads[i])
		if err != nil {
			return err
		}
		heads[i].Point, live[i] = i, ok
		return nil
	}
	for i := range streams {
		if err := next(i); err != nil {
			return err
		}
	}
	for n := 0; ; n++ {
		if n%mergeCheckEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		best := -1
		for i := range heads {
			if live[i] && (best < 0 || heads[i].Time.Before(heads[best].Time)) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		add(&heads[best])
		if err := next(best); err != nil {
			return err
		}
	}
}
