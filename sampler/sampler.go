package sampler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netburst/netburst/spike"
)

// Direction indexes per-direction arrays.
type Direction int

// The two directions, as used in the "direction" label.
const (
	Receive Direction = iota
	Transmit
)

// String returns the label value.
func (d Direction) String() string {
	if d == Receive {
		return "receive"
	}
	return "transmit"
}

// Window indexes per-window arrays.
type Window int

// The trailing windows of peaks, as used in the "window" label.
const (
	Window1s Window = iota
	Window10s
	Window60s
	// NumWindows is the number of windows, the length of per-window arrays.
	NumWindows
)

// Windows lists every window, for loops.
var Windows = [NumWindows]Window{Window1s, Window10s, Window60s}

var windowSpans = [NumWindows]time.Duration{time.Second, 10 * time.Second, time.Minute}

// String returns the label value ("1s", "10s", "60s").
func (w Window) String() string { return [...]string{"1s", "10s", "60s"}[w] }

// Span returns the window's length.
func (w Window) Span() time.Duration { return windowSpans[w] }

// Interval limits accepted by New.
const (
	MinInterval = 10 * time.Millisecond
	MaxInterval = 10 * time.Second
)

// maxPlausibleRate caps believable rates (bytes/s, 1.6 Tbit/s): a larger
// jump is a counter discontinuity (an ifindex reused between two samples, a
// driver that restored old counters), not traffic.
const maxPlausibleRate = 200e9

// RateObserver receives one device direction's per-interval rates in bytes
// per second. client_golang's prometheus.Observer satisfies it.
type RateObserver interface {
	Observe(float64)
}

// Observer receives the sampler's stream of observations, on the sampling
// goroutine: its methods must be quick and must not block.
type Observer interface {
	// DeviceAdded is called when a device is first sampled (or renamed). The
	// observers it returns, either of which may be nil, receive the rate of
	// every interval of the device's own tier in which that direction's byte
	// counter moved: one observation per Interval at most for the fast set,
	// one per SlowInterval for the rest (DeviceSnapshot.Interval says which,
	// and a device that changes tier keeps its observers).
	DeviceAdded(name string) (rx, tx RateObserver)
	// DeviceRemoved is called when a device vanishes or is renamed.
	DeviceRemoved(name string)
	// SampleDone observes the spacing since the previous sample's start and
	// this sample's duration, in seconds.
	SampleDone(spacing, duration float64)
}

// Config is a Sampler's configuration. Zero values take the defaults noted.
type Config struct {
	// Interval between samples, MinInterval..MaxInterval (default 100ms).
	Interval time.Duration
	// DeviceInclude and DeviceExclude select devices by name (nil: all,
	// none).
	DeviceInclude, DeviceExclude *regexp.Regexp
	// BurstThreshold is the fraction of link speed at or above which an
	// interval counts as a burst (default 0.8).
	BurstThreshold float64
	// BurstRate is the burst threshold in bytes/s for devices whose speed
	// is unknown; 0 counts no bursts on them.
	BurstRate float64
	// SlowDevices matches the names of the devices sampled every
	// SlowInterval rather than every Interval: the per-VM and
	// per-container interfaces of a hypervisor or container host. Bonds
	// and bond slaves are in the fast set whatever their names; bridges
	// and bridge ports go by their names (a host's uplink bridge is fast, a
	// per-VM firewall bridge and a VM's tap in a bridge are not). nil puts
	// every device in the fast set.
	SlowDevices *regexp.Regexp
	// SlowInterval is the slow tier's interval (default 1s), rounded to a
	// whole number of Intervals, at most MaxInterval.
	SlowInterval time.Duration
	// QdiscEvery reads each device's qdiscs every Nth sample of its tier;
	// 0 never.
	QdiscEvery int
	// MaxRefresh is the longest counter refresh period believed of a
	// driver (default 3s).
	MaxRefresh time.Duration

	// Stats reads the counters. A source that implements IndexStatsSource
	// reads the fast set alone between slow samples.
	Stats StatsSource // required
	Links LinkSource  // may be nil: devices are then known by name only
	// Qdiscs reads qdisc statistics; one that implements
	// DeviceQdiscSource reads each tier's devices at its interval.
	Qdiscs QdiscSource // may be nil
	// Observer receives rates and sampler timings; may be nil.
	Observer Observer
	// Spikes receives a burst event when a device direction starts
	// bursting; may be nil.
	Spikes spike.Sink
	Logger *slog.Logger
}

// Errors of New.
var (
	ErrBadInterval = errors.New("sampler interval out of range")
	ErrNoSource    = errors.New("sampler needs a stats source")
)

// Sampler samples counters on a deadline schedule. Run drives it; Snapshot
// and hooks read it.
type Sampler struct {
	cfg        Config
	interval   int64
	maxRefresh int64
	logger     *slog.Logger
	// The slow tier: its interval, and whether there is one at all
	// (SlowDevices set).
	slowInterval int64
	tiered       bool
	statsIx      IndexStatsSource  // nil if the source reads everything
	qdiscIx      DeviceQdiscSource // nil if the source reads everything

	mu sync.Mutex // guards everything below that a Snapshot reads
	// devices by key: ifindex for netlink readings, a name-derived key
	// for /proc/net/dev readings (see key).
	devices  map[int32]*device
	byName   map[string]*device
	linkByIx map[int32]*Link
	linkByNm map[string]*Link
	linksVer uint64
	haveLink bool
	seq      uint64
	nameKeys map[string]int32
	excluded map[int32]bool
	hint     []*device // device at each position of the previous dump
	hintFast []*device // the same for the fast set's own readings

	// fastIdx is the ifindexes of the fast set, from the link table
	// (fastOK once there is one); nFast counts the fast devices sampled.
	fastIdx  []int32
	fastOK   bool
	relink   bool // the link table changed since the latest step
	nFast    int
	lastSlow int64 // monotonic time of the latest slow sample
	haveSlow bool  // there was one
	// Samples of each tier so far, for QdiscEvery.
	fastSamples, slowSamples uint64

	qdiscs    map[qdiscKey]*qdiscState
	qdiscAggs map[qdiscAggKey]*qdiscAgg
	// How many of them belong to fast devices; qdiscRecount says they
	// must be counted again (qdiscs or tiers changed).
	fastQdiscs, fastQdiscAggs int
	qdiscRecount              bool
	qhint, qhintFast          []qdiscHint  // by position in the previous reading
	qfold                     [2]qdiscFold // of readings of every device, of the fast set
	// devGen changes whenever a device is added, removed, renamed or
	// changes tier, or the link table changes.
	devGen uint64

	stats  []Stat
	qstats []QdiscStat // the latest qdisc reading of every device
	// qstatsFast is the latest reading of the fast set's qdiscs.
	qstatsFast []QdiscStat
	// qdiscOrphans says the latest qdisc reading named devices not (yet)
	// sampled, so an unchanged reading is folded in again in case they
	// have appeared since.
	qdiscOrphans bool
	samples      uint64
	overruns     uint64
	errs         [numOps]uint64
	lastTime     time.Time
	lastMono     int64
	base         time.Time // monotonic origin for int64 timestamps

	ready atomic.Bool
	hooks []func(View)
}

// Operations whose failures are counted.
const (
	OpStats = iota
	OpQdisc
	OpLinks
	numOps
)

// OpNames are the "operation" label values of the error counters.
var OpNames = [numOps]string{"stats", "qdisc", "links"}

type device struct {
	// What every sample reads or writes comes first, together: a flat
	// reading (most of a thousand devices, most of the time) then touches
	// three cache lines of the device rather than six.
	index    int32
	removed  bool
	fast     bool // in the fast set
	moved    bool
	bursting [2]bool
	seen     uint64
	rate     [2]float64
	last     Counters
	pending  pendingMove
	refresh  refreshDetector

	key  int32
	link *Link
	name string
	// interval is the device's tier's sampling interval (ns), the one its
	// arithmetic runs at.
	interval   int64
	histograms [2]RateObserver
	bytes      [2]uint64
	packets    [2]uint64
	errors     [2]uint64
	drops      [2]uint64
	peaks      [2][NumWindows]maxWindow
	bursts     [2]uint64
	history1s  historyRing
	history60s historyRing
	discont    uint64
}

// pendingMove is a movement whose span waits for the next sample.
type pendingMove struct {
	active      bool
	delta       [2]uint64
	t           int64
	sinceSample int64
	lazySpan    int64
}

// New validates cfg and returns a Sampler that has not sampled yet.
func New(cfg Config) (*Sampler, error) {
	if cfg.Interval == 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	if cfg.Interval < MinInterval || cfg.Interval > MaxInterval {
		return nil, fmt.Errorf("%w: %v (accepted %v..%v)", ErrBadInterval, cfg.Interval, MinInterval, MaxInterval)
	}
	if cfg.Stats == nil {
		return nil, ErrNoSource
	}
	if cfg.SlowInterval == 0 {
		cfg.SlowInterval = time.Second
	}
	// A whole number of intervals, so that slow samples fall on the
	// schedule's ticks.
	cfg.SlowInterval = max(cfg.Interval, cfg.SlowInterval.Round(cfg.Interval))
	if cfg.SlowInterval > MaxInterval {
		return nil, fmt.Errorf("%w: slow interval %v (accepted %v..%v)", ErrBadInterval, cfg.SlowInterval, cfg.Interval, MaxInterval)
	}
	if cfg.BurstThreshold == 0 {
		cfg.BurstThreshold = 0.8
	}
	if cfg.MaxRefresh == 0 {
		cfg.MaxRefresh = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Spikes == nil {
		cfg.Spikes = spike.Discard{}
	}
	s := &Sampler{
		cfg:          cfg,
		interval:     int64(cfg.Interval),
		maxRefresh:   int64(cfg.MaxRefresh),
		logger:       cfg.Logger,
		slowInterval: int64(cfg.SlowInterval),
		tiered:       cfg.SlowDevices != nil && cfg.SlowInterval > cfg.Interval,
		devices:      map[int32]*device{},
		byName:       map[string]*device{},
		nameKeys:     map[string]int32{},
		excluded:     map[int32]bool{},
		qdiscs:       map[qdiscKey]*qdiscState{},
		qdiscAggs:    map[qdiscAggKey]*qdiscAgg{},
		base:         time.Now(),
	}
	s.statsIx, _ = cfg.Stats.(IndexStatsSource)
	s.qdiscIx, _ = cfg.Qdiscs.(DeviceQdiscSource)
	return s, nil
}

// Interval returns the sampling interval.
func (s *Sampler) Interval() time.Duration { return s.cfg.Interval }

// SlowInterval returns the slow tier's interval, as rounded; it equals
// Interval when every device is in the fast set.
func (s *Sampler) SlowInterval() time.Duration {
	if !s.tiered {
		return s.cfg.Interval
	}
	return s.cfg.SlowInterval
}

// SourceName names the stats source in use ("netlink" or "procfs").
func (s *Sampler) SourceName() string { return s.cfg.Stats.Name() }

// Ready reports whether the first sample has been taken.
func (s *Sampler) Ready() bool { return s.ready.Load() }

// AddHook registers fn to be called on the sampling goroutine after every
// sample, with a view of it. Call it before Run. fn must be quick and must
// not keep the View.
func (s *Sampler) AddHook(fn func(View)) { s.hooks = append(s.hooks, fn) }

// Run samples on a deadline schedule until ctx ends: sample i is due at
// start + i*interval. A sample that ends past the next deadline skips the
// deadlines it missed and counts them as overruns, rather than queueing
// samples back to back.
func (s *Sampler) Run(ctx context.Context) error {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var i int64
	var prevStart time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		t0 := time.Now()
		s.sample(t0, time.Now)
		d := time.Since(t0)
		if s.cfg.Observer != nil && !prevStart.IsZero() {
			s.cfg.Observer.SampleDone(t0.Sub(prevStart).Seconds(), d.Seconds())
		}
		prevStart = t0
		elapsed := time.Since(start)
		next := int64(elapsed/s.cfg.Interval) + 1
		if missed := next - (i + 1); missed > 0 {
			s.mu.Lock()
			s.overruns += uint64(missed)
			s.mu.Unlock()
		}
		i = next
		timer.Reset(time.Until(start.Add(time.Duration(i) * s.cfg.Interval)))
	}
}

// readingKind says what a reading covers and what is folded in.
type readingKind uint8

const (
	// readAll: a dump, folded into every device (a slow sample, or no
	// tiers).
	readAll readingKind = iota
	// readFastDump: a dump between slow samples: only the fast set is
	// folded in (the slow tier waits for its interval).
	readFastDump
	// readFastOnly: the fast set's own per-device reading.
	readFastOnly
)

// batchShare bounds the fast set read with per-device requests: at most
// 1/batchShare of the namespace's devices. Past that, one dump costs the
// kernel less than the requests (BenchmarkFastRead).
const batchShare = 4

// Sample reads the kernel once, as Run does at each deadline, and folds the
// reading in as taken at now. Benchmarks call it directly. A sample is slow
// (every device) when the slow interval has passed since the previous slow
// one, else fast (the fast set only).
func (s *Sampler) Sample(now time.Time) { s.sample(now, nil) }

// sample is Sample; with restamp (Run's time.Now), the reading is folded in
// as taken when the kernel answered rather than at the deadline's wake-up:
// a sampling goroutine preempted between the two under load would
// otherwise put more bytes in an interval than its length says (a 20 ms
// delay reads a shaped 40 Mbit/s as 48).
func (s *Sampler) sample(now time.Time, restamp func() time.Time) {
	t := s.mono(now)
	var links []Link
	var ver uint64
	haveLinks := s.cfg.Links != nil
	if haveLinks {
		links, ver = s.cfg.Links.Links()
	}
	// The fast set comes from the link table, so a change is applied
	// before the reading (the sampling goroutine is the only writer of
	// what the reading uses).
	linksChanged := haveLinks && (ver != s.linksVer || !s.haveLink)
	if linksChanged {
		s.mu.Lock()
		s.applyLinks(links, ver)
		s.mu.Unlock()
	}
	slow := s.slowDue(t)
	kind := readAll
	var stats []Stat
	var err error
	switch {
	case slow:
		stats, err = s.cfg.Stats.Read(s.stats)
	case s.batchFast():
		kind = readFastOnly
		stats, err = s.statsIx.ReadIndexes(s.stats, s.fastIdx)
	default:
		kind = readFastDump
		stats, err = s.cfg.Stats.Read(s.stats)
	}
	if restamp != nil && err == nil {
		now = restamp()
	}
	s.stats = stats[:0]
	qstats, qkind, qerr := s.readQdiscs(slow)
	s.mu.Lock()
	if err != nil {
		s.errs[OpStats]++
		s.mu.Unlock()
		s.logger.Debug("stats reading failed; retrying at the next tick", "err", err)
		return
	}
	doQdisc := qkind != qdiscNone
	if errors.Is(qerr, ErrUnchanged) {
		// The previous reading stands: nothing to fold in, unless a
		// reading of every device named devices that the sampler did not
		// know yet.
		qerr, doQdisc, qstats = nil, qkind == qdiscAll && s.qdiscOrphans, s.qstats
	}
	if qerr != nil {
		s.errs[OpQdisc]++
		s.logger.Debug("qdisc reading failed; retrying at the next tick", "err", qerr)
		doQdisc = false
	}
	s.step(now, stats, kind)
	if doQdisc {
		var structure uint64
		if s.qdiscIx != nil {
			structure = s.qdiscIx.Structure()
		}
		orphans := s.stepQdiscs(t, qstats, qkind == qdiscFast, structure, s.qdiscIx != nil)
		if qkind == qdiscAll {
			s.qdiscOrphans = orphans
		}
	}
	s.mu.Unlock()
	s.ready.Store(true)
	s.runHooks(now)
}

// What a qdisc reading covers.
const (
	qdiscNone = iota
	qdiscAll
	qdiscFast
)

// readQdiscs reads the qdiscs due at this sample: each tier's every
// QdiscEvery samples of that tier.
func (s *Sampler) readQdiscs(slow bool) ([]QdiscStat, int, error) {
	every := uint64(s.cfg.QdiscEvery)
	if s.cfg.Qdiscs == nil || every == 0 {
		return nil, qdiscNone, nil
	}
	fastDue := s.fastSamples%every == 0
	slowDue := slow && s.slowSamples%every == 0
	var qstats []QdiscStat
	var err error
	kind := qdiscAll
	switch {
	case !fastDue && !slowDue:
		return nil, qdiscNone, nil
	case s.qdiscIx == nil:
		qstats, err = s.cfg.Qdiscs.Read(s.qstats)
	case slowDue || !s.haveLink || len(s.fastIdx) == len(s.linkByIx):
		// Every device (the fast set may be all of them).
		qstats, err = s.qdiscIx.ReadDevices(s.qstats, nil)
	case len(s.fastIdx) == 0:
		return nil, qdiscNone, nil
	default:
		// Its own buffer: s.qstats keeps the latest reading of every
		// device, which an unchanged one repeats.
		qstats, err = s.qdiscIx.ReadDevices(s.qstatsFast, s.fastIdx)
		if err == nil {
			s.qstatsFast = qstats
		}
		return qstats, qdiscFast, err
	}
	if err == nil {
		s.qstats = qstats
	}
	return qstats, kind, err
}

// slowDue says whether a sample at t reads the slow tier: always without
// tiers, else once the slow interval has passed since the previous slow
// sample (half an interval early, for the timer's jitter).
func (s *Sampler) slowDue(t int64) bool {
	return !s.tiered || !s.haveSlow || t-s.lastSlow >= s.slowInterval-s.interval/2
}

// batchFast says whether the fast set is read with per-device requests.
func (s *Sampler) batchFast() bool {
	return s.statsIx != nil && s.haveLink && s.fastOK && len(s.fastIdx)*batchShare <= len(s.linkByIx)
}

// Step folds one reading of every device taken at now into the sampler's
// state, as Run does for each sample: the slow tier only when its interval
// is due. Tests drive the sampler's arithmetic with it.
func (s *Sampler) Step(now time.Time, stats []Stat, links []Link, linksVersion uint64) {
	s.mu.Lock()
	linksChanged := links != nil && (linksVersion != s.linksVer || !s.haveLink)
	if linksChanged {
		s.applyLinks(links, linksVersion)
	}
	kind := readAll
	if !s.slowDue(s.mono(now)) {
		kind = readFastDump
	}
	s.step(now, stats, kind)
	s.mu.Unlock()
	s.ready.Store(true)
	s.runHooks(now)
}

// runHooks hands the sample just folded in to the hooks, outside the lock:
// the sampling goroutine is the only writer, so their reads are safe.
func (s *Sampler) runHooks(now time.Time) {
	v := View{s: s, now: now}
	for _, h := range s.hooks {
		h(v)
	}
}

func (s *Sampler) mono(t time.Time) int64 { return int64(t.Sub(s.base)) }

func (s *Sampler) step(now time.Time, stats []Stat, kind readingKind) {
	// Devices are resolved afresh after a change of the link table, even
	// one applied before a reading that failed.
	linksChanged := s.relink
	s.relink = false
	s.seq++
	s.samples++
	s.fastSamples++
	t := s.mono(now)
	if kind == readAll {
		s.slowSamples++
		s.lastSlow, s.haveSlow = t, true
	}
	hint := s.hint
	if kind == readFastOnly {
		hint = s.hintFast
	}
	if len(hint) < len(stats) {
		hint = append(hint, make([]*device, len(stats)-len(hint))...)
		if kind == readFastOnly {
			s.hintFast = hint
		} else {
			s.hint = hint
		}
	}
	refresh := false
	seen, seenFast := 0, 0
	for i := range stats {
		st := &stats[i]
		// The kernel dumps interfaces in the same order every time (and
		// the fast set is asked for in ifindex order): the device met at
		// this position last time is almost always the one here now,
		// which spares two map lookups per interface.
		if d := hint[i]; d != nil && !linksChanged && !d.removed && st.Index != 0 && d.index == st.Index {
			d.seen = s.seq
			seen++
			if d.fast {
				seenFast++
			}
			if kind == readAll || d.fast {
				s.update(d, st, t)
			}
			continue
		}
		hint[i] = nil
		key, link, ok := s.resolve(st)
		if !ok {
			refresh = true
			continue
		}
		d := s.devices[key]
		if d == nil {
			if s.excluded[key] || !s.included(link.Name) {
				s.excluded[key] = true
				continue
			}
			d = s.addDevice(key, link, st, t)
			hint[i] = d
			seen++
			if d.fast {
				seenFast++
			}
			continue
		}
		d.seen = s.seq
		if d.link != link {
			if d.link.Kind != link.Kind {
				// Another kind of device under the same ifindex: not a
				// rename but a reuse, so its counters start afresh.
				s.removeDevice(key, d)
				if s.included(link.Name) {
					d = s.addDevice(key, link, st, t)
					hint[i] = d
					seen++
					if d.fast {
						seenFast++
					}
				}
				continue
			}
			s.relabel(d, link)
			if d.seen != s.seq {
				continue
			}
		}
		hint[i] = d
		seen++
		if d.fast {
			seenFast++
		}
		if kind == readAll || d.fast {
			s.update(d, st, t)
		}
	}
	switch {
	case kind == readFastOnly:
		// The reading covers the fast set: a fast device missing from it
		// is gone (the kernel answered ENODEV); the slow tier waits for
		// its dump.
		if seenFast != s.nFast {
			for key, d := range s.devices {
				if d.fast && d.seen != s.seq {
					s.removeDevice(key, d)
				}
			}
		}
	case seen != len(s.devices):
		for key, d := range s.devices {
			if d.seen != s.seq {
				s.removeDevice(key, d)
			}
		}
	}
	if refresh && s.cfg.Links != nil {
		s.cfg.Links.Refresh()
	}
	s.lastTime, s.lastMono = now, t
}

// applyLinks takes in a new link table: names and tiers are decided afresh,
// and the fast set's ifindexes listed for its per-device readings.
func (s *Sampler) applyLinks(links []Link, ver uint64) {
	s.setLinks(links, ver)
	s.relink = true
	s.devGen++
	s.fastIdx = s.fastIdx[:0]
	for i := range links {
		if l := &links[i]; s.included(l.Name) && s.fastLink(l) {
			s.fastIdx = append(s.fastIdx, l.Index)
		}
	}
	slices.Sort(s.fastIdx)
	s.fastOK = true
	for _, d := range s.devices {
		l := d.link
		if nl, ok := s.linkByIx[d.key]; ok {
			l = nl
		}
		if f := s.fastLink(l); f != d.fast {
			s.setTier(d, f)
		}
	}
}

// fastLink says whether a device belongs to the fast set.
func (s *Sampler) fastLink(l *Link) bool {
	if !s.tiered || l == nil {
		return true
	}
	// The mission: a bond and each of its slaves at full resolution,
	// whatever they are called.
	if l.Kind == "bond" {
		return true
	}
	if l.Master != "" && s.haveLink {
		if m, ok := s.linkByNm[l.Master]; ok && m.Kind == "bond" {
			return true
		}
	}
	return !s.cfg.SlowDevices.MatchString(l.Name)
}

// setTier moves a device to the fast set or out of it. Its rates keep
// spanning the real time since its latest reading; the refresh detector
// learns the driver again at the new interval.
func (s *Sampler) setTier(d *device, fast bool) {
	s.qdiscRecount = true
	s.devGen++
	if fast != d.fast {
		if fast {
			s.nFast++
		} else {
			s.nFast--
		}
	}
	d.fast = fast
	d.interval = s.interval
	if !fast {
		d.interval = s.slowInterval
	}
	d.refresh.relearn()
}

func (s *Sampler) setLinks(links []Link, ver uint64) {
	s.linksVer, s.haveLink = ver, true
	// Names may have changed: include/exclude is decided afresh.
	clear(s.excluded)
	s.linkByIx = make(map[int32]*Link, len(links))
	s.linkByNm = make(map[string]*Link, len(links))
	for i := range links {
		l := &links[i]
		s.linkByIx[l.Index] = l
		s.linkByNm[l.Name] = l
	}
	// Devices whose link vanished from the table go at this step's end
	// unless the reading still shows them; those the table renamed or
	// excluded are handled as they are met.
}

// resolve finds a reading's device key and link. Without a link table the
// reading's own name stands for the link.
func (s *Sampler) resolve(st *Stat) (int32, *Link, bool) {
	if st.Index != 0 && s.haveLink {
		l, ok := s.linkByIx[st.Index]
		return st.Index, l, ok
	}
	if st.Name == "" {
		return 0, nil, false
	}
	if s.haveLink {
		if l, ok := s.linkByNm[st.Name]; ok {
			return l.Index, l, true
		}
		return 0, nil, false
	}
	// No link table at all (netlink refused): key by name.
	key, ok := s.nameKeys[st.Name]
	if !ok {
		key = -int32(len(s.nameKeys) + 1)
		if len(s.nameKeys) > 1<<16 {
			return 0, nil, false
		}
		s.nameKeys[st.Name] = key
	}
	d := s.devices[key]
	if d != nil {
		return key, d.link, true
	}
	return key, &Link{Name: st.Name}, true
}

func (s *Sampler) included(name string) bool {
	if s.cfg.DeviceInclude != nil && !s.cfg.DeviceInclude.MatchString(name) {
		return false
	}
	if s.cfg.DeviceExclude != nil && s.cfg.DeviceExclude.MatchString(name) {
		return false
	}
	return true
}

func (s *Sampler) addDevice(key int32, link *Link, st *Stat, t int64) *device {
	d := &device{
		key: key, index: st.Index, link: link, name: link.Name, seen: s.seq, last: st.Counters,
		fast: s.fastLink(link), interval: s.interval,
		history1s:  newHistoryRing(0, int(time.Second/s.cfg.Interval)+2),
		history60s: newHistoryRing(int64(time.Second), 62),
	}
	for dir := range 2 {
		for _, w := range Windows {
			d.peaks[dir][w] = newMaxWindow(int64(w.Span()), int(w.Span()/s.cfg.Interval)+2)
		}
	}
	// Exported totals start at the kernel's values, as node_exporter's do.
	d.bytes = [2]uint64{st.RxBytes, st.TxBytes}
	d.packets = [2]uint64{st.RxPackets, st.TxPackets}
	d.errors = [2]uint64{st.RxErrors, st.TxErrors}
	d.drops = [2]uint64{st.RxDrops, st.TxDrops}
	s.qdiscRecount = true
	s.devGen++
	if d.fast {
		s.nFast++
	} else {
		d.interval = s.slowInterval
	}
	d.refresh.start(t)
	d.history1s.record(t, d.bytes[0], d.bytes[1])
	d.history60s.record(t, d.bytes[0], d.bytes[1])
	s.devices[key] = d
	s.byName[d.name] = d
	if s.cfg.Observer != nil {
		d.histograms[0], d.histograms[1] = s.cfg.Observer.DeviceAdded(d.name)
	}
	return d
}

func (s *Sampler) removeDevice(key int32, d *device) {
	s.qdiscRecount = true
	s.devGen++
	if d.fast {
		s.nFast--
	}
	d.removed = true
	delete(s.devices, key)
	if s.byName[d.name] == d {
		delete(s.byName, d.name)
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.DeviceRemoved(d.name)
	}
}

// relabel follows a link table change for a device: a rename moves its
// series, an exclusion drops it at the end of the step.
func (s *Sampler) relabel(d *device, link *Link) {
	d.link = link
	if link.Name == d.name {
		return
	}
	if !s.included(link.Name) {
		d.seen = 0
		return
	}
	if s.byName[d.name] == d {
		delete(s.byName, d.name)
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.DeviceRemoved(d.name)
	}
	s.devGen++
	d.name = link.Name
	s.byName[d.name] = d
	if s.cfg.Observer != nil {
		d.histograms[0], d.histograms[1] = s.cfg.Observer.DeviceAdded(d.name)
	}
}

func (s *Sampler) update(d *device, st *Stat, t int64) {
	cur := st.Counters
	if cur == d.last && !d.pending.active {
		// Nothing moved and nothing waits to be decided: what the full
		// path below does for a flat reading, without its arithmetic
		// (most of a hypervisor's vifs at most samples).
		d.refresh.prevSample = t
		d.moved = false
		if d.refresh.class != refreshLazy {
			d.rate = [2]float64{}
			d.bursting = [2]bool{}
		}
		return
	}
	rx, okRx := counterDelta(d.last.RxBytes, cur.RxBytes)
	tx, okTx := counterDelta(d.last.TxBytes, cur.TxBytes)
	rxp, okRxp := counterDelta(d.last.RxPackets, cur.RxPackets)
	txp, okTxp := counterDelta(d.last.TxPackets, cur.TxPackets)
	if !(okRx && okTx && okRxp && okTxp) {
		s.discontinuity(d, st, t, true)
		return
	}
	moved := rx != 0 || tx != 0 || rxp != 0 || txp != 0
	span, sinceSample, ambiguous := d.refresh.observe(t, moved, d.interval, s.maxRefresh)
	if moved && float64(max(rx, tx)) > maxPlausibleRate*float64(max(span, sinceSample))/1e9 {
		s.discontinuity(d, st, t, false)
		return
	}
	d.bytes[0] += rx
	d.bytes[1] += tx
	d.packets[0] += rxp
	d.packets[1] += txp
	addDelta(&d.errors[0], d.last.RxErrors, cur.RxErrors)
	addDelta(&d.errors[1], d.last.TxErrors, cur.TxErrors)
	addDelta(&d.drops[0], d.last.RxDrops, cur.RxDrops)
	addDelta(&d.drops[1], d.last.TxDrops, cur.TxDrops)
	d.last = cur
	d.moved = moved
	if moved {
		// Between recorded movements the totals were flat, so a sparse
		// history still gives the total at any past time.
		d.history1s.record(t, d.bytes[0], d.bytes[1])
		d.history60s.record(t, d.bytes[0], d.bytes[1])
	}
	if p := &d.pending; p.active {
		// The sample after an ambiguous movement decides it: moving
		// again proves the driver eager, so the movement covered one
		// interval; staying flat leaves the lazy reading.
		pspan := p.lazySpan
		if moved {
			pspan = p.sinceSample
		}
		p.active = false
		s.publish(d, p.delta, pspan, p.t)
	}
	switch {
	case moved && ambiguous:
		d.pending = pendingMove{active: true, delta: [2]uint64{rx, tx}, t: t, sinceSample: sinceSample, lazySpan: span}
	case moved:
		s.publish(d, [2]uint64{rx, tx}, span, t)
	case d.refresh.class != refreshLazy:
		// Flat counters on a device that is not lazy mean an idle
		// interval. A zero rate never raises a trailing maximum, so the
		// windows need no push.
		d.rate = [2]float64{}
		d.bursting = [2]bool{}
	}
}

// publish turns a movement of delta bytes covering span ns, seen at t, into
// rates, peaks, histogram observations and burst counts (in intervals of
// the device's tier).
func (s *Sampler) publish(d *device, delta [2]uint64, span, t int64) {
	secs := float64(span) / 1e9
	intervals := uint64(math.Round(float64(span) / float64(d.interval)))
	threshold := s.burstThreshold(d)
	for dir := range 2 {
		rate := float64(delta[dir]) / secs
		d.rate[dir] = rate
		for w := range d.peaks[dir] {
			d.peaks[dir][w].push(t, rate)
		}
		if delta[dir] != 0 && d.histograms[dir] != nil {
			d.histograms[dir].Observe(rate)
		}
		if threshold > 0 && rate >= threshold {
			d.bursts[dir] += max(intervals, 1)
			if !d.bursting[dir] {
				d.bursting[dir] = true
				s.cfg.Spikes.Notify(spike.Event{
					Time: s.base.Add(time.Duration(t)), Trigger: spike.TriggerBurst,
					Device: d.name, Value: rate, Threshold: threshold,
				})
			}
		} else {
			d.bursting[dir] = false
		}
	}
}

// discontinuity re-bases a device whose counters went backwards or jumped
// implausibly: the totals take in what the kernel counted since a reset,
// and no rate is computed for the interval.
func (s *Sampler) discontinuity(d *device, st *Stat, t int64, reset bool) {
	d.discont++
	cur := st.Counters
	if reset {
		add := func(total *uint64, prev, now uint64) {
			if now < prev {
				*total += now
			} else {
				*total += now - prev
			}
		}
		add(&d.bytes[0], d.last.RxBytes, cur.RxBytes)
		add(&d.bytes[1], d.last.TxBytes, cur.TxBytes)
		add(&d.packets[0], d.last.RxPackets, cur.RxPackets)
		add(&d.packets[1], d.last.TxPackets, cur.TxPackets)
		add(&d.errors[0], d.last.RxErrors, cur.RxErrors)
		add(&d.errors[1], d.last.TxErrors, cur.TxErrors)
		add(&d.drops[0], d.last.RxDrops, cur.RxDrops)
		add(&d.drops[1], d.last.TxDrops, cur.TxDrops)
	}
	d.last = cur
	d.rate = [2]float64{}
	d.pending.active = false
	d.refresh.start(t)
	d.history1s.record(t, d.bytes[0], d.bytes[1])
	d.history60s.record(t, d.bytes[0], d.bytes[1])
}

func addDelta(total *uint64, prev, cur uint64) {
	if delta, ok := counterDelta(prev, cur); ok {
		*total += delta
	}
}

func (s *Sampler) burstThreshold(d *device) float64 {
	if d.link != nil && d.link.SpeedBytes > 0 {
		return s.cfg.BurstThreshold * d.link.SpeedBytes
	}
	return s.cfg.BurstRate
}
