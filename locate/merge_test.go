package locate

import (
	"context"
	"errors"
	"testing"
	"time"
)

// sliceStream is a Stream of given observations, then err (nil: the end).
type sliceStream struct {
	obs []Observation
	err error
}

func (s *sliceStream) Next(o *Observation) (bool, error) {
	if len(s.obs) == 0 {
		return false, s.err
	}
	*o, s.obs = s.obs[0], s.obs[1:]
	return true, nil
}

// mergeOrder returns the observations of per in the order merge hands
// them over.
func mergeOrder(t *testing.T, per [][]Observation) []Observation {
	t.Helper()
	streams := make([]Stream, len(per))
	for i := range per {
		streams[i] = &sliceStream{obs: per[i]}
	}
	var got []Observation
	if _, err := merge(context.Background(), streams, 0, func(o *Observation) { got = append(got, *o) }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAddStreamsOrder(t *testing.T) {
	at := func(ms int, seq uint16) Observation {
		return Observation{Point: 9, Time: time.Unix(0, int64(ms)*int64(time.Millisecond)), Seq: seq}
	}
	// Point 1's stream goes back in time (one frame out of order): it is
	// sorted within the reorder window. Equal timestamps: the lower point
	// first.
	per := [][]Observation{
		{at(1, 1), at(5, 2), at(5, 3)},
		{at(2, 4), at(5, 5), at(0, 6), at(9, 7)},
		{},
		{at(3, 8)},
	}
	got := mergeOrder(t, per)
	want := []struct {
		point int
		seq   uint16
	}{{1, 6}, {0, 1}, {1, 4}, {3, 8}, {0, 2}, {0, 3}, {1, 5}, {1, 7}}
	if len(got) != len(want) {
		t.Fatalf("%d observations added, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Point != w.point || got[i].Seq != w.seq {
			t.Errorf("observation %d: point %d seq %d, want point %d seq %d", i, got[i].Point, got[i].Seq, w.point, w.seq)
		}
	}
}

// TestAddStreamsReorderWindow holds the window's contract: a frame later
// than the rest of its stream waits to the end, equal times keep their read
// order, and one out of order by more than the window comes when read.
func TestAddStreamsReorderWindow(t *testing.T) {
	ms := func(n int) time.Time { return time.Unix(0, int64(n)*int64(time.Millisecond)) }
	var obs []Observation
	obs = append(obs, Observation{Time: ms(1e9), Seq: 0}) // a wild timestamp, first in the file
	for i := 1; i <= 3*ReorderWindow; i++ {
		obs = append(obs, Observation{Time: ms(i / 2), Seq: uint16(i)}) // pairs of equal times
	}
	// One frame earlier than everything, read after the window has moved on.
	obs = append(obs, Observation{Time: ms(0), Seq: 60000})
	got := mergeOrder(t, [][]Observation{obs})
	if len(got) != len(obs) {
		t.Fatalf("%d observations, want %d", len(got), len(obs))
	}
	if last := got[len(got)-1]; last.Seq != 0 {
		t.Errorf("last observation seq %d, want the wild one (seq 0) last", last.Seq)
	}
	late := -1
	for i := range got[:len(got)-1] {
		if got[i].Seq == 60000 {
			late = i
			continue
		}
		if i > 0 && got[i-1].Seq != 60000 && got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("observation %d: seq %d after %d, want read order for sorted input", i, got[i].Seq, got[i-1].Seq)
		}
	}
	// Read last, it is handed over once the window ahead of it is full
	// of what was read before it: ReorderWindow-1 from the end, before the
	// wild one.
	if want := len(got) - ReorderWindow; late != want {
		t.Errorf("the late frame is handed over at %d, want %d", late, want)
	}
}

func TestAddStreamsErrors(t *testing.T) {
	a, err := NewAnalyzer([]Point{{Name: "a"}, {Name: "b"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := errors.New("frame 3: corrupt")
	obs := []Observation{{Time: time.Unix(1, 0)}}
	err = a.AddStreams(context.Background(), []Stream{&sliceStream{obs: obs}, &sliceStream{obs: obs, err: bad}})
	if !errors.Is(err, bad) {
		t.Errorf("AddStreams = %v, want the stream's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.AddStreams(ctx, []Stream{&sliceStream{obs: obs}}); !errors.Is(err, context.Canceled) {
		t.Errorf("AddStreams after cancel = %v, want context.Canceled", err)
	}
}
