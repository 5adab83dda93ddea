package prober

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// flakyResolver fails a name's first lookups, then answers.
type flakyResolver struct {
	mu    sync.Mutex
	fails map[string]int
	addrs map[string]netip.Addr
}

func (r *flakyResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails[host] > 0 {
		r.fails[host]--
		return nil, errors.New("temporary failure in name resolution")
	}
	a, ok := r.addrs[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return []netip.Addr{a}, nil
}

// TestResolveRetried: a name that fails at first is retried and then
// probed; a name that never resolves is counted and never stops the
// others.
func TestResolveRetried(t *testing.T) {
	res := &flakyResolver{
		fails: map[string]int{"late.test": 1},
		addrs: map[string]netip.Addr{"late.test": netip.MustParseAddr("198.18.0.3"), "v6only.test": netip.MustParseAddr("2001:2::3")},
	}
	p, err := New(Config{Interval: 20 * time.Millisecond, Timeout: 100 * time.Millisecond, Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	p.open = func(v6 bool, mode Mode, dev string, id uint16) (conn, error) {
		return &fakeConn{v6: v6, h: p, queue: make(chan func(), 4096), stop: make(chan struct{}), script: func(uint16) action { return action{rtt: time.Millisecond} }}, nil
	}
	if err := p.SetTargets([]Target{
		{Name: "ok", Host: "198.18.0.2"},
		{Name: "late", Host: "late.test"},
		{Name: "never", Host: "never.test"},
		{Name: "wrong-family", Host: "v6only.test", Network: "ip4"},
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]TargetStats{}
	for _, ts := range p.Snapshot().Targets {
		got[ts.Name] = ts
	}
	if ts := got["ok"]; ts.Replies == 0 || ts.ResolveErrors != 0 {
		t.Errorf("ok: %+v", ts)
	}
	if ts := got["late"]; ts.ResolveErrors != 1 || ts.Replies == 0 || ts.Addr != netip.MustParseAddr("198.18.0.3") || ts.ResolveError != "" {
		t.Errorf("late: resolve errors %d, replies %d, addr %v, error %q; want 1, > 0, 198.18.0.3, none", ts.ResolveErrors, ts.Replies, ts.Addr, ts.ResolveError)
	}
	for _, name := range []string{"never", "wrong-family"} {
		ts := got[name]
		if ts.ResolveErrors < 2 || ts.Sent != 0 || ts.Addr.IsValid() || ts.ResolveError == "" {
			t.Errorf("%s: resolve errors %d (want retries), sent %d, addr %v, error %q", name, ts.ResolveErrors, ts.Sent, ts.Addr, ts.ResolveError)
		}
	}
}
