package prober

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRaceReloadWhileProbing reloads targets and takes snapshots while the
// sender and the fake reader work; run under -race (make test does).
func TestRaceReloadWhileProbing(t *testing.T) {
	p, err := New(Config{Interval: time.Millisecond, Timeout: 20 * time.Millisecond, Observer: newRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	p.open = func(v6 bool, mode Mode, dev string, id uint16) (conn, error) {
		return &fakeConn{v6: v6, h: p, queue: make(chan func(), 4096), stop: make(chan struct{}), script: func(seq uint16) action {
			return action{rtt: time.Duration(seq%7) * time.Millisecond, drop: seq%5 == 0, dup: seq%11 == 0, after: time.Duration(seq%3) * 10 * time.Millisecond}
		}}, nil
	}
	sets := [][]Target{
		{{Name: "a", Host: "198.18.0.1"}, {Name: "b", Host: "2001:2::1"}},
		{{Name: "a", Host: "198.18.0.1"}, {Name: "c", Host: "198.18.0.3", Size: 100}},
	}
	if err := p.SetTargets(sets[0]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			if err := p.SetTargets(sets[i%2]); err != nil {
				t.Error(err)
				return
			}
			for _, ts := range p.Snapshot().Targets {
				if ts.Replies+ts.Lost+uint64(ts.InFlight) != ts.Sent {
					t.Errorf("%s: sent %d != replies %d + lost %d + in flight %d", ts.Name, ts.Sent, ts.Replies, ts.Lost, ts.InFlight)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got := fmt.Sprint(p.Targets()); got != "[a b]" && got != "[a c]" {
		t.Errorf("targets %s", got)
	}
}

// TestRaceLinkChanged calls LinkChanged from several goroutines while
// devices are removed and re-created, targets reloaded and snapshots taken,
// with fake sockets that fail with ENODEV once their device is re-created:
// run under -race (make test does). No socket is used after it was closed,
// every socket opened is closed by the end, and sent = replies + lost + in
// flight holds throughout.
func TestRaceLinkChanged(t *testing.T) {
	devs := []string{"vif0.0", "vif1.0", "vif2.0"}
	links := newFakeLinks(devs...)
	p, err := New(Config{Interval: time.Millisecond, Timeout: 20 * time.Millisecond, Observer: newRecorder(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var afterClose atomic.Int64
	var mu sync.Mutex
	var opened []*fakeConn
	p.open = func(v6 bool, mode Mode, dev string, id uint16) (conn, error) {
		c, err := links.open(p, v6, dev, func(seq uint16) action {
			return action{rtt: time.Duration(seq%5) * time.Millisecond, drop: seq%7 == 0, after: time.Duration(seq%3) * 5 * time.Millisecond}
		}, &afterClose)
		if err == nil {
			mu.Lock()
			opened = append(opened, c.(*fakeConn))
			mu.Unlock()
		}
		return c, err
	}
	sets := [][]Target{
		{{Name: "a4", Host: "198.18.0.1", Interface: devs[0]}, {Name: "a6", Host: "2001:2::1", Interface: devs[0]},
			{Name: "b", Host: "198.18.0.2", Interface: devs[1]}, {Name: "c", Host: "198.18.0.3", Interface: devs[2]}, {Name: "d", Host: "198.18.0.4"}},
		{{Name: "a4", Host: "198.18.0.1", Interface: devs[0]}, {Name: "b", Host: "198.18.0.2", Interface: devs[1]}, {Name: "d", Host: "198.18.0.4"}},
	}
	if err := p.SetTargets(sets[0]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p.LinkChanged()
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			dev := devs[i%len(devs)]
			if i%4 == 1 {
				links.remove(dev)
			} else {
				links.recreate(dev)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			if i%10 == 0 {
				if err := p.SetTargets(sets[(i/10)%2]); err != nil {
					t.Error(err)
					return
				}
			}
			for _, ts := range p.Snapshot().Targets {
				if ts.Replies+ts.Lost+uint64(ts.InFlight) != ts.Sent {
					t.Errorf("%s: sent %d != replies %d + lost %d + in flight %d", ts.Name, ts.Sent, ts.Replies, ts.Lost, ts.InFlight)
				}
			}
			_ = p.CannotProbe()
			time.Sleep(time.Millisecond)
		}
	}()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := afterClose.Load(); n != 0 {
		t.Errorf("%d sends on closed sockets", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, f := range opened {
		f.mu.Lock()
		if !f.closed {
			t.Errorf("socket bound to %q left open after Run returned", f.dev)
		}
		f.mu.Unlock()
	}
	var errs, replies uint64
	for _, ts := range p.Snapshot().Targets {
		errs += ts.SendErrors
		replies += ts.Replies
	}
	t.Logf("%d sockets opened, %d send errors, %d replies", len(opened), errs, replies)
	if len(opened) <= len(devs)+1 || replies == 0 {
		t.Errorf("%d sockets opened and %d replies: the churn re-opened nothing or nothing answered", len(opened), replies)
	}
}
