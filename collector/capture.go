package collector

import (
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CaptureDevice is one capture device's counters.
type CaptureDevice struct {
	Device string
	// Packets were read from the kernel; KernelDrops dropped by the kernel
	// before they were read; RingDropped pushed out of the pre-trigger ring
	// by its memory bound; FreezeDropped lost from a spike window that did
	// not fit its buffer.
	Packets, KernelDrops, RingDropped, FreezeDropped uint64
	// Up is false while the device's interface is gone (deleted, not yet
	// re-created) or its socket failed; Reopens counts its returns.
	Up      bool
	Reopens uint64
}

// CapturePort is one of the top ports of a device's latest spike report.
type CapturePort struct {
	Device, Protocol string
	Port             uint16
	Bytes            uint64
}

// CaptureSnapshot is the state of the spike capture at one instant. It is
// plain data so that this package need not import the capture package (which
// links AF_PACKET code).
type CaptureSnapshot struct {
	Devices []CaptureDevice
	// Spikes counts accepted spike events per trigger; LastSpike is the
	// latest one's time.
	Spikes    map[string]uint64
	LastSpike map[string]time.Time
	// Suppressed counts events dropped by the per-trigger rate limit;
	// EventsDropped events dropped on a full queue.
	Suppressed, EventsDropped uint64
	// FilesBytes is the size of the spike pcaps kept; FileErrors counts
	// pcaps not written.
	FilesBytes int64
	FileErrors uint64
	// LastPorts are the top ports of each device's latest report (bounded
	// by the capture's top K).
	LastPorts []CapturePort
}

// CaptureSource is what the capture collector reads at scrape time.
type CaptureSource interface {
	CaptureSnapshot() CaptureSnapshot
}

// Capture exports the spike capture's counters and its latest spikes' top
// ports from a snapshot taken at scrape time.
type Capture struct {
	src CaptureSource
}

// NewCapture returns the capture collector over src.
func NewCapture(src CaptureSource) *Capture { return &Capture{src: src} }

var (
	captureSpikesDesc = prometheus.NewDesc(namespace+"_spikes_total",
		"Spike events accepted by the capture, by trigger (events merged into an open window included, rate-limited ones not).",
		[]string{"trigger"}, nil)
	captureLastSpikeDesc = prometheus.NewDesc(namespace+"_spike_last_timestamp_seconds",
		"Time of the latest accepted spike event, by trigger.",
		[]string{"trigger"}, nil)
	captureLastPortDesc = prometheus.NewDesc(namespace+"_spike_last_port_bytes",
		"Bytes to each of the top destination ports during the latest spike window of the device (top K only; inside a tunnel, the inner packet's port).",
		[]string{"device", "protocol", "port"}, nil)
	capturePacketsDesc = prometheus.NewDesc(namespace+"_capture_packets_total",
		"Frames the capture read from the kernel.",
		[]string{"device"}, nil)
	captureKernelDropsDesc = prometheus.NewDesc(namespace+"_capture_kernel_drops_total",
		"Frames the kernel dropped because the capture socket's ring was full.",
		[]string{"device"}, nil)
	captureRingDropsDesc = prometheus.NewDesc(namespace+"_capture_ring_dropped_total",
		"Frames pushed out of the pre-trigger ring by --capture.memory before they aged out, or lost from a spike window that did not fit.",
		[]string{"device", "buffer"}, nil)
	captureUpDesc = prometheus.NewDesc(namespace+"_capture_up",
		"1 while the capture device captures its interface; 0 while the interface of that name is gone (or cannot be captured, or the socket failed) and the device waits for it to return.",
		[]string{"device"}, nil)
	captureReopensDesc = prometheus.NewDesc(namespace+"_capture_reopens_total",
		"Times the capture device captured again after it was down: a re-created interface of the same name, as a rule.",
		[]string{"device"}, nil)
	captureFilesBytesDesc = prometheus.NewDesc(namespace+"_capture_files_bytes",
		"Bytes of spike pcaps kept in --capture.dir.", nil, nil)
	captureFileErrorsDesc = prometheus.NewDesc(namespace+"_capture_file_errors_total",
		"Spike pcaps not written (full or unwritable disk).", nil, nil)
	captureSuppressedDesc = prometheus.NewDesc(namespace+"_capture_spikes_suppressed_total",
		"Spike events dropped by the per-trigger rate limit.", nil, nil)
	captureEventsDroppedDesc = prometheus.NewDesc(namespace+"_capture_events_dropped_total",
		"Spike events dropped because the capture's queue was full.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *Capture) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{captureSpikesDesc, captureLastSpikeDesc, captureLastPortDesc, capturePacketsDesc,
		captureKernelDropsDesc, captureRingDropsDesc, captureUpDesc, captureReopensDesc, captureFilesBytesDesc, captureFileErrorsDesc, captureSuppressedDesc, captureEventsDroppedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It only reads a snapshot.
func (c *Capture) Collect(ch chan<- prometheus.Metric) {
	s := c.src.CaptureSnapshot()
	triggers := make([]string, 0, len(s.Spikes))
	for t := range s.Spikes {
		triggers = append(triggers, t)
	}
	sort.Strings(triggers)
	for _, t := range triggers {
		ch <- prometheus.MustNewConstMetric(captureSpikesDesc, prometheus.CounterValue, float64(s.Spikes[t]), t)
		if ts, ok := s.LastSpike[t]; ok && !ts.IsZero() {
			ch <- prometheus.MustNewConstMetric(captureLastSpikeDesc, prometheus.GaugeValue, float64(ts.UnixNano())/1e9, t)
		}
	}
	for _, p := range s.LastPorts {
		ch <- prometheus.MustNewConstMetric(captureLastPortDesc, prometheus.GaugeValue, float64(p.Bytes), p.Device, p.Protocol, strconv.Itoa(int(p.Port)))
	}
	for _, d := range s.Devices {
		ch <- prometheus.MustNewConstMetric(capturePacketsDesc, prometheus.CounterValue, float64(d.Packets), d.Device)
		ch <- prometheus.MustNewConstMetric(captureKernelDropsDesc, prometheus.CounterValue, float64(d.KernelDrops), d.Device)
		ch <- prometheus.MustNewConstMetric(captureRingDropsDesc, prometheus.CounterValue, float64(d.RingDropped), d.Device, "ring")
		ch <- prometheus.MustNewConstMetric(captureRingDropsDesc, prometheus.CounterValue, float64(d.FreezeDropped), d.Device, "window")
		up := 0.0
		if d.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(captureUpDesc, prometheus.GaugeValue, up, d.Device)
		ch <- prometheus.MustNewConstMetric(captureReopensDesc, prometheus.CounterValue, float64(d.Reopens), d.Device)
	}
	ch <- prometheus.MustNewConstMetric(captureFilesBytesDesc, prometheus.GaugeValue, float64(s.FilesBytes))
	ch <- prometheus.MustNewConstMetric(captureFileErrorsDesc, prometheus.CounterValue, float64(s.FileErrors))
	ch <- prometheus.MustNewConstMetric(captureSuppressedDesc, prometheus.CounterValue, float64(s.Suppressed))
	ch <- prometheus.MustNewConstMetric(captureEventsDroppedDesc, prometheus.CounterValue, float64(s.EventsDropped))
}
