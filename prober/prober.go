package prober

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
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
	// Labels are the target's custom labels (shared: do not modify).
	Labels map[string]string
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
	// LabelNames are the targets' custom label names, sorted (shared: do
	// not modify). Every target's series carry all of them; a target
	// without one has it empty.
	LabelNames []string
	Sockets    []SocketInfo
	// Foreign counts echo replies with another echo id or run token:
	// other processes' pings and replies to an earlier run.
	Foreign uint64
	// Unmatched counts replies with our id and token that match no probe
	// (unknown target key, wrong source address, sequence never sent).
	Unmatched uint64
	// Malformed counts packets the parser rejected (truncated, not echo).
	Malformed uint64
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
	// labelNames is the targets' custom label names, sorted (see
	// labelNames); replaced with targets.
	labelNames atomic.Pointer[[]string]
	updates    chan struct{}
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
	p.labelNames.Store(&[]string{})
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
			errs = append(errs, invalid("target name %q given twice", n.Name))
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
		return invalid("%d targets, at most 65535", len(norm))
	}
	names, err := labelNames(norm)
	if err != nil {
		return err
	}
	old := *p.targets.Load()
	byName := map[string]*targetState{}
	for _, st := range old {
		byName[st.cfg.Name] = st
	}
	next := make(map[uint16]*targetState, len(norm))
	for _, t := range norm {
		if st, ok := byName[t.Name]; ok && st.cfg.equal(t) {
			next[st.key] = st
			continue
		}
		key := p.allocKey(old, next)
		next[key] = p.newTarget(t, key)
	}
	p.labelNames.Store(&names)
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

// Snapshot returns every target's counters and windows. It expires overdue
// probes (no I/O) so that lost counts are current at scrape time.
func (p *Prober) Snapshot() Snapshot {
	now := p.mono()
	s := Snapshot{Time: time.Now(), Foreign: p.foreign.Load(), Unmatched: p.unmatched.Load(), Malformed: p.malformed.Load()}
	s.LabelNames = *p.labelNames.Load()
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
