package spike

import "time"

// Limiter spaces the events of one source: one trigger, one segment and
// direction, one bond slave and direction. Keep one per source, beside the
// source's other state, so that its memory goes with that state. The zero
// Limiter has let nothing through yet. It is not safe for concurrent use:
// its owner's lock guards it.
//
// The package documentation gives the semantics.
type Limiter struct {
	last time.Time
	set  bool
}

// Allow reports whether an event at t may be raised: unless an event let
// through before lies within interval of t, before or after it. An event
// let through becomes the last one; a suppressed one does not, so that a
// condition that lasts raises one event per interval rather than none.
// With interval <= 0 every event passes.
func (l *Limiter) Allow(t time.Time, interval time.Duration) bool {
	if l.set {
		if d := t.Sub(l.last); d < interval && d > -interval {
			return false
		}
	}
	l.last, l.set = t, true
	return true
}

// Mark records an event at t as let through without asking: one raised
// anyway (the capture merges an event into the window already open, limit
// or not) still spaces the source's next events.
func (l *Limiter) Mark(t time.Time) { l.last, l.set = t, true }

// Reset forgets the last event: the next one passes. A detector calls it
// when its condition ends, so that the next episode is reported at once
// however soon it comes.
func (l *Limiter) Reset() { *l = Limiter{} }
