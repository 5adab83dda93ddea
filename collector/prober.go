package collector

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

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
	// schema is how the custom labels of the latest snapshot are written.
	schema atomic.Pointer[probeSchema]
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
	buckets := roundedBuckets(3, prometheus.ExponentialBucketsRange(50e-6, 10, 18))
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
// registry, unless a Handler streams them. It only reads a snapshot, and
// sends what a stream of it writes.
func (c *Prober) Collect(ch chan<- prometheus.Metric) {
	if c.streamed.Load() {
		return
	}
	c.collectFrom(ch, c.src, true)
}

// ForSource returns a collector of c's per-target families, with the
// series of the targets src's snapshots list (their RTT histograms
// included) and none of the prober-wide counters: the answer to a
// /probe?target= scrape, with src the prober's snapshot cut down to that
// target. It is not streamed: it serves few series.
func (c *Prober) ForSource(src ProberSource) prometheus.Collector { return proberView{c, src} }

type proberView struct {
	c   *Prober
	src ProberSource
}

func (v proberView) Describe(ch chan<- *prometheus.Desc) { v.c.Describe(ch) }

func (v proberView) Collect(ch chan<- prometheus.Metric) { v.c.collectFrom(ch, v.src, false) }

// collectFrom sends src's families through a registry; global says whether
// the prober-wide counters go too.
func (c *Prober) collectFrom(ch chan<- prometheus.Metric, src ProberSource, global bool) {
	st := c.openStreamFrom(src)
	defer st.close()
	rtt := st.sch.fams[c.famRTT]
	for _, h := range st.hists {
		if len(st.sch.names) == 0 {
			ch <- h.t.h // described by c.rtt
			continue
		}
		pairs := make([]*dto.LabelPair, len(st.sch.names))
		for j, n := range st.sch.names {
			pairs[j] = &dto.LabelPair{Name: proto.String(n), Value: proto.String(st.value(h.ti, pvExtra+j, ""))}
		}
		ch <- labelledHist{h.t.h, rtt.f.desc, pairs}
	}
	if !st.have {
		return
	}
	ts := st.snap.Targets
	for _, f := range proberFamilies {
		lf := st.sch.fams[f]
		if lf == nil {
			if global {
				v := map[*family]uint64{famProbeForeign: st.snap.Foreign, famProbeUnmatched: st.snap.Unmatched, famProbeMalformed: st.snap.Malformed}[f]
				ch <- prometheus.MustNewConstMetric(f.desc, valueType(f), float64(v))
			}
			continue
		}
		send := func(v float64, i int32, window string) {
			vals := make([]string, len(lf.perm))
			for j, k := range lf.perm {
				vals[j] = st.value(i, k, window)
			}
			ch <- prometheus.MustNewConstMetric(lf.f.desc, valueType(f), v, vals...)
		}
		windows := prober.PeakWindowNames()
		for _, i := range st.orders[0] {
			t := &ts[i]
			switch {
			case f == famProbePeak:
				for w, p := range t.Peaks {
					if p > 0 {
						send(p.Seconds(), i, windows[w])
					}
				}
			case f == famProbeFailing && t.Failure.Cause == "":
			default:
				send(proberValues[f](t), i, "")
			}
		}
	}
}

func valueType(f *family) prometheus.ValueType {
	if f.typ == dto.MetricType_COUNTER {
		return prometheus.CounterValue
	}
	return prometheus.GaugeValue
}

// labelledHist is a target's histogram with its custom labels, for the
// Collect path.
type labelledHist struct {
	prometheus.Histogram
	desc  *prometheus.Desc
	extra []*dto.LabelPair
}

func (h labelledHist) Desc() *prometheus.Desc { return h.desc }

func (h labelledHist) Write(m *dto.Metric) error {
	if err := h.Histogram.Write(m); err != nil {
		return err
	}
	m.Label = append(slices.Clone(m.Label), h.extra...)
	slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return nil
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
	c    *Prober
	snap prober.Snapshot
	have bool
	sch  *probeSchema
	// vals holds each target's label values, stride values a target, at
	// the value indexes (pvTarget...; the custom labels from pvExtra).
	vals   []string
	stride int
	// orders[k] lists the targets sorted by the schema's k-th key; the
	// first is the target order, one entry per distinct target label.
	orders [][]int32
	lv     []string // one sample's label values
	hists  []histRef
	// pairs and pairVals are the custom labels of the histogram being
	// written (one at a time).
	pairs    []dto.LabelPair
	pairPtrs []*dto.LabelPair
	pairVals []string
}

// histRef is a histogram of one scrape and its target's index in the
// snapshot (-1: none, its custom labels are empty).
type histRef struct {
	t  *targetHist
	ti int32
}

// Value indexes of a target's label values.
const (
	pvTarget = iota
	pvSource
	pvHost
	pvAddr
	pvMode
	pvCause
	pvWindow // given with each sample
	pvExtra  // then the custom labels, in Snapshot.LabelNames order
)

// baseValue maps the probe families' own label names to value indexes.
var baseValue = map[string]int{"target": pvTarget, "source": pvSource, "host": pvHost, "address": pvAddr, "mode": pvMode, "cause": pvCause, "window": pvWindow}

// probeSchema is how the per-target families are written with a given set
// of custom label names: each family with those labels added (the family
// itself when there are none), where each label's value comes from, and
// which order its series take.
type probeSchema struct {
	names []string
	fams  map[*family]*labelled
	// keys are the distinct sort keys: the value indexes of the labels
	// that sort before target (which is unique, so that the labels after
	// it do not matter). keys[0] is empty: the target order.
	keys [][]int
}

type labelled struct {
	f     *family
	perm  []int // per label of f, in f's (sorted) order: its value index
	order int   // index into probeSchema.keys
}

// perTarget are the families with a series per target.
var perTarget = func() []*family {
	var fs []*family
	for _, f := range proberFamilies {
		if slices.Contains(f.labels, "target") {
			fs = append(fs, f)
		}
	}
	return fs
}()

func newProbeSchema(names []string, rtt *family) *probeSchema {
	s := &probeSchema{names: slices.Clone(names), fams: map[*family]*labelled{}, keys: [][]int{nil}}
	for _, f := range append(slices.Clone(perTarget), rtt) {
		// The descriptor's labels sorted, as the exposition's are, so
		// that the Collect path gives values in one order. Its id is the
		// described one's (a descriptor's id is its name's).
		labels := append(slices.Clone(f.labels), names...)
		slices.Sort(labels)
		lf := &labelled{f: newFamily(f.name, f.help, f.typ, labels...)}
		lf.f.bounds, lf.f.textLE, lf.f.omLE = f.bounds, f.textLE, f.omLE
		var key []int
		for _, l := range lf.f.labels {
			k, ok := baseValue[l]
			if !ok {
				k = pvExtra + slices.Index(names, l)
			}
			lf.perm = append(lf.perm, k)
			if l < "target" {
				key = append(key, k)
			}
		}
		lf.order = slices.IndexFunc(s.keys, func(k []int) bool { return slices.Equal(k, key) })
		if lf.order < 0 {
			lf.order = len(s.keys)
			s.keys = append(s.keys, key)
		}
		s.fams[f] = lf
	}
	return s
}

// schemaFor returns the schema of names, made anew only when they changed.
func (c *Prober) schemaFor(names []string) *probeSchema {
	s := c.schema.Load()
	if s != nil && slices.Equal(s.names, names) {
		return s
	}
	s = newProbeSchema(names, c.famRTT)
	c.schema.Store(s)
	return s
}

// proberValues are the per-target families' values but the peak's, which
// has a series per window.
var proberValues = func() map[*family]func(*prober.TargetStats) float64 {
	m := map[*family]func(*prober.TargetStats) float64{
		famProbeJitter:   func(t *prober.TargetStats) float64 { return t.Jitter.Seconds() },
		famProbeInFlight: func(t *prober.TargetStats) float64 { return float64(t.InFlight) },
		famProbeTSSource: func(*prober.TargetStats) float64 { return 1 },
		famProbeTarget:   func(*prober.TargetStats) float64 { return 1 },
		famProbeFailing:  func(*prober.TargetStats) float64 { return 1 },
	}
	for _, c := range proberCounters {
		m[c.f] = func(t *prober.TargetStats) float64 { return float64(c.v(t)) }
	}
	return m
}()

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

// value is target i's value at index k; window is pvWindow's.
func (st *proberStream) value(i int32, k int, window string) string {
	if k == pvWindow {
		return window
	}
	if i < 0 {
		return "" // a histogram without a target: no custom labels
	}
	return st.vals[int(i)*st.stride+k]
}

func (st *proberStream) compare(keys []int) func(a, b int32) int {
	return func(a, b int32) int {
		for _, k := range keys {
			if c := strings.Compare(st.value(a, k, ""), st.value(b, k, "")); c != 0 {
				return c
			}
		}
		return 0
	}
}

func (c *Prober) openStream() familyStream { return c.openStreamFrom(c.src) }

// openStreamFrom is openStream with the snapshot from src.
func (c *Prober) openStreamFrom(src ProberSource) *proberStream {
	var st *proberStream
	select {
	case st = <-c.idle:
	default:
		st = &proberStream{c: c}
	}
	st.have = src != nil
	st.snap = prober.Snapshot{}
	if st.have {
		st.snap = src.Snapshot()
	}
	st.sch = c.schemaFor(st.snap.LabelNames)
	names := st.sch.names
	ts := st.snap.Targets
	st.stride = pvExtra + len(names)
	st.vals = st.vals[:0]
	for len(st.orders) < len(st.sch.keys) {
		st.orders = append(st.orders, nil)
	}
	order := st.orders[0][:0]
	for i := range ts {
		t := &ts[i]
		st.vals = append(st.vals, validLabel(t.Name), validLabel(string(t.Source)), validLabel(t.Host), targetAddr(t),
			validLabel(string(t.Mode)), validLabel(string(t.Failure.Cause)), "")
		for _, n := range names {
			st.vals = append(st.vals, t.Labels[n]) // "" where the target has none
		}
		order = append(order, int32(i))
	}
	byTarget := st.compare([]int{pvTarget})
	slices.SortFunc(order, byTarget)
	order = slices.CompactFunc(order, func(a, b int32) bool { return byTarget(a, b) == 0 })
	st.orders[0] = order
	// The other orders refine the target order (stable), so that equal
	// keys keep their targets sorted.
	for k := 1; k < len(st.sch.keys); k++ {
		st.orders[k] = append(st.orders[k][:0], order...)
		slices.SortStableFunc(st.orders[k], st.compare(st.sch.keys[k]))
	}

	st.hists = st.hists[:0]
	c.mu.Lock()
	for _, t := range c.hists {
		st.hists = append(st.hists, histRef{t, -1})
	}
	c.mu.Unlock()
	rtt := st.sch.fams[c.famRTT]
	// A histogram is served with its target: one the snapshot does not
	// list (a view of some targets, a target removed but not yet
	// Retained) is left out.
	if st.have {
		kept := st.hists[:0]
		for _, h := range st.hists {
			if n, ok := slices.BinarySearchFunc(order, h.t.label, func(i int32, l string) int {
				return strings.Compare(st.value(i, pvTarget, ""), l)
			}); ok {
				h.ti = order[n]
				kept = append(kept, h)
			}
		}
		st.hists = kept
	}
	keys := st.sch.keys[rtt.order]
	slices.SortFunc(st.hists, func(a, b histRef) int {
		for _, k := range keys {
			if c := strings.Compare(st.value(a.ti, k, ""), st.value(b.ti, k, "")); c != 0 {
				return c
			}
		}
		return strings.Compare(a.t.label, b.t.label)
	})
	st.hists = slices.CompactFunc(st.hists, func(a, b histRef) bool { return a.t.label == b.t.label })
	if len(st.pairs) != len(names) {
		st.pairs, st.pairVals, st.pairPtrs = make([]dto.LabelPair, len(names)), make([]string, len(names)), make([]*dto.LabelPair, len(names))
		for j := range st.pairs {
			st.pairs[j].Value = &st.pairVals[j]
			st.pairPtrs[j] = &st.pairs[j]
		}
	}
	for j := range st.pairs {
		st.pairs[j].Name = &st.sch.names[j]
	}
	return st
}

func (st *proberStream) close() {
	clear(st.hists[:cap(st.hists)])
	clear(st.vals[:cap(st.vals)])
	clear(st.pairVals)
	st.snap, st.sch = prober.Snapshot{}, nil
	select {
	case st.c.idle <- st:
	default:
	}
}

// sample writes target i's series of lf, with window for pvWindow.
func (st *proberStream) sample(e *expoWriter, lf *labelled, v float64, i int32, window string) {
	st.lv = st.lv[:0]
	for _, k := range lf.perm {
		st.lv = append(st.lv, st.value(i, k, window))
	}
	e.sample(v, st.lv...)
}

// extraPairs sets the histogram pairs to target i's custom labels.
func (st *proberStream) extraPairs(i int32) []*dto.LabelPair {
	for j := range st.pairVals {
		st.pairVals[j] = st.value(i, pvExtra+j, "")
	}
	return st.pairPtrs
}

func (st *proberStream) writeFamily(e *expoWriter, f *family) {
	if f == st.c.famRTT {
		e.use(st.sch.fams[f].f)
		for _, h := range st.hists {
			e.histogram(h.t.h, st.extraPairs(h.ti)...)
		}
		return
	}
	if !st.have {
		return
	}
	ts := st.snap.Targets
	lf := st.sch.fams[f]
	if lf == nil {
		switch f {
		case famProbeForeign:
			e.sample(float64(st.snap.Foreign))
		case famProbeUnmatched:
			e.sample(float64(st.snap.Unmatched))
		case famProbeMalformed:
			e.sample(float64(st.snap.Malformed))
		}
		return
	}
	e.use(lf.f)
	value := proberValues[f]
	windows := prober.PeakWindowNames()
	for _, i := range st.orders[lf.order] {
		t := &ts[i]
		switch {
		case f == famProbePeak:
			for _, w := range peakOrder {
				if p := t.Peaks[w]; p > 0 {
					st.sample(e, lf, p.Seconds(), i, windows[w])
				}
			}
		case f == famProbeFailing && t.Failure.Cause == "":
		default:
			st.sample(e, lf, value(t), i, "")
		}
	}
}
