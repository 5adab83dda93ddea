package prober

import (
	"errors"
	"net/netip"
)

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
