package collector_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/sampler"
)

const benchDevices = 1000

// links is a hypervisor's table: a few physical NICs, the rest VM taps.
func links(n, physical int) []sampler.Link {
	l := make([]sampler.Link, n)
	for i := range l {
		l[i] = sampler.Link{Index: int32(i + 1), Name: fmt.Sprintf("tap%d", i), Kind: "tun", OperState: "up", SpeedBytes: 1.25e9}
		if i < physical {
			l[i].Name, l[i].Kind = fmt.Sprintf("eth%d", i), "physical"
		}
	}
	return l
}

type noStats struct{}

func (noStats) Read(dst []sampler.Stat) ([]sampler.Stat, error) { return dst, nil }
func (noStats) Name() string                                    { return "netlink" }
func (noStats) Close() error                                    { return nil }

// movingSampler is a sampler over n devices whose counters all move at
// every step, with the exporter's histograms attached: on every device, or
// on the default selection (physical NICs only).
func movingSampler(b *testing.B, n int, allHistograms bool) (*sampler.Sampler, *collector.Sampler, func()) {
	opts := collector.SamplerOptions{Interval: 100 * time.Millisecond, HistogramExclude: regexp.MustCompile(collector.DefaultHistogramExclude)}
	if allHistograms {
		opts.HistogramExclude = nil
	}
	metrics := collector.NewSampler(opts)
	s, err := sampler.New(sampler.Config{Stats: noStats{}, Observer: metrics})
	if err != nil {
		b.Fatal(err)
	}
	metrics.SetSource(s)
	l := links(n, 8)
	stats := make([]sampler.Stat, n)
	for i := range stats {
		stats[i].Index = int32(i + 1)
	}
	now := time.Unix(1e9, 0)
	step := func() {
		now = now.Add(100 * time.Millisecond)
		for i := range stats {
			stats[i].RxBytes += uint64(1000 + i)
			stats[i].TxBytes += uint64(2000 + i)
			stats[i].RxPackets++
			stats[i].TxPackets++
		}
		s.Step(now, stats, l, 1)
	}
	return s, metrics, step
}

// BenchmarkStep1000Moving is the sampler's arithmetic for one sample of
// 1,000 devices that all move: rates, three windows per direction, burst
// checks and client_golang histogram observations.
func BenchmarkStep1000Moving(b *testing.B) {
	_, _, step := movingSampler(b, benchDevices, true)
	for range 700 { // past the 60 s window: steady state
		step()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step()
	}
}

// BenchmarkScrape1000 is one scrape of 1,000 devices through the HTTP
// handler as the exporter serves it (the sampler's families streamed from
// its snapshot, the rest from the registry): snapshot copy, every series,
// text encoding. "default" gives throughput histograms to the 8 physical
// NICs only (the default --sampler.histogram-devices-exclude), "all" to
// every device; "registry" collects every series through the registry and
// promhttp instead.
func BenchmarkScrape1000(b *testing.B) {
	for _, bc := range []struct {
		name          string
		all, registry bool
	}{{"default", false, false}, {"all", true, false}, {"default-registry", false, true}} {
		b.Run(bc.name, func(b *testing.B) {
			_, metrics, step := movingSampler(b, benchDevices, bc.all)
			for range 20 {
				step()
			}
			reg := prometheus.NewRegistry()
			var h http.Handler
			if bc.registry {
				reg.MustRegister(metrics)
				h = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
			} else {
				ch := collector.NewHandler(reg, collector.HandlerOpts{})
				ch.Registerer().MustRegister(metrics)
				h = ch
			}
			req := httptest.NewRequest("GET", "/metrics", nil)
			w := newDiscard()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w.reset()
				h.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatal(w.code)
				}
			}
		})
	}
}

// BenchmarkSampleNamespace1000 is one whole sample as the exporter takes
// it: the RTM_GETSTATS and RTM_GETQDISC dumps of a namespace with 1,000
// interfaces, their decoding and the arithmetic. Needs root.
func BenchmarkSampleNamespace1000(b *testing.B) {
	ns := nstest.New(b)
	var lines []string
	for i := range benchDevices / 2 {
		lines = append(lines, fmt.Sprintf("link add name p%da type veth peer name p%db", i, i))
	}
	batch := filepath.Join(b.TempDir(), "batch")
	if err := os.WriteFile(batch, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	ns.MustRun(b, "ip", "-batch", batch)
	metrics := collector.NewSampler(collector.SamplerOptions{Interval: 100 * time.Millisecond})
	var src *sampler.NetlinkSources
	if err := ns.Do(func() error {
		var err error
		src, err = sampler.OpenNetlinkSources(b.TempDir(), nil)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	cfg := sampler.Config{Stats: src.Stats, Links: src.Links, Qdiscs: src.Qdiscs}
	for _, every := range []int{1, 0} {
		b.Run(fmt.Sprintf("qdisc-every=%d", every), func(b *testing.B) {
			c := cfg
			c.Observer, c.QdiscEvery = metrics, every
			s, err := sampler.New(c)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			for range 20 {
				now = now.Add(100 * time.Millisecond)
				s.Sample(now)
			}
			var snap sampler.Snapshot
			s.Snapshot(&snap)
			if len(snap.Devices) != benchDevices+1 {
				b.Fatalf("sampled %d devices, want %d", len(snap.Devices), benchDevices+1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				now = now.Add(100 * time.Millisecond)
				s.Sample(now)
			}
		})
	}
}
