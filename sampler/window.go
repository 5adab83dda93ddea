package sampler

// maxWindow is the maximum of the values pushed within a trailing span of
// time: a monotonic deque, so each push is O(1) amortised and the maximum
// is its front. Its ring grows on demand up to limit entries and never
// shrinks, so a steady state allocates nothing.
type maxWindow struct {
	span  int64 // nanoseconds
	limit int
	buf   []maxEntry
	head  int
	n     int
}

type maxEntry struct {
	t int64 // monotonic nanoseconds
	v float64
}

func newMaxWindow(span int64, limit int) maxWindow {
	return maxWindow{span: span, limit: limit}
}

func (w *maxWindow) at(i int) *maxEntry { return &w.buf[(w.head+i)%len(w.buf)] }

// push records v at time t (non-decreasing across calls).
func (w *maxWindow) push(t int64, v float64) {
	// Values no larger than v, pushed before it, can never be the maximum
	// again.
	for w.n > 0 && w.at(w.n-1).v <= v {
		w.n--
	}
	w.expire(t)
	if w.n == len(w.buf) {
		if len(w.buf) < w.limit {
			w.grow()
		} else {
			// Only with irregular timestamps: forget the oldest.
			w.head = (w.head + 1) % len(w.buf)
			w.n--
		}
	}
	*w.at(w.n) = maxEntry{t: t, v: v}
	w.n++
}

func (w *maxWindow) grow() {
	size := max(4, min(2*len(w.buf), w.limit))
	buf := make([]maxEntry, size)
	for i := 0; i < w.n; i++ {
		buf[i] = *w.at(i)
	}
	w.buf, w.head = buf, 0
}

func (w *maxWindow) expire(now int64) {
	for w.n > 0 && w.at(0).t <= now-w.span {
		w.head = (w.head + 1) % len(w.buf)
		w.n--
	}
}

// max returns the maximum of the values pushed in (now-span, now], 0 when
// there are none. It does not modify the window.
func (w *maxWindow) max(now int64) float64 {
	for i := 0; i < w.n; i++ {
		if e := w.at(i); e.t > now-w.span {
			return e.v
		}
	}
	return 0
}

// historyRing remembers a device's cumulative byte totals when they move,
// at a spacing of at least step, for the bytes moved over a trailing
// window.
type historyRing struct {
	step    int64
	entries []historyEntry
	next    int
	n       int
}

type historyEntry struct {
	t      int64
	rx, tx uint64
}

func newHistoryRing(step int64, size int) historyRing {
	return historyRing{step: step, entries: make([]historyEntry, size)}
}

func (h *historyRing) record(t int64, rx, tx uint64) {
	if h.n > 0 {
		last := h.entries[(h.next-1+len(h.entries))%len(h.entries)]
		if t-last.t < h.step {
			return
		}
	}
	h.entries[h.next] = historyEntry{t: t, rx: rx, tx: tx}
	h.next = (h.next + 1) % len(h.entries)
	h.n = min(h.n+1, len(h.entries))
}

// at returns the total at time now-span: the newest entry at least span
// old (totals are flat between entries), and the span it covers. When no
// entry is that old, it returns the oldest and the shorter span it covers.
func (h *historyRing) at(now, span int64) (e historyEntry, covered int64, ok bool) {
	if h.n == 0 {
		return historyEntry{}, 0, false
	}
	for i := 1; i <= h.n; i++ {
		e := h.entries[(h.next-i+len(h.entries))%len(h.entries)]
		if now-e.t >= span {
			return e, span, true
		}
	}
	e = h.entries[(h.next-h.n+len(h.entries))%len(h.entries)]
	return e, now - e.t, true
}
