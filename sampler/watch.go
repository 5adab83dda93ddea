package sampler

import "sync"

// LinkWatcher is implemented by link sources that follow the kernel's link
// events (the netlink one): the one subscription of the process, whose
// changes the bond monitor, the capture, live locate and the prober follow.
type LinkWatcher interface {
	// Watch returns a channel that receives a value after the link table
	// changed (a device added, removed, renamed, or its state changed) and
	// a function that releases it. Signals are coalesced: one pending value
	// stands for any number of changes, so a slow reader never blocks the
	// source, and it re-reads what it needs when it wakes.
	Watch() (changes <-chan struct{}, release func())
}

// LinkEventStats are a watcher's counters, for metrics.
type LinkEventStats struct {
	// Events are link notifications applied to the table.
	Events uint64
	// Overflows count the kernel dropping notifications because the
	// socket's receive buffer was full (ENOBUFS): the table is re-read.
	Overflows uint64
	// Relists count full re-reads of the table (at start, after an
	// overflow or an interrupted dump, on Refresh).
	Relists uint64
	// Errors count failed reads of the event socket or of the table.
	Errors uint64
}

// watchers fans one source's change signal out to its watchers.
type watchers struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func (w *watchers) Watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.subs == nil {
		w.subs = map[chan struct{}]struct{}{}
	}
	w.subs[ch] = struct{}{}
	w.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.mu.Lock()
			delete(w.subs, ch)
			w.mu.Unlock()
		})
	}
}

// notify signals every watcher without blocking.
func (w *watchers) notify() {
	w.mu.Lock()
	for ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
}
