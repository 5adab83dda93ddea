package prober

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

const (
	resolveTick       = time.Second
	resolveTimeout    = 5 * time.Second
	resolveRetryFirst = 2 * time.Second
)

// resolveLoop resolves the targets given by name, re-resolves them every
// ResolveInterval and retries failures with a backoff (2 s doubling up to
// ResolveInterval). A failure is counted and never stops the prober.
func (p *Prober) resolveLoop(ctx context.Context) {
	t := time.NewTicker(resolveTick)
	defer t.Stop()
	for {
		p.resolveDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Prober) resolveDue(ctx context.Context) {
	for _, st := range *p.targets.Load() {
		if ctx.Err() != nil {
			return
		}
		if _, err := netip.ParseAddr(st.cfg.Host); err == nil {
			continue // a literal address needs no resolution
		}
		now := p.mono()
		st.mu.Lock()
		due := st.nextResolve <= now
		st.mu.Unlock()
		if !due {
			continue
		}
		a, err := p.resolve(ctx, st.cfg)
		if ctx.Err() != nil {
			return
		}
		st.mu.Lock()
		if err != nil {
			st.resolveErrors++
			st.resolveFails++
			st.resolveErr = err.Error()
			back := resolveRetryFirst << min(st.resolveFails-1, 16)
			if back > p.cfg.ResolveInterval {
				back = p.cfg.ResolveInterval
			}
			st.nextResolve = p.mono() + back
			// The last good address stays in use: a resolver outage
			// must not stop probing.
		} else {
			st.resolveFails, st.resolveErr = 0, ""
			if a != st.addr {
				st.addr = a
				st.conn = nil // rebuild the packet for the new address's socket
			}
			st.nextResolve = p.mono() + p.cfg.ResolveInterval
		}
		st.mu.Unlock()
	}
}

// resolve returns the first address of a target's name in its network.
func (p *Prober) resolve(ctx context.Context, t Target) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := p.cfg.Resolver.LookupNetIP(ctx, t.Network, t.Host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %q: %w: %w", t.Host, ErrResolve, err)
	}
	for _, a := range addrs {
		a = a.Unmap()
		if t.Network == "ip4" && !a.Is4() || t.Network == "ip6" && !a.Is6() {
			continue
		}
		if t.Source.IsValid() && t.Source.Unmap().Is4() != a.Is4() {
			continue
		}
		if t.Size > MaxPayloadSize4 && a.Is4() {
			continue
		}
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("resolve %q: no %s address: %w", t.Host, t.Network, ErrResolve)
}
