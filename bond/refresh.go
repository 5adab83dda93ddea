package bond

import (
	"context"
	"time"
)

// Refresh reads the topology with read and hands it to the monitor now,
// whenever events delivers (link added, removed or changed) and every
// interval, until ctx ends. A failed read keeps the previous topology and
// counts a "read_error" problem. It returns ctx's error.
func (m *Monitor) Refresh(ctx context.Context, interval time.Duration, read func() (*Topology, error), events <-chan struct{}) error {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if t, err := read(); err != nil {
			m.mu.Lock()
			m.problems["read_error"]++
			m.mu.Unlock()
		} else {
			m.SetTopology(t)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-events:
			// Link changes come in bursts (enslaving touches both devices):
			// let them settle, then read once.
			timer := time.NewTimer(200 * time.Millisecond)
		drain:
			for {
				select {
				case <-events:
				case <-timer.C:
					break drain
				case <-ctx.Done():
					timer.Stop()
					return ctx.Err()
				}
			}
		}
	}
}
