package sampler

import "testing"

func TestWatchersCoalesceAndRelease(t *testing.T) {
	var w watchers
	a, releaseA := w.Watch()
	b, releaseB := w.Watch()
	defer releaseB()
	for i := 0; i < 3; i++ {
		w.notify() // never blocks, though nobody reads
	}
	for name, ch := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-ch:
		default:
			t.Fatalf("watcher %s got no signal", name)
		}
		select {
		case <-ch:
			t.Fatalf("watcher %s got a second signal: changes are not coalesced", name)
		default:
		}
	}
	releaseA()
	releaseA() // twice is harmless
	w.notify()
	select {
	case <-a:
		t.Error("released watcher still signalled")
	default:
	}
	select {
	case <-b:
	default:
		t.Error("remaining watcher not signalled")
	}
}
