package sampler

import "time"

// Snapshot is a copy of the sampler's state for a scrape: the collector
// reads it without touching the kernel or holding the sampler's lock.
type Snapshot struct {
	// Time is when the latest sample was taken (zero before the first).
	Time     time.Time
	Interval time.Duration
	// SlowInterval is the slow tier's interval; it equals Interval when
	// every device is in the fast set.
	SlowInterval time.Duration
	// Source names the stats source ("netlink" or "procfs").
	Source   string
	Samples  uint64
	Overruns uint64
	// Errors counts failed readings per operation (OpStats, OpQdisc,
	// OpLinks).
	Errors [numOps]uint64
	// LinkEvents are the link source's event counters; FollowsLinks says
	// the source follows kernel link events at all (the netlink one).
	LinkEvents   LinkEventStats
	FollowsLinks bool
	Devices      []DeviceSnapshot
	Qdiscs       []QdiscSnapshot
}

// DeviceSnapshot is one device's state. Arrays are indexed by Direction
// and Window.
type DeviceSnapshot struct {
	Name, Kind, Master, OperState string
	// SpeedBytes is the link speed in bytes/s, 0 when unknown.
	SpeedBytes float64
	// CarrierChanges counts the link's carrier transitions (up and down)
	// since it was created; CarrierKnown says the link source knows it (the
	// netlink one does).
	CarrierChanges uint32
	CarrierKnown   bool
	// Interval is the device's sampling interval, the resolution of its
	// rates, peaks, histogram observations and burst intervals: the
	// sampler's interval for the fast set, the slow interval otherwise.
	Interval time.Duration
	Bytes    [2]uint64
	Packets  [2]uint64
	Errors   [2]uint64
	Drops    [2]uint64
	// Peak is the largest interval rate in each trailing window, bytes/s.
	Peak [2][NumWindows]float64
	// Bursts counts intervals at or above the burst threshold.
	Bursts [2]uint64
	// RefreshSeconds is the detected counter refresh period: the sampling
	// interval for counters fresh at every sample, 0 while undetected.
	RefreshSeconds float64
	// Discontinuities counts counter resets and implausible jumps.
	Discontinuities uint64
}

// QdiscSnapshot is the qdiscs of one kind on one device, added up.
type QdiscSnapshot struct {
	Device, Kind string
	// BacklogPeak is the largest backlog in bytes seen in each window.
	BacklogPeak [NumWindows]float64
	Backlog     uint64
	Drops       uint64
	Overlimits  uint64
	Requeues    uint64
}

// LinkErrorCounter is implemented by link sources that count their own
// failures (subscription losses, failed dumps).
type LinkErrorCounter interface {
	Errors() uint64
}

// LinkEventCounter is implemented by link sources that follow the
// kernel's link events.
type LinkEventCounter interface {
	LinkEventStats() LinkEventStats
}

// Snapshot copies the sampler's state into dst, reusing dst's slices.
func (s *Sampler) Snapshot(dst *Snapshot) {
	var linkErrs uint64
	if lc, ok := s.cfg.Links.(LinkErrorCounter); ok {
		linkErrs = lc.Errors()
	}
	dst.LinkEvents, dst.FollowsLinks = LinkEventStats{}, false
	if lc, ok := s.cfg.Links.(LinkEventCounter); ok {
		dst.LinkEvents, dst.FollowsLinks = lc.LinkEventStats(), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dst.Time, dst.Interval, dst.Source = s.lastTime, s.cfg.Interval, s.cfg.Stats.Name()
	dst.SlowInterval = s.SlowInterval()
	dst.Samples, dst.Overruns, dst.Errors = s.samples, s.overruns, s.errs
	dst.Errors[OpLinks] += linkErrs
	now := s.lastMono
	dst.Devices = dst.Devices[:0]
	for _, d := range s.devices {
		ds := DeviceSnapshot{
			Name: d.name, Bytes: d.bytes, Packets: d.packets, Errors: d.errors, Drops: d.drops,
			Bursts: d.bursts, RefreshSeconds: d.refresh.periodSeconds(time.Duration(d.interval)),
			Interval:        time.Duration(d.interval),
			Discontinuities: d.discont,
		}
		if d.link != nil {
			ds.Kind, ds.Master, ds.OperState, ds.SpeedBytes = d.link.Kind, d.link.Master, d.link.OperState, d.link.SpeedBytes
			ds.CarrierChanges, ds.CarrierKnown = d.link.CarrierChanges, d.link.CarrierKnown
		}
		for dir := range 2 {
			for w := range d.peaks[dir] {
				ds.Peak[dir][w] = d.peaks[dir][w].max(now)
			}
		}
		dst.Devices = append(dst.Devices, ds)
	}
	dst.Qdiscs = dst.Qdiscs[:0]
	for k, agg := range s.qdiscAggs {
		qs := QdiscSnapshot{
			Device: agg.device, Kind: k.kind, Backlog: agg.backlog,
			Drops: agg.drops, Overlimits: agg.overlimits, Requeues: agg.requeues,
		}
		for w := range agg.peaks {
			qs.BacklogPeak[w] = agg.peaks[w].max(now)
		}
		dst.Qdiscs = append(dst.Qdiscs, qs)
	}
}

// View gives a hook read access to the sample just taken. It is valid only
// during the hook call.
type View struct {
	s   *Sampler
	now time.Time
}

// Time returns when the sample was taken.
func (v View) Time() time.Time { return v.now }

// DeviceRates is what a hook can learn of one device at the latest sample.
// Arrays are indexed by Direction and Window.
type DeviceRates struct {
	// SpeedBytes is the link speed in bytes/s, 0 when unknown.
	SpeedBytes float64
	// Moved says whether the counters moved at this sample.
	Moved bool
	// Rate is the latest interval rate in bytes/s.
	Rate [2]float64
	// Peak is the largest interval rate in each trailing window.
	Peak [2][NumWindows]float64
	// WindowBytes is the bytes moved over each trailing window, measured
	// over WindowSeconds (the 10s and 60s windows have 1 s resolution).
	WindowBytes   [2][NumWindows]uint64
	WindowSeconds [NumWindows]float64
}

// Lookup returns a device's rates by name.
func (v View) Lookup(name string) (DeviceRates, bool) {
	d := v.s.byName[name]
	if d == nil {
		return DeviceRates{}, false
	}
	now := v.s.mono(v.now)
	r := DeviceRates{Moved: d.moved, Rate: d.rate}
	if d.link != nil {
		r.SpeedBytes = d.link.SpeedBytes
	}
	for w := range NumWindows {
		for dir := range 2 {
			r.Peak[dir][w] = d.peaks[dir][w].max(now)
		}
		ring := &d.history60s
		if Window(w) == Window1s {
			ring = &d.history1s
		}
		if e, covered, ok := ring.at(now, int64(Window(w).Span())); ok {
			r.WindowBytes[0][w] = d.bytes[0] - e.rx
			r.WindowBytes[1][w] = d.bytes[1] - e.tx
			r.WindowSeconds[w] = float64(covered) / 1e9
		}
	}
	return r, true
}
