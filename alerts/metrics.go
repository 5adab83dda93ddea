package alerts

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/netburst/netburst/collector"
)

// MetricType is the Prometheus type of a metric in the contract.
type MetricType int

// Metric types. A histogram also names its _bucket, _sum and _count series.
const (
	Counter MetricType = iota
	Gauge
	Histogram
)

// contract is the set of metrics the bundles may read: every family that
// netburst_exporter's collectors describe (collector.Reference, the same
// source as docs/metrics.md) and netburst_build_info. It is derived from
// the code, so a rule or panel naming a metric the exporter does not have
// fails its test, and a renamed metric cannot go unnoticed.
var contract = func() map[string]MetricType {
	out := map[string]MetricType{"netburst_build_info": Gauge}
	ref, err := collector.Reference()
	if err != nil {
		// Only a broken descriptor gets here; collector's own tests name
		// it. An empty contract makes every bundle test fail loudly.
		return out
	}
	for _, m := range ref {
		switch m.Type {
		case "counter":
			out[m.Name] = Counter
		case "histogram":
			out[m.Name] = Histogram
		default:
			out[m.Name] = Gauge
		}
	}
	return out
}()

// prometheusSeries are series Prometheus itself makes for every target or
// rule, which the bundles may read too.
var prometheusSeries = []string{"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}

// ContractMetrics returns the set of series names the bundles may read
// besides their own recording rules: the contract's metrics (histograms
// with their _bucket, _sum and _count series) and Prometheus' own series.
func ContractMetrics() map[string]bool {
	return ExpandNames(contract)
}

// ExpandNames turns metric names with types into the set of series names
// they expose, plus Prometheus' own series. Use it with the types of a live
// scrape to check the bundles against a running exporter.
func ExpandNames(metrics map[string]MetricType) map[string]bool {
	known := map[string]bool{}
	for name, typ := range metrics {
		known[name] = true
		if typ == Histogram {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				known[name+s] = true
			}
		}
	}
	for _, s := range prometheusSeries {
		known[s] = true
	}
	return known
}

// ContractNames returns the contract's metric names, sorted.
func ContractNames() []string {
	names := make([]string, 0, len(contract))
	for n := range contract {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrExposition is wrapped by ParseExposition's errors.
var ErrExposition = errors.New("bad exposition")

// ParseExposition reads the metric types declared by the `# TYPE` lines of
// a scrape in the Prometheus text format, for ExpandNames: this is how a
// live scrape of netburst_exporter replaces the contract list. Counters,
// gauges and untyped metrics map to Counter or Gauge, histograms (and
// gauge histograms) to Histogram; summaries also expose _sum and _count.
func ParseExposition(r io.Reader) (map[string]MetricType, error) {
	out := map[string]MetricType{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("%w: line %d: %q", ErrExposition, line, sc.Text())
		}
		switch f[3] {
		case "counter":
			out[f[2]] = Counter
		case "gauge", "untyped", "unknown", "info", "stateset":
			out[f[2]] = Gauge
		case "histogram", "gaugehistogram":
			out[f[2]] = Histogram
		case "summary":
			out[f[2]] = Gauge
			out[f[2]+"_sum"] = Counter
			out[f[2]+"_count"] = Counter
		default:
			return nil, fmt.Errorf("%w: line %d: unknown type %q", ErrExposition, line, f[3])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExposition, err)
	}
	return out, nil
}
