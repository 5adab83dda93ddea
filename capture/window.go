package capture

import (
	"context"
	"slices"
	"time"

	"github.com/netburst/netburst/spike"
)

// window is the open freeze window.
type window struct {
	first    spike.Event
	triggers []spike.Trigger
	start    time.Time
	end      time.Time
	devices  []*device
}

// finalizeGrace is how long after a window's end the manager waits for the
// readers to deliver its last frames (the kernel hands over a TPACKET_V3
// block at the latest 50 ms after its first frame).
const finalizeGrace = 150 * time.Millisecond

func (c *Capture) manage(ctx context.Context) {
	var (
		w     *window
		timer = time.NewTimer(time.Hour)
		// limits spaces each trigger's events (see spike.Limiter).
		limits = map[spike.Trigger]spike.Limiter{}
	)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			// Shutting down in a spike: keep what the window holds so far.
			if w != nil {
				c.finalize(w)
			}
			return
		case ev := <-c.events:
			if ev.Time.IsZero() {
				ev.Time = time.Now()
			}
			merging := w != nil && !ev.Time.Add(-c.cfg.Pre).After(w.end)
			// An event that falls into the open window joins it, limit or
			// not: the window is frozen already and the report names every
			// trigger.
			lim := limits[ev.Trigger]
			if merging {
				lim.Mark(ev.Time)
			} else if !lim.Allow(ev.Time, c.cfg.MinInterval) {
				c.suppressed.Add(1)
				continue
			}
			limits[ev.Trigger] = lim
			c.mu.Lock()
			c.spikes[ev.Trigger]++
			if ev.Time.After(c.lastSpike[ev.Trigger]) {
				c.lastSpike[ev.Trigger] = ev.Time
			}
			c.mu.Unlock()
			if w != nil && !merging {
				// A new window while one is open: close the old one first.
				c.finalize(w)
				w = nil
			}
			if w == nil {
				w = &window{first: ev, start: ev.Time.Add(-c.cfg.Pre), end: ev.Time.Add(c.cfg.Post)}
			}
			if !slices.Contains(w.triggers, ev.Trigger) {
				w.triggers = append(w.triggers, ev.Trigger)
			}
			if end := ev.Time.Add(c.cfg.Post); end.After(w.end) {
				w.end = end
			}
			c.freeze(w, ev)
			timer.Reset(time.Until(w.end) + finalizeGrace)
		case <-timer.C:
			if w == nil {
				continue
			}
			if wait := time.Until(w.end) + finalizeGrace; wait > 0 {
				timer.Reset(wait)
				continue
			}
			c.finalize(w)
			w = nil
		}
	}
}

// freeze starts (or extends) the window on the devices ev concerns: its own
// device if captured, else all. Freezing only stops the window's frames
// from aging out of the ring: nothing is copied.
func (c *Capture) freeze(w *window, ev spike.Event) {
	targets := c.devices
	for _, d := range c.devices {
		if d.Name == ev.Device {
			targets = []*device{d}
			break
		}
	}
	for _, d := range targets {
		if !slices.Contains(w.devices, d) {
			w.devices = append(w.devices, d)
		}
	}
	for _, d := range w.devices {
		d.mu.Lock()
		if !d.frozen {
			d.frozen = true
			d.fromNs = w.start.UnixNano()
			d.windowDropped = 0
		}
		d.untilNs = w.end.UnixNano()
		d.mu.Unlock()
	}
}

// finalize closes the window: each device's frames in it become a report and
// a pcap file.
func (c *Capture) finalize(w *window) {
	for _, d := range w.devices {
		rep := c.summarize(d, w)
		c.mu.Lock()
		c.reports = append(c.reports, rep)
		if len(c.reports) > c.cfg.MaxReports {
			c.reports = slices.Delete(c.reports, 0, len(c.reports)-c.cfg.MaxReports)
		}
		c.mu.Unlock()
	}
}
