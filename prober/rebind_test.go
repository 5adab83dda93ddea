package prober

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// waitFor waits up to d (generous) for cond to hold.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	nstest.Eventually(t, d, func() (bool, string) { return cond(), what })
}

// TestLinkChangedFake checks the socket bookkeeping of a link change with
// fake sockets whose sends never fail, so that only LinkChanged can find
// a stale one: it closes the socket of a re-created device and no other,
// and a reload closes the socket of a device no target names any more.
func TestLinkChangedFake(t *testing.T) {
	links := newFakeLinks("vif1.0", "vif2.0")
	links.sendsAnyway = true
	p, err := New(Config{Interval: 30 * time.Millisecond, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	opened := map[string][]*fakeConn{}
	p.open = func(v6 bool, mode Mode, dev string, id uint16) (conn, error) {
		c, err := links.open(p, v6, dev, func(uint16) action { return action{rtt: time.Millisecond} }, nil)
		if err == nil {
			mu.Lock()
			opened[dev] = append(opened[dev], c.(*fakeConn))
			mu.Unlock()
		}
		return c, err
	}
	a := Target{Name: "a", Host: "198.18.0.2", Interface: "vif1.0"}
	b := Target{Name: "b", Host: "198.18.0.3", Interface: "vif2.0"}
	c := Target{Name: "c", Host: "198.18.0.4"}
	if err := p.SetTargets([]Target{a, b, c}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	closed := func(dev string) []bool {
		mu.Lock()
		defer mu.Unlock()
		var out []bool
		for _, f := range opened[dev] {
			f.mu.Lock()
			out = append(out, f.closed)
			f.mu.Unlock()
		}
		return out
	}
	waitFor(t, 10*time.Second, "one socket per device", func() bool {
		return len(closed("vif1.0")) == 1 && len(closed("vif2.0")) == 1 && len(closed("")) == 1
	})

	links.recreate("vif1.0")
	p.LinkChanged()
	waitFor(t, 10*time.Second, "the re-created vif1.0's socket closed and a new one open", func() bool {
		cl := closed("vif1.0")
		return cl[0] && len(cl) == 2 && !cl[1]
	})
	if closed("vif2.0")[0] || closed("")[0] {
		t.Errorf("sockets of unchanged devices closed: vif2.0 %v, unbound %v", closed("vif2.0"), closed(""))
	}

	if err := p.SetTargets([]Target{a, c}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "vif2.0's socket closed once no target names it", func() bool { return closed("vif2.0")[0] })
	if closed("")[0] {
		t.Errorf("the unbound socket closed by a reload that kept its target")
	}
	for _, ts := range p.Snapshot().Targets {
		if ts.SendErrors != 0 || ts.Failure.Cause != "" {
			t.Errorf("%s: %d send errors, failure %+v; want none", ts.Name, ts.SendErrors, ts.Failure)
		}
	}
}
