package locate

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// EchoRing keeps the latest echo observations of a host's live locate
// points for clients that read them incrementally (another host's
// `netburst locate --exporter`): a fixed ring, written by the capture
// goroutines, read by cursor. Each observation gets the next cursor value
// (1, 2, ...); a reader asks for those after the last cursor it saw and
// learns how many it missed when the ring has overwritten them. Memory is
// fixed at creation; Add neither allocates nor blocks on readers beyond a
// short lock.
type EchoRing struct {
	mu   sync.Mutex
	buf  []Observation
	next uint64 // cursor of the next observation; the first is 1
	run  string
}

// NewEchoRing returns a ring of size observations (at least 1). Its run ID
// is random: a reader that sees another one knows the exporter restarted
// and its cursors start again.
func NewEchoRing(size int) *EchoRing {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &EchoRing{buf: make([]Observation, max(size, 1)), next: 1, run: hex.EncodeToString(b[:])}
}

// Run returns the ring's run ID.
func (r *EchoRing) Run() string { return r.run }

// Add records o (o.Point indexes the host's points).
func (r *EchoRing) Add(o *Observation) {
	r.mu.Lock()
	r.buf[r.next%uint64(len(r.buf))] = *o
	r.next++
	r.mu.Unlock()
}

// Since appends to dst the observations after cursor, oldest first, at
// most limit of them (limit <= 0: as many as the ring holds). It returns
// them, the cursor to ask from next time, and how many observations after
// cursor the ring no longer holds (overwritten before this read: a gap in
// the reader's view).
func (r *EchoRing) Since(dst []Observation, cursor uint64, limit int) (out []Observation, next uint64, missed uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := uint64(len(r.buf))
	oldest := uint64(1)
	if r.next > size+1 {
		oldest = r.next - size
	}
	from := cursor + 1
	if from > r.next {
		from = r.next // a cursor from the future (another run): start now
	}
	if from < oldest {
		missed = oldest - from
		from = oldest
	}
	to := r.next
	if limit > 0 && to-from > uint64(limit) {
		to = from + uint64(limit)
	}
	for c := from; c < to; c++ {
		dst = append(dst, r.buf[c%size])
	}
	return dst, to - 1, missed
}

// EchoBatch is one answer of GET /api/v1/echoes: the exporter's points in
// path order, the observations after the asked cursor, and where to go on.
// The JSON schema is in docs/locate.md.
type EchoBatch struct {
	// Run changes when the exporter restarts: cursors of another run mean
	// nothing.
	Run string `json:"run"`
	// Points are the exporter's --locate.points, in path order.
	Points []string `json:"points"`
	// Next is the cursor to ask from next (the last observation's).
	Next uint64 `json:"next"`
	// Missed counts observations after the asked cursor that the ring had
	// already overwritten.
	Missed uint64 `json:"missed"`
	// More is set when the answer was cut at the limit: ask again at once.
	More bool `json:"more"`
	// Echoes are the observations.
	Echoes []Observation `json:"-"`
}

// AppendJSON appends b as JSON to dst, by hand: an observation is a small
// array [point, reply, id, seq, src, dst, unix_nanos], so that 1,000
// echoes a second over four points stay cheap to serve and to read.
func (b *EchoBatch) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"run":`...)
	dst = strconv.AppendQuote(dst, b.Run)
	dst = append(dst, `,"points":[`...)
	for i, p := range b.Points {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, p)
	}
	dst = append(dst, `],"next":`...)
	dst = strconv.AppendUint(dst, b.Next, 10)
	dst = append(dst, `,"missed":`...)
	dst = strconv.AppendUint(dst, b.Missed, 10)
	dst = append(dst, `,"more":`...)
	dst = strconv.AppendBool(dst, b.More)
	dst = append(dst, `,"echoes":[`...)
	for i := range b.Echoes {
		o := &b.Echoes[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(o.Point), 10)
		if o.Reply {
			dst = append(dst, ",1,"...)
		} else {
			dst = append(dst, ",0,"...)
		}
		dst = strconv.AppendUint(dst, uint64(o.ID), 10)
		dst = append(dst, ',')
		dst = strconv.AppendUint(dst, uint64(o.Seq), 10)
		dst = append(dst, `,"`...)
		dst = o.Src.AppendTo(dst)
		dst = append(dst, `","`...)
		dst = o.Dst.AppendTo(dst)
		dst = append(dst, `",`...)
		dst = strconv.AppendInt(dst, o.Time.UnixNano(), 10)
		dst = append(dst, ']')
	}
	return append(dst, "]}\n"...)
}

// ErrEchoBatch is an answer of /api/v1/echoes that does not follow the
// schema.
var ErrEchoBatch = errors.New("malformed echo batch")

// ParseEchoBatch reads an answer of GET /api/v1/echoes. The header goes
// through encoding/json; the echoes, the bulk, through a small scanner of
// their fixed array form.
func ParseEchoBatch(data []byte) (*EchoBatch, error) {
	var raw struct {
		EchoBatch
		Echoes json.RawMessage `json:"echoes"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEchoBatch, err)
	}
	b := raw.EchoBatch
	if b.Run == "" || len(b.Points) < 1 || len(b.Points) > MaxPoints {
		return nil, fmt.Errorf("%w: run %q, %d points", ErrEchoBatch, b.Run, len(b.Points))
	}
	sc := echoScanner{data: raw.Echoes}
	if !sc.byte('[') {
		return nil, fmt.Errorf("%w: echoes are not a list", ErrEchoBatch)
	}
	for i := 0; !sc.byte(']'); i++ {
		if i > 0 && !sc.byte(',') {
			return nil, fmt.Errorf("%w: echo %d: want , or ]", ErrEchoBatch, i)
		}
		var o Observation
		point, okP := sc.int(0, int64(len(b.Points)-1), true)
		reply, okR := sc.int(0, 1, false)
		id, okI := sc.int(0, 0xffff, false)
		seq, okS := sc.int(0, 0xffff, false)
		src, okA := sc.addr()
		dst, okB := sc.addr()
		ns, okT := sc.int(-1<<62, 1<<62, false)
		if !okP || !okR || !okI || !okS || !okA || !okB || !okT || !sc.byte(']') {
			return nil, fmt.Errorf("%w: echo %d: want [point, reply, id, seq, \"src\", \"dst\", unix_nanos]", ErrEchoBatch, i)
		}
		o = Observation{Point: int(point), Reply: reply == 1, ID: uint16(id), Seq: uint16(seq), Src: src, Dst: dst, Time: time.Unix(0, ns)}
		b.Echoes = append(b.Echoes, o)
	}
	return &b, nil
}

// echoScanner reads the fixed array form of the echoes.
type echoScanner struct {
	data []byte
	pos  int
}

func (s *echoScanner) skip() {
	for s.pos < len(s.data) && (s.data[s.pos] == ' ' || s.data[s.pos] == '\n' || s.data[s.pos] == '\t' || s.data[s.pos] == '\r') {
		s.pos++
	}
}

// byte consumes c if it comes next.
func (s *echoScanner) byte(c byte) bool {
	s.skip()
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// int reads an integer in [lo, hi], after a comma unless first (and after
// the element's opening bracket when first).
func (s *echoScanner) int(lo, hi int64, first bool) (int64, bool) {
	if first && !s.byte('[') || !first && !s.byte(',') {
		return 0, false
	}
	s.skip()
	start := s.pos
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	v, err := strconv.ParseInt(string(s.data[start:s.pos]), 10, 64)
	return v, err == nil && v >= lo && v <= hi
}

// addr reads a quoted IP address after a comma.
func (s *echoScanner) addr() (netip.Addr, bool) {
	if !s.byte(',') || !s.byte('"') {
		return netip.Addr{}, false
	}
	start := s.pos
	for s.pos < len(s.data) && s.data[s.pos] != '"' {
		s.pos++
	}
	if s.pos >= len(s.data) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(string(s.data[start:s.pos]))
	s.pos++
	return a, err == nil
}
