package collector

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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
// taken at scrape time. Served by a Handler, it streams every family from
// one snapshot per scrape, and Collect sends nothing.
type Prober struct {
	src    ProberSource
	rtt    *prometheus.HistogramVec
	famRTT *family

	mu sync.Mutex
	// hists are the targets' RTT histograms by target name.
	hists map[string]*targetHist

	streamed atomic.Bool
	idle     chan *proberStream
}

// targetHist is a target's RTT histogram; never changed once made.
type targetHist struct {
	label string
	h     prometheus.Histogram
}

var (
	probeTargetLabels = []string{"target"}

	famProbeSent      = counterFamily("_probe_sent_total", "Echo requests sent to the target (every attempt; those the kernel refused are also in send_errors and lost).", "target")
	famProbeReplies   = counterFamily("_probe_replies_total", "Echo replies received within the timeout.", "target")
	famProbeLost      = counterFamily("_probe_lost_total", "Echo requests without reply within the timeout (late replies included).", "target")
	famProbeLate      = counterFamily("_probe_late_replies_total", "Echo replies received after the timeout (not in the RTT histogram).", "target")
	famProbeDups      = counterFamily("_probe_duplicates_total", "Duplicate echo replies.", "target")
	famProbeReordered = counterFamily("_probe_reordered_total", "Echo replies that arrived after the reply to a later request.", "target")
	famProbeSendErrs  = counterFamily("_probe_send_errors_total", "Echo requests the kernel refused to send (no route, no socket, ...).", "target")
	famProbeICMPErrs  = counterFamily("_probe_icmp_errors_total", "ICMP errors (destination unreachable, time exceeded, ...) about the target's requests.", "target")
	famProbeResolve   = counterFamily("_probe_resolve_errors_total", "Failed resolutions of the target's name (retried; the last good address stays in use).", "target")
	famProbeSpikes    = counterFamily("_probe_spikes_total", "RTT spikes: runs of consecutive replies with RTT >= max(spike threshold, k x rolling median), counted once per run.", "target")
	famProbeJitter    = gaugeFamily("_probe_jitter_seconds", "RFC 3550 interarrival jitter of the RTTs.", "target")
	famProbeInFlight  = gaugeFamily("_probe_in_flight", "Echo requests waiting for a reply.", "target")
	famProbePeak      = gaugeFamily("_probe_peak_rtt_seconds", "Largest RTT in the trailing window (absent when no reply came in it).", "target", "window")
	famProbeTSSource  = gaugeFamily("_probe_timestamp_source_info", "Where the latest RTT's timestamps came from: kernel (SO_TIMESTAMPING transmit and SO_TIMESTAMPNS receive stamps), kernel_rx (userspace send time), userspace, or none yet; always 1.", "target", "source")
	famProbeTarget    = gaugeFamily("_probe_target_info", "A probe target: its configured host, the address probed (empty while unresolved) and the socket mode; always 1.", "target", "host", "address", "mode")
	famProbeFailing   = gaugeFamily("_probe_send_failing", "1 while the target's latest send attempt failed, with its cause: permission (no ICMP socket can be opened), prohibited (a prohibit route or firewall rule), no_route, no_device (its interface is gone), network_down, message_size or other; absent while it sends.", "target", "cause")
	famProbeForeign   = counterFamily("_probe_foreign_replies_total", "Echo replies with another echo id or run token: other processes' pings, replies to an earlier run.")
	famProbeUnmatched = counterFamily("_probe_unmatched_replies_total", "Replies with our id and token that match no probe (unknown target, wrong source address, never-sent sequence).")
	famProbeMalformed = counterFamily("_probe_malformed_packets_total", "ICMP packets the reply parser rejected (truncated, not an echo reply or an error about one).")
)

// proberFamilies lists the counter and gauge families, in Describe's
// order.
var proberFamilies = []*family{famProbeSent, famProbeReplies, famProbeLost, famProbeLate, famProbeDups, famProbeReordered,
	famProbeSendErrs, famProbeICMPErrs, famProbeResolve, famProbeSpikes, famProbeJitter, famProbeInFlight, famProbePeak,
	famProbeTSSource, famProbeTarget, famProbeFailing, famProbeForeign, famProbeUnmatched, famProbeMalformed}

// proberCounters are the per-target counter families and their values.
var proberCounters = []struct {
	f *family
	v func(*prober.TargetStats) uint64
}{
	{famProbeSent, func(t *prober.TargetStats) uint64 { return t.Sent }},
	{famProbeReplies, func(t *prober.TargetStats) uint64 { return t.Replies }},
	{famProbeLost, func(t *prober.TargetStats) uint64 { return t.Lost }},
	{famProbeLate, func(t *prober.TargetStats) uint64 { return t.Late }},
	{famProbeDups, func(t *prober.TargetStats) uint64 { return t.Duplicates }},
	{famProbeReordered, func(t *prober.TargetStats) uint64 { return t.Reordered }},
	{famProbeSendErrs, func(t *prober.TargetStats) uint64 { return t.SendErrors }},
	{famProbeICMPErrs, func(t *prober.TargetStats) uint64 { return t.ICMPErrors }},
	{famProbeResolve, func(t *prober.TargetStats) uint64 { return t.ResolveErrors }},
	{famProbeSpikes, func(t *prober.TargetStats) uint64 { return t.Spikes }},
}

// NewProber returns the prober collector; call SetSource before
// registering it.
func NewProber() *Prober {
	buckets := prometheus.ExponentialBucketsRange(50e-6, 10, 18)
	const help = "Round-trip time of echo replies received within the timeout, from kernel timestamps where available."
	return &Prober{
		hists: map[string]*targetHist{},
		idle:  make(chan *proberStream, maxIdleScrapes),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "probe_rtt_seconds",
			Help:                            help,
			Buckets:                         buckets,
			NativeHistogramBucketFactor:     nativeFactor,
			NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
			NativeHistogramMinResetDuration: nativeMinReset,
		}, probeTargetLabels),
		famRTT: newFamily(namespace+"_probe_rtt_seconds", help, dto.MetricType_HISTOGRAM, probeTargetLabels...).withBuckets(buckets),
	}
}

// SetSource sets where Collect reads snapshots.
func (c *Prober) SetSource(src ProberSource) { c.src = src }

// ObserveRTT implements prober.Observer.
func (c *Prober) ObserveRTT(target string, rtt time.Duration) {
	c.mu.Lock()
	t := c.hists[target]
	if t == nil {
		t = &targetHist{label: validLabel(target)}
		t.h = c.rtt.WithLabelValues(t.label).(prometheus.Histogram)
		c.hists[target] = t
	}
	c.mu.Unlock()
	t.h.Observe(rtt.Seconds())
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
	for n, t := range c.hists {
		if !keep[n] {
			c.rtt.DeleteLabelValues(t.label)
			delete(c.hists, n)
		}
	}
}

// Describe implements prometheus.Collector.
func (c *Prober) Describe(ch chan<- *prometheus.Desc) {
	c.rtt.Describe(ch)
	for _, f := range proberFamilies {
		ch <- f.desc
	}
}

// Collect implements prometheus.Collector: every family through the
// registry, unless a Handler streams them. It only reads a snapshot.
func (c *Prober) Collect(ch chan<- prometheus.Metric) {
	if c.streamed.Load() {
		return
	}
	c.rtt.Collect(ch)
	if c.src == nil {
		return
	}
	s := c.src.Snapshot()
	windows := prober.PeakWindowNames()
	gauge := func(f *family, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, v, labels...)
	}
	for i := range s.Targets {
		t := &s.Targets[i]
		name := validLabel(t.Name)
		for _, m := range proberCounters {
			ch <- prometheus.MustNewConstMetric(m.f.desc, prometheus.CounterValue, float64(m.v(t)), name)
		}
		gauge(famProbeJitter, t.Jitter.Seconds(), name)
		gauge(famProbeInFlight, float64(t.InFlight), name)
		for w, p := range t.Peaks {
			if p > 0 {
				gauge(famProbePeak, p.Seconds(), name, windows[w])
			}
		}
		gauge(famProbeTSSource, 1, name, validLabel(string(t.Source)))
		gauge(famProbeTarget, 1, name, validLabel(t.Host), targetAddr(t), validLabel(string(t.Mode)))
		if t.Failure.Cause != "" {
			gauge(famProbeFailing, 1, name, validLabel(string(t.Failure.Cause)))
		}
	}
	ch <- prometheus.MustNewConstMetric(famProbeForeign.desc, prometheus.CounterValue, float64(s.Foreign))
	ch <- prometheus.MustNewConstMetric(famProbeUnmatched.desc, prometheus.CounterValue, float64(s.Unmatched))
	ch <- prometheus.MustNewConstMetric(famProbeMalformed.desc, prometheus.CounterValue, float64(s.Malformed))
}

// targetAddr is the address label: empty while unresolved.
func targetAddr(t *prober.TargetStats) string {
	if t.Addr.IsValid() {
		return t.Addr.String()
	}
	return ""
}

func (c *Prober) streamedFamilies() []*family {
	return append(append([]*family(nil), proberFamilies...), c.famRTT)
}

func (c *Prober) setStreamed() { c.streamed.Store(true) }

// proberStream is one scrape's snapshot, with the targets in the orders
// of the families' label values.
type proberStream struct {
	c     *Prober
	snap  prober.Snapshot
	have  bool
	vals  [][5]string // per target: target, source, host, address, mode
	order []int32     // by target
	// bySource, byAddr and byCause order the families whose first label
	// (sorted by name) is not the target: source, address, cause.
	bySource, byAddr, byCause []int32
	hists                     []*targetHist
}

// Indexes into proberStream.vals.
const (
	pvTarget = iota
	pvSource
	pvHost
	pvAddr
	pvMode
)

// peakOrder is prober.PeakWindows' indexes in the order of their label
// values.
var peakOrder = func() []int {
	names := prober.PeakWindowNames()
	o := make([]int, len(names))
	for i := range o {
		o[i] = i
	}
	slices.SortFunc(o, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	return o
}()

func (c *Prober) openStream() familyStream {
	var st *proberStream
	select {
	case st = <-c.idle:
	default:
		st = &proberStream{c: c}
	}
	st.have = c.src != nil
	st.snap = prober.Snapshot{}
	if st.have {
		st.snap = c.src.Snapshot()
	}
	ts := st.snap.Targets
	st.vals, st.order = st.vals[:0], st.order[:0]
	for i := range ts {
		t := &ts[i]
		st.vals = append(st.vals, [5]string{validLabel(t.Name), validLabel(string(t.Source)), validLabel(t.Host), targetAddr(t), validLabel(string(t.Mode))})
		st.order = append(st.order, int32(i))
	}
	v := st.vals
	byTarget := func(a, b int32) int { return strings.Compare(v[a][pvTarget], v[b][pvTarget]) }
	slices.SortFunc(st.order, byTarget)
	st.order = slices.CompactFunc(st.order, func(a, b int32) bool { return v[a][pvTarget] == v[b][pvTarget] })
	// The other orders refine the target order (stable), so that equal
	// first labels keep their targets sorted.
	st.bySource = append(st.bySource[:0], st.order...)
	slices.SortStableFunc(st.bySource, func(a, b int32) int { return strings.Compare(v[a][pvSource], v[b][pvSource]) })
	st.byAddr = append(st.byAddr[:0], st.order...)
	slices.SortStableFunc(st.byAddr, func(a, b int32) int {
		for _, k := range [...]int{pvAddr, pvHost, pvMode} {
			if c := strings.Compare(v[a][k], v[b][k]); c != 0 {
				return c
			}
		}
		return 0
	})
	st.byCause = st.byCause[:0]
	for _, i := range st.order {
		if ts[i].Failure.Cause != "" {
			st.byCause = append(st.byCause, i)
		}
	}
	slices.SortStableFunc(st.byCause, func(a, b int32) int {
		return strings.Compare(string(ts[a].Failure.Cause), string(ts[b].Failure.Cause))
	})

	st.hists = st.hists[:0]
	c.mu.Lock()
	for _, t := range c.hists {
		st.hists = append(st.hists, t)
	}
	c.mu.Unlock()
	slices.SortFunc(st.hists, func(a, b *targetHist) int { return strings.Compare(a.label, b.label) })
	st.hists = slices.CompactFunc(st.hists, func(a, b *targetHist) bool { return a.label == b.label })
	return st
}

func (st *proberStream) close() {
	clear(st.hists[:cap(st.hists)])
	st.snap = prober.Snapshot{}
	select {
	case st.c.idle <- st:
	default:
	}
}

func (st *proberStream) writeFamily(e *expoWriter, f *family) {
	if f == st.c.famRTT {
		for _, t := range st.hists {
			e.histogram(t.h)
		}
		return
	}
	if !st.have {
		return
	}
	ts, v := st.snap.Targets, st.vals
	switch f {
	case famProbeJitter:
		for _, i := range st.order {
			e.sample(ts[i].Jitter.Seconds(), v[i][pvTarget])
		}
	case famProbeInFlight:
		for _, i := range st.order {
			e.sample(float64(ts[i].InFlight), v[i][pvTarget])
		}
	case famProbePeak:
		windows := prober.PeakWindowNames()
		for _, i := range st.order {
			for _, w := range peakOrder {
				if p := ts[i].Peaks[w]; p > 0 {
					e.sample(p.Seconds(), v[i][pvTarget], windows[w])
				}
			}
		}
	case famProbeTSSource: // labels: source, target
		for _, i := range st.bySource {
			e.sample(1, v[i][pvSource], v[i][pvTarget])
		}
	case famProbeTarget: // labels: address, host, mode, target
		for _, i := range st.byAddr {
			e.sample(1, v[i][pvAddr], v[i][pvHost], v[i][pvMode], v[i][pvTarget])
		}
	case famProbeFailing: // labels: cause, target
		for _, i := range st.byCause {
			e.sample(1, validLabel(string(ts[i].Failure.Cause)), v[i][pvTarget])
		}
	case famProbeForeign:
		e.sample(float64(st.snap.Foreign))
	case famProbeUnmatched:
		e.sample(float64(st.snap.Unmatched))
	case famProbeMalformed:
		e.sample(float64(st.snap.Malformed))
	default:
		for _, m := range proberCounters {
			if m.f == f {
				for _, i := range st.order {
					e.sample(float64(m.v(&ts[i])), v[i][pvTarget])
				}
			}
		}
	}
}
