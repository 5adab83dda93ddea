package prober

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/netburst/netburst/spike"
)

// Slot states of a target's probe ring.
const (
	slotEmpty uint8 = iota
	slotPending
	slotReplied
	slotLost
	slotLate // lost, then answered late
	slotFailed
)

// slot is one probe in a target's ring.
type slot struct {
	seq   uint16
	state uint8
	// icmpError is set when an ICMP error quoted this probe.
	icmpError bool
	// sentWall is the userspace send time (Unix ns), sentKernel the
	// kernel transmit stamp (0 until it arrives).
	sentWall, sentKernel int64
	// deadline is when the probe is lost (prober monotonic clock).
	deadline time.Duration
}

// targetState is one target's probing state. mu guards everything but
// cfg, key and interval, which never change.
type targetState struct {
	cfg      Target
	key      uint16
	interval time.Duration

	// next is the sender's schedule (sender goroutine only).
	next time.Duration

	mu sync.Mutex
	// Resolution.
	addr          netip.Addr
	resolveErr    string
	resolveErrors uint64
	resolveFails  int
	nextResolve   time.Duration
	// Socket and packet, rebuilt when the socket changes.
	conn conn
	pkt  []byte
	opts sendOptions
	mode Mode
	// Probe ring: seq s lives in ring[s % len(ring)].
	ring    []slot
	nextSeq uint16
	oldest  uint16
	// Highest in-time replied sequence, for reordering.
	highest                                                                    uint16
	haveHighest                                                                bool
	sent, replies, lost, late, dups, reordered, sendErrors, icmpErrors, spikes uint64
	done                                                                       bool
	jit                                                                        jitter
	peaks                                                                      [peakWindows]peakWindow
	med                                                                        medianRing
	inSpike                                                                    bool
	lastRTT                                                                    time.Duration
	source                                                                     TimestampSource
	// failCause and failErr say why the latest send failed ("" and nil
	// after a success); episode is the run of failures the log reports.
	failCause Cause
	failErr   error
	episode   failEpisode
}

func (p *Prober) newTarget(t Target, key uint16) *targetState {
	iv := p.interval(t)
	n, _ := inFlightSlots(iv, p.cfg.Timeout) // validated by SetTargets
	// Sequences start at 1, as iputils ping's do.
	st := &targetState{cfg: t, key: key, interval: iv, ring: make([]slot, n), source: SourceNone, nextSeq: 1, oldest: 1}
	for i, w := range PeakWindows() {
		st.peaks[i] = newPeakWindow(w, iv)
	}
	if a, err := netip.ParseAddr(t.Host); err == nil {
		st.addr = a.Unmap()
	}
	return st
}

// buildPacket marshals the target's echo request for socket c; only the
// sequence number changes from one probe to the next.
func (st *targetState) buildPacket(c conn, token [tokenLen]byte) {
	info := c.info()
	st.pkt = make([]byte, icmpHeaderLen+st.cfg.Size)
	marshalEcho(st.pkt, info.IPv6, info.EchoID, 0, token, uint32(st.key))
	st.opts = sendOptions{src: st.cfg.Source.Unmap(), tos: st.cfg.TOS, ttl: st.cfg.TTL}
	if st.addr.Zone() != "" {
		if ifi, err := net.InterfaceByName(st.addr.Zone()); err == nil {
			st.opts.zone = ifi.Index
		}
	}
	st.mode = info.Mode
}

func (st *targetState) inFlight() int {
	n := 0
	for s := st.oldest; s != st.nextSeq; s++ {
		if st.ring[s%uint16(len(st.ring))].state == slotPending {
			n++
		}
	}
	return n
}

// sweep marks the probes whose deadline passed as lost, oldest first, and
// appends their results to res. Amortised O(1) per probe.
func (st *targetState) sweep(now time.Duration, res []Result) []Result {
	for st.oldest != st.nextSeq {
		sl := &st.ring[st.oldest%uint16(len(st.ring))]
		if sl.seq == st.oldest && sl.state == slotPending {
			if sl.deadline > now {
				break
			}
			sl.state = slotLost
			st.lost++
			res = append(res, Result{Kind: ResultLost, Target: st.cfg.Name, Addr: st.addr, Seq: sl.seq, TTL: -1})
		}
		st.oldest++
	}
	return res
}

// replyResult is a reply's outcome and the spike it raised, if any.
type replyResult struct {
	Result
	spike *spike.Event
}

// reply accounts for a reply to seq received at rx (Unix ns; a kernel
// stamp if rxKernel). ok is false when seq is not a probe we sent.
func (st *targetState) reply(p *Prober, seq uint16, rx int64, rxKernel bool, now time.Duration) (r replyResult, ok bool) {
	r.Result = Result{Target: st.cfg.Name, Addr: st.addr, Seq: seq, TTL: -1}
	sl := &st.ring[seq%uint16(len(st.ring))]
	if sl.seq != seq || sl.state == slotEmpty || sl.state == slotFailed {
		// Overwritten or never sent. A sequence behind the sender is a
		// reply so late its slot was reused: still late, and ours.
		if d := int16(st.nextSeq - seq); d > 0 && st.sent >= uint64(d) && st.sent > 0 {
			st.late++
			r.Kind = ResultLate
			return r, true
		}
		return r, false
	}
	tx, src := sl.sentWall, SourceUserspace
	if rxKernel {
		src = SourceKernelRX
		if sl.sentKernel != 0 {
			tx, src = sl.sentKernel, SourceKernel
		}
	} else {
		rx = time.Now().UnixNano()
	}
	rtt := time.Duration(rx - tx)
	if rtt < 0 {
		rtt = 0
	}
	r.RTT, r.Source = rtt, src
	switch sl.state {
	case slotReplied, slotLate:
		st.dups++
		r.Kind = ResultDuplicate
		return r, true
	case slotLost:
		st.late++
		sl.state = slotLate
		r.Kind = ResultLate
		return r, true
	}
	late := now >= sl.deadline
	if rxKernel {
		// The kernel says when it arrived; when it was read does not matter.
		late = rtt >= p.cfg.Timeout
	}
	if late {
		// Overdue but not swept yet: lost, and this reply is late.
		sl.state = slotLate
		st.lost++
		st.late++
		r.Kind = ResultLate
		return r, true
	}
	sl.state = slotReplied
	st.replies++
	r.Kind = ResultReply
	if st.haveHighest && int16(seq-st.highest) < 0 {
		st.reordered++
	} else {
		st.highest, st.haveHighest = seq, true
	}
	st.source, st.lastRTT = src, rtt
	st.jit.add(int64(rtt))
	for i := range st.peaks {
		st.peaks[i].add(int64(now), int64(rtt))
	}
	thr := p.cfg.SpikeThreshold
	if med, ok := st.med.median(); ok {
		if k := time.Duration(p.cfg.SpikeFactor * float64(med)); k > thr {
			thr = k
		}
	}
	st.med.add(int64(rtt))
	isSpike := rtt >= thr
	if isSpike && !st.inSpike {
		// One event per episode: consecutive spiking replies are one spike.
		st.spikes++
		r.spike = &spike.Event{Time: time.Unix(0, rx), Trigger: spike.TriggerRTT, Target: st.cfg.Name, Value: rtt.Seconds(), Threshold: thr.Seconds()}
	}
	st.inSpike = isSpike
	return r, true
}

func (st *targetState) stats(now time.Duration) TargetStats {
	ts := TargetStats{
		Name: st.cfg.Name, Host: st.cfg.Host, Labels: st.cfg.Labels, Addr: st.addr, ResolveError: st.resolveErr,
		Sent: st.sent, Replies: st.replies, Lost: st.lost, Late: st.late, Duplicates: st.dups,
		Reordered: st.reordered, SendErrors: st.sendErrors, ICMPErrors: st.icmpErrors,
		ResolveErrors: st.resolveErrors, Spikes: st.spikes, InFlight: st.inFlight(),
		Jitter: st.jit.value(), LastRTT: st.lastRTT, Source: st.source, Mode: st.mode,
	}
	if st.failCause != "" {
		ts.Failure = SendFailure{Cause: st.failCause, Error: st.failErr.Error()}
	}
	for i := range st.peaks {
		ts.Peaks[i] = time.Duration(st.peaks[i].max(int64(now)))
	}
	return ts
}
