package prober

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/spike"
)

// recorder is an Observer, ResultObserver and spike sink that keeps
// everything it is given.
type recorder struct {
	mu      sync.Mutex
	rtts    map[string][]time.Duration
	results []Result
	spikes  []spike.Event
}

func newRecorder() *recorder { return &recorder{rtts: map[string][]time.Duration{}} }

func (r *recorder) ObserveRTT(target string, rtt time.Duration) {
	r.mu.Lock()
	r.rtts[target] = append(r.rtts[target], rtt)
	r.mu.Unlock()
}

// rttsOf returns a copy of the RTTs observed for target.
func (r *recorder) rttsOf(target string) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.rtts[target]...)
}

// spikeEvents returns a copy of the spike events.
func (r *recorder) spikeEvents() []spike.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]spike.Event(nil), r.spikes...)
}

func (r *recorder) ObserveResult(res Result) {
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
}

func (r *recorder) Notify(e spike.Event) {
	r.mu.Lock()
	r.spikes = append(r.spikes, e)
	r.mu.Unlock()
}

func (r *recorder) kinds(target string) map[ResultKind]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[ResultKind]int{}
	for _, res := range r.results {
		if res.Target == target {
			m[res.Kind]++
		}
	}
	return m
}

// action is what the fake network does with one probe.
type action struct {
	rtt   time.Duration // kernel RTT the reply carries
	drop  bool
	dup   bool
	after time.Duration // real delay before the reply is delivered
	// heldUntil, when set, holds the reply back until the probe of that
	// sequence has been sent and its own reply queued: reordering that
	// does not depend on how fast a loaded machine runs the sender.
	heldUntil  uint16
	wrongToken bool
	wrongID    bool
	truncate   bool
	wrongFrom  bool
	unreach    bool // answer with an ICMP destination unreachable
	noTxStamp  bool
}

// fakeConn answers probes in memory, by a script indexed by sequence.
type fakeConn struct {
	v6     bool
	h      handler
	script func(seq uint16) action
	mu     sync.Mutex
	timers []*time.Timer
	closed bool
	// queue carries deliveries to run, the fake's reader: the prober
	// holds the target's lock while it sends.
	queue chan func()
	// batch makes the sender read the queue (drain) instead of run.
	batch bool
	stop  chan struct{}
	// links, when set, is the fake's table of devices; dev and index are
	// the device the conn is bound to and its index then.
	links      *fakeLinks
	dev        string
	index      int
	afterClose *atomic.Int64 // sends after close, counted if set
	// held are replies waiting for a later probe (action.heldUntil), by
	// that probe's sequence (under mu).
	held map[uint16][]func()
}

// fakeLinks is a table of device names and indexes that fakeConns bound to
// a device consult, as the kernel's: a deleted and re-created device has a
// new index, and a conn bound to the old one fails with ENODEV.
type fakeLinks struct {
	mu    sync.Mutex
	index map[string]int
	next  int
	// sendsAnyway makes stale conns send as if nothing happened, so that
	// only LinkChanged can find them out.
	sendsAnyway bool
}

func newFakeLinks(devs ...string) *fakeLinks {
	l := &fakeLinks{index: map[string]int{}, next: 10}
	for _, d := range devs {
		l.recreate(d)
	}
	return l
}

// recreate gives dev a new index (adds it if missing).
func (l *fakeLinks) recreate(dev string) {
	l.mu.Lock()
	l.next++
	l.index[dev] = l.next
	l.mu.Unlock()
}

func (l *fakeLinks) remove(dev string) {
	l.mu.Lock()
	delete(l.index, dev)
	l.mu.Unlock()
}

func (l *fakeLinks) indexOf(dev string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.index[dev]
}

// open opens a fakeConn bound to dev as SO_BINDTODEVICE would: ENODEV
// while no device has the name.
func (l *fakeLinks) open(p *Prober, v6 bool, dev string, script func(uint16) action, afterClose *atomic.Int64) (conn, error) {
	f := &fakeConn{v6: v6, h: p, script: script, queue: make(chan func(), 4096), stop: make(chan struct{}), links: l, dev: dev, afterClose: afterClose}
	if dev != "" {
		if f.index = l.indexOf(dev); f.index == 0 {
			return nil, fmt.Errorf("bind ICMP socket to device %q: %w", dev, syscall.ENODEV)
		}
	}
	return f, nil
}

func (f *fakeConn) link(bool) linkStatus {
	if f.links == nil || f.dev == "" || f.links.indexOf(f.dev) == f.index {
		return linkOK
	}
	return linkGone
}

func (f *fakeConn) info() SocketInfo {
	return SocketInfo{IPv6: f.v6, Mode: ModeRaw, EchoID: 0x4242, TxStamps: true, RxStamps: true}
}
func (f *fakeConn) ipHeader() bool { return false }
func (f *fakeConn) batched() bool  { return f.batch }

// drain runs the deliveries queued so far: a batched socket read by the
// sender, as the Linux conn is once warm.
func (f *fakeConn) drain(handler) {
	for {
		select {
		case fn := <-f.queue:
			fn()
		default:
			return
		}
	}
}
func (f *fakeConn) run(h handler) {
	if f.batch {
		return // the sender drains the queue
	}
	for {
		select {
		case fn := <-f.queue:
			fn()
		case <-f.stop:
			f.drain(h)
			return
		}
	}
}

// enqueue hands fn to the reader; once the prober closed the socket (Run
// returned, nothing holds a lock) late deliveries run directly, as a
// kernel would still queue them.
func (f *fakeConn) enqueue(fn func()) {
	select {
	case <-f.stop:
		fn()
		return
	default:
	}
	select {
	case f.queue <- fn:
	case <-f.stop:
		fn()
	}
}

func (f *fakeConn) close() error {
	f.mu.Lock()
	if !f.closed {
		close(f.stop)
	}
	f.closed = true
	f.mu.Unlock()
	if f.batch {
		// As run does for the reader: what was queued is delivered, like
		// what comes after close (see enqueue).
		f.drain(f.h)
	}
	return nil
}

func (f *fakeConn) send(b []byte, dst netip.Addr, o *sendOptions) error {
	if f.afterClose != nil {
		f.mu.Lock()
		closed := f.closed
		f.mu.Unlock()
		if closed {
			f.afterClose.Add(1)
		}
	}
	if f.link(false) != linkOK && !f.links.sendsAnyway {
		return &sendError{dst: dst, err: syscall.ENODEV}
	}
	seq := binary.BigEndian.Uint16(b[6:])
	a := f.script(seq)
	tx := time.Now().UnixNano()
	if !a.noTxStamp {
		key := o.key
		f.enqueue(func() { f.h.onTxStamp(f, key, tx) })
	}
	if a.drop {
		return nil
	}
	r := append([]byte(nil), b...)
	from := dst
	switch {
	case a.unreach:
		typ := byte(icmp4DestUnreach)
		hdr := make([]byte, ipv4MinHeaderLen)
		hdr[0], hdr[9] = 0x45, protoICMP
		if f.v6 {
			typ = icmp6DestUnreach
			hdr = make([]byte, ipv6HeaderLen)
			hdr[0], hdr[6] = 0x60, protoICMPv6
			d := dst.As16()
			copy(hdr[24:], d[:])
		} else {
			d := dst.As4()
			copy(hdr[16:], d[:])
		}
		r = append(append([]byte{typ, 1, 0, 0, 0, 0, 0, 0}, hdr...), b...)
		from = netip.MustParseAddr("198.18.0.254")
		if f.v6 {
			from = netip.MustParseAddr("2001:2::fe")
		}
	default:
		if f.v6 {
			r[0] = icmp6EchoReply
		} else {
			r[0] = icmp4EchoReply
		}
	}
	if a.wrongToken {
		r[icmpHeaderLen] ^= 0xff
	}
	if a.wrongID {
		r[4] ^= 0xff
	}
	if a.truncate {
		r = r[:icmpHeaderLen+10]
	}
	if a.wrongFrom {
		from = netip.MustParseAddr("198.18.7.7")
	}
	deliver := func() {
		f.h.onMessage(f, from, r, tx+int64(a.rtt), true, 64)
		if a.dup {
			f.h.onMessage(f, from, r, tx+int64(a.rtt)+1000, true, 64)
		}
	}
	if a.heldUntil != 0 {
		f.mu.Lock()
		if f.held == nil {
			f.held = map[uint16][]func(){}
		}
		f.held[a.heldUntil] = append(f.held[a.heldUntil], deliver)
		f.mu.Unlock()
		return nil
	}
	if a.after == 0 {
		f.enqueue(deliver)
		f.mu.Lock()
		held := f.held[seq]
		delete(f.held, seq)
		f.mu.Unlock()
		for _, d := range held {
			f.enqueue(d)
		}
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timers = append(f.timers, time.AfterFunc(a.after, func() { f.enqueue(deliver) }))
	return nil
}

// runFake runs a prober over a fakeConn for count probes of one target.
func runFake(t *testing.T, cfg Config, host string, batched bool, script func(uint16) action) (TargetStats, Snapshot, *recorder) {
	t.Helper()
	rec := newRecorder()
	cfg.Observer, cfg.Spikes = rec, rec
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.open = func(v6 bool, mode Mode, dev string, id uint16) (conn, error) {
		return &fakeConn{v6: v6, h: p, script: script, queue: make(chan func(), 4096), stop: make(chan struct{}), batch: batched}, nil
	}
	if err := p.SetTargets([]Target{{Name: "t", Host: host}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run did not finish")
	}
	s := p.Snapshot()
	return s.Targets[0], s, rec
}

func TestAccountingFake(t *testing.T) {
	const n = 20
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		script func(seq uint16) action
		check  func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder)
	}{
		{"all replied", func(uint16) action { return action{rtt: ms} }, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n)
			want(t, "lost", ts.Lost, 0)
			if ts.Jitter != 0 || ts.Peaks[0] != ms || ts.Source != SourceKernel {
				t.Errorf("jitter %v peak %v source %s, want 0, 1ms, kernel", ts.Jitter, ts.Peaks[0], ts.Source)
			}
			for _, rtt := range rec.rttsOf("t") {
				if rtt != ms {
					t.Fatalf("RTT %v, want exactly the 1ms between the stamps", rtt)
				}
			}
		}},
		{"drops are lost", func(seq uint16) action { return action{rtt: ms, drop: seq%4 == 0} }, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n-n/4)
			want(t, "lost", ts.Lost, n/4)
			want(t, "lost results", uint64(rec.kinds("t")[ResultLost]), n/4)
		}},
		{"duplicates", func(seq uint16) action { return action{rtt: ms, dup: seq%5 == 0} }, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n)
			want(t, "duplicates", ts.Duplicates, n/5)
		}},
		{"late", func(seq uint16) action {
			if seq%2 == 0 {
				return action{rtt: 80 * ms, after: 80 * ms}
			}
			return action{rtt: ms}
		}, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n/2)
			want(t, "lost", ts.Lost, n/2)
			// The last late replies arrive after Run returned.
			want(t, "late", waitLate(t, rec, n/2), n/2)
			for _, rtt := range rec.rttsOf("t") {
				if rtt != ms {
					t.Fatalf("a late reply was observed as RTT %v", rtt)
				}
			}
		}},
		{"reordered", func(seq uint16) action {
			if seq%4 == 1 && seq <= 13 {
				// Answered in time (12 ms of a 50 ms timeout), after the
				// next probe's reply.
				return action{rtt: 12 * ms, heldUntil: seq + 1}
			}
			return action{rtt: ms}
		}, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n)
			want(t, "reordered", ts.Reordered, 4)
		}},
		{"wrong token", func(seq uint16) action { return action{rtt: ms, wrongToken: seq%2 == 0} }, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n/2)
			want(t, "foreign", s.Foreign, n/2)
			want(t, "lost", ts.Lost, n/2)
		}},
		{"wrong id", func(seq uint16) action { return action{rtt: ms, wrongID: seq%2 == 0} }, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n/2)
			want(t, "foreign", s.Foreign, n/2)
		}},
		{"truncated", func(seq uint16) action { return action{rtt: ms, truncate: seq%2 == 0} }, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n/2)
			want(t, "malformed", s.Malformed, n/2)
		}},
		{"wrong source", func(seq uint16) action { return action{rtt: ms, wrongFrom: seq%2 == 0} }, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n/2)
			want(t, "unmatched", s.Unmatched, n/2)
		}},
		{"unreachable", func(seq uint16) action { return action{unreach: seq%2 == 0, rtt: ms} }, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n/2)
			want(t, "ICMP errors", ts.ICMPErrors, n/2)
			want(t, "error results", uint64(rec.kinds("t")[ResultICMPError]), n/2)
			want(t, "lost", ts.Lost, n/2)
		}},
		{"no tx stamp", func(seq uint16) action { return action{rtt: ms, noTxStamp: true} }, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "replies", ts.Replies, n)
			if ts.Source != SourceKernelRX {
				t.Errorf("source %s, want %s", ts.Source, SourceKernelRX)
			}
		}},
		{"spike episodes", func(seq uint16) action {
			// Two episodes: 8..9 and 15 spike above the 10ms threshold.
			if seq == 8 || seq == 9 || seq == 15 {
				return action{rtt: 30 * ms}
			}
			return action{rtt: ms}
		}, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "spikes", ts.Spikes, 2)
			if sp := rec.spikeEvents(); len(sp) != 2 || sp[0].Trigger != "rtt" || sp[0].Value != 0.03 || sp[0].Target != "t" {
				t.Errorf("spike events %+v", rec.spikeEvents())
			}
			if ts.Peaks[0] != 30*ms && ts.Peaks[1] != 30*ms {
				t.Errorf("peaks %v, want 30ms in the 10s window", ts.Peaks)
			}
			if ts.Jitter <= 0 {
				t.Errorf("jitter %v, want > 0", ts.Jitter)
			}
		}},
		{"spike by median factor", func(seq uint16) action {
			// Baseline 4ms; 25ms is above 5 x 4ms and above the 10ms floor.
			if seq == 12 {
				return action{rtt: 25 * ms}
			}
			if seq == 14 {
				return action{rtt: 12 * ms} // above the floor, below 5 x median
			}
			return action{rtt: 4 * ms}
		}, func(t *testing.T, ts TargetStats, s Snapshot, rec *recorder) {
			want(t, "spikes", ts.Spikes, 1)
			if sp := rec.spikeEvents(); len(sp) == 1 && sp[0].Threshold != 0.02 {
				t.Errorf("spike threshold %v, want 5 x 4ms = 0.02", sp[0].Threshold)
			}
		}},
	} {
		for _, fam := range []struct{ name, host string }{{"v4", "198.18.0.2"}, {"v6", "2001:2::2"}} {
			for _, read := range []struct {
				name    string
				batched bool
			}{{"reader", false}, {"batched", true}} {
				t.Run(tc.name+"/"+fam.name+"/"+read.name, func(t *testing.T) {
					t.Parallel()
					ts, s, rec := runFake(t, Config{Interval: 5 * time.Millisecond, Timeout: 50 * time.Millisecond, Count: n}, fam.host, read.batched, tc.script)
					want(t, "sent", ts.Sent, n)
					tc.check(t, ts, s, rec)
				})
			}
		}
	}
}

// waitLate waits up to 5 s for n late results and returns how many came.
func waitLate(t *testing.T, rec *recorder, n int) uint64 {
	t.Helper()
	nstest.Poll(5*time.Second, func() (bool, string) { return rec.kinds("t")[ResultLate] >= n, "" })
	t.Logf("results: %v", rec.kinds("t"))
	return uint64(rec.kinds("t")[ResultLate])
}

func want(t *testing.T, what string, got, w uint64) {
	t.Helper()
	if got != w {
		t.Errorf("%s = %d, want %d", what, got, w)
	}
}
