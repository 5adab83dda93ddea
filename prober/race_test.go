package prober

import (
	"context"
	"fmt"
	"sync"
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
