package locate

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func obs(p int, ms int, seq uint16, reply bool) *Observation {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.1.1")
	o := &Observation{Point: p, Time: time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond), Src: a, Dst: b, ID: 7, Seq: seq, Reply: reply}
	if reply {
		o.Src, o.Dst = b, a
	}
	return o
}

func TestMatcher(t *testing.T) {
	type step struct {
		o      *Observation
		expire int // when > 0, call Expire at this ms instead
	}
	for _, tc := range []struct {
		name     string
		cfg      MatcherConfig
		steps    []step
		flush    bool
		want     MatchStats
		complete []uint16 // seqs emitted complete, in order
		partial  []uint16 // seqs emitted incomplete, in order
	}{
		{
			name: "complete echo",
			cfg:  MatcherConfig{Points: 2, MaxEntries: 4, MaxAge: time.Second},
			steps: []step{
				{o: obs(0, 0, 1, false)}, {o: obs(1, 1, 1, false)}, {o: obs(1, 2, 1, true)}, {o: obs(0, 3, 1, true)},
			},
			want:     MatchStats{Observations: 4, Complete: 1},
			complete: []uint16{1},
		},
		{
			name: "duplicates and a bad point",
			cfg:  MatcherConfig{Points: 2, MaxEntries: 4, MaxAge: time.Second},
			steps: []step{
				{o: obs(0, 0, 1, false)}, {o: obs(0, 0, 1, false)}, {o: obs(2, 0, 1, false)}, {o: obs(-1, 0, 1, false)},
			},
			flush:   true,
			want:    MatchStats{Observations: 2, Duplicates: 1, BadPoint: 2, Expired: 1},
			partial: []uint16{1},
		},
		{
			name: "table full drops the oldest",
			cfg:  MatcherConfig{Points: 2, MaxEntries: 2, MaxAge: time.Hour},
			steps: []step{
				{o: obs(0, 0, 1, false)}, {o: obs(0, 1, 2, false)}, {o: obs(0, 2, 3, false)},
			},
			flush:   true,
			want:    MatchStats{Observations: 3, DroppedFull: 1, Expired: 2},
			partial: []uint16{2, 3},
		},
		{
			name: "aged out by newer packets",
			cfg:  MatcherConfig{Points: 2, MaxEntries: 8, MaxAge: 100 * time.Millisecond},
			steps: []step{
				{o: obs(0, 0, 1, false)}, {o: obs(0, 50, 2, false)}, {o: obs(1, 151, 3, false)},
			},
			want:    MatchStats{Observations: 3, Expired: 2},
			partial: []uint16{1, 2},
		},
		{
			name: "aged out by Expire",
			cfg:  MatcherConfig{Points: 2, MaxEntries: 8, MaxAge: 100 * time.Millisecond},
			steps: []step{
				{o: obs(0, 0, 1, false)}, {expire: 99}, {expire: 101},
			},
			want:    MatchStats{Observations: 1, Expired: 1},
			partial: []uint16{1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var complete, partial []uint16
			m, err := NewMatcher(tc.cfg, func(r *Record) {
				if r.Complete {
					complete = append(complete, r.Key.Seq)
				} else {
					partial = append(partial, r.Key.Seq)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				if s.expire > 0 {
					m.Expire(time.Unix(1000, 0).Add(time.Duration(s.expire) * time.Millisecond))
					continue
				}
				m.Add(s.o)
			}
			if tc.flush {
				m.Flush()
			}
			if m.Stats() != tc.want {
				t.Errorf("stats %+v, want %+v", m.Stats(), tc.want)
			}
			if !equal(complete, tc.complete) || !equal(partial, tc.partial) {
				t.Errorf("emitted complete %v partial %v, want %v %v", complete, partial, tc.complete, tc.partial)
			}
			if tc.flush && m.Len() != 0 {
				t.Errorf("%d entries left after Flush", m.Len())
			}
		})
	}
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMatcherConfig(t *testing.T) {
	emit := func(*Record) {}
	for _, tc := range []struct {
		cfg  MatcherConfig
		emit func(*Record)
	}{
		{MatcherConfig{Points: 1, MaxEntries: 1, MaxAge: 1}, emit},
		{MatcherConfig{Points: MaxPoints + 1, MaxEntries: 1, MaxAge: 1}, emit},
		{MatcherConfig{Points: 2, MaxEntries: 0, MaxAge: 1}, emit},
		{MatcherConfig{Points: 2, MaxEntries: 1, MaxAge: 0}, emit},
		{MatcherConfig{Points: 2, MaxEntries: 1, MaxAge: 1}, nil},
	} {
		if _, err := NewMatcher(tc.cfg, tc.emit); !errors.Is(err, ErrConfig) {
			t.Errorf("NewMatcher(%+v) error %v, want ErrConfig", tc.cfg, err)
		}
	}
}

// TestMatcherBounded feeds many echoes that never complete: the table never
// holds more than MaxEntries.
func TestMatcherBounded(t *testing.T) {
	emitted := 0
	m, err := NewMatcher(MatcherConfig{Points: 3, MaxEntries: 100, MaxAge: time.Hour}, func(*Record) { emitted++ })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		m.Add(obs(0, i, uint16(i), false))
		if m.Len() > 100 {
			t.Fatalf("table holds %d entries", m.Len())
		}
	}
	m.Flush()
	if s := m.Stats(); s.DroppedFull != 9900 || emitted != 100 {
		t.Fatalf("dropped %d emitted %d, want 9900 and 100", s.DroppedFull, emitted)
	}
}

func BenchmarkMatcher(b *testing.B) {
	m, err := NewMatcher(MatcherConfig{Points: 6, MaxEntries: 1 << 16, MaxAge: time.Second}, func(*Record) {})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	per := seedObservations(100, 120)
	var all []Observation
	for _, p := range per {
		all = append(all, p...)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := all[i%len(all)]
		o.Seq += uint16(i / len(all)) // a new echo every round
		m.Add(&o)
	}
}

// FuzzAnalyze feeds arbitrary observations: the analysis returns a result
// or an error, never panics.
func FuzzAnalyze(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 0, 1, 1, 0, 5, 1, 0, 1, 1, 1, 9, 1, 1, 0})
	f.Add([]byte{2, 1, 0, 200, 2, 1, 255, 0, 0, 0, 0, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		pts := []Point{{Name: "a"}, {Name: "b", Clock: "x"}, {Name: "c", Clock: "x"}}
		a, err := NewAnalyzer(pts, Options{MaxEntries: 8, MaxEchoes: 64})
		if err != nil {
			t.Fatal(err)
		}
		src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.1.1")
		for len(data) >= 6 {
			o := Observation{
				Point: int(data[0] % 4),
				Time:  time.Unix(0, int64(binary.BigEndian.Uint16(data[1:3]))*int64(time.Millisecond)),
				Src:   src, Dst: dst,
				ID:    uint16(data[3] % 2),
				Seq:   uint16(data[4] % 8),
				Reply: data[5]&1 == 1,
			}
			if o.Reply {
				o.Src, o.Dst = dst, src
			}
			a.Add(&o)
			data = data[6:]
		}
		r, err := a.Result()
		if err == nil && r.Verdict != nil && len(r.Verdict.Echoes) == 0 {
			t.Fatal("verdict without evidence")
		}
	})
}

// BenchmarkAnalyze matches and analyses 6 points x 2,000 echoes (one
// operation = the whole set: 24,000 observations).
func BenchmarkAnalyze(b *testing.B) {
	per := seedObservations(0, 1999)
	var all []Observation
	for _, p := range per {
		all = append(all, p...)
	}
	slices.SortStableFunc(all, func(x, y Observation) int { return x.Time.Compare(y.Time) })
	pts := make([]Point, len(seedPoints))
	for i, n := range seedPoints {
		pts[i].Name = n
	}
	b.ReportAllocs()
	for b.Loop() {
		a, err := NewAnalyzer(pts, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range all {
			a.Add(&all[i])
		}
		if _, err := a.Result(); err != nil {
			b.Fatal(err)
		}
	}
}
