package spike

import (
	"sync"
	"testing"
	"time"
)

// recorder is a Sink that keeps what it gets.
type recorder struct {
	mu     sync.Mutex
	name   string
	log    *[]string
	events []Event
}

func (r *recorder) Notify(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if r.log != nil {
		*r.log = append(*r.log, r.name)
	}
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func TestBus(t *testing.T) {
	var b Bus
	b.Notify(Event{Trigger: TriggerRTT}) // no subscriber: dropped, no panic
	var order []string
	first, second := &recorder{name: "first", log: &order}, &recorder{name: "second", log: &order}
	b.Subscribe(first)
	b.Notify(Event{Trigger: TriggerBurst})
	b.Subscribe(second)
	e := Event{Time: time.Unix(1, 0), Trigger: TriggerBond, Device: "eth0", Value: 0.95, Threshold: 0.9}
	b.Notify(e)
	if first.len() != 2 || second.len() != 1 || second.events[0] != e {
		t.Errorf("first got %v, second %v", first.events, second.events)
	}
	if want := []string{"first", "first", "second"}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Errorf("delivery order %v, want %v", order, want)
	}
	var _ Sink = &b
}

// Notify is on the detectors' hot paths: no allocation per event.
func TestBusNotifyAllocs(t *testing.T) {
	var b Bus
	b.Subscribe(Discard{})
	b.Subscribe(Discard{})
	e := Event{Trigger: TriggerBurst, Device: "eth0"}
	if n := testing.AllocsPerRun(100, func() { b.Notify(e) }); n != 0 {
		t.Errorf("Notify allocates %v times per event", n)
	}
}

// Subscribing while events flow (a consumer started late) is safe.
func TestBusConcurrent(t *testing.T) {
	var b Bus
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					b.Notify(Event{Trigger: TriggerRTT})
				}
			}
		}()
	}
	sinks := make([]*recorder, 10)
	for i := range sinks {
		sinks[i] = &recorder{}
		b.Subscribe(sinks[i])
	}
	b.Notify(Event{Trigger: TriggerSegment})
	close(stop)
	wg.Wait()
	for i, s := range sinks {
		if s.len() == 0 {
			t.Errorf("sink %d subscribed before the last event got nothing", i)
		}
	}
}
