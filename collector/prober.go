package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netburst/netburst/prober"
)

// ProberSource is what the prober collector reads at scrape time;
// *prober.Prober implements it.
type ProberSource interface {
	Snapshot() prober.Snapshot
}

// Prober exports the ICMP prober's metrics. It implements prober.Observer
// (each in-time RTT goes into a client_golang histogram, classic buckets
// 50 us..10 s plus native buckets); everything else comes from a snapshot
// taken at scrape time.
type Prober struct {
	src ProberSource
	rtt *prometheus.HistogramVec

	mu       sync.Mutex
	observed map[string]bool
}

var (
	probeTargetLabels = []string{"target"}

	descProbeSent      = prometheus.NewDesc(namespace+"_probe_sent_total", "Echo requests sent to the target (every attempt; those the kernel refused are also in send_errors and lost).", probeTargetLabels, nil)
	descProbeReplies   = prometheus.NewDesc(namespace+"_probe_replies_total", "Echo replies received within the timeout.", probeTargetLabels, nil)
	descProbeLost      = prometheus.NewDesc(namespace+"_probe_lost_total", "Echo requests without reply within the timeout (late replies included).", probeTargetLabels, nil)
	descProbeLate      = prometheus.NewDesc(namespace+"_probe_late_replies_total", "Echo replies received after the timeout (not in the RTT histogram).", probeTargetLabels, nil)
	descProbeDups      = prometheus.NewDesc(namespace+"_probe_duplicates_total", "Duplicate echo replies.", probeTargetLabels, nil)
	descProbeReordered = prometheus.NewDesc(namespace+"_probe_reordered_total", "Echo replies that arrived after the reply to a later request.", probeTargetLabels, nil)
	descProbeSendErrs  = prometheus.NewDesc(namespace+"_probe_send_errors_total", "Echo requests the kernel refused to send (no route, no socket, ...).", probeTargetLabels, nil)
	descProbeICMPErrs  = prometheus.NewDesc(namespace+"_probe_icmp_errors_total", "ICMP errors (destination unreachable, time exceeded, ...) about the target's requests.", probeTargetLabels, nil)
	descProbeResolve   = prometheus.NewDesc(namespace+"_probe_resolve_errors_total", "Failed resolutions of the target's name (retried; the last good address stays in use).", probeTargetLabels, nil)
	descProbeSpikes    = prometheus.NewDesc(namespace+"_probe_spikes_total", "RTT spikes: runs of consecutive replies with RTT >= max(spike threshold, k x rolling median), counted once per run.", probeTargetLabels, nil)
	descProbeJitter    = prometheus.NewDesc(namespace+"_probe_jitter_seconds", "RFC 3550 interarrival jitter of the RTTs.", probeTargetLabels, nil)
	descProbeInFlight  = prometheus.NewDesc(namespace+"_probe_in_flight", "Echo requests waiting for a reply.", probeTargetLabels, nil)
	descProbePeak      = prometheus.NewDesc(namespace+"_probe_peak_rtt_seconds", "Largest RTT in the trailing window (absent when no reply came in it).", []string{"target", "window"}, nil)
	descProbeTSSource  = prometheus.NewDesc(namespace+"_probe_timestamp_source_info", "Where the latest RTT's timestamps came from: kernel (SO_TIMESTAMPING transmit and SO_TIMESTAMPNS receive stamps), kernel_rx (userspace send time), userspace, or none yet; always 1.", []string{"target", "source"}, nil)
	descProbeTarget    = prometheus.NewDesc(namespace+"_probe_target_info", "A probe target: its configured host, the address probed (empty while unresolved) and the socket mode; always 1.", []string{"target", "host", "address", "mode"}, nil)
	descProbeFailing   = prometheus.NewDesc(namespace+"_probe_send_failing", "1 while the target's latest send attempt failed, with its cause: permission (no ICMP socket can be opened), prohibited (a prohibit route or firewall rule), no_route, no_device (its interface is gone), network_down, message_size or other; absent while it sends.", []string{"target", "cause"}, nil)
	descProbeForeign   = prometheus.NewDesc(namespace+"_probe_foreign_replies_total", "Echo replies with another echo id or run token: other processes' pings, replies to an earlier run.", nil, nil)
	descProbeUnmatched = prometheus.NewDesc(namespace+"_probe_unmatched_replies_total", "Replies with our id and token that match no probe (unknown target, wrong source address, never-sent sequence).", nil, nil)
	descProbeMalformed = prometheus.NewDesc(namespace+"_probe_malformed_packets_total", "ICMP packets the reply parser rejected (truncated, not an echo reply or an error about one).", nil, nil)
)

// NewProber returns the prober collector; call SetSource before
// registering it.
func NewProber() *Prober {
	return &Prober{
		observed: map[string]bool{},
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "probe_rtt_seconds",
			Help:                            "Round-trip time of echo replies received within the timeout, from kernel timestamps where available.",
			Buckets:                         prometheus.ExponentialBucketsRange(50e-6, 10, 18),
			NativeHistogramBucketFactor:     nativeFactor,
			NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
			NativeHistogramMinResetDuration: nativeMinReset,
		}, probeTargetLabels),
	}
}

// SetSource sets where Collect reads snapshots.
func (c *Prober) SetSource(src ProberSource) { c.src = src }

// ObserveRTT implements prober.Observer.
func (c *Prober) ObserveRTT(target string, rtt time.Duration) {
	c.mu.Lock()
	c.observed[target] = true
	c.mu.Unlock()
	c.rtt.WithLabelValues(target).Observe(rtt.Seconds())
}

// Retain drops the RTT histograms of targets not in names, after a reload
// removed them.
func (c *Prober) Retain(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.observed {
		if !keep[n] {
			c.rtt.DeleteLabelValues(n)
			delete(c.observed, n)
		}
	}
}

// Describe implements prometheus.Collector.
func (c *Prober) Describe(ch chan<- *prometheus.Desc) {
	c.rtt.Describe(ch)
	for _, d := range []*prometheus.Desc{descProbeSent, descProbeReplies, descProbeLost, descProbeLate, descProbeDups, descProbeReordered,
		descProbeSendErrs, descProbeICMPErrs, descProbeResolve, descProbeSpikes, descProbeJitter, descProbeInFlight, descProbePeak,
		descProbeTSSource, descProbeTarget, descProbeFailing, descProbeForeign, descProbeUnmatched, descProbeMalformed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It only reads a snapshot.
func (c *Prober) Collect(ch chan<- prometheus.Metric) {
	c.rtt.Collect(ch)
	if c.src == nil {
		return
	}
	s := c.src.Snapshot()
	windows := prober.PeakWindowNames()
	for _, t := range s.Targets {
		for _, m := range []struct {
			d *prometheus.Desc
			v uint64
		}{
			{descProbeSent, t.Sent}, {descProbeReplies, t.Replies}, {descProbeLost, t.Lost}, {descProbeLate, t.Late},
			{descProbeDups, t.Duplicates}, {descProbeReordered, t.Reordered}, {descProbeSendErrs, t.SendErrors},
			{descProbeICMPErrs, t.ICMPErrors}, {descProbeResolve, t.ResolveErrors}, {descProbeSpikes, t.Spikes},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), t.Name)
		}
		ch <- prometheus.MustNewConstMetric(descProbeJitter, prometheus.GaugeValue, t.Jitter.Seconds(), t.Name)
		ch <- prometheus.MustNewConstMetric(descProbeInFlight, prometheus.GaugeValue, float64(t.InFlight), t.Name)
		for i, p := range t.Peaks {
			if p > 0 {
				ch <- prometheus.MustNewConstMetric(descProbePeak, prometheus.GaugeValue, p.Seconds(), t.Name, windows[i])
			}
		}
		ch <- prometheus.MustNewConstMetric(descProbeTSSource, prometheus.GaugeValue, 1, t.Name, string(t.Source))
		addr := ""
		if t.Addr.IsValid() {
			addr = t.Addr.String()
		}
		ch <- prometheus.MustNewConstMetric(descProbeTarget, prometheus.GaugeValue, 1, t.Name, t.Host, addr, string(t.Mode))
		if t.Failure.Cause != "" {
			ch <- prometheus.MustNewConstMetric(descProbeFailing, prometheus.GaugeValue, 1, t.Name, string(t.Failure.Cause))
		}
	}
	ch <- prometheus.MustNewConstMetric(descProbeForeign, prometheus.CounterValue, float64(s.Foreign))
	ch <- prometheus.MustNewConstMetric(descProbeUnmatched, prometheus.CounterValue, float64(s.Unmatched))
	ch <- prometheus.MustNewConstMetric(descProbeMalformed, prometheus.CounterValue, float64(s.Malformed))
}
