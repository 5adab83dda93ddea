package sampler

import (
	"testing"
	"time"
)

// scriptedStats returns one reading after another, repeating the last.
type scriptedStats struct {
	readings [][]Stat
	n        int
}

func (s *scriptedStats) Read(dst []Stat) ([]Stat, error) {
	r := s.readings[min(s.n, len(s.readings)-1)]
	s.n++
	return append(dst[:0], r...), nil
}
func (*scriptedStats) Name() string { return "fake" }
func (*scriptedStats) Close() error { return nil }

// scriptedQdiscs returns its readings in turn; a nil reading is
// ErrUnchanged.
type scriptedQdiscs struct {
	readings [][]QdiscStat
	n        int
	reads    int
}

func (q *scriptedQdiscs) Read(dst []QdiscStat) ([]QdiscStat, error) {
	r := q.readings[min(q.n, len(q.readings)-1)]
	q.n++
	if r == nil {
		return dst, ErrUnchanged
	}
	q.reads++
	return append(dst[:0], r...), nil
}
func (*scriptedQdiscs) Close() error { return nil }

// A qdisc source that says its reading is unchanged leaves the previous one
// standing: its series stay, nothing is counted as an error, and a reading
// that named a device not sampled yet is folded in again once the device
// appears (the qdisc source and the link table learn of a new device
// separately).
func TestQdiscUnchanged(t *testing.T) {
	links := []Link{{Index: 1, Name: "lo", Kind: "loopback"}, {Index: 7, Name: "veth7", Kind: "veth"}}
	tbf := QdiscStat{Index: 1, Parent: 0xffffffff, Kind: "tbf", Backlog: 10, Drops: 3}
	stats := &scriptedStats{readings: [][]Stat{{{Index: 1}}, {{Index: 1}, {Index: 7}}}}
	qd := &scriptedQdiscs{readings: [][]QdiscStat{
		{tbf, {Index: 7, Parent: 0xffffffff, Kind: "noqueue"}},
		nil,
	}}
	var lk fixedLinks
	lk.links = links
	s, err := New(Config{Stats: stats, Links: &lk, Qdiscs: qd, QdiscEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(100, 0)
	kinds := func() map[string]bool {
		var snap Snapshot
		s.Snapshot(&snap)
		if snap.Errors[OpQdisc] != 0 {
			t.Errorf("qdisc errors = %d, want 0", snap.Errors[OpQdisc])
		}
		got := map[string]bool{}
		for _, q := range snap.Qdiscs {
			got[q.Device+"/"+q.Kind] = true
			if q.Kind == "tbf" && (q.Backlog != 10 || q.BacklogPeak[Window10s] != 10) {
				t.Errorf("tbf backlog %d, peak %v: want the first reading's 10", q.Backlog, q.BacklogPeak[Window10s])
			}
		}
		return got
	}
	// First sample: veth7 is not in the counters' reading yet.
	s.Sample(now)
	if got := kinds(); len(got) != 1 || !got["lo/tbf"] {
		t.Fatalf("after the first sample: qdiscs %v, want lo/tbf only", got)
	}
	for range 3 {
		now = now.Add(100 * time.Millisecond)
		s.Sample(now)
	}
	if got := kinds(); len(got) != 2 || !got["lo/tbf"] || !got["veth7/noqueue"] {
		t.Errorf("after unchanged readings: qdiscs %v, want lo/tbf and veth7/noqueue", got)
	}
	if s.qdiscOrphans {
		t.Error("the reading still counts as naming unknown devices")
	}
	if qd.reads != 1 {
		t.Errorf("%d fresh qdisc readings, want 1", qd.reads)
	}
}

// fixedLinks is a link table that never changes.
type fixedLinks struct{ links []Link }

func (f *fixedLinks) Links() ([]Link, uint64) { return f.links, 1 }
func (f *fixedLinks) Refresh()                {}
func (f *fixedLinks) Close() error            { return nil }
