// Package prober sends ICMP echo requests to targets continuously and
// accounts for their replies: RTT from kernel timestamps, loss, late
// replies, duplicates, reordering, RFC 3550 jitter, peak RTT per trailing
// window and RTT spikes.
//
// One socket per address family (and bound interface) carries the probes
// of every target. Replies are matched by (target address, echo id,
// sequence) and by a random per-run token and a target key carried in the
// payload, so replies to an earlier run or to another process are never
// taken for ours. Observations go to an Observer; counters are read with
// Snapshot. The package knows nothing of Prometheus.
package prober

import (
	"container/heap"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netburst/netburst/internal/ratelog"
	"github.com/netburst/netburst/spike"
)

// Observer receives every RTT measured within the timeout. It is called
// from the receive path and must not block.
type Observer interface {
	ObserveRTT(target string, rtt time.Duration)
}

// ResultObserver may be implemented by an Observer to receive every probe
// outcome (replies, late replies, duplicates, losses, ICMP errors, send
// errors), as `netburst ping` prints them. It must not block.
type ResultObserver interface {
	ObserveResult(Result)
}

// Resolver resolves target names; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ResultKind classifies a probe outcome.
type ResultKind int

// Probe outcomes.
const (
	// ResultReply is a reply within the timeout; RTT is set.
	ResultReply ResultKind = iota
	// ResultLate is a reply after the timeout (the probe was lost).
	ResultLate
	// ResultDuplicate is a second reply to one probe.
	ResultDuplicate
	// ResultLost is a probe without reply within the timeout.
	ResultLost
	// ResultICMPError is an ICMP error (unreachable, time exceeded...)
	// about one of our probes.
	ResultICMPError
	// ResultSendError is a probe the kernel refused to send; Err is set.
	ResultSendError
)

// String names the kind.
func (k ResultKind) String() string {
	switch k {
	case ResultReply:
		return "reply"
	case ResultLate:
		return "late"
	case ResultDuplicate:
		return "duplicate"
	case ResultLost:
		return "lost"
	case ResultICMPError:
		return "icmp_error"
	case ResultSendError:
		return "send_error"
	}
	return fmt.Sprintf("ResultKind(%d)", int(k))
}

// Result is one probe outcome.
type Result struct {
	Kind   ResultKind
	Target string
	Addr   netip.Addr
	// From is the sender of the reply or ICMP error.
	From netip.Addr
	Seq  uint16
	// RTT is set for replies, late replies and duplicates.
	RTT    time.Duration
	Source TimestampSource
	// TTL of the reply, -1 if unknown.
	TTL int
	// Size of the ICMP message received (header and payload).
	Size int
	// ICMPType and ICMPCode of an ICMP error.
	ICMPType, ICMPCode uint8
	// Err and Cause are set for send errors.
	Err   error
	Cause Cause
}

// TargetStats is a target's state in a Snapshot.
type TargetStats struct {
	Name string
	Host string
	// Addr is the address probed; invalid while the name does not resolve.
	Addr netip.Addr
	// ResolveError is the last resolution error, "" once resolved.
	ResolveError string
	// Counters since the target was added. Sent counts every probe
	// attempted; one the kernel refused is also in SendErrors and Lost,
	// so that Sent = Replies + Lost + InFlight. Late replies are also in
	// Lost; duplicates are in neither Replies nor Late.
	Sent, Replies, Lost, Late, Duplicates, Reordered uint64
	SendErrors, ICMPErrors, ResolveErrors, Spikes    uint64
	// InFlight is the number of probes waiting for a reply.
	InFlight int
	// Jitter is the RFC 3550 interarrival jitter of the RTTs.
	Jitter time.Duration
	// Peaks holds the peak RTT in each of PeakWindows (0: no reply).
	Peaks [peakWindows]time.Duration
	// LastRTT is the latest in-time RTT.
	LastRTT time.Duration
	// Source is where the latest RTT's timestamps came from.
	Source TimestampSource
	// Mode is the socket kind in use ("datagram" or "raw"), "" before the
	// first send.
	Mode Mode
	// Failure is why the latest send attempt failed; its Cause is ""
	// after a successful send.
	Failure SendFailure
}

// SocketInfo describes one open socket.
type SocketInfo struct {
	IPv6      bool
	Mode      Mode
	Interface string
	// EchoID is the echo identifier the socket's probes carry.
	EchoID uint16
	// TxStamps and RxStamps say whether the kernel accepted the
	// timestamping options.
	TxStamps, RxStamps bool
	// Batched says the sender reads the socket in batches (after the
	// kernel proved it stamps replies on arrival) rather than a reader
	// woken by every packet.
	Batched bool
}

// Snapshot is the prober's state at one instant.
type Snapshot struct {
	Time    time.Time
	Targets []TargetStats
	Sockets []SocketInfo
	// Foreign counts echo replies with another echo id or run token:
	// other processes' pings and replies to an earlier run.
	Foreign uint64
	// Unmatched counts replies with our id and token that match no probe
	// (unknown target key, wrong source address, sequence never sent).
	Unmatched uint64
	// Malformed counts packets the parser rejected (truncated, not echo).
	Malformed uint64
}

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

// Prober probes a set of targets. Create it with New, set targets with
// SetTargets (before or while Run runs) and run it with Run.
type Prober struct {
	cfg   Config
	token [tokenLen]byte
	epoch time.Time

	// targets maps a target key to its state; replaced, never mutated,
	// so the receive path reads it without a lock.
	targets atomic.Pointer[map[uint16]*targetState]
	updates chan struct{}
	// wake tells the sender that a counted target may have finished.
	wake chan struct{}
	// links tells the sender to re-check the device-bound sockets.
	links   chan struct{}
	setMu   sync.Mutex // serialises SetTargets
	nextKey uint16

	connMu sync.Mutex
	conns  map[connKey]*connEntry
	// drainList is drain's reused list of batched conns, dropList
	// checkLinks' of conns to close (sender only).
	drainList, dropList []conn

	// logger and failLog report targets that cannot send: one line per
	// target and cause and interval.
	logger  *slog.Logger
	failLog *ratelog.Logger

	foreign, unmatched, malformed atomic.Uint64
	running                       atomic.Bool
	// batched is set once a socket the sender drains is open (see
	// conn.batched); drainedAt is the monotonic time the last drain began.
	batched   atomic.Bool
	drainedAt atomic.Int64

	// open opens a socket; tests replace it with a fake.
	open func(v6 bool, mode Mode, dev string, rawID uint16) (conn, error)
	// openRetry is how long a failed open waits (the openRetry constant;
	// tests that must not recover by it set it longer).
	openRetry time.Duration
}

type connEntry struct {
	c       conn
	err     error
	retryAt time.Duration
}

// openRetry is how long a failed open waits before the next attempt, unless
// a link change (LinkChanged, SetTargets) makes a device-bound one sooner.
const openRetry = 10 * time.Second

// New returns a prober with cfg's defaults filled in.
func New(cfg Config) (*Prober, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Spikes == nil {
		cfg.Spikes = spike.Discard{}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Prober{
		cfg: cfg, epoch: time.Now(), conns: map[connKey]*connEntry{}, open: openConn, openRetry: openRetry,
		updates: make(chan struct{}, 1), wake: make(chan struct{}, 1), links: make(chan struct{}, 1),
		logger: logger, failLog: ratelog.New(logger, 0),
	}
	if _, err := rand.Read(p.token[:]); err != nil {
		return nil, fmt.Errorf("run token: %w", err)
	}
	var k [2]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("target key: %w", err)
	}
	p.nextKey = uint16(k[0])<<8 | uint16(k[1])
	empty := map[uint16]*targetState{}
	p.targets.Store(&empty)
	return p, nil
}

// mono is the prober's monotonic clock.
func (p *Prober) mono() time.Duration { return time.Since(p.epoch) }

// SetTargets replaces the target set. Every target is validated first: if
// one is invalid, nothing changes and the error lists every problem.
// Targets whose name and options are unchanged keep their counters and
// schedule state; the others start afresh.
func (p *Prober) SetTargets(ts []Target) error {
	p.setMu.Lock()
	defer p.setMu.Unlock()
	var errs []error
	norm := make([]Target, 0, len(ts))
	seen := map[string]bool{}
	for _, t := range ts {
		n, err := t.normalize()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[n.Name] {
			errs = append(errs, fmt.Errorf("target name %q given twice: %w", n.Name, ErrInvalidConfig))
			continue
		}
		seen[n.Name] = true
		if _, err := inFlightSlots(p.interval(n), p.cfg.Timeout); err != nil {
			errs = append(errs, fmt.Errorf("target %q: %w", n.Name, err))
			continue
		}
		norm = append(norm, n)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(norm) > 1<<16-1 {
		return fmt.Errorf("%d targets, at most 65535: %w", len(norm), ErrInvalidConfig)
	}
	old := *p.targets.Load()
	byName := map[string]*targetState{}
	for _, st := range old {
		byName[st.cfg.Name] = st
	}
	next := make(map[uint16]*targetState, len(norm))
	for _, t := range norm {
		if st, ok := byName[t.Name]; ok && st.cfg == t {
			next[st.key] = st
			continue
		}
		key := p.allocKey(old, next)
		next[key] = p.newTarget(t, key)
	}
	p.targets.Store(&next)
	for k, st := range old {
		if next[k] != st {
			// A removed target's failure ends with it: log it afresh
			// if a target of that name fails again.
			p.forgetFailure(st)
		}
	}
	// The sender rebuilds its schedule and re-checks the device-bound
	// sockets (see checkLinks).
	select {
	case p.updates <- struct{}{}:
	default:
	}
	return nil
}

// allocKey picks a target key used neither by the old nor the new set,
// advancing so that a removed target's key is not reused at once (its
// late replies must not count for a newcomer).
func (p *Prober) allocKey(old, next map[uint16]*targetState) uint16 {
	for {
		p.nextKey++
		k := p.nextKey
		if _, ok := old[k]; ok {
			continue
		}
		if _, ok := next[k]; ok {
			continue
		}
		return k
	}
}

func (p *Prober) interval(t Target) time.Duration {
	if t.Interval > 0 {
		return t.Interval
	}
	return p.cfg.Interval
}

// Targets returns the names of the current targets, sorted.
func (p *Prober) Targets() []string {
	m := *p.targets.Load()
	names := make([]string, 0, len(m))
	for _, st := range m {
		names = append(names, st.cfg.Name)
	}
	sort.Strings(names)
	return names
}

// Run probes until ctx ends, or, with Config.Count, until every target
// sent Count probes and each was answered or lost. It may be called once.
// Sockets are opened by the goroutine that calls Run, so they belong to
// that thread's network namespace.
func (p *Prober) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("prober: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.resolveLoop(ctx)
	}()
	err := p.sendLoop(ctx)
	cancel()
	wg.Wait()
	p.closeConns()
	return err
}

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

// schedule is the sender's min-heap of targets by next send time.
type schedule []*targetState

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].next < s[j].next }
func (s schedule) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
func (s *schedule) Push(x any)        { *s = append(*s, x.(*targetState)) }
func (s *schedule) Pop() any {
	old := *s
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	return x
}

// rebuild spreads the targets' sends evenly over the interval: target i
// of n first sends at now + i*interval/n. Targets already running keep
// their sequence numbers.
func (p *Prober) rebuild(now time.Duration) schedule {
	m := *p.targets.Load()
	s := make(schedule, 0, len(m))
	for _, st := range m {
		s = append(s, st)
	}
	sort.Slice(s, func(i, j int) bool { return s[i].cfg.Name < s[j].cfg.Name })
	for i, st := range s {
		iv := st.interval
		st.next = now + time.Duration(int64(iv)*int64(i)/int64(len(s)))
	}
	heap.Init(&s)
	return s
}

// sendLoop sends each target's probes on a deadline schedule: the n-th
// send of a target is due at its start + n x interval, so timer slack
// never accumulates into drift; a sender that fell more than one interval
// behind skips the missed slots instead of bursting.
//
// The sender also reads the batched sockets: at each wake-up it drains
// them before it sends, and while replies may still come it wakes at least
// every drainEvery. No goroutine waits on such a socket, so neither a
// transmit stamp nor a reply wakes anyone: 1,000 targets cost one wake-up
// per quantum instead of three or four per probe, and no wake-up lands in
// the middle of a send, between the scheduler's stamp and the wire.
func (p *Prober) sendLoop(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	s := p.rebuild(p.mono())
	q := quantum(s)
	lastSend, lastDrain := time.Duration(-1), time.Duration(0)
	for {
		now := p.mono()
		if len(s) == 0 && p.cfg.Count > 0 && p.allDone() {
			return nil
		}
		wakeAt := time.Duration(math.MaxInt64)
		if len(s) > 0 {
			wakeAt = s[0].next
		}
		if lastSend >= 0 && now < lastSend+p.cfg.Timeout+drainEvery && p.batched.Load() {
			wakeAt = min(wakeAt, lastDrain+drainEvery)
		}
		if wakeAt > now {
			var wait <-chan time.Time
			if wakeAt != math.MaxInt64 {
				timer.Reset(wakeAt - now)
				wait = timer.C
			}
			select {
			case <-ctx.Done():
				return nil
			case <-p.updates:
				timer.Stop()
				s = p.rebuild(p.mono())
				q = quantum(s)
				p.checkLinks(true)
				continue
			case <-p.links:
				timer.Stop()
				p.checkLinks(false)
				continue
			case <-p.wake:
				timer.Stop()
				p.finishEarly(s)
				continue
			case <-wait:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		now = p.mono()
		// Read what is queued before sweeping: a reply that arrived in
		// time must not be taken for lost because nobody had read it.
		if p.batched.Load() {
			p.drainedAt.Store(int64(now))
			p.drain()
			lastDrain = now
		}
		// Send every probe due within the pacing quantum in one wake-up:
		// 1,000 targets at 1 s would otherwise cost 1,000 timer wake-ups
		// a second.
		for len(s) > 0 && s[0].next <= now+q {
			st := s[0]
			if (*p.targets.Load())[st.key] != st {
				// Removed by SetTargets; the update rebuilds the schedule.
				heap.Pop(&s)
				continue
			}
			res, more := p.probe(st, now)
			lastSend = now
			if res != nil {
				p.deliver(res)
			}
			if !more {
				heap.Pop(&s)
				continue
			}
			st.next += st.interval
			if st.next <= now {
				st.next += (now - st.next + st.interval) / st.interval * st.interval
			}
			if st.next <= now+q {
				// A counted target waiting for its last deadline: never
				// twice in one batch.
				st.next = now + q + 1
			}
			heap.Fix(&s, 0)
		}
	}
}

// drainEvery is how long a batched socket may go unread while replies can
// still come. Replies keep their kernel stamps meanwhile; what waits is
// their accounting (and a spike event) by at most this much.
const drainEvery = 20 * time.Millisecond

// drain reads every batched socket.
func (p *Prober) drain() {
	p.connMu.Lock()
	cs := p.drainList[:0]
	for _, e := range p.conns {
		if e.c != nil && e.c.batched() {
			cs = append(cs, e.c)
		}
	}
	p.drainList = cs
	p.connMu.Unlock()
	for _, c := range cs {
		c.drain(p)
	}
}

// maxQuantum bounds how early a probe may leave with an earlier one.
const maxQuantum = 20 * time.Millisecond

// quantum is the pacing granularity: a twentieth of the shortest interval,
// at most 20 ms. A probe leaves at most that much before its slot; slots
// stay on their n x interval grid, so this never drifts.
func quantum(s schedule) time.Duration {
	q := maxQuantum
	for _, st := range s {
		if iv := st.interval / 20; iv < q {
			q = iv
		}
	}
	return q
}

// finishEarly moves counted targets whose every probe is settled to the
// front of the schedule, so Run returns without waiting for a deadline.
func (p *Prober) finishEarly(s schedule) {
	now := p.mono()
	for _, st := range s {
		st.mu.Lock()
		if st.sent >= uint64(p.cfg.Count) && st.inFlight() == 0 {
			st.next = now
		}
		st.mu.Unlock()
	}
	heap.Init(&s)
}

func (p *Prober) allDone() bool {
	for _, st := range *p.targets.Load() {
		st.mu.Lock()
		done := st.done
		st.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}

// probe sends one probe of st (after expiring its overdue ones) and
// reports whether st stays on the schedule.
func (p *Prober) probe(st *targetState, now time.Duration) ([]Result, bool) {
	st.mu.Lock()
	res := st.sweep(now, nil)
	if p.cfg.Count > 0 && st.sent >= uint64(p.cfg.Count) {
		// Only sweeps remain: wake up at the last probe's deadline.
		if st.inFlight() == 0 {
			st.done = true
			st.mu.Unlock()
			return res, false
		}
		st.next = st.ring[(st.nextSeq-1)%uint16(len(st.ring))].deadline - st.interval
		st.mu.Unlock()
		return res, true
	}
	addr := st.addr
	st.mu.Unlock()
	if !addr.IsValid() {
		return res, true // not resolved yet; the resolver retries
	}
	v6 := addr.Is6()
	dev := st.cfg.Interface
	c, err := p.conn(v6, dev)
	st.mu.Lock()
	if st.addr != addr {
		st.mu.Unlock()
		return res, true
	}
	seq := st.nextSeq
	sl := &st.ring[seq%uint16(len(st.ring))]
	st.nextSeq++
	st.sent++
	if err == nil {
		if st.conn != c {
			st.conn = c
			st.buildPacket(c, p.token)
		}
		*sl = slot{seq: seq, state: slotPending, sentWall: time.Now().UnixNano(), deadline: now + p.cfg.Timeout}
		setSeq(st.pkt, v6, seq)
		st.opts.key = uint32(st.key)<<16 | uint32(seq)
		if err = c.send(st.pkt, addr, &st.opts); err == nil {
			if st.failCause == "" && !st.episode.open {
				st.mu.Unlock()
				return res, true
			}
			ev, ok := st.sendOK(now)
			st.mu.Unlock()
			if ok && p.logRecovered(ev) {
				st.mu.Lock()
				st.episode = failEpisode{}
				st.mu.Unlock()
			}
			return res, true
		}
	} else {
		c = nil
	}
	// Not sent (no socket, or the kernel refused it): the probe counts as
	// sent, failed and lost, so that sent = replies + lost + in flight
	// holds and a count ends.
	*sl = slot{seq: seq, state: slotFailed}
	st.sendErrors++
	st.lost++
	cause := ClassifyError(err)
	gone := false
	if c != nil && dev != "" {
		// Whatever the errno (a bound IPv6 socket whose device was
		// re-created says ENETUNREACH, IPv4 ENODEV), ask whether the
		// device bound to is still the one that has the name.
		switch c.link(true) {
		case linkGone:
			cause, gone = CauseNoDevice, true
		case linkDown:
			if cause == CauseNoRoute {
				cause = CauseNetworkDown
			}
		}
	}
	if c == nil || cause == CauseNoDevice {
		// Rebuild the packet (and an IPv6 zone's index) for the next
		// socket; keep no closed socket alive meanwhile.
		st.conn = nil
	}
	ev := st.failed(cause, err, now)
	res = append(res, Result{Kind: ResultSendError, Target: st.cfg.Name, Addr: addr, Seq: seq, TTL: -1, Err: err, Cause: cause})
	st.mu.Unlock()
	if gone {
		p.dropConn(connKey{v6, dev}, c)
	}
	p.logFailure(ev)
	return res, true
}

func (p *Prober) deliver(res []Result) {
	ro, ok := p.cfg.Observer.(ResultObserver)
	if !ok {
		return
	}
	for _, r := range res {
		ro.ObserveResult(r)
	}
}

// onTxStamp records a kernel transmit timestamp.
func (p *Prober) onTxStamp(c conn, key uint32, wall int64) {
	st := (*p.targets.Load())[uint16(key>>16)]
	if st == nil {
		return
	}
	seq := uint16(key)
	st.mu.Lock()
	sl := &st.ring[seq%uint16(len(st.ring))]
	if sl.seq == seq && sl.state == slotPending && st.conn == c {
		sl.sentKernel = wall
	}
	st.mu.Unlock()
}

// onMessage handles one packet read from a socket's receive queue.
func (p *Prober) onMessage(c conn, from netip.Addr, b []byte, rx int64, rxKernel bool, ttl int) {
	info := c.info()
	m, err := parseMessage(b, info.IPv6, c.ipHeader())
	if err != nil {
		if !errors.Is(err, ErrNotEcho) || m.isError {
			p.malformed.Add(1)
		}
		return
	}
	if m.ttl >= 0 {
		ttl = m.ttl
	}
	if m.id != info.EchoID {
		p.foreign.Add(1)
		return
	}
	if m.isError {
		p.icmpError(c, m, from.Unmap())
		return
	}
	st := p.match(m.payload)
	if st == nil {
		return
	}
	now := p.mono()
	st.mu.Lock()
	if st.addr != from.Unmap() || st.conn != c {
		st.mu.Unlock()
		p.unmatched.Add(1)
		return
	}
	r, ok := st.reply(p, m.seq, rx, rxKernel, now)
	finished := p.cfg.Count > 0 && st.sent >= uint64(p.cfg.Count) && st.inFlight() == 0
	st.mu.Unlock()
	if finished {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	if !ok {
		p.unmatched.Add(1)
		return
	}
	r.From, r.TTL, r.Size = from.Unmap(), ttl, m.size
	if r.Kind == ResultReply && p.cfg.Observer != nil {
		p.cfg.Observer.ObserveRTT(r.Target, r.RTT)
	}
	if r.spike != nil {
		p.cfg.Spikes.Notify(*r.spike)
	}
	p.deliver([]Result{r.Result})
}

// match checks a payload's token and returns the target its key names.
func (p *Prober) match(payload []byte) *targetState {
	tok, key, ok := payloadKey(payload)
	if !ok {
		if len(payload) < payloadHeaderLen {
			p.malformed.Add(1)
		} else {
			p.foreign.Add(1)
		}
		return nil
	}
	if tok != p.token || key>>16 != 0 {
		p.foreign.Add(1)
		return nil
	}
	st := (*p.targets.Load())[uint16(key)]
	if st == nil {
		p.unmatched.Add(1)
	}
	return st
}

// onQueuedError handles an ICMP error a datagram socket reports through
// its error queue (IP_RECVERR): quoted is our echo request.
func (p *Prober) onQueuedError(c conn, dst, from netip.Addr, typ, code uint8, quoted []byte) {
	m := message{isError: true, typ: typ, code: code, dst: dst.Unmap(), ttl: -1}
	if err := parseQuotedEcho(&m, quoted, c.info().IPv6); err != nil {
		p.malformed.Add(1)
		return
	}
	// The kernel rewrote the id to the socket's port on the way out and
	// quotes it as sent.
	p.icmpError(c, m, from)
}

// icmpError charges an ICMP error to the probe it quotes: by payload key
// when the quote is long enough, else by destination address.
func (p *Prober) icmpError(c conn, m message, from netip.Addr) {
	var st *targetState
	if len(m.payload) >= payloadHeaderLen {
		st = p.match(m.payload)
	} else {
		for _, t := range *p.targets.Load() {
			t.mu.Lock()
			ok := t.addr == m.dst && t.conn == c
			t.mu.Unlock()
			if ok {
				st = t
				break
			}
		}
		if st == nil {
			p.unmatched.Add(1)
		}
	}
	if st == nil {
		return
	}
	st.mu.Lock()
	if st.addr != m.dst {
		st.mu.Unlock()
		p.unmatched.Add(1)
		return
	}
	st.icmpErrors++
	sl := &st.ring[m.seq%uint16(len(st.ring))]
	if sl.seq == m.seq && sl.state == slotPending {
		sl.icmpError = true
	}
	r := Result{Kind: ResultICMPError, Target: st.cfg.Name, Addr: st.addr, From: from, Seq: m.seq, TTL: -1, ICMPType: m.typ, ICMPCode: m.code}
	st.mu.Unlock()
	p.deliver([]Result{r})
}

// Snapshot returns every target's counters and windows. It expires overdue
// probes (no I/O) so that lost counts are current at scrape time.
func (p *Prober) Snapshot() Snapshot {
	now := p.mono()
	s := Snapshot{Time: time.Now(), Foreign: p.foreign.Load(), Unmatched: p.unmatched.Load(), Malformed: p.malformed.Load()}
	m := *p.targets.Load()
	s.Targets = make([]TargetStats, 0, len(m))
	var lost []Result
	// Probes of batched sockets are swept only up to the last drain: a
	// reply may sit unread in the socket until the next one.
	horizon := now
	if p.batched.Load() {
		horizon = min(now, time.Duration(p.drainedAt.Load()))
	}
	for _, st := range m {
		st.mu.Lock()
		lost = st.sweep(horizon, lost[:0])
		s.Targets = append(s.Targets, st.stats(now))
		st.mu.Unlock()
		p.deliver(lost)
	}
	sort.Slice(s.Targets, func(i, j int) bool { return s.Targets[i].Name < s.Targets[j].Name })
	p.connMu.Lock()
	for _, e := range p.conns {
		if e.c != nil {
			s.Sockets = append(s.Sockets, e.c.info())
		}
	}
	p.connMu.Unlock()
	sort.Slice(s.Sockets, func(i, j int) bool {
		a, b := s.Sockets[i], s.Sockets[j]
		if a.IPv6 != b.IPv6 {
			return !a.IPv6
		}
		return a.Interface < b.Interface
	})
	return s
}
