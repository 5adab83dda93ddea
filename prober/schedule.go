package prober

import (
	"container/heap"
	"context"
	"math"
	"sort"
	"time"
)

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
