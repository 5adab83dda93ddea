package spike

import (
	"sync"
	"sync/atomic"
)

// Bus fans events out to the sinks subscribed to it: the detectors are
// handed the Bus as their Sink, the consumers subscribe, and neither knows
// the other. The zero value is a Bus without subscribers. It is safe for
// concurrent use; a sink may subscribe while events flow.
type Bus struct {
	mu sync.Mutex // serialises Subscribe
	// sinks is replaced, never modified, so that Notify reads it without a
	// lock and without allocating.
	sinks atomic.Pointer[[]Sink]
}

// Subscribe adds s: it receives every event notified from then on.
func (b *Bus) Subscribe(s Sink) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var next []Sink
	if old := b.sinks.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, s)
	b.sinks.Store(&next)
}

// Notify implements Sink: it hands e to every subscriber in the order they
// subscribed. It does not block itself; each sink must not block either
// (see Sink).
func (b *Bus) Notify(e Event) {
	sinks := b.sinks.Load()
	if sinks == nil {
		return
	}
	for _, s := range *sinks {
		s.Notify(e)
	}
}
