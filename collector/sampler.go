// Package collector turns the domain packages' snapshots and observation
// streams into Prometheus metrics. It does no kernel I/O: a scrape copies a
// snapshot and never waits for a sample.
package collector

import (
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/netburst/netburst/sampler"
)

const namespace = "netburst"

// Native histogram settings shared by every histogram: about 10 % bucket
// width, at most 160 buckets (then the resolution halves), reset hourly.
const (
	nativeFactor     = 1.1
	nativeMaxBuckets = 160
	nativeMinReset   = time.Hour
)

// DefaultHistogramExclude matches the per-VM and per-container interfaces
// of hypervisors and container hosts (veth, tap, vif, vnet, ...), which get
// no throughput histogram by default: hundreds of them would dominate the
// scrape, and their peaks and counters are exported all the same.
const DefaultHistogramExclude = `^(veth|tap|vif|vnet|tun|cali|lxc|fwpr|fwln|fwbr|macvtap)`

// SamplerOptions configure the sampler's metrics.
type SamplerOptions struct {
	// HistogramInclude and HistogramExclude choose the devices that get a
	// throughput histogram (nil: all, none). Hypervisors with hundreds of
	// vifs keep a sane scrape by leaving those out; peaks and counters
	// cover every sampled device regardless.
	HistogramInclude, HistogramExclude *regexp.Regexp
	// Interval is the sampling interval, around which the sample-spacing
	// histogram's buckets are laid.
	Interval time.Duration
}

// SnapshotSource is what the collector reads at scrape time;
// *sampler.Sampler implements it.
type SnapshotSource interface {
	Snapshot(*sampler.Snapshot)
}

// Sampler exports the sampler's state. It is the sampler's Observer (for
// histograms, fed on the sampling goroutine) and a prometheus.Collector
// (for everything else, read from a snapshot at scrape time).
type Sampler struct {
	opts       SamplerOptions
	src        SnapshotSource
	throughput *prometheus.HistogramVec
	spacing    prometheus.Histogram
	duration   prometheus.Histogram

	mu      sync.Mutex // serialises scrapes over the reused snapshot and labels
	snap    sampler.Snapshot
	labels  map[string]*deviceLabels
	scrapes uint64
	// external says a DeviceGatherer serves the per-device series, so
	// Collect leaves them out.
	external atomic.Bool
	// frames are cached per-device families not in use by a scrape.
	frames []*deviceFrame
}

// deviceFamily is one per-device metric family: its descriptor for
// Describe (and the generated reference) and its exposition metadata for
// the cached families that DeviceGatherer serves.
type deviceFamily struct {
	desc       *prometheus.Desc
	name, help string
	counter    bool
}

func newDeviceFamily(name, help string, counter bool, labels ...string) *deviceFamily {
	f := &deviceFamily{name: namespace + name, help: help, counter: counter}
	f.desc = prometheus.NewDesc(f.name, help, labels, nil)
	return f
}

// Per-device families.
var (
	famBytes   = newDeviceFamily("_interface_bytes_total", "Bytes received or transmitted by the interface, from the kernel's 64-bit counters (widened across 32-bit wraps, monotonic across resets).", true, "device", "direction")
	famPackets = newDeviceFamily("_interface_packets_total", "Packets received or transmitted by the interface.", true, "device", "direction")
	famErrors  = newDeviceFamily("_interface_errors_total", "Receive or transmit errors of the interface.", true, "device", "direction")
	famDrops   = newDeviceFamily("_interface_drops_total", "Packets dropped by the interface on receive or transmit.", true, "device", "direction")
	famSpeed   = newDeviceFamily("_interface_speed_bytes", "Link speed in bytes per second (absent when the driver reports none).", false, "device")
	famInfo    = newDeviceFamily("_interface_info", "Interface attributes; always 1.", false, "device", "kind", "master", "operstate")
	famPeak    = newDeviceFamily("_interface_peak_bytes_per_second", "Largest interval rate in the trailing window.", false, "device", "direction", "window")
	famBursts  = newDeviceFamily("_interface_burst_intervals_total", "Sampling intervals whose rate was at or above the burst threshold.", true, "device", "direction")
	famRefresh = newDeviceFamily("_interface_counter_refresh_seconds", "Detected refresh period of the driver's counters: the sampling interval when they are fresh at every sample (absent until detected).", false, "device")
	famDiscont = newDeviceFamily("_interface_discontinuities_total", "Counter resets and implausible jumps, for which no rate was computed.", true, "device")
)

// deviceFamilies lists every per-device family.
var deviceFamilies = []*deviceFamily{famBytes, famPackets, famErrors, famDrops, famSpeed, famInfo, famPeak, famBursts, famRefresh, famDiscont}

// Descriptors of the snapshot-backed metrics.
var (
	ifaceLabels    = []string{"device", "direction"}
	descBytes      = famBytes.desc
	descPackets    = famPackets.desc
	descErrors     = famErrors.desc
	descDrops      = famDrops.desc
	descSpeed      = famSpeed.desc
	descInfo       = famInfo.desc
	descPeak       = famPeak.desc
	descBursts     = famBursts.desc
	descRefresh    = famRefresh.desc
	descDiscont    = famDiscont.desc
	qdiscLabels    = []string{"device", "kind"}
	descQBacklogPk = prometheus.NewDesc(namespace+"_qdisc_backlog_peak_bytes", "Largest backlog of the device's qdiscs of this kind in the trailing window.", []string{"device", "kind", "window"}, nil)
	descQBacklog   = prometheus.NewDesc(namespace+"_qdisc_backlog_bytes", "Backlog of the device's qdiscs of this kind at the latest reading.", qdiscLabels, nil)
	descQDrops     = prometheus.NewDesc(namespace+"_qdisc_drops_total", "Packets dropped by the device's qdiscs of this kind.", qdiscLabels, nil)
	descQOverlim   = prometheus.NewDesc(namespace+"_qdisc_overlimits_total", "Overlimit events of the device's qdiscs of this kind (a shaper holding packets back).", qdiscLabels, nil)
	descQRequeues  = prometheus.NewDesc(namespace+"_qdisc_requeues_total", "Requeues of the device's qdiscs of this kind.", qdiscLabels, nil)
	descSamples    = prometheus.NewDesc(namespace+"_sampler_samples_total", "Samples taken.", nil, nil)
	descOverruns   = prometheus.NewDesc(namespace+"_sampler_overruns_total", "Sampling deadlines missed because a sample ended late.", nil, nil)
	descSErrors    = prometheus.NewDesc(namespace+"_sampler_errors_total", "Failed kernel readings by operation; each is retried at the next tick.", []string{"operation"}, nil)
	descSource     = prometheus.NewDesc(namespace+"_sampler_source_info", "Kernel interface the counters are read from (netlink RTM_GETSTATS, or procfs /proc/net/dev as the fallback); always 1.", []string{"source"}, nil)
	descSInterval  = prometheus.NewDesc(namespace+"_sampler_configured_interval_seconds", "Configured sampling interval.", nil, nil)
	descSLast      = prometheus.NewDesc(namespace+"_sampler_last_sample_timestamp_seconds", "When the latest sample was taken, as a Unix time.", nil, nil)
	descLinkEvents = prometheus.NewDesc(namespace+"_link_events_total", "Kernel link notifications (device added, removed or changed) applied to the link table; absent without netlink.", nil, nil)
	descLinkOver   = prometheus.NewDesc(namespace+"_link_event_overflows_total", "Times the kernel dropped link notifications because the event socket's buffer was full (many devices changed at once); each is followed by a full re-read of the link table.", nil, nil)
	descLinkRelist = prometheus.NewDesc(namespace+"_link_table_reads_total", "Full reads of the link table: at start, after an overflow or an interrupted dump, and when a reading names an unknown device.", nil, nil)
)

// NewSampler returns the sampler's metrics, reading snapshots from src.
// src may be set later with SetSource, since the sampler needs its
// observer first.
func NewSampler(opts SamplerOptions) *Sampler {
	if opts.Interval == 0 {
		opts.Interval = 100 * time.Millisecond
	}
	iv := opts.Interval.Seconds()
	var spacingBuckets []float64
	for _, off := range []float64{-0.5, -0.2, -0.05, -0.02, -0.01, -0.005, -0.002, -0.001, 0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1} {
		if b := iv + off; b > 0 {
			spacingBuckets = append(spacingBuckets, b)
		}
	}
	return &Sampler{
		opts:   opts,
		labels: map[string]*deviceLabels{},
		throughput: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "interface_throughput_bytes_per_second",
			Help:                            "Rate of each sampling interval in which the interface's byte counter moved.",
			Buckets:                         prometheus.ExponentialBucketsRange(1e3, 1e11, 17),
			NativeHistogramBucketFactor:     nativeFactor,
			NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
			NativeHistogramMinResetDuration: nativeMinReset,
		}, ifaceLabels),
		spacing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "sampler_interval_seconds",
			Help:                            "Actual spacing between the starts of consecutive samples.",
			Buckets:                         spacingBuckets,
			NativeHistogramBucketFactor:     nativeFactor,
			NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
			NativeHistogramMinResetDuration: nativeMinReset,
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "sampler_duration_seconds",
			Help:                            "Time one sample takes: kernel dumps and arithmetic.",
			Buckets:                         prometheus.ExponentialBucketsRange(10e-6, 0.1, 13),
			NativeHistogramBucketFactor:     nativeFactor,
			NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
			NativeHistogramMinResetDuration: nativeMinReset,
		}),
	}
}

// SetSource sets where Collect reads snapshots. Call it before the
// collector is registered.
func (c *Sampler) SetSource(src SnapshotSource) { c.src = src }

// DeviceAdded implements sampler.Observer.
func (c *Sampler) DeviceAdded(name string) (rx, tx sampler.RateObserver) {
	if c.opts.HistogramInclude != nil && !c.opts.HistogramInclude.MatchString(name) {
		return nil, nil
	}
	if c.opts.HistogramExclude != nil && c.opts.HistogramExclude.MatchString(name) {
		return nil, nil
	}
	return c.throughput.WithLabelValues(name, "receive"), c.throughput.WithLabelValues(name, "transmit")
}

// DeviceRemoved implements sampler.Observer: the device's histogram series
// leave /metrics with it.
func (c *Sampler) DeviceRemoved(name string) {
	c.throughput.DeleteLabelValues(name, "receive")
	c.throughput.DeleteLabelValues(name, "transmit")
}

// SampleDone implements sampler.Observer.
func (c *Sampler) SampleDone(spacing, duration float64) {
	c.spacing.Observe(spacing)
	c.duration.Observe(duration)
}

// Describe implements prometheus.Collector.
func (c *Sampler) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBytes, descPackets, descErrors, descDrops, descSpeed, descInfo, descPeak, descBursts, descRefresh, descDiscont, descQBacklogPk, descQBacklog, descQDrops, descQOverlim, descQRequeues, descSamples, descOverruns, descSErrors, descSource, descSInterval, descSLast, descLinkEvents, descLinkOver, descLinkRelist} {
		ch <- d
	}
	c.throughput.Describe(ch)
	c.spacing.Describe(ch)
	c.duration.Describe(ch)
}

var directions = [2]string{"receive", "transmit"}

// deviceLabels are one device's label pairs, kept across scrapes so that a
// scrape of a thousand devices builds no label strings: client_golang's
// MustNewConstMetric would build and validate them for every series.
type deviceLabels struct {
	device []*dto.LabelPair
	dir    [2][]*dto.LabelPair
	dirWin [2][sampler.NumWindows][]*dto.LabelPair
	info   []*dto.LabelPair
	// infoKey is kind, master and operstate, to notice a change.
	infoKey [3]string
	seen    uint64
}

func labelPair(name, value string) *dto.LabelPair {
	// A device name is bytes to the kernel; a label value must be UTF-8.
	value = strings.ToValidUTF8(value, "\uFFFD")
	return &dto.LabelPair{Name: &name, Value: &value}
}

func newDeviceLabels(name string) *deviceLabels {
	l := &deviceLabels{device: []*dto.LabelPair{labelPair("device", name)}}
	for dir, dn := range directions {
		d := labelPair("direction", dn)
		l.dir[dir] = []*dto.LabelPair{l.device[0], d}
		for _, w := range sampler.Windows {
			l.dirWin[dir][w] = []*dto.LabelPair{l.device[0], d, labelPair("window", w.String())}
		}
	}
	return l
}

// infoLabels returns the label pairs of netburst_interface_info, rebuilt
// only when the device's attributes change (new slices, never mutated, so
// a scrape still encoding the old ones is unaffected).
func (l *deviceLabels) infoLabels(kind, master, operstate string) []*dto.LabelPair {
	key := [3]string{kind, master, operstate}
	if l.info == nil || l.infoKey != key {
		l.infoKey = key
		l.info = []*dto.LabelPair{l.device[0], labelPair("kind", kind), labelPair("master", master), labelPair("operstate", operstate)}
	}
	return l.info
}

// fastMetric is a counter or gauge sample with prebuilt label pairs,
// sorted by label name as the exposition requires.
type fastMetric struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	counter bool
	value   float64
}

func (m *fastMetric) Desc() *prometheus.Desc { return m.desc }

func (m *fastMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	v := m.value
	if m.counter {
		out.Counter = &dto.Counter{Value: &v}
	} else {
		out.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}

// Collect implements prometheus.Collector.
func (c *Sampler) Collect(ch chan<- prometheus.Metric) {
	c.throughput.Collect(ch)
	c.spacing.Collect(ch)
	c.duration.Collect(ch)
	if c.src == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.snap
	c.src.Snapshot(s)
	c.scrapes++
	if !c.external.Load() {
		// One allocation for every device series of this scrape; the
		// registry may still be reading them after Collect returns, so
		// they are never reused. (DeviceGatherer serves them from
		// cached families instead.)
		fast := make([]fastMetric, 0, len(s.Devices)*perDeviceSeries)
		for i := range s.Devices {
			d := &s.Devices[i]
			deviceSeries(d, c.deviceLabels(d.Name), func(f *deviceFamily, labels []*dto.LabelPair, v float64) {
				fast = append(fast, fastMetric{desc: f.desc, labels: labels, counter: f.counter, value: v})
				ch <- &fast[len(fast)-1]
			})
		}
		c.forgetLabels(len(s.Devices))
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for i := range s.Qdiscs {
		q := &s.Qdiscs[i]
		dev := strings.ToValidUTF8(q.Device, "\uFFFD")
		for _, w := range sampler.Windows {
			gauge(descQBacklogPk, q.BacklogPeak[w], dev, q.Kind, w.String())
		}
		gauge(descQBacklog, float64(q.Backlog), dev, q.Kind)
		counter(descQDrops, float64(q.Drops), dev, q.Kind)
		counter(descQOverlim, float64(q.Overlimits), dev, q.Kind)
		counter(descQRequeues, float64(q.Requeues), dev, q.Kind)
	}
	counter(descSamples, float64(s.Samples))
	counter(descOverruns, float64(s.Overruns))
	for op, name := range sampler.OpNames {
		counter(descSErrors, float64(s.Errors[op]), name)
	}
	gauge(descSource, 1, s.Source)
	gauge(descSInterval, s.Interval.Seconds())
	if s.FollowsLinks {
		counter(descLinkEvents, float64(s.LinkEvents.Events))
		counter(descLinkOver, float64(s.LinkEvents.Overflows))
		counter(descLinkRelist, float64(s.LinkEvents.Relists))
	}
	if !s.Time.IsZero() {
		gauge(descSLast, float64(s.Time.UnixNano())/1e9)
	}
}

// perDeviceSeries is how many series Collect emits per device at most.
const perDeviceSeries = 2*(5+int(sampler.NumWindows)) + 4

// deviceLabels returns a device's cached label pairs, marked as seen by
// this scrape. Call with c.mu held.
func (c *Sampler) deviceLabels(name string) *deviceLabels {
	l := c.labels[name]
	if l == nil {
		l = newDeviceLabels(name)
		c.labels[name] = l
	}
	l.seen = c.scrapes
	return l
}

// forgetLabels drops the label pairs of devices this scrape did not see.
// Call with c.mu held.
func (c *Sampler) forgetLabels(devices int) {
	if len(c.labels) > devices {
		for name, l := range c.labels {
			if l.seen != c.scrapes {
				delete(c.labels, name)
			}
		}
	}
}

// deviceSeries hands fn every series of one device, always in the same
// order for the same set of series.
func deviceSeries(d *sampler.DeviceSnapshot, l *deviceLabels, fn func(f *deviceFamily, labels []*dto.LabelPair, v float64)) {
	for dir := range directions {
		fn(famBytes, l.dir[dir], float64(d.Bytes[dir]))
		fn(famPackets, l.dir[dir], float64(d.Packets[dir]))
		fn(famErrors, l.dir[dir], float64(d.Errors[dir]))
		fn(famDrops, l.dir[dir], float64(d.Drops[dir]))
		fn(famBursts, l.dir[dir], float64(d.Bursts[dir]))
		for _, w := range sampler.Windows {
			fn(famPeak, l.dirWin[dir][w], d.Peak[dir][w])
		}
	}
	fn(famInfo, l.infoLabels(d.Kind, d.Master, d.OperState), 1)
	if d.SpeedBytes > 0 {
		fn(famSpeed, l.device, d.SpeedBytes)
	}
	if d.RefreshSeconds > 0 {
		fn(famRefresh, l.device, d.RefreshSeconds)
	}
	fn(famDiscont, l.device, float64(d.Discontinuities))
}

// deviceFrame is one scrape's worth of per-device families, kept across
// scrapes: a steady state only rewrites its values. A frame serves one
// scrape at a time (until the scrape's done), so concurrent scrapes each
// get their own.
type deviceFrame struct {
	values  []float64 // every series' value, in deviceSeries order
	devices map[string]frameDevice
	// out is the non-empty families sorted by name, what Gather returns.
	out []*dto.MetricFamily
}

// frameDevice is where a device's series sit in a frame's values, and what
// decided which series it has (a change rebuilds the frame).
type frameDevice struct {
	first, n int
	info     []*dto.LabelPair
	speed    bool
	refresh  bool
}

func (fd frameDevice) matches(d *sampler.DeviceSnapshot, l *deviceLabels) bool {
	return fd.speed == (d.SpeedBytes > 0) && fd.refresh == (d.RefreshSeconds > 0) &&
		len(fd.info) > 0 && len(l.info) > 0 && &fd.info[0] == &l.info[0]
}

// fill writes the snapshot's values into f, or reports that the set of
// series changed and f must be rebuilt. Call with c.mu held.
func (c *Sampler) fill(f *deviceFrame, s *sampler.Snapshot) bool {
	if f == nil || len(f.devices) != len(s.Devices) {
		return false
	}
	for i := range s.Devices {
		d := &s.Devices[i]
		l := c.deviceLabels(d.Name)
		l.infoLabels(d.Kind, d.Master, d.OperState)
		fd, ok := f.devices[d.Name]
		if !ok || !fd.matches(d, l) {
			return false
		}
		k, end := fd.first, fd.first+fd.n
		ok = true
		deviceSeries(d, l, func(_ *deviceFamily, _ []*dto.LabelPair, v float64) {
			if k < end {
				f.values[k] = v
			} else {
				ok = false
			}
			k++
		})
		if !ok || k != end {
			return false
		}
	}
	return true
}

// buildFrame makes a frame for the snapshot's devices: every family's
// metrics in the order the registry would sort them (by label values).
// Call with c.mu held.
func (c *Sampler) buildFrame(s *sampler.Snapshot) *deviceFrame {
	type series struct {
		fam    *deviceFamily
		labels []*dto.LabelPair
	}
	all := make([]series, 0, len(s.Devices)*perDeviceSeries)
	f := &deviceFrame{devices: make(map[string]frameDevice, len(s.Devices))}
	for i := range s.Devices {
		d := &s.Devices[i]
		l := c.deviceLabels(d.Name)
		fd := frameDevice{first: len(all), speed: d.SpeedBytes > 0, refresh: d.RefreshSeconds > 0}
		deviceSeries(d, l, func(fam *deviceFamily, labels []*dto.LabelPair, _ float64) {
			all = append(all, series{fam, labels})
		})
		fd.n = len(all) - fd.first
		fd.info = l.info
		f.devices[d.Name] = fd
	}
	f.values = make([]float64, len(all))
	// One allocation per kind of object, not per series.
	sizes := make(map[*deviceFamily]int, len(deviceFamilies))
	nCounters := 0
	for _, sr := range all {
		sizes[sr.fam]++
		if sr.fam.counter {
			nCounters++
		}
	}
	metrics := make([]dto.Metric, len(all))
	counters := make([]dto.Counter, nCounters)
	gauges := make([]dto.Gauge, len(all)-nCounters)
	perFamily := make(map[*deviceFamily][]*dto.Metric, len(deviceFamilies))
	for fam, n := range sizes {
		perFamily[fam] = make([]*dto.Metric, 0, n)
	}
	for i, sr := range all {
		m := &metrics[i]
		m.Label = sr.labels
		if sr.fam.counter {
			c := &counters[len(counters)-nCounters]
			nCounters--
			c.Value = &f.values[i]
			m.Counter = c
		} else {
			g := &gauges[0]
			gauges = gauges[1:]
			g.Value = &f.values[i]
			m.Gauge = g
		}
		perFamily[sr.fam] = append(perFamily[sr.fam], m)
	}
	for _, fam := range deviceFamilies {
		ms := perFamily[fam]
		if len(ms) == 0 {
			continue
		}
		sort.Slice(ms, func(a, b int) bool { return labelsLess(ms[a].Label, ms[b].Label) })
		typ := dto.MetricType_GAUGE
		if fam.counter {
			typ = dto.MetricType_COUNTER
		}
		f.out = append(f.out, &dto.MetricFamily{Name: &fam.name, Help: &fam.help, Type: &typ, Metric: ms})
	}
	sort.Slice(f.out, func(a, b int) bool { return f.out[a].GetName() < f.out[b].GetName() })
	return f
}

// labelsLess orders two label sets of one family (same names, sorted) by
// their values, as client_golang sorts the metrics of a gathered family.
func labelsLess(a, b []*dto.LabelPair) bool {
	for i := range min(len(a), len(b)) {
		if av, bv := a[i].GetValue(), b[i].GetValue(); av != bv {
			return av < bv
		}
	}
	return len(a) < len(b)
}

// maxIdleFrames bounds the frames kept between scrapes (one per scrape
// that ran concurrently, up to this many).
const maxIdleFrames = 2

// DeviceGatherer returns a gatherer of rest's metrics plus the per-device
// series (counters, peaks, bursts, info, speed, refresh, discontinuities),
// which it serves from families kept across scrapes and only updated in
// place: with a thousand devices that spares the ~20,000 objects per scrape
// that collecting them through the registry would allocate. From this call
// on, Collect leaves those series out, so rest must be the registry c is
// registered with. Serve it with promhttp.HandlerForTransactional.
func (c *Sampler) DeviceGatherer(rest prometheus.Gatherer) prometheus.TransactionalGatherer {
	c.external.Store(true)
	return &deviceGatherer{c: c, rest: rest}
}

type deviceGatherer struct {
	c    *Sampler
	rest prometheus.Gatherer
}

func (g *deviceGatherer) Gather() ([]*dto.MetricFamily, func(), error) {
	mfs, err := g.rest.Gather()
	c := g.c
	if c.src == nil {
		return mfs, func() {}, err
	}
	c.mu.Lock()
	c.src.Snapshot(&c.snap)
	c.scrapes++
	var f *deviceFrame
	if n := len(c.frames); n > 0 {
		f, c.frames = c.frames[n-1], c.frames[:n-1]
	}
	if !c.fill(f, &c.snap) {
		f = c.buildFrame(&c.snap)
		if !c.fill(f, &c.snap) {
			panic("collector: a freshly built frame does not fit its snapshot")
		}
	}
	c.forgetLabels(len(c.snap.Devices))
	c.mu.Unlock()
	done := func() {
		c.mu.Lock()
		if len(c.frames) < maxIdleFrames {
			c.frames = append(c.frames, f)
		}
		c.mu.Unlock()
	}
	return mergeFamilies(mfs, f.out), done, err
}

// mergeFamilies merges two lists of families sorted by name.
func mergeFamilies(a, b []*dto.MetricFamily) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].GetName() <= b[0].GetName() {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}
