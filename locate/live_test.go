package locate

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/netburst/netburst/spike"
)

type fakeObserver struct {
	delays []string
	losses []string
}

func (f *fakeObserver) ObserveSegment(from, to string, dir Direction, d time.Duration) {
	f.delays = append(f.delays, fmt.Sprintf("%s->%s %s %v", from, to, dir, d))
}

func (f *fakeObserver) ObserveLoss(from, to string, dir Direction) {
	f.losses = append(f.losses, fmt.Sprintf("%s->%s %s", from, to, dir))
}

type fakeSink struct{ events []spike.Event }

func (f *fakeSink) Notify(e spike.Event) { f.events = append(f.events, e) }

// liveEcho returns the packets of one echo crossing points at the given
// times (µs after t0); a negative time means the point missed it.
func liveEcho(seq uint16, src, dst string, req, rep []int) []Observation {
	t0 := time.Unix(5000, 0)
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	var out []Observation
	for p, us := range req {
		if us >= 0 {
			out = append(out, Observation{Point: p, Time: t0.Add(time.Duration(us) * time.Microsecond), Src: s, Dst: d, ID: 1, Seq: seq})
		}
	}
	for p, us := range rep {
		if us >= 0 {
			out = append(out, Observation{Point: p, Time: t0.Add(time.Duration(us) * time.Microsecond), Src: d, Dst: s, ID: 1, Seq: seq, Reply: true})
		}
	}
	slices.SortStableFunc(out, func(a, b Observation) int { return a.Time.Compare(b.Time) })
	return out
}

func TestLive(t *testing.T) {
	const vm, far = "198.18.1.2", "198.18.4.2"
	for _, tc := range []struct {
		name      string
		echoes    [][]Observation
		threshold time.Duration
		delays    []string
		losses    []string
		spikes    int
		negative  uint64
	}{
		{
			name:   "forward echo",
			echoes: [][]Observation{liveEcho(1, vm, far, []int{0, 20, 50}, []int{5000, 4030, 4000})},
			delays: []string{"vif->br request 20µs", "br->eth0 request 30µs", "vif->br reply 970µs", "br->eth0 reply 30µs"},
		},
		{
			name:   "echo pinged from the far side",
			echoes: [][]Observation{liveEcho(2, far, vm, []int{50, 20, 0}, []int{4000, 4030, 5000})},
			delays: []string{"vif->br request 30µs", "br->eth0 request 20µs", "vif->br reply 30µs", "br->eth0 reply 970µs"},
		},
		{
			name:   "a point missed the packet",
			echoes: [][]Observation{liveEcho(3, vm, far, []int{0, -1, 50}, []int{500, 430, 400})},
			delays: []string{"vif->eth0 request 50µs", "vif->br reply 70µs", "br->eth0 reply 30µs"},
		},
		{
			name:     "out-of-order stamps are clamped",
			echoes:   [][]Observation{liveEcho(4, vm, far, []int{10, 9, 50}, []int{500, 430, 400})},
			delays:   []string{"vif->br request 0s", "br->eth0 request 41µs", "vif->br reply 70µs", "br->eth0 reply 30µs"},
			negative: 1,
		},
		{
			name: "echoes seen at one point are off the path",
			echoes: [][]Observation{
				liveEcho(9, vm, "198.18.1.1", []int{0, -1, -1}, []int{30, -1, -1}),
				liveEcho(10, far, "198.18.2.1", []int{-1, -1, 0}, []int{-1, -1, 30}),
			},
		},
		{
			name: "losses of each kind",
			echoes: [][]Observation{
				liveEcho(5, vm, far, []int{0, 20, -1}, []int{-1, -1, -1}),
				liveEcho(6, vm, far, []int{0, 20, 50}, []int{-1, -1, 400}),
				liveEcho(7, vm, far, []int{0, 20, 50}, []int{-1, -1, -1}),
			},
			delays: []string{"vif->br request 20µs", "vif->br request 20µs", "br->eth0 request 30µs", "vif->br request 20µs", "br->eth0 request 30µs"},
			losses: []string{"br->eth0 request", "br->eth0 reply", "eth0->beyond unknown"},
		},
		{
			name: "spikes rate-limited per segment and direction",
			echoes: [][]Observation{
				liveEcho(8, vm, far, []int{0, 20, 50}, []int{91000, 80000, 50})},
			threshold: 10 * time.Millisecond,
			delays:    []string{"vif->br request 20µs", "br->eth0 request 30µs", "vif->br reply 11ms", "br->eth0 reply 79.95ms"},
			spikes:    2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs, sink := &fakeObserver{}, &fakeSink{}
			l, err := NewLive(LiveConfig{Points: []string{"vif", "br", "eth0"}, Observer: obs, Spikes: sink, Threshold: tc.threshold, MaxAge: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tc.echoes {
				for i := range e {
					l.Add(&e[i])
				}
			}
			l.Flush()
			if !slices.Equal(obs.delays, tc.delays) {
				t.Errorf("delays\n%q\nwant\n%q", obs.delays, tc.delays)
			}
			if !slices.Equal(obs.losses, tc.losses) {
				t.Errorf("losses %q, want %q", obs.losses, tc.losses)
			}
			if len(sink.events) != tc.spikes {
				t.Errorf("%d spikes, want %d: %+v", len(sink.events), tc.spikes, sink.events)
			}
			for _, e := range sink.events {
				if e.Trigger != spike.TriggerSegment || e.Threshold != tc.threshold.Seconds() || e.Value <= e.Threshold {
					t.Errorf("event %+v", e)
				}
			}
			if s := l.Stats(); s.Negative != tc.negative || s.Pending != 0 {
				t.Errorf("stats %+v, want %d negative and nothing pending", s, tc.negative)
			}
		})
	}
}

func TestLiveSpikeRateLimit(t *testing.T) {
	sink := &fakeSink{}
	l, err := NewLive(LiveConfig{Points: []string{"vif", "eth0"}, Spikes: sink, Threshold: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 30 slow replies 100 ms apart: one event per second of them.
	for i := range 30 {
		base := i * 100000
		e := liveEcho(uint16(i), "198.18.1.2", "198.18.4.2", []int{base, base + 10}, []int{base + 5000, base + 20})
		for j := range e {
			l.Add(&e[j])
		}
	}
	if got := len(sink.events); got != 3 {
		t.Fatalf("%d events, want 3 (one a second)", got)
	}
	if sink.events[0].Device != "vif" {
		t.Errorf("event device %q, want vif (where the slow reply arrived)", sink.events[0].Device)
	}
}

func TestLiveConfig(t *testing.T) {
	for _, pts := range [][]string{{"a"}, {"a", "a"}, {"a", ""}, make([]string, MaxPoints+1)} {
		if _, err := NewLive(LiveConfig{Points: pts}); !errors.Is(err, ErrConfig) {
			t.Errorf("NewLive(%q) error %v, want ErrConfig", pts, err)
		}
	}
}

// TestLiveRace adds from several goroutines, as one capture per interface
// does; run with -race.
func TestLiveRace(t *testing.T) {
	obs := &lockedObserver{}
	l, err := NewLive(LiveConfig{Points: []string{"vif", "eth0"}, Observer: obs, MaxEntries: 64})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				e := liveEcho(uint16(i), "198.18.1.2", "198.18.4.2", []int{i * 100, i*100 + 10}, []int{i*100 + 50, i*100 + 40})
				for j := range e {
					if e[j].Point == p {
						l.Add(&e[j])
					}
				}
				if i%100 == 0 {
					_ = l.Stats()
				}
			}
		}()
	}
	wg.Wait()
	l.Flush()
	if s := l.Stats(); s.Pending != 0 || s.Match.Observations != 4000 {
		t.Fatalf("stats %+v", s)
	}
}

type lockedObserver struct {
	mu sync.Mutex
	n  int
}

func (o *lockedObserver) ObserveSegment(string, string, Direction, time.Duration) {
	o.mu.Lock()
	o.n++
	o.mu.Unlock()
}

func (o *lockedObserver) ObserveLoss(string, string, Direction) {}
