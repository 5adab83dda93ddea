package sampler

import (
	"context"
	"errors"
	"math"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netburst/netburst/spike"
)

func TestCounterDelta(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur uint64
		want      uint64
		ok        bool
	}{
		{"growth", 100, 250, 150, true},
		{"flat", 7, 7, 0, true},
		{"32-bit wrap", math.MaxUint32 - 99, 50, 150, true},
		{"32-bit wrap from the top", 1 << 31, 0, 1 << 31, true},
		{"reset of a small 32-bit value is not a wrap", 5000, 100, 0, false},
		{"64-bit reset", 1 << 40, 10, 0, false},
		{"64-bit value near 2^32 going down", 1<<32 + 10, 5, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := counterDelta(tt.prev, tt.cur)
			if got != tt.want || ok != tt.ok {
				t.Errorf("counterDelta(%d, %d) = %d, %v; want %d, %v", tt.prev, tt.cur, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestMaxWindow(t *testing.T) {
	const s = int64(time.Second)
	w := newMaxWindow(s, 12)
	vals := []float64{5, 3, 4, 1, 9, 2, 2, 8, 0, 0, 0, 0, 0, 0}
	for i, v := range vals {
		now := int64(i) * s / 10
		w.push(now, v)
		// Brute force over the trailing second.
		want := 0.0
		for j := 0; j <= i; j++ {
			if int64(j)*s/10 > now-s {
				want = math.Max(want, vals[j])
			}
		}
		if got := w.max(now); got != want {
			t.Fatalf("after push %d: max = %v, want %v", i, got, want)
		}
	}
	// Later, everything has expired.
	if got := w.max(100 * s); got != 0 {
		t.Errorf("max after expiry = %v, want 0", got)
	}
}

// fakeCounter is one interface whose driver refreshes the counters it shows
// every refresh (0: at every read) while traffic flows at rate bytes/s.
type fakeCounter struct {
	refresh time.Duration
	shown   uint64
	lastRef time.Time
	real    float64
}

func (f *fakeCounter) advance(now time.Time, dt time.Duration, rate float64) uint64 {
	f.real += rate * dt.Seconds()
	if f.refresh == 0 || now.Sub(f.lastRef) >= f.refresh {
		f.shown = uint64(f.real)
		if f.refresh != 0 {
			f.lastRef = f.lastRef.Add(f.refresh)
		}
	}
	return f.shown
}

type recorder struct {
	rates map[string][]float64
}

type dirRecorder struct {
	r   *recorder
	key string
}

func (d dirRecorder) Observe(v float64) { d.r.rates[d.key] = append(d.r.rates[d.key], v) }

func (r *recorder) DeviceAdded(name string) (RateObserver, RateObserver) {
	return dirRecorder{r, name + "/rx"}, dirRecorder{r, name + "/tx"}
}
func (r *recorder) DeviceRemoved(string)        {}
func (r *recorder) SampleDone(float64, float64) {}

type spikeRecorder struct{ events []spike.Event }

func (s *spikeRecorder) Notify(e spike.Event) { s.events = append(s.events, e) }

type nopStats struct{}

func (nopStats) Read(dst []Stat) ([]Stat, error) { return dst, nil }
func (nopStats) Name() string                    { return "fake" }
func (nopStats) Close() error                    { return nil }

func newTestSampler(t *testing.T, cfg Config) *Sampler {
	t.Helper()
	cfg.Stats = nopStats{}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func snapshotOf(t *testing.T, s *Sampler, name string) DeviceSnapshot {
	t.Helper()
	var snap Snapshot
	s.Snapshot(&snap)
	for _, d := range snap.Devices {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("device %s not in snapshot", name)
	return DeviceSnapshot{}
}

// A steady 1 Gbit/s on a driver that refreshes its counters once a second
// must read as 1 Gbit/s, never as 10 Gbit/s bursts, from the first refresh.
func TestLazyCounters(t *testing.T) {
	for _, refresh := range []time.Duration{time.Second, 2 * time.Second, 500 * time.Millisecond} {
		t.Run(refresh.String(), func(t *testing.T) {
			rec := &recorder{rates: map[string][]float64{}}
			spikes := &spikeRecorder{}
			s := newTestSampler(t, Config{Observer: rec, Spikes: spikes})
			link := []Link{{Index: 2, Name: "eth0", SpeedBytes: 10e9 / 8}}
			const rate = 1e9 / 8
			// The driver's refresh phase is unrelated to the sampler's.
			start := time.Unix(1000, 0)
			f := &fakeCounter{refresh: refresh, lastRef: start.Add(-refresh + 37*time.Millisecond)}
			now := start
			for i := 0; i < 300; i++ {
				dt := 100 * time.Millisecond
				if i%7 == 3 {
					dt += 3 * time.Millisecond // timer jitter
				}
				now = now.Add(dt)
				v := f.advance(now, dt, rate)
				s.Step(now, []Stat{{Index: 2, Counters: Counters{RxBytes: v, TxBytes: v / 2}}}, link, 1)
			}
			for i, r := range rec.rates["eth0/rx"] {
				if r > 1.25*rate {
					t.Errorf("observation %d reads %.3g bytes/s, more than 1.25x the real %.3g", i, r, float64(rate))
				}
			}
			d := snapshotOf(t, s, "eth0")
			if d.Bursts[Receive] != 0 || len(spikes.events) != 0 {
				t.Errorf("bursts = %d, spike events = %d; want none at 10%% of link speed", d.Bursts[Receive], len(spikes.events))
			}
			if math.Abs(d.RefreshSeconds-refresh.Seconds()) > 0.1 {
				t.Errorf("refresh period = %.3f s, want %.3f", d.RefreshSeconds, refresh.Seconds())
			}
			if p := d.Peak[Receive][Window10s]; math.Abs(p-rate)/rate > 0.15 {
				t.Errorf("10s peak = %.4g, want within 15%% of %.4g", p, float64(rate))
			}
		})
	}
}

// An eager driver: a 300 ms burst at 900 Mbit/s on a 1 Gbit/s link in an
// idle stream is three burst intervals and a peak of 900 Mbit/s.
func TestBurstOnEagerCounters(t *testing.T) {
	rec := &recorder{rates: map[string][]float64{}}
	spikes := &spikeRecorder{}
	s := newTestSampler(t, Config{Observer: rec, Spikes: spikes})
	link := []Link{{Index: 3, Name: "eth1", SpeedBytes: 1e9 / 8}}
	now := time.Unix(2000, 0)
	var rx uint64
	const burst = 0.9e9 / 8
	for i := 0; i < 600; i++ {
		now = now.Add(100 * time.Millisecond)
		if i >= 200 && i < 203 {
			rx += uint64(burst / 10)
		} else if i%50 == 0 {
			rx += 60 // a lone keepalive
		}
		s.Step(now, []Stat{{Index: 3, Counters: Counters{RxBytes: rx, RxPackets: rx / 1000}}}, link, 1)
	}
	d := snapshotOf(t, s, "eth1")
	if d.Bursts[Receive] != 3 {
		t.Errorf("bursts = %d, want 3", d.Bursts[Receive])
	}
	if len(spikes.events) != 1 || spikes.events[0].Trigger != spike.TriggerBurst || spikes.events[0].Device != "eth1" {
		t.Errorf("spike events = %+v, want one burst on eth1", spikes.events)
	}
	if p := d.Peak[Receive][Window60s]; math.Abs(p-burst)/burst > 0.01 {
		t.Errorf("60s peak = %.4g, want %.4g", p, float64(burst))
	}
	if d.RefreshSeconds != 0.1 {
		t.Errorf("refresh = %v, want the 0.1 s interval once counters moved at consecutive samples", d.RefreshSeconds)
	}
	if d.Bytes[Receive] != rx {
		t.Errorf("bytes total = %d, want %d", d.Bytes[Receive], rx)
	}
}

func TestResetWrapAndVanish(t *testing.T) {
	s := newTestSampler(t, Config{})
	links := []Link{{Index: 4, Name: "veth0"}, {Index: 5, Name: "veth1"}}
	now := time.Unix(3000, 0)
	var version uint64
	step := func(stats ...Stat) {
		now = now.Add(100 * time.Millisecond)
		version++ // the link table may have changed
		s.Step(now, stats, links, version)
	}
	c := func(idx int32, rx uint64) Stat {
		return Stat{Index: idx, Counters: Counters{RxBytes: rx, RxPackets: rx}}
	}
	step(c(4, math.MaxUint32-1000), c(5, 1<<40))
	step(c(4, math.MaxUint32-500), c(5, 1<<40+1000))
	step(c(4, 500), c(5, 300)) // veth0 wraps at 32 bits, veth1 resets
	d0, d1 := snapshotOf(t, s, "veth0"), snapshotOf(t, s, "veth1")
	// MaxUint32-500 -> 500 is 1001 bytes across the wrap at 2^32.
	if d0.Bytes[Receive] != math.MaxUint32-1000+500+1001 {
		t.Errorf("wrapped total = %d, want %d", d0.Bytes[Receive], uint64(math.MaxUint32-1000+500+1001))
	}
	if d0.Peak[Receive][Window1s] != 10010 {
		t.Errorf("rate across the wrap = %v, want 10010 B/s", d0.Peak[Receive][Window1s])
	}
	if d1.Bytes[Receive] != 1<<40+1000+300 || d1.Discontinuities != 1 {
		t.Errorf("after reset: total = %d, discontinuities = %d; want %d, 1", d1.Bytes[Receive], d1.Discontinuities, uint64(1<<40+1300))
	}
	// veth1 vanishes: its state goes with it.
	links = links[:1]
	step(c(4, 600))
	var snap Snapshot
	s.Snapshot(&snap)
	if len(snap.Devices) != 1 || snap.Devices[0].Name != "veth0" {
		t.Errorf("devices after veth1 vanished: %+v", snap.Devices)
	}
	// ifindex 4 is reused by a new device with large counters: a link
	// table change makes it a new device, not a jump.
	links = []Link{{Index: 4, Name: "tap9", Kind: "tun"}}
	step(c(4, 1<<50))
	step(c(4, 1<<50+100))
	s.Snapshot(&snap)
	if len(snap.Devices) != 1 || snap.Devices[0].Name != "tap9" {
		t.Fatalf("devices after reuse: %+v", snap.Devices)
	}
	if p := snap.Devices[0].Peak[Receive][Window60s]; p > 1e6 {
		t.Errorf("peak after ifindex reuse = %v, want no absurd rate", p)
	}
}

func TestIncludeExclude(t *testing.T) {
	s := newTestSampler(t, Config{DeviceInclude: regexp.MustCompile(`^(eth|veth)`), DeviceExclude: regexp.MustCompile(`^veth9`)})
	links := []Link{{Index: 1, Name: "lo"}, {Index: 2, Name: "eth0"}, {Index: 3, Name: "veth1"}, {Index: 4, Name: "veth99"}}
	var stats []Stat
	for _, l := range links {
		stats = append(stats, Stat{Index: l.Index})
	}
	s.Step(time.Unix(1, 0), stats, links, 1)
	var snap Snapshot
	s.Snapshot(&snap)
	got := map[string]bool{}
	for _, d := range snap.Devices {
		got[d.Name] = true
	}
	if len(got) != 2 || !got["eth0"] || !got["veth1"] {
		t.Errorf("sampled devices = %v, want eth0 and veth1", got)
	}
}

func TestQdiscAggregation(t *testing.T) {
	s := newTestSampler(t, Config{})
	links := []Link{{Index: 2, Name: "eth0"}}
	now := time.Unix(10, 0)
	for i, q := range [][]QdiscStat{
		{{Index: 2, Handle: 0x10000, Parent: 0xffffffff, Kind: "mq"}, {Index: 2, Parent: 0x10001, Kind: "fq_codel", Backlog: 100, Drops: math.MaxUint32 - 5}, {Index: 2, Parent: 0x10002, Kind: "fq_codel", Backlog: 50}},
		{{Index: 2, Handle: 0x10000, Parent: 0xffffffff, Kind: "mq"}, {Index: 2, Parent: 0x10001, Kind: "fq_codel", Backlog: 3000, Drops: 4}, {Index: 2, Parent: 0x10002, Kind: "fq_codel", Backlog: 2000, Drops: 7}},
		{{Index: 2, Handle: 0x10000, Parent: 0xffffffff, Kind: "mq"}, {Index: 2, Parent: 0x10001, Kind: "fq_codel"}, {Index: 2, Parent: 0x10002, Kind: "fq_codel", Drops: 7}, {Index: 99, Kind: "tbf", Backlog: 1}},
	} {
		now = now.Add(100 * time.Millisecond)
		s.mu.Lock()
		if i == 0 {
			s.applyLinks(links, 1)
		}
		s.step(now, []Stat{{Index: 2}}, readAll)
		s.stepQdiscs(s.mono(now), q, false, 0, false)
		s.mu.Unlock()
	}
	var snap Snapshot
	s.Snapshot(&snap)
	if len(snap.Qdiscs) != 2 {
		t.Fatalf("qdisc aggregates = %+v, want mq and fq_codel of eth0", snap.Qdiscs)
	}
	for _, q := range snap.Qdiscs {
		if q.Kind != "fq_codel" {
			continue
		}
		if q.BacklogPeak[Window1s] != 5000 || q.Backlog != 0 {
			t.Errorf("fq_codel backlog peak = %v now %d, want 5000 and 0", q.BacklogPeak[Window1s], q.Backlog)
		}
		// 10 across the 32-bit wrap of the first child, 7 of the second.
		if q.Drops != 17 {
			t.Errorf("fq_codel drops = %d, want 17", q.Drops)
		}
	}
}

func TestNewRejectsBadInterval(t *testing.T) {
	for _, iv := range []time.Duration{time.Millisecond, 11 * time.Second} {
		if _, err := New(Config{Interval: iv, Stats: nopStats{}}); err == nil {
			t.Errorf("interval %v accepted", iv)
		}
	}
	if _, err := New(Config{}); !errors.Is(err, ErrNoSource) {
		t.Errorf("no source: err = %v", err)
	}
}

// Hooks see each device's rates, peaks and the bytes of trailing windows.
func TestViewLookup(t *testing.T) {
	s := newTestSampler(t, Config{})
	links := []Link{{Index: 1, Name: "bond0", SpeedBytes: 2.5e8}, {Index: 2, Name: "eth0"}, {Index: 3, Name: "eth1"}}
	var got DeviceRates
	var found bool
	s.AddHook(func(v View) { got, found = v.Lookup("eth0") })
	now := time.Unix(5000, 0)
	var rx uint64
	for i := range 200 {
		now = now.Add(100 * time.Millisecond)
		rx += 1000
		stats := []Stat{{Index: 1, Counters: Counters{RxBytes: rx}}, {Index: 2, Counters: Counters{RxBytes: rx}}, {Index: 3}}
		if i%2 == 1 {
			// The kernel's order changed: the position hints must not
			// mix devices up.
			stats[0], stats[1] = stats[1], stats[0]
		}
		s.Step(now, stats, links, 1)
	}
	if !found {
		t.Fatal("eth0 not found by the hook")
	}
	if got.Rate[Receive] != 10000 || got.Peak[Receive][Window60s] != 10000 {
		t.Errorf("rate %v, 60s peak %v; want 10000 B/s", got.Rate[Receive], got.Peak[Receive][Window60s])
	}
	if got.WindowBytes[Receive][Window1s] != 10000 || got.WindowSeconds[Window1s] != 1 {
		t.Errorf("1s window: %d bytes over %v s; want 10000 over 1", got.WindowBytes[Receive][Window1s], got.WindowSeconds[Window1s])
	}
	if b := got.WindowBytes[Receive][Window10s]; b < 100000 || b > 110000 || got.WindowSeconds[Window10s] != 10 {
		t.Errorf("10s window: %d bytes over %v s; want 100000..110000 over 10", b, got.WindowSeconds[Window10s])
	}
	// 20 s of history: the 60 s window covers what there is.
	if s := got.WindowSeconds[Window60s]; s < 19 || s > 20 {
		t.Errorf("60s window covers %v s, want the ~20 s of history", s)
	}
	if d := snapshotOf(t, s, "bond0"); d.Bytes[Receive] != rx {
		t.Errorf("bond0 total %d, want %d", d.Bytes[Receive], rx)
	}
}

// countingStats is a stats source whose counters grow at every read.
type countingStats struct {
	mu sync.Mutex
	n  uint64
}

func (c *countingStats) Read(dst []Stat) ([]Stat, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return append(dst[:0], Stat{Name: "eth0", Counters: Counters{RxBytes: c.n * 1000, RxPackets: c.n}}), nil
}
func (c *countingStats) Name() string { return "fake" }
func (c *countingStats) Close() error { return nil }

// Run samples on its own goroutine while scrapes take snapshots and a
// hook reads views; `make test` runs this under -race.
func TestRunSnapshotRace(t *testing.T) {
	src := &countingStats{}
	var hooked atomic.Int64
	s, err := New(Config{Interval: 10 * time.Millisecond, Stats: src})
	if err != nil {
		t.Fatal(err)
	}
	s.AddHook(func(v View) {
		if _, ok := v.Lookup("eth0"); ok {
			hooked.Add(1)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var snap Snapshot
	for ctx.Err() == nil {
		s.Snapshot(&snap)
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Snapshot(&snap)
	if snap.Samples < 5 || len(snap.Devices) != 1 || hooked.Load() == 0 {
		t.Fatalf("after 300 ms at 10 ms: %d samples, %d devices, %d hook calls", snap.Samples, len(snap.Devices), hooked.Load())
	}
	if !s.Ready() {
		t.Error("not ready after sampling")
	}
}
