// Package collector turns the domain packages' snapshots and observation
// streams into Prometheus metrics. It does no kernel I/O: a scrape copies a
// snapshot and never waits for a sample.
package collector

import (
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

	mu   sync.Mutex // serialises scrapes over the reused snapshot
	snap sampler.Snapshot
}

// Descriptors of the snapshot-backed metrics.
var (
	ifaceLabels    = []string{"device", "direction"}
	descBytes      = prometheus.NewDesc(namespace+"_interface_bytes_total", "Bytes received or transmitted by the interface, from the kernel's 64-bit counters (widened across 32-bit wraps, monotonic across resets).", ifaceLabels, nil)
	descPackets    = prometheus.NewDesc(namespace+"_interface_packets_total", "Packets received or transmitted by the interface.", ifaceLabels, nil)
	descErrors     = prometheus.NewDesc(namespace+"_interface_errors_total", "Receive or transmit errors of the interface.", ifaceLabels, nil)
	descDrops      = prometheus.NewDesc(namespace+"_interface_drops_total", "Packets dropped by the interface on receive or transmit.", ifaceLabels, nil)
	descSpeed      = prometheus.NewDesc(namespace+"_interface_speed_bytes", "Link speed in bytes per second (absent when the driver reports none).", []string{"device"}, nil)
	descInfo       = prometheus.NewDesc(namespace+"_interface_info", "Interface attributes; always 1.", []string{"device", "kind", "master", "operstate"}, nil)
	descPeak       = prometheus.NewDesc(namespace+"_interface_peak_bytes_per_second", "Largest interval rate in the trailing window.", []string{"device", "direction", "window"}, nil)
	descBursts     = prometheus.NewDesc(namespace+"_interface_burst_intervals_total", "Sampling intervals whose rate was at or above the burst threshold.", ifaceLabels, nil)
	descRefresh    = prometheus.NewDesc(namespace+"_interface_counter_refresh_seconds", "Detected refresh period of the driver's counters: the sampling interval when they are fresh at every sample (absent until detected).", []string{"device"}, nil)
	descDiscont    = prometheus.NewDesc(namespace+"_interface_discontinuities_total", "Counter resets and implausible jumps, for which no rate was computed.", []string{"device"}, nil)
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
		opts: opts,
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
	for _, d := range []*prometheus.Desc{descBytes, descPackets, descErrors, descDrops, descSpeed, descInfo, descPeak, descBursts, descRefresh, descDiscont, descQBacklogPk, descQBacklog, descQDrops, descQOverlim, descQRequeues, descSamples, descOverruns, descSErrors, descSource, descSInterval, descSLast} {
		ch <- d
	}
	c.throughput.Describe(ch)
	c.spacing.Describe(ch)
	c.duration.Describe(ch)
}

var directions = [2]string{"receive", "transmit"}

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
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for i := range s.Devices {
		d := &s.Devices[i]
		for dir, dn := range directions {
			counter(descBytes, float64(d.Bytes[dir]), d.Name, dn)
			counter(descPackets, float64(d.Packets[dir]), d.Name, dn)
			counter(descErrors, float64(d.Errors[dir]), d.Name, dn)
			counter(descDrops, float64(d.Drops[dir]), d.Name, dn)
			counter(descBursts, float64(d.Bursts[dir]), d.Name, dn)
			for _, w := range sampler.Windows {
				gauge(descPeak, d.Peak[dir][w], d.Name, dn, w.String())
			}
		}
		gauge(descInfo, 1, d.Name, d.Kind, d.Master, d.OperState)
		if d.SpeedBytes > 0 {
			gauge(descSpeed, d.SpeedBytes, d.Name)
		}
		if d.RefreshSeconds > 0 {
			gauge(descRefresh, d.RefreshSeconds, d.Name)
		}
		counter(descDiscont, float64(d.Discontinuities), d.Name)
	}
	for i := range s.Qdiscs {
		q := &s.Qdiscs[i]
		for _, w := range sampler.Windows {
			gauge(descQBacklogPk, q.BacklogPeak[w], q.Device, q.Kind, w.String())
		}
		gauge(descQBacklog, float64(q.Backlog), q.Device, q.Kind)
		counter(descQDrops, float64(q.Drops), q.Device, q.Kind)
		counter(descQOverlim, float64(q.Overlimits), q.Device, q.Kind)
		counter(descQRequeues, float64(q.Requeues), q.Device, q.Kind)
	}
	counter(descSamples, float64(s.Samples))
	counter(descOverruns, float64(s.Overruns))
	for op, name := range sampler.OpNames {
		counter(descSErrors, float64(s.Errors[op]), name)
	}
	gauge(descSource, 1, s.Source)
	gauge(descSInterval, s.Interval.Seconds())
	if !s.Time.IsZero() {
		gauge(descSLast, float64(s.Time.UnixNano())/1e9)
	}
}
