package sampler

import (
	"math"
	"time"
)

// counterDelta returns how much a kernel counter grew from prev to cur. A
// counter that went backwards either wrapped at 32 bits (drivers that keep
// 32-bit counters: prev in the upper half of the 32-bit range, cur in the
// lower) or was reset (driver reload, ifindex reuse): ok is false then.
func counterDelta(prev, cur uint64) (delta uint64, ok bool) {
	if cur >= prev {
		return cur - prev, true
	}
	if prev <= math.MaxUint32 && prev >= 1<<31 && cur < 1<<31 {
		return cur + (1 << 32) - prev, true
	}
	return 0, false
}

// refreshClass is what the sampler has learnt of a device's counters.
type refreshClass uint8

const (
	// refreshUnknown: not enough changes seen to tell.
	refreshUnknown refreshClass = iota
	// refreshEager: counters move between consecutive samples, so they
	// are fresh at every sample.
	refreshEager
	// refreshLazy: the driver refreshes its counters every period, so a
	// jump covers that period, not the sampling interval.
	refreshLazy
)

const gapHistory = 8

// refreshDetector learns a device's counter refresh period from the gaps
// between the samples at which its counters moved. Counters that move at
// two consecutive samples are eager. Gaps that are all near multiples of
// one period, at least 2.5 sampling intervals long and no longer than the
// longest believable refresh period, reveal a lazy driver; a single change
// earlier than that period proves it wrong.
type refreshDetector struct {
	class      refreshClass
	changed    bool  // lastChange was a movement, not the baseline
	period     int64 // ns, for lazy devices
	lastChange int64 // ns, monotonic
	prevSample int64 // ns, monotonic
	ngaps      int
	gi         int
	gaps       [gapHistory]int64
}

// relearn forgets what was learnt of the driver (after a change of the
// sampling interval) but keeps the times of the latest samples, so that the
// next movement still spans the real time since.
func (d *refreshDetector) relearn() {
	d.class, d.period, d.ngaps, d.gi = refreshUnknown, 0, 0, 0
}

// start sets the baseline sample, which counts as no movement.
func (d *refreshDetector) start(t int64) {
	d.prevSample, d.lastChange, d.changed = t, t, false
}

// observe records a sample at t (monotonic ns) and whether the counters
// moved since the previous one. When they moved it returns the span, in
// ns, that the movement covers, and the time since the previous sample.
// ambiguous is set when an unclassified device moved after a pause: an eager
// driver's first busy interval and a lazy driver's refresh look alike until
// the next sample, and span is then the lazy reading (the time since the
// last movement, at most maxRefresh).
func (d *refreshDetector) observe(t int64, moved bool, interval, maxRefresh int64) (span, sinceSample int64, ambiguous bool) {
	sinceSample = t - d.prevSample
	prev := d.prevSample
	d.prevSample = t
	if !moved {
		return 0, sinceSample, false
	}
	gap := t - d.lastChange
	consecutive := d.changed && d.lastChange == prev
	d.lastChange, d.changed = t, true
	if consecutive {
		// Only an eager driver's counters move at two samples in a row,
		// and a driver does not change its ways: eager for good.
		d.class, d.ngaps, d.gi = refreshEager, 0, 0
		return sinceSample, sinceSample, false
	}
	if d.class == refreshEager {
		return sinceSample, sinceSample, false
	}
	d.gaps[d.gi] = gap
	d.gi = (d.gi + 1) % gapHistory
	d.ngaps = min(d.ngaps+1, gapHistory)
	if d.class == refreshLazy {
		tolerance := interval + interval/2
		if gap < d.period-tolerance {
			// Sooner than a lazy driver refreshes: the period was
			// misjudged; learn again.
			d.class, d.ngaps, d.gi = refreshUnknown, 0, 0
			return min(gap, maxRefresh), sinceSample, true
		}
		d.adjustPeriod(interval)
		return d.period, sinceSample, false
	}
	if d.lazyPattern(3, interval, maxRefresh) {
		d.class = refreshLazy
		return d.period, sinceSample, false
	}
	return min(gap, maxRefresh), sinceSample, true
}

// lazyPattern reports whether the last need gaps look like a lazy driver's
// and, if so, sets the period.
func (d *refreshDetector) lazyPattern(need int, interval, maxRefresh int64) bool {
	if d.ngaps < need {
		return false
	}
	minGap := int64(math.MaxInt64)
	for i := 0; i < need; i++ {
		minGap = min(minGap, d.recentGap(i))
	}
	if minGap < interval*5/2 || minGap > maxRefresh {
		return false
	}
	tolerance := interval + interval/2
	var sum, n int64
	for i := 0; i < need; i++ {
		g := d.recentGap(i)
		k := (g + minGap/2) / minGap
		if k < 1 || absDiff(g, k*minGap) > k*tolerance {
			return false
		}
		if k == 1 {
			sum += g
			n++
		}
	}
	d.period = sum / n
	return true
}

// adjustPeriod follows a lazy device's period as single-period gaps come.
func (d *refreshDetector) adjustPeriod(interval int64) {
	g := d.recentGap(0)
	if absDiff(g, d.period) <= interval+interval/2 {
		// An exponential average with a long memory: the sampling phase
		// makes single gaps jitter by up to one interval.
		d.period += (g - d.period) / 8
	}
}

func (d *refreshDetector) recentGap(i int) int64 {
	return d.gaps[(d.gi-1-i+2*gapHistory)%gapHistory]
}

// periodSeconds returns the detected refresh period: the sampling interval
// for eager counters, 0 while unknown.
func (d *refreshDetector) periodSeconds(interval time.Duration) float64 {
	switch d.class {
	case refreshEager:
		return interval.Seconds()
	case refreshLazy:
		return float64(d.period) / 1e9
	}
	return 0
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
