package collector_test

import (
	"runtime"
	"testing"

	"github.com/netburst/netburst/internal/nstest"
)

// Budgets of the scrape and of the sampler's tick, held without timings
// (issue 12, item 4): allocation counts and bytes, deterministic for a
// given state. The GC-cycle budget, which depends on the exporter's
// memory limit, is TestNoGCCliff in cmd/netburst_exporter.

// The sampler's tick allocates nothing in steady state, scrapes in
// between included: a scrape leaves the sampler and the histograms it
// feeds (client_golang's, whose Write swaps their hot and cold counts)
// nothing to allocate at the next sample.
func TestSampleAllocsWithScrapes(t *testing.T) {
	nstest.SkipShort(t, "a benchmark-sized hypervisor (1,000 devices and targets) on one goroutine, half a minute under -race")
	h := newHypervisor(t, benchDevices, benchTargets, histAll)
	accepts := []string{acceptText, acceptProto, acceptOM}
	w := newDiscard()
	// Past the 60 s window, with scrapes every 5 s: steady state.
	for i := range 700 {
		h.sample()
		if i%50 == 0 {
			w.reset()
			h.handler.ServeHTTP(w, newReq(accepts[i%3]))
		}
	}
	for round := range 10 {
		w.reset()
		h.handler.ServeHTTP(w, newReq(accepts[round%3]))
		if w.code != 200 || w.n == 0 {
			t.Fatalf("scrape: %d, %d bytes", w.code, w.n)
		}
		if n := testing.AllocsPerRun(10, h.sample); n != 0 {
			t.Fatalf("round %d: %v allocations per sample after a scrape, want 0", round, n)
		}
	}
}

// scrapeBytes is the bytes one scrape allocates in steady state (after two
// scrapes that size the reused buffers), averaged over scrapes with a
// sample and an RTT per target before each (every histogram has changed).
func scrapeBytes(t *testing.T, h *hypervisor, accept string) float64 {
	t.Helper()
	const n = 8
	w := newDiscard()
	req := newReq(accept)
	for range 2 {
		w.reset()
		h.handler.ServeHTTP(w, req)
	}
	var total uint64
	var m0, m1 runtime.MemStats
	for range n {
		h.step()
		w.reset()
		runtime.ReadMemStats(&m0)
		h.handler.ServeHTTP(w, req)
		runtime.ReadMemStats(&m1)
		if w.code != 200 {
			t.Fatalf("scrape: %d", w.code)
		}
		total += m1.TotalAlloc - m0.TotalAlloc
	}
	return float64(total) / n
}

// Bytes allocated per scrape of 1,000 devices and 1,000 probe targets.
// Without histograms the scrape allocates almost nothing of its own
// (bound: 1 MB, of which the prober's snapshot, a copy of its targets, is
// about 0.25 MB). With a throughput histogram on every device and an RTT
// histogram on every target (3,000 histograms, every one changed since the
// previous scrape) the bound is 12 MB: client_golang's Histogram.Write,
// the only way to read a histogram, allocates about 3.2 KB per histogram
// with 20-30 native buckets (BenchmarkHistogramWrite), 9.7 MB here, and
// the bound leaves the scrape at most 0.8 KB more per histogram.
func TestScrapeBytes(t *testing.T) {
	nstest.SkipShort(t, "a benchmark-sized hypervisor (1,000 devices and targets) on one goroutine; it bounds the shipped build's allocations")
	for _, tc := range []struct {
		name  string
		hist  histograms
		bound float64
	}{{"no histograms", histNone, 1e6}, {"3,000 histograms", histAll, 12e6}} {
		h := newHypervisor(t, benchDevices, benchTargets, tc.hist)
		for _, f := range []struct{ name, accept string }{{"text", acceptText}, {"protobuf", acceptProto}, {"openmetrics", acceptOM}} {
			got := scrapeBytes(t, h, f.accept)
			t.Logf("%s, %s: %.2f MB per scrape (bound %.1f MB)", tc.name, f.name, got/1e6, tc.bound/1e6)
			if got > tc.bound {
				t.Errorf("%s, %s: %.2f MB allocated per scrape, bound %.1f MB", tc.name, f.name, got/1e6, tc.bound/1e6)
			}
		}
	}
}
