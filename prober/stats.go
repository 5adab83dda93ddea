package prober

import "time"

// Peak windows: the trailing windows over which the peak RTT is kept.
const (
	peakWindows = 3
	medianLen   = 32
	// medianMin is how many RTTs the rolling median needs before the
	// k x median rule applies.
	medianMin = 8
	// peakCap bounds each peak window's deque whatever the interval.
	peakCap = 8192
)

// PeakWindows returns the trailing windows of TargetStats.Peaks, in order:
// 1s, 10s and 60s.
func PeakWindows() [peakWindows]time.Duration {
	return [peakWindows]time.Duration{time.Second, 10 * time.Second, time.Minute}
}

// PeakWindowNames returns the "window" label values of PeakWindows.
func PeakWindowNames() [peakWindows]string {
	return [peakWindows]string{"1s", "10s", "60s"}
}

type peakSample struct{ t, v int64 }

// peakWindow keeps the maximum of the values added in the trailing width,
// as a monotonic deque: each value is pushed and popped at most once, so
// add is O(1) amortised and memory is bounded by the ring.
type peakWindow struct {
	width   int64
	buf     []peakSample
	head, n int
}

func newPeakWindow(width, interval time.Duration) peakWindow {
	c := int(width/interval) + 4
	if c > peakCap {
		c = peakCap
	}
	return peakWindow{width: int64(width), buf: make([]peakSample, c)}
}

func (w *peakWindow) add(t, v int64) {
	c := len(w.buf)
	for w.n > 0 && w.buf[(w.head+w.n-1)%c].v <= v {
		w.n--
	}
	if w.n == c {
		// More samples than the window should hold: the oldest goes.
		w.head = (w.head + 1) % c
		w.n--
	}
	w.buf[(w.head+w.n)%c] = peakSample{t, v}
	w.n++
	w.expire(t)
}

func (w *peakWindow) expire(now int64) {
	c := len(w.buf)
	for w.n > 0 && w.buf[w.head].t <= now-w.width {
		w.head = (w.head + 1) % c
		w.n--
	}
}

// max returns the largest value added in (now-width, now], 0 if none.
func (w *peakWindow) max(now int64) int64 {
	w.expire(now)
	if w.n == 0 {
		return 0
	}
	return w.buf[w.head].v
}

// medianRing is the rolling median of the last medianLen RTTs.
type medianRing struct {
	buf  [medianLen]int64
	n, i int
}

func (m *medianRing) add(v int64) {
	m.buf[m.i] = v
	m.i = (m.i + 1) % medianLen
	if m.n < medianLen {
		m.n++
	}
}

// median returns the median and whether enough values were seen.
func (m *medianRing) median() (int64, bool) {
	if m.n < medianMin {
		return 0, false
	}
	var s [medianLen]int64
	copy(s[:m.n], m.buf[:m.n])
	// Insertion sort: 32 values, no allocation.
	for i := 1; i < m.n; i++ {
		for j := i; j > 0 && s[j-1] > s[j]; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
	if m.n%2 == 1 {
		return s[m.n/2], true
	}
	return (s[m.n/2-1] + s[m.n/2]) / 2, true
}

// jitter is the RFC 3550 interarrival jitter estimator: for an echo, the
// transit difference D of two consecutive replies is the difference of
// their RTTs, and J += (|D| - J) / 16.
type jitter struct {
	j    float64
	last int64
	have bool
}

func (j *jitter) add(rtt int64) {
	if j.have {
		d := float64(rtt - j.last)
		if d < 0 {
			d = -d
		}
		j.j += (d - j.j) / 16
	}
	j.last, j.have = rtt, true
}

func (j *jitter) value() time.Duration { return time.Duration(j.j) }
