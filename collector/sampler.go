package collector

import (
	"regexp"
	"slices"
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
// reading a snapshot at scrape time. Served by a Handler, it streams every
// family from one snapshot per scrape (see Handler), and Collect sends
// nothing.
type Sampler struct {
	opts       SamplerOptions
	src        SnapshotSource
	throughput *prometheus.HistogramVec
	spacing    prometheus.Histogram
	duration   prometheus.Histogram
	// The histogram families, whose buckets are this collector's.
	famThroughput, famSpacing, famDuration *family

	mu sync.Mutex // guards hists
	// hists are the devices' throughput histograms by device name.
	hists map[string]*deviceHists

	streamed atomic.Bool
	// idle are snapshots kept for the next scrapes.
	idle chan *samplerStream
}

// deviceHists are a device's throughput histograms; never changed once
// made.
type deviceHists struct {
	label string // the device label value
	h     [2]prometheus.Histogram
}

func counterFamily(name, help string, labels ...string) *family {
	return newFamily(namespace+name, help, dto.MetricType_COUNTER, labels...)
}

func gaugeFamily(name, help string, labels ...string) *family {
	return newFamily(namespace+name, help, dto.MetricType_GAUGE, labels...)
}

// Per-device families.
var (
	famBytes    = counterFamily("_interface_bytes_total", "Bytes received or transmitted by the interface, from the kernel's 64-bit counters (widened across 32-bit wraps, monotonic across resets).", "device", "direction")
	famPackets  = counterFamily("_interface_packets_total", "Packets received or transmitted by the interface.", "device", "direction")
	famErrors   = counterFamily("_interface_errors_total", "Receive or transmit errors of the interface.", "device", "direction")
	famDrops    = counterFamily("_interface_drops_total", "Packets dropped by the interface on receive or transmit.", "device", "direction")
	famSpeed    = gaugeFamily("_interface_speed_bytes", "Link speed in bytes per second (absent when the driver reports none).", "device")
	famInfo     = gaugeFamily("_interface_info", "Interface attributes; always 1.", "device", "kind", "master", "operstate")
	famPeak     = gaugeFamily("_interface_peak_bytes_per_second", "Largest interval rate in the trailing window.", "device", "direction", "window")
	famBursts   = counterFamily("_interface_burst_intervals_total", "Sampling intervals whose rate was at or above the burst threshold.", "device", "direction")
	famRefresh  = gaugeFamily("_interface_stats_refresh_seconds", "Detected refresh period of the driver's counters: the sampling interval when they are fresh at every sample (absent until detected).", "device")
	famDiscont  = counterFamily("_interface_discontinuities_total", "Counter resets and implausible jumps, for which no rate was computed.", "device")
	famCarrier  = counterFamily("_interface_carrier_changes_total", "Carrier changes (link up or down) of the interface since it was created, as node_exporter's node_network_carrier_changes_total (absent without netlink's link table).", "device")
	famSampling = gaugeFamily("_interface_sampling_interval_seconds", "The device's sampling interval, the resolution of its rates, peaks, histogram observations and burst intervals: --sampler.interval for the fast set, --sampler.slow-interval for the slow tier.", "device")
)

// Per-qdisc and sampler-wide families.
var (
	famQBacklogPk = gaugeFamily("_qdisc_backlog_peak_bytes", "Largest backlog of the device's qdiscs of this kind in the trailing window.", "device", "kind", "window")
	famQBacklog   = gaugeFamily("_qdisc_backlog_bytes", "Backlog of the device's qdiscs of this kind at the latest reading.", "device", "kind")
	famQDrops     = counterFamily("_qdisc_drops_total", "Packets dropped by the device's qdiscs of this kind.", "device", "kind")
	famQOverlim   = counterFamily("_qdisc_overlimits_total", "Overlimit events of the device's qdiscs of this kind (a shaper holding packets back).", "device", "kind")
	famQRequeues  = counterFamily("_qdisc_requeues_total", "Requeues of the device's qdiscs of this kind.", "device", "kind")
	famSamples    = counterFamily("_sampler_samples_total", "Samples taken.")
	famOverruns   = counterFamily("_sampler_overruns_total", "Sampling deadlines missed because a sample ended late.")
	famSErrors    = counterFamily("_sampler_errors_total", "Failed kernel readings by operation; each is retried at the next tick.", "operation")
	famSource     = gaugeFamily("_sampler_source_info", "Kernel interface the counters are read from (netlink RTM_GETSTATS, or procfs /proc/net/dev as the fallback); always 1.", "source")
	famSInterval  = gaugeFamily("_sampler_configured_interval_seconds", "Configured sampling interval.")
	famSSlow      = gaugeFamily("_sampler_configured_slow_interval_seconds", "Configured sampling interval of the slow tier (the sampling interval itself when every device is in the fast set).")
	famSLast      = gaugeFamily("_sampler_last_sample_timestamp_seconds", "When the latest sample was taken, as a Unix time.")
	famLinkEvents = counterFamily("_link_events_total", "Kernel link notifications (device added, removed or changed) applied to the link table; absent without netlink.")
	famLinkOver   = counterFamily("_link_event_overflows_total", "Times the kernel dropped link notifications because the event socket's buffer was full (many devices changed at once); each is followed by a full re-read of the link table.")
	famLinkRelist = counterFamily("_link_table_reads_total", "Full reads of the link table: at start, after an overflow or an interrupted dump, and when a reading names an unknown device.")
)

// samplerFamilies lists the counter and gauge families, in Describe's
// order.
var samplerFamilies = []*family{famBytes, famPackets, famErrors, famDrops, famSpeed, famInfo, famPeak, famBursts, famRefresh, famDiscont, famSampling, famCarrier,
	famQBacklogPk, famQBacklog, famQDrops, famQOverlim, famQRequeues, famSamples, famOverruns, famSErrors, famSource, famSInterval, famSSlow, famSLast,
	famLinkEvents, famLinkOver, famLinkRelist}

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
	// The interval's own digits, without the sum's float noise.
	spacingBuckets = roundedBuckets(12, spacingBuckets)
	throughputBuckets := roundedBuckets(3, prometheus.ExponentialBucketsRange(1e3, 1e11, 17))
	durationBuckets := roundedBuckets(3, prometheus.ExponentialBucketsRange(10e-6, 0.1, 13))
	c := &Sampler{
		opts:  opts,
		hists: map[string]*deviceHists{},
		idle:  make(chan *samplerStream, maxIdleScrapes),
		throughput: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "interface_throughput_bytes_per_second",
			Help:                            "Rate of each sampling interval in which the interface's byte counter moved.",
			Buckets:                         throughputBuckets,
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
			Buckets:                         durationBuckets,
			NativeHistogramBucketFactor:     nativeFactor,
			NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
			NativeHistogramMinResetDuration: nativeMinReset,
		}),
	}
	c.famThroughput = newFamily(namespace+"_interface_throughput_bytes_per_second", "Rate of each sampling interval in which the interface's byte counter moved.", dto.MetricType_HISTOGRAM, ifaceLabels...).withBuckets(throughputBuckets)
	c.famSpacing = newFamily(namespace+"_sampler_interval_seconds", "Actual spacing between the starts of consecutive samples.", dto.MetricType_HISTOGRAM).withBuckets(spacingBuckets)
	c.famDuration = newFamily(namespace+"_sampler_duration_seconds", "Time one sample takes: kernel dumps and arithmetic.", dto.MetricType_HISTOGRAM).withBuckets(durationBuckets)
	return c
}

var ifaceLabels = []string{"device", "direction"}

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
	d := &deviceHists{label: validLabel(name)}
	for dir, dn := range directions {
		d.h[dir] = c.throughput.WithLabelValues(d.label, dn).(prometheus.Histogram)
	}
	c.mu.Lock()
	c.hists[name] = d
	c.mu.Unlock()
	return d.h[0], d.h[1]
}

// DeviceRemoved implements sampler.Observer: the device's histogram series
// leave /metrics with it.
func (c *Sampler) DeviceRemoved(name string) {
	c.mu.Lock()
	delete(c.hists, name)
	c.mu.Unlock()
	label := validLabel(name)
	c.throughput.DeleteLabelValues(label, "receive")
	c.throughput.DeleteLabelValues(label, "transmit")
}

// SampleDone implements sampler.Observer.
func (c *Sampler) SampleDone(spacing, duration float64) {
	c.spacing.Observe(spacing)
	c.duration.Observe(duration)
}

// Describe implements prometheus.Collector.
func (c *Sampler) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range samplerFamilies {
		ch <- f.desc
	}
	c.throughput.Describe(ch)
	c.spacing.Describe(ch)
	c.duration.Describe(ch)
}

var directions = [2]string{"receive", "transmit"}

// windowOrder is sampler.Windows in the order of their label values
// ("10s" < "1s" < "60s"), the order of series in the exposition; opOrder
// is the same for the operations of sampler.OpNames.
var (
	windowOrder = func() [sampler.NumWindows]sampler.Window {
		w := sampler.Windows
		sort.Slice(w[:], func(a, b int) bool { return w[a].String() < w[b].String() })
		return w
	}()
	opOrder = func() []int {
		ops := make([]int, len(sampler.OpNames))
		for i := range ops {
			ops[i] = i
		}
		sort.Slice(ops, func(a, b int) bool { return sampler.OpNames[ops[a]] < sampler.OpNames[ops[b]] })
		return ops
	}()
)

// Collect implements prometheus.Collector: every family through the
// registry, unless a Handler streams them.
func (c *Sampler) Collect(ch chan<- prometheus.Metric) {
	if c.streamed.Load() {
		return
	}
	c.throughput.Collect(ch)
	c.spacing.Collect(ch)
	c.duration.Collect(ch)
	if c.src == nil {
		return
	}
	var snap sampler.Snapshot
	c.src.Snapshot(&snap)
	s := &snap
	counter := func(f *family, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.CounterValue, v, labels...)
	}
	gauge := func(f *family, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, v, labels...)
	}
	for i := range s.Devices {
		d := &s.Devices[i]
		dev := validLabel(d.Name)
		for dir, dn := range directions {
			counter(famBytes, float64(d.Bytes[dir]), dev, dn)
			counter(famPackets, float64(d.Packets[dir]), dev, dn)
			counter(famErrors, float64(d.Errors[dir]), dev, dn)
			counter(famDrops, float64(d.Drops[dir]), dev, dn)
			counter(famBursts, float64(d.Bursts[dir]), dev, dn)
			for _, w := range sampler.Windows {
				gauge(famPeak, d.Peak[dir][w], dev, dn, w.String())
			}
		}
		gauge(famInfo, 1, dev, validLabel(d.Kind), validLabel(d.Master), validLabel(d.OperState))
		if d.SpeedBytes > 0 {
			gauge(famSpeed, d.SpeedBytes, dev)
		}
		if d.RefreshSeconds > 0 {
			gauge(famRefresh, d.RefreshSeconds, dev)
		}
		counter(famDiscont, float64(d.Discontinuities), dev)
		if d.Interval > 0 {
			gauge(famSampling, d.Interval.Seconds(), dev)
		}
		if d.CarrierKnown {
			counter(famCarrier, float64(d.CarrierChanges), dev)
		}
	}
	for i := range s.Qdiscs {
		q := &s.Qdiscs[i]
		dev, kind := validLabel(q.Device), validLabel(q.Kind)
		for _, w := range sampler.Windows {
			gauge(famQBacklogPk, q.BacklogPeak[w], dev, kind, w.String())
		}
		gauge(famQBacklog, float64(q.Backlog), dev, kind)
		counter(famQDrops, float64(q.Drops), dev, kind)
		counter(famQOverlim, float64(q.Overlimits), dev, kind)
		counter(famQRequeues, float64(q.Requeues), dev, kind)
	}
	counter(famSamples, float64(s.Samples))
	counter(famOverruns, float64(s.Overruns))
	for op, name := range sampler.OpNames {
		counter(famSErrors, float64(s.Errors[op]), name)
	}
	gauge(famSource, 1, s.Source)
	gauge(famSInterval, s.Interval.Seconds())
	if s.SlowInterval > 0 {
		gauge(famSSlow, s.SlowInterval.Seconds())
	}
	if s.FollowsLinks {
		counter(famLinkEvents, float64(s.LinkEvents.Events))
		counter(famLinkOver, float64(s.LinkEvents.Overflows))
		counter(famLinkRelist, float64(s.LinkEvents.Relists))
	}
	if !s.Time.IsZero() {
		gauge(famSLast, float64(s.Time.UnixNano())/1e9)
	}
}

func (c *Sampler) streamedFamilies() []*family {
	return append(append([]*family(nil), samplerFamilies...), c.famThroughput, c.famSpacing, c.famDuration)
}

func (c *Sampler) setStreamed() { c.streamed.Store(true) }

// samplerStream is one scrape's snapshot, with its devices, qdiscs and
// histograms in the order of their label values. Kept for reuse, it costs
// a few hundred bytes per device and allocates nothing in steady state.
type samplerStream struct {
	c    *Sampler
	snap sampler.Snapshot
	have bool // a snapshot was taken (the source is set)
	// names are the devices' label values by snapshot index; order the
	// snapshot indexes sorted by them, duplicates dropped.
	names  []string
	order  []int32
	qnames [][2]string // device and kind of each qdisc snapshot
	qorder []int32
	hists  []*deviceHists // sorted by label
}

func (c *Sampler) openStream() familyStream {
	var st *samplerStream
	select {
	case st = <-c.idle:
	default:
		st = &samplerStream{c: c}
	}
	st.have = c.src != nil
	if st.have {
		c.src.Snapshot(&st.snap)
	}
	s := &st.snap
	st.names, st.order = st.names[:0], st.order[:0]
	if st.have {
		for i := range s.Devices {
			st.names = append(st.names, validLabel(s.Devices[i].Name))
			st.order = append(st.order, int32(i))
		}
	}
	names := st.names
	slices.SortFunc(st.order, func(a, b int32) int { return strings.Compare(names[a], names[b]) })
	st.order = slices.CompactFunc(st.order, func(a, b int32) bool { return names[a] == names[b] })

	st.qnames, st.qorder = st.qnames[:0], st.qorder[:0]
	if st.have {
		for i := range s.Qdiscs {
			st.qnames = append(st.qnames, [2]string{validLabel(s.Qdiscs[i].Device), validLabel(s.Qdiscs[i].Kind)})
			st.qorder = append(st.qorder, int32(i))
		}
	}
	qn := st.qnames
	slices.SortFunc(st.qorder, func(a, b int32) int {
		if c := strings.Compare(qn[a][0], qn[b][0]); c != 0 {
			return c
		}
		return strings.Compare(qn[a][1], qn[b][1])
	})
	st.qorder = slices.CompactFunc(st.qorder, func(a, b int32) bool { return qn[a] == qn[b] })

	st.hists = st.hists[:0]
	c.mu.Lock()
	for _, d := range c.hists {
		st.hists = append(st.hists, d)
	}
	c.mu.Unlock()
	slices.SortFunc(st.hists, func(a, b *deviceHists) int { return strings.Compare(a.label, b.label) })
	st.hists = slices.CompactFunc(st.hists, func(a, b *deviceHists) bool { return a.label == b.label })
	return st
}

func (st *samplerStream) close() {
	clear(st.hists[:cap(st.hists)])
	select {
	case st.c.idle <- st:
	default:
	}
}

// perDirection returns a per-direction counter family's values.
func perDirection(f *family, d *sampler.DeviceSnapshot) *[2]uint64 {
	switch f {
	case famBytes:
		return &d.Bytes
	case famPackets:
		return &d.Packets
	case famErrors:
		return &d.Errors
	case famDrops:
		return &d.Drops
	}
	return &d.Bursts
}

// perQdisc returns a per-qdisc family's value.
func perQdisc(f *family, q *sampler.QdiscSnapshot) uint64 {
	switch f {
	case famQBacklog:
		return q.Backlog
	case famQDrops:
		return q.Drops
	case famQOverlim:
		return q.Overlimits
	}
	return q.Requeues
}

func (st *samplerStream) writeFamily(e *expoWriter, f *family) {
	c, s := st.c, &st.snap
	switch f {
	case c.famThroughput:
		for _, d := range st.hists {
			e.histogram(d.h[0])
			e.histogram(d.h[1])
		}
		return
	case c.famSpacing:
		e.histogram(c.spacing)
		return
	case c.famDuration:
		e.histogram(c.duration)
		return
	}
	if !st.have {
		return
	}
	switch f {
	case famBytes, famPackets, famErrors, famDrops, famBursts:
		for _, i := range st.order {
			v := perDirection(f, &s.Devices[i])
			e.sample(float64(v[0]), st.names[i], directions[0])
			e.sample(float64(v[1]), st.names[i], directions[1])
		}
	case famPeak:
		for _, i := range st.order {
			d := &s.Devices[i]
			for dir, dn := range directions {
				for _, w := range windowOrder {
					e.sample(d.Peak[dir][w], st.names[i], dn, w.String())
				}
			}
		}
	case famInfo:
		for _, i := range st.order {
			d := &s.Devices[i]
			e.sample(1, st.names[i], validLabel(d.Kind), validLabel(d.Master), validLabel(d.OperState))
		}
	case famSpeed:
		for _, i := range st.order {
			if d := &s.Devices[i]; d.SpeedBytes > 0 {
				e.sample(d.SpeedBytes, st.names[i])
			}
		}
	case famRefresh:
		for _, i := range st.order {
			if d := &s.Devices[i]; d.RefreshSeconds > 0 {
				e.sample(d.RefreshSeconds, st.names[i])
			}
		}
	case famDiscont:
		for _, i := range st.order {
			e.sample(float64(s.Devices[i].Discontinuities), st.names[i])
		}
	case famCarrier:
		for _, i := range st.order {
			if d := &s.Devices[i]; d.CarrierKnown {
				e.sample(float64(d.CarrierChanges), st.names[i])
			}
		}
	case famSampling:
		for _, i := range st.order {
			if d := &s.Devices[i]; d.Interval > 0 {
				e.sample(d.Interval.Seconds(), st.names[i])
			}
		}
	case famQBacklogPk:
		for _, i := range st.qorder {
			for _, w := range windowOrder {
				e.sample(s.Qdiscs[i].BacklogPeak[w], st.qnames[i][0], st.qnames[i][1], w.String())
			}
		}
	case famQBacklog, famQDrops, famQOverlim, famQRequeues:
		for _, i := range st.qorder {
			e.sample(float64(perQdisc(f, &s.Qdiscs[i])), st.qnames[i][0], st.qnames[i][1])
		}
	case famSamples:
		e.sample(float64(s.Samples))
	case famOverruns:
		e.sample(float64(s.Overruns))
	case famSErrors:
		for _, op := range opOrder {
			e.sample(float64(s.Errors[op]), sampler.OpNames[op])
		}
	case famSource:
		e.sample(1, validLabel(s.Source))
	case famSInterval:
		e.sample(s.Interval.Seconds())
	case famSSlow:
		if s.SlowInterval > 0 {
			e.sample(s.SlowInterval.Seconds())
		}
	case famLinkEvents, famLinkOver, famLinkRelist:
		if s.FollowsLinks {
			v := s.LinkEvents.Events
			switch f {
			case famLinkOver:
				v = s.LinkEvents.Overflows
			case famLinkRelist:
				v = s.LinkEvents.Relists
			}
			e.sample(float64(v))
		}
	case famSLast:
		if !s.Time.IsZero() {
			e.sample(float64(s.Time.UnixNano()) / 1e9)
		}
	}
}
