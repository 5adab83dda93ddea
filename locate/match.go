package locate

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// MaxPoints is the largest number of capture points on one path.
const MaxPoints = 16

// Errors returned by this package, usable with errors.Is.
var (
	// ErrConfig is a bad option or point list.
	ErrConfig = errors.New("invalid locate configuration")
	// ErrNoEchoes is a capture point at which no ICMP echo was seen.
	ErrNoEchoes = errors.New("no ICMP echo seen")
	// ErrNoMatch is a set of points that share no echo.
	ErrNoMatch = errors.New("no echo seen at two or more points")
	// ErrPointOrder is a point list that is not in path order from the
	// pinging side.
	ErrPointOrder = errors.New("capture points out of path order")
	// ErrNoBaseline is too few echoes to compute a slow-echo threshold.
	ErrNoBaseline = errors.New("too few echoes for a baseline")
	// ErrClockJump is a point clock that stepped during the capture; it is
	// reported as a Warning, since round-trip delays stay valid.
	ErrClockJump = errors.New("clock jump")
	// ErrUnsorted is a point's stream whose timestamps go back in its own
	// order (a merged capture, a clock step, a frame with a wild
	// timestamp); AddStreams sorts it within ReorderWindow and reports it
	// as a Warning.
	ErrUnsorted = errors.New("capture not in time order")
)

// Observation is one echo request or reply seen at one capture point.
type Observation struct {
	// Point is the index of the capture point in path order (0 = the point
	// nearest the pinging host).
	Point int
	// Time is the point's timestamp of the packet, in the point's clock.
	Time time.Time
	// Src and Dst are the packet's IP addresses (IPv4 or IPv6).
	Src, Dst netip.Addr
	// ID and Seq are the echo identifier and sequence number.
	ID, Seq uint16
	// Reply is set for an echo reply, clear for a request.
	Reply bool
}

// Key identifies one echo across points: the request's addresses, id and seq.
// A reply carries the same key with its addresses swapped.
type Key struct {
	Src, Dst netip.Addr
	ID, Seq  uint16
}

// Key returns the echo key of o: for a reply, source and destination are
// swapped back to the request's.
func (o *Observation) Key() Key {
	if o.Reply {
		return Key{Src: o.Dst, Dst: o.Src, ID: o.ID, Seq: o.Seq}
	}
	return Key{Src: o.Src, Dst: o.Dst, ID: o.ID, Seq: o.Seq}
}

// String formats the key like tcpdump's summary of the request.
func (k Key) String() string {
	return fmt.Sprintf("%s > %s id %d seq %d", k.Src, k.Dst, k.ID, k.Seq)
}

// Record is one echo as matched across the points: each point's request and
// reply timestamps, in that point's clock.
type Record struct {
	Key Key
	// Request and Reply hold each point's timestamps in Unix nanoseconds
	// (a quarter of time.Time's size, and nothing for the GC to follow);
	// only the first Points entries are meaningful, and only where the Seen
	// masks say so.
	Request, Reply [MaxPoints]int64
	// RequestSeen and ReplySeen have bit i set when point i saw the request
	// or the reply.
	RequestSeen, ReplySeen uint16
	// Complete is set when every point saw both the request and the reply.
	Complete bool
}

// HasRequest reports whether point i saw the request.
func (r *Record) HasRequest(i int) bool { return r.RequestSeen&(1<<i) != 0 }

// HasReply reports whether point i saw the reply.
func (r *Record) HasReply(i int) bool { return r.ReplySeen&(1<<i) != 0 }

// RequestAt returns point i's request timestamp (zero when unseen).
func (r *Record) RequestAt(i int) time.Time {
	if !r.HasRequest(i) {
		return time.Time{}
	}
	return time.Unix(0, r.Request[i]).UTC()
}

// ReplyAt returns point i's reply timestamp (zero when unseen).
func (r *Record) ReplyAt(i int) time.Time {
	if !r.HasReply(i) {
		return time.Time{}
	}
	return time.Unix(0, r.Reply[i]).UTC()
}

// RoundTrip returns point i's round trip (reply minus request, one clock)
// and whether the point saw both.
func (r *Record) RoundTrip(i int) (time.Duration, bool) {
	if !r.HasRequest(i) || !r.HasReply(i) {
		return 0, false
	}
	return time.Duration(r.Reply[i] - r.Request[i]), true
}

// MatcherConfig bounds a Matcher.
type MatcherConfig struct {
	// Points is the number of capture points (2..MaxPoints).
	Points int
	// MaxEntries caps the number of echoes waiting for their other
	// observations; when full, the oldest is dropped (and counted).
	MaxEntries int
	// MaxAge is how long an incomplete echo waits, measured on the newest
	// timestamp seen at any point, before it is emitted incomplete (which is
	// how losses show). Clocks of different points must agree to better
	// than MaxAge for their observations to meet.
	MaxAge time.Duration
}

// MatchStats counts what a Matcher did.
type MatchStats struct {
	// Observations is the number of observations added.
	Observations uint64 `json:"observations"`
	// Complete is the number of echoes seen in full at every point.
	Complete uint64 `json:"complete"`
	// Expired is the number of echoes emitted incomplete after MaxAge (or
	// at Flush).
	Expired uint64 `json:"expired"`
	// DroppedFull is the number of echoes dropped, unemitted, because the
	// table held MaxEntries.
	DroppedFull uint64 `json:"dropped_full"`
	// Duplicates is the number of observations ignored because the same
	// point had already seen the same packet of the same echo.
	Duplicates uint64 `json:"duplicates"`
	// BadPoint is the number of observations with a point index out of
	// range, ignored.
	BadPoint uint64 `json:"bad_point"`
}

type entry struct {
	rec        Record
	last       int64 // newest observation of this echo, unix ns, for age
	prev, next *entry
}

// Matcher pairs observations of the same echo across points. It holds at
// most MaxEntries echoes, each for at most MaxAge; it is not safe for
// concurrent use.
type Matcher struct {
	cfg        MatcherConfig
	full       uint16 // mask with one bit per point
	table      map[Key]*entry
	head, tail *entry // oldest first
	newest     int64
	emit       func(*Record)
	free       *entry // one recycled entry, to avoid an allocation per echo
	stats      MatchStats
}

// NewMatcher returns a Matcher that hands every echo, complete or not, to
// emit exactly once. emit must not keep the *Record after it returns.
func NewMatcher(cfg MatcherConfig, emit func(*Record)) (*Matcher, error) {
	if cfg.Points < 2 || cfg.Points > MaxPoints {
		return nil, fmt.Errorf("%w: %d capture points, need 2 to %d", ErrConfig, cfg.Points, MaxPoints)
	}
	if cfg.MaxEntries < 1 {
		return nil, fmt.Errorf("%w: matcher MaxEntries %d, need at least 1", ErrConfig, cfg.MaxEntries)
	}
	if cfg.MaxAge <= 0 {
		return nil, fmt.Errorf("%w: matcher MaxAge %v, need > 0", ErrConfig, cfg.MaxAge)
	}
	if emit == nil {
		return nil, fmt.Errorf("%w: nil emit function", ErrConfig)
	}
	return &Matcher{
		cfg:   cfg,
		full:  uint16(1<<cfg.Points - 1),
		table: make(map[Key]*entry),
		emit:  emit,
	}, nil
}

// Stats returns the counters so far.
func (m *Matcher) Stats() MatchStats { return m.stats }

// Len returns the number of echoes waiting in the table.
func (m *Matcher) Len() int { return len(m.table) }

// Add records one observation. It may emit the echo (when complete) and any
// echoes that aged out.
func (m *Matcher) Add(o *Observation) {
	if o.Point < 0 || o.Point >= m.cfg.Points {
		m.stats.BadPoint++
		return
	}
	m.stats.Observations++
	t := o.Time.UnixNano()
	if t > m.newest {
		m.newest = t
	}
	m.expire(m.newest - int64(m.cfg.MaxAge))
	k := o.Key()
	e := m.table[k]
	if e == nil {
		if len(m.table) >= m.cfg.MaxEntries {
			m.unlink(m.head)
			m.stats.DroppedFull++
		}
		e = m.free
		m.free = nil
		if e == nil {
			e = new(entry)
		}
		*e = entry{rec: Record{Key: k}}
		m.table[k] = e
		m.pushBack(e)
	}
	bit := uint16(1) << o.Point
	if o.Reply {
		if e.rec.ReplySeen&bit != 0 {
			m.stats.Duplicates++
			return
		}
		e.rec.ReplySeen |= bit
		e.rec.Reply[o.Point] = t
	} else {
		if e.rec.RequestSeen&bit != 0 {
			m.stats.Duplicates++
			return
		}
		e.rec.RequestSeen |= bit
		e.rec.Request[o.Point] = t
	}
	if t > e.last {
		e.last = t
	}
	if e.rec.RequestSeen == m.full && e.rec.ReplySeen == m.full {
		e.rec.Complete = true
		m.stats.Complete++
		m.release(e)
	}
}

// Expire emits the echoes whose newest observation is older than MaxAge
// before now. A live loop calls it on a ticker so that losses show even
// when no packet comes; offline, Add's own ageing is enough.
func (m *Matcher) Expire(now time.Time) {
	t := now.UnixNano()
	if t > m.newest {
		m.newest = t
	}
	m.expire(m.newest - int64(m.cfg.MaxAge))
}

// Flush emits every waiting echo, incomplete, oldest first.
func (m *Matcher) Flush() {
	for m.head != nil {
		m.stats.Expired++
		m.release(m.head)
	}
}

// expire emits, oldest first, the incomplete echoes last seen before limit.
// The list is in insertion order, which is close to last-seen order; an
// echo updated late is emitted no earlier than its turn, never too early.
func (m *Matcher) expire(limit int64) {
	for m.head != nil && m.head.last < limit {
		m.stats.Expired++
		m.release(m.head)
	}
}

// release emits e and removes it from the table.
func (m *Matcher) release(e *entry) {
	m.unlink(e)
	m.emit(&e.rec)
	m.free = e
}

func (m *Matcher) unlink(e *entry) {
	delete(m.table, e.rec.Key)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		m.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		m.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (m *Matcher) pushBack(e *entry) {
	e.prev = m.tail
	if m.tail != nil {
		m.tail.next = e
	} else {
		m.head = e
	}
	m.tail = e
}
