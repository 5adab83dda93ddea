package prober

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"time"
)

// conn is one ICMP socket; the Linux implementation is in conn_linux.go.
type conn interface {
	// send sends one echo request; it returns the userspace send time.
	send(b []byte, dst netip.Addr, o *sendOptions) error
	// run reads until close, handing what it reads to h; it serves conns
	// that are not batched.
	run(h handler)
	// batched reports whether the sender reads the conn with drain
	// instead of a reader goroutine (once the reader has handed over).
	batched() bool
	// drain hands everything queued to h without blocking.
	drain(h handler)
	close() error
	info() SocketInfo
	// ipHeader says whether received packets start with an IP header.
	ipHeader() bool
	// link says what became of the device the socket is bound to (linkOK
	// for an unbound socket); withUp also asks whether it is up.
	link(withUp bool) linkStatus
}

// linkStatus is the state of a bound socket's device.
type linkStatus uint8

const (
	// linkOK: unbound, or the device bound to still has its name (and is
	// up, if asked), or the kernel cannot tell.
	linkOK linkStatus = iota
	// linkDown: the device is there but down.
	linkDown
	// linkGone: no device has the name any more, or another one does (the
	// device was deleted and re-created: same name, new index). The
	// socket stays bound to the old index and can never send again.
	linkGone
)

// sendOptions are the per-packet options of one target.
type sendOptions struct {
	src  netip.Addr
	tos  int
	ttl  int
	zone int
	// key is the SO_TIMESTAMPING key of the packet (target key << 16 | seq).
	key uint32
}

// handler receives what a conn reads.
type handler interface {
	onMessage(c conn, from netip.Addr, b []byte, rx int64, rxKernel bool, ttl int)
	onQueuedError(c conn, dst, from netip.Addr, typ, code uint8, quoted []byte)
	onTxStamp(c conn, key uint32, wall int64)
}

type connKey struct {
	v6  bool
	dev string
}

type connEntry struct {
	c       conn
	err     error
	retryAt time.Duration
}

// openRetry is how long a failed open waits before the next attempt, unless
// a link change (LinkChanged, SetTargets) makes a device-bound one sooner.
const openRetry = 10 * time.Second

func (p *Prober) closeConns() {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	for k, e := range p.conns {
		if e.c != nil {
			_ = e.c.close()
		}
		delete(p.conns, k)
	}
}

// conn returns the socket for a family and device, opening it (and its
// reader) on first use. A failed open is retried after openRetry, or at
// the next probe after a link change for a device-bound socket.
func (p *Prober) conn(v6 bool, dev string) (conn, error) {
	k := connKey{v6, dev}
	p.connMu.Lock()
	defer p.connMu.Unlock()
	e := p.conns[k]
	if e != nil && e.c != nil {
		return e.c, nil
	}
	now := p.mono()
	if e != nil && now < e.retryAt {
		return nil, e.err
	}
	var id [2]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("echo id: %w", err)
	}
	c, err := p.open(v6, p.cfg.Mode, dev, uint16(id[0])<<8|uint16(id[1]))
	if err != nil {
		p.conns[k] = &connEntry{err: err, retryAt: now + p.openRetry}
		return nil, err
	}
	p.conns[k] = &connEntry{c: c}
	if c.batched() {
		p.batched.Store(true)
	}
	// The reader serves the socket until a reply proves the kernel stamps
	// on arrival, or for good if the socket is not batched.
	go c.run(p)
	return c, nil
}

// LinkChanged tells the prober that the network interfaces changed (a
// device added, removed, renamed or re-created). The sender then re-checks
// every device-bound socket on its own thread: one whose device is gone or
// was re-created (the name now has another index) is closed, so that the
// next probe opens one bound to the device that has the name now, and a
// failed open of a device-bound socket is retried at the next probe rather
// than after openRetry. Calls only wake the sender and coalesce: it is
// cheap and safe to call often, from any goroutine.
func (p *Prober) LinkChanged() {
	select {
	case p.links <- struct{}{}:
	default:
	}
}

// checkLinks re-checks the device-bound sockets (sender only), as
// LinkChanged says; with prune (after SetTargets) it also closes those of
// devices no target names any more, so that VM churn does not pile up
// sockets bound to long-gone vifs. One ioctl per bound socket, no
// allocation unless something is closed.
func (p *Prober) checkLinks(prune bool) {
	var used map[connKey]bool
	if prune {
		used = map[connKey]bool{}
		for _, st := range *p.targets.Load() {
			dev := st.cfg.Interface
			if dev == "" {
				continue
			}
			st.mu.Lock()
			a := st.addr
			st.mu.Unlock()
			if a.IsValid() {
				used[connKey{a.Is6(), dev}] = true
			} else {
				// Not resolved yet: either family may come.
				used[connKey{false, dev}], used[connKey{true, dev}] = true, true
			}
		}
	}
	drop := p.dropList[:0]
	p.connMu.Lock()
	for k, e := range p.conns {
		if k.dev == "" {
			continue
		}
		switch {
		case prune && !used[k]:
			delete(p.conns, k)
			if e.c != nil {
				drop = append(drop, e.c)
			}
		case e.c == nil:
			e.retryAt = 0 // the device may be back: try at the next probe
		case e.c.link(false) == linkGone:
			delete(p.conns, k)
			drop = append(drop, e.c)
		}
	}
	p.connMu.Unlock()
	p.closeDropped(drop)
}

// dropConn closes c, the socket of k, after a send said its device is gone
// (sender only, holding no target's lock: close waits for c's reader). The
// next probe opens a new one.
func (p *Prober) dropConn(k connKey, c conn) {
	drop := p.dropList[:0]
	p.connMu.Lock()
	if e := p.conns[k]; e != nil && e.c == c {
		delete(p.conns, k)
		drop = append(drop, c)
	}
	p.connMu.Unlock()
	p.closeDropped(drop)
}

// closeDropped closes the conns taken out of p.conns. Their probes in
// flight are lost at their deadlines as any unanswered probe is, so that
// sent = replies + lost + in flight still holds.
func (p *Prober) closeDropped(drop []conn) {
	for i, c := range drop {
		info := c.info()
		if err := c.close(); err != nil {
			p.logger.Warn("closing an ICMP socket failed", "interface", info.Interface, "err", err)
		}
		drop[i] = nil
	}
	p.dropList = drop[:0]
}

// CheckSocket opens and closes the socket a prober in mode would use for
// the family, so that a command can fail at once with a clear error (no
// CAP_NET_RAW, ping_group_range) rather than count send errors.
func CheckSocket(v6 bool, mode Mode, dev string) error {
	c, err := openConn(v6, mode, dev, 0)
	if err != nil {
		return err
	}
	return c.close()
}
