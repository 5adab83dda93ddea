package collector_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/prober"
	"github.com/netburst/netburst/sampler"
)

const benchTargets = 1000

// copyingProber hands out a fresh copy of its targets at every snapshot,
// as *prober.Prober does, so that a scrape pays what it pays with the real
// prober.
type copyingProber struct{ s prober.Snapshot }

func (p *copyingProber) Snapshot() prober.Snapshot {
	s := p.s
	s.Targets = append([]prober.TargetStats(nil), p.s.Targets...)
	return s
}

// movingStats is a stats source whose devices all move at every reading,
// at a rate that varies between 1x and 16x each device's own base rate, so
// that their native histograms spread over tens of buckets, as real
// traffic does.
type movingStats struct {
	stats []sampler.Stat
	reads int
}

func (m *movingStats) Read(dst []sampler.Stat) ([]sampler.Stat, error) {
	m.reads++
	for i := range m.stats {
		f := uint64(1 + (m.reads+i)%16)
		m.stats[i].RxBytes += f * uint64(1000+37*i)
		m.stats[i].TxBytes += f * uint64(3000+11*i)
		m.stats[i].RxPackets += f
		m.stats[i].TxPackets += f
	}
	return append(dst[:0], m.stats...), nil
}

func (m *movingStats) Name() string { return "netlink" }
func (m *movingStats) Close() error { return nil }

// fixedLinks is a link table that never changes.
type fixedLinks []sampler.Link

func (l fixedLinks) Links() ([]sampler.Link, uint64) { return l, 1 }
func (l fixedLinks) Refresh()                        {}
func (l fixedLinks) Close() error                    { return nil }

// hypervisor is the exporter's state on a busy host: a sampler over
// devices that all move (every one with a throughput histogram when
// allHistograms), targets with RTT histograms, and /metrics served as the
// exporter serves it.
type hypervisor struct {
	sampler *sampler.Sampler
	metrics *collector.Sampler
	probes  *collector.Prober
	reg     *prometheus.Registry
	handler *collector.Handler
	targets []string
	rtts    bool // targets get RTTs, and so histograms
	now     time.Time
	steps   int
}

// histograms says which devices and targets of a hypervisor get one.
type histograms int

const (
	histNone    histograms = iota // none at all
	histDefault                   // the 8 physical NICs (the default exclusion) and every target
	histAll                       // every device and every target
)

func newHypervisor(tb testing.TB, devices, targets int, hist histograms) *hypervisor {
	tb.Helper()
	opts := collector.SamplerOptions{Interval: 100 * time.Millisecond}
	switch hist {
	case histNone:
		opts.HistogramExclude = regexp.MustCompile(".")
	case histDefault:
		opts.HistogramExclude = regexp.MustCompile(collector.DefaultHistogramExclude)
	}
	h := &hypervisor{metrics: collector.NewSampler(opts), probes: collector.NewProber(), now: time.Unix(1e9, 0), rtts: hist != histNone}
	stats := &movingStats{stats: make([]sampler.Stat, devices)}
	for i := range stats.stats {
		stats.stats[i].Index = int32(i + 1)
	}
	s, err := sampler.New(sampler.Config{Stats: stats, Links: fixedLinks(links(devices, 8)), Observer: h.metrics})
	if err != nil {
		tb.Fatal(err)
	}
	h.sampler = s
	h.metrics.SetSource(s)
	src := &copyingProber{s: prober.Snapshot{Foreign: 3, Unmatched: 2, Malformed: 1}}
	for i := range targets {
		h.targets = append(h.targets, fmt.Sprintf("vm%04d", i))
		src.s.Targets = append(src.s.Targets, prober.TargetStats{
			Name: h.targets[i], Host: fmt.Sprintf("vm%04d.example", i),
			Addr: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}),
			Sent: uint64(1000 + i), Replies: uint64(990 + i), Lost: 10, Late: 1, Duplicates: 1, InFlight: 1,
			Jitter: time.Duration(i) * time.Microsecond,
			Peaks:  [3]time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond},
			Source: prober.SourceKernel, Mode: prober.ModeDatagram,
		})
	}
	h.probes.SetSource(src)
	h.reg = prometheus.NewRegistry()
	h.handler = collector.NewHandler(h.reg, collector.HandlerOpts{EnableOpenMetrics: true, MaxRequestsInFlight: 4})
	h.handler.Registerer().MustRegister(h.metrics, h.probes)
	for range 20 {
		h.step()
	}
	return h
}

// sample is the sampler's tick: one reading in which every device moves.
func (h *hypervisor) sample() {
	h.now = h.now.Add(100 * time.Millisecond)
	h.sampler.Sample(h.now)
}

// step is one sample, and one RTT for every target.
func (h *hypervisor) step() {
	h.steps++
	h.sample()
	if !h.rtts {
		return
	}
	for i, t := range h.targets {
		h.probes.ObserveRTT(t, 200*time.Microsecond+time.Duration((i*13+h.steps*7)%50)*20*time.Microsecond)
	}
}

// Accept headers of the formats a scrape may negotiate.
const (
	acceptText     = "text/plain;version=0.0.4"
	acceptProto    = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	acceptOM       = "application/openmetrics-text;version=1.0.0"
	acceptPromLike = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3"
)

// exporterHandler is /metrics as the exporter serves it.
func exporterHandler(h *hypervisor) http.Handler { return h.handler }

// discard is a response writer that counts the body and keeps nothing, as
// a connection would: an httptest.ResponseRecorder's growing buffer would
// be most of what a scrape allocates.
type discard struct {
	header http.Header
	code   int
	n      int
}

func newDiscard() *discard { return &discard{header: http.Header{}} }

func (d *discard) Header() http.Header { return d.header }

func (d *discard) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}

func (d *discard) Write(p []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	d.n += len(p)
	return len(p), nil
}

// reset readies d for the next response, keeping its header map.
func (d *discard) reset() {
	clear(d.header)
	d.code, d.n = 0, 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScrapeHypervisor is one scrape of 1,000 devices, every one with
// a throughput histogram, and 1,000 probe targets with RTT histograms,
// through the exporter's /metrics handler; between scrapes (not timed)
// one sample moves every device and every target gets an RTT, so that
// every histogram has changed. cpu-ms/op is the process's CPU time
// (getrusage, every thread: the garbage collector's included) spent
// inside the scrapes. The body goes nowhere (discard), uncompressed unless
// the case says gzip (Prometheus asks for gzip). The no-histograms cases
// are the same devices and targets without a histogram: what the scrape
// costs beyond client_golang's Histogram.Write (BenchmarkHistogramWrite).
func BenchmarkScrapeHypervisor(b *testing.B) {
	for _, bc := range []struct {
		name, accept string
		gzip         bool
		hist         histograms
	}{
		{"text", acceptText, false, histAll}, {"protobuf", acceptProto, false, histAll}, {"openmetrics", acceptOM, false, histAll},
		{"protobuf-gzip", acceptProto, true, histAll}, {"text-gzip", acceptText, true, histAll},
		// The scrape's own cost: the same series without any histogram.
		{"text-no-histograms", acceptText, false, histNone}, {"protobuf-no-histograms", acceptProto, false, histNone},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHypervisor(b, benchDevices, benchTargets, bc.hist)
			handler := exporterHandler(h)
			req := httptest.NewRequest("GET", "/metrics", nil)
			req.Header.Set("Accept", bc.accept)
			if bc.gzip {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			var cpu time.Duration
			w := newDiscard()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				h.step()
				w.reset()
				b.StartTimer()
				c0 := cpuTime()
				handler.ServeHTTP(w, req)
				cpu += cpuTime() - c0
				if w.code != 200 {
					b.Fatal(w.code)
				}
			}
			b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(w.n), "body-bytes")
		})
	}
}

func newReq(accept string) *http.Request {
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", accept)
	return req
}

// BenchmarkHistogramWrite is the floor under a scrape of 3,000 histograms:
// client_golang's Histogram.Write, the only way to read a histogram's
// state, for 2,000 throughput and 1,000 RTT histograms shaped like
// BenchmarkScrapeHypervisor's (16 rates per device, 50 RTTs per target:
// 16-30 native buckets each), into one reused dto.Metric, nothing encoded.
func BenchmarkHistogramWrite(b *testing.B) {
	opts := func(buckets []float64) prometheus.HistogramOpts {
		return prometheus.HistogramOpts{Name: "x", Help: "x", Buckets: buckets,
			NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 160, NativeHistogramMinResetDuration: time.Hour}
	}
	tput := prometheus.NewHistogramVec(opts(prometheus.ExponentialBucketsRange(1e3, 1e11, 17)), []string{"device", "direction"})
	rtt := prometheus.NewHistogramVec(opts(prometheus.ExponentialBucketsRange(50e-6, 10, 18)), []string{"target"})
	var hs []prometheus.Metric
	for i := range benchDevices {
		rx := tput.WithLabelValues(fmt.Sprint("m", i), "receive")
		tx := tput.WithLabelValues(fmt.Sprint("m", i), "transmit")
		for k := range 32 {
			f := float64(1 + (k+i)%16)
			rx.Observe(f * float64(1000+37*i) * 10)
			tx.Observe(f * float64(3000+11*i) * 10)
		}
		hs = append(hs, rx.(prometheus.Metric), tx.(prometheus.Metric))
	}
	for i := range benchTargets {
		h := rtt.WithLabelValues(fmt.Sprint("vm", i))
		for k := range 50 {
			h.Observe((200e-6 + float64((i*13+k*7)%50)*20e-6))
		}
		hs = append(hs, h.(prometheus.Metric))
	}
	var m dto.Metric
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c0 := cpuTime()
		for _, h := range hs {
			if err := h.Write(&m); err != nil {
				b.Fatal(err)
			}
			m.Reset()
		}
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}
