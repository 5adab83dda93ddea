//go:build linux

package prober

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// skipUnlessICMP skips when this process can open no ICMP socket at all.
func skipUnlessICMP(t testing.TB, v6 bool, mode Mode) {
	t.Helper()
	c, err := openConn(v6, mode, "", 1)
	if err != nil {
		t.Skipf("skipping: cannot open an ICMP socket (%v): run as root or allow ping_group_range", err)
	}
	_ = c.close()
}

func runCount(t *testing.T, cfg Config, targets []Target) (*Prober, *recorder) {
	t.Helper()
	rec := newRecorder()
	cfg.Observer, cfg.Spikes = rec, rec
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTargets(targets); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	defer func() { t.Logf("Run took %v", time.Since(start)) }()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Run did not finish its %d probes per target", cfg.Count)
	}
	return p, rec
}

func TestLoopback(t *testing.T) {
	for _, tc := range []struct {
		name string
		host string
		v6   bool
	}{
		{"ipv4", "127.0.0.1", false},
		{"ipv6", "::1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skipUnlessICMP(t, tc.v6, ModeAuto)
			const n = 20
			p, rec := runCount(t, Config{Interval: 5 * time.Millisecond, Timeout: time.Second, Count: n},
				// lo-huge: replies beyond the batch buffers, read one by one.
				[]Target{{Name: "lo", Host: tc.host}, {Name: "lo-big", Host: tc.host, Size: 1400, TTL: 7, TOS: 0x10}, {Name: "lo-huge", Host: tc.host, Size: 9000}})
			s := p.Snapshot()
			if len(s.Targets) != 3 {
				t.Fatalf("snapshot has %d targets, want 3", len(s.Targets))
			}
			for _, ts := range s.Targets {
				if ts.Sent != n || ts.Replies != n || ts.Lost != 0 || ts.Late != 0 || ts.Duplicates != 0 {
					t.Errorf("%s: sent %d replies %d lost %d late %d dups %d, want %d replies and nothing else", ts.Name, ts.Sent, ts.Replies, ts.Lost, ts.Late, ts.Duplicates, n)
				}
				if ts.Source != SourceKernel {
					t.Errorf("%s: timestamp source %q, want %q", ts.Name, ts.Source, SourceKernel)
				}
				if ts.Peaks[0] <= 0 || ts.Peaks[0] < ts.LastRTT {
					t.Errorf("%s: 1s peak %v, last RTT %v", ts.Name, ts.Peaks[0], ts.LastRTT)
				}
				if got := len(rec.rttsOf(ts.Name)); got != n {
					t.Errorf("%s: observer saw %d RTTs, want %d", ts.Name, got, n)
				}
				for _, rtt := range rec.rttsOf(ts.Name) {
					if rtt <= 0 || rtt > time.Second {
						t.Errorf("%s: RTT %v out of (0, 1s]", ts.Name, rtt)
					}
				}
			}
			for _, r := range rec.allResults() {
				if r.Kind == ResultReply && r.Target == "lo-big" && r.Size != 8+1400 {
					t.Errorf("lo-big reply size %d, want %d", r.Size, 8+1400)
				}
				if r.Kind == ResultReply && r.TTL <= 0 {
					t.Errorf("%s: reply TTL %d, want > 0", r.Target, r.TTL)
				}
			}
			if len(s.Sockets) != 0 {
				t.Errorf("sockets %+v still open after Run returned", s.Sockets)
			}
		})
	}
}

func TestTargetValidation(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		t    Target
	}{
		{"empty host", Target{Name: "x"}},
		{"payload too small", Target{Host: "127.0.0.1", Size: 8}},
		{"payload too large v4", Target{Host: "127.0.0.1", Size: 65508}},
		{"payload too large v6", Target{Host: "::1", Size: 65528}},
		{"bad network", Target{Host: "localhost", Network: "tcp"}},
		{"bad tos", Target{Host: "127.0.0.1", TOS: 256}},
		{"bad ttl", Target{Host: "127.0.0.1", TTL: -1}},
		{"family mismatch", Target{Host: "127.0.0.1", Source: netip.MustParseAddr("::1")}},
		{"long interface", Target{Host: "127.0.0.1", Interface: "a-very-long-interface-name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.SetTargets([]Target{{Host: "127.0.0.2"}, tc.t}); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("SetTargets(%+v) = %v, want ErrInvalidConfig", tc.t, err)
			}
			if len(p.Targets()) != 0 {
				t.Fatalf("a rejected target set was partly applied: %v", p.Targets())
			}
		})
	}
	if err := p.SetTargets([]Target{{Host: "127.0.0.1"}, {Name: "127.0.0.1", Host: "::1"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("duplicate names accepted: %v", err)
	}
	if _, err := New(Config{Interval: time.Millisecond, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	p2, _ := New(Config{Interval: time.Millisecond, Timeout: time.Minute})
	if err := p2.SetTargets([]Target{{Host: "127.0.0.1"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("60000 probes in flight accepted: %v", err)
	}
}

// TestBatchedReadsKeepArrivalTimes: once the sender reads the socket in
// batches, up to drainEvery after a reply arrived, the RTT must still be
// the arrival's. Read-time stamps (the kernel's behaviour before its
// netstamp key is on) would spread loopback RTTs over [0, drainEvery).
func TestBatchedReadsKeepArrivalTimes(t *testing.T) {
	skipUnlessICMP(t, false, ModeAuto)
	rec := newRecorder()
	p, err := New(Config{Interval: 3 * time.Millisecond, Timeout: time.Second, Count: 200, Observer: rec, Spikes: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTargets([]Target{{Name: "lo", Host: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	batched := false
	for !batched {
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) before the socket was batched", err)
		case <-time.After(5 * time.Millisecond):
		}
		for _, si := range p.Snapshot().Sockets {
			batched = batched || si.Batched
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rtts := rec.rttsOf("lo")
	fast := 0
	for _, rtt := range rtts {
		if rtt < time.Millisecond {
			fast++
		}
	}
	if len(rtts) != 200 || fast < len(rtts)*9/10 {
		t.Errorf("%d RTTs, %d under 1 ms: want 200, nearly all (loopback answers within microseconds)", len(rtts), fast)
	}
}

func TestCmsgIter(t *testing.T) {
	one := appendCmsgInt(nil, 1, 2, 7)
	two := appendCmsgInt(append([]byte(nil), one...), 3, 4, 9)
	bad := append([]byte(nil), one...)
	bad[0] = 0xff // length beyond the buffer
	for _, tc := range []struct {
		name string
		b    []byte
		want [][2]int32
	}{
		{"empty", nil, nil},
		{"short", one[:5], nil},
		{"one", one, [][2]int32{{1, 2}}},
		{"two", two, [][2]int32{{1, 2}, {3, 4}}},
		{"bad length", bad, nil},
		{"second truncated", two[:len(one)+4], [][2]int32{{1, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := cmsgIter{tc.b}
			var got [][2]int32
			for {
				l, ty, d, ok := it.next()
				if !ok {
					break
				}
				if len(d) != 4 {
					t.Errorf("data length %d, want 4", len(d))
				}
				got = append(got, [2]int32{l, ty})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// BenchmarkLoopbackProbes is the prober's whole cost per probe with real
// sockets: 50 targets on loopback addresses, each probed every 5 ms
// (10,000 probes/s), sends, batched reads of stamps and replies, accounting.
// It reports the process's CPU per probe from getrusage; on loopback the
// kernel answers inside the sendmsg, so the figure includes the echo
// reply's own path. Compare runs of the same machine only.
func BenchmarkLoopbackProbes(b *testing.B) {
	skipUnlessICMP(b, false, ModeAuto)
	const n = 50
	var targets []Target
	for i := range n {
		targets = append(targets, Target{Name: fmt.Sprintf("lo%d", i), Host: fmt.Sprintf("127.0.0.%d", i+1)})
	}
	p, err := New(Config{Interval: 5 * time.Millisecond, Timeout: time.Second, Count: max(1, b.N/n), Observer: nopObserver{}})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.SetTargets(targets); err != nil {
		b.Fatal(err)
	}
	var r0, r1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	b.ResetTimer()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	var sent, replies uint64
	for _, ts := range p.Snapshot().Targets {
		sent, replies = sent+ts.Sent, replies+ts.Replies
	}
	if replies != sent {
		b.Fatalf("%d replies to %d probes", replies, sent)
	}
	cpu := r1.Utime.Nano() - r0.Utime.Nano() + r1.Stime.Nano() - r0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(sent), "cpu-ns/probe")
	b.ReportMetric(0, "ns/op")
}

// allResults returns a copy of every result the recorder has seen (the
// real-kernel tests read them all).
func (r *recorder) allResults() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.results...)
}
