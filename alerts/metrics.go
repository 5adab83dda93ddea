package alerts

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// MetricType is the Prometheus type of a metric in the contract.
type MetricType int

// Metric types. A histogram also names its _bucket, _sum and _count series.
const (
	Counter MetricType = iota
	Gauge
	Histogram
)

// contract lists the metrics the bundles may read: DESIGN §5 plus the
// metrics the feature issues add (sampler health, bond saturation, build
// info). It is the
// one place to edit when the contract grows; a live scrape of the exporter
// can replace it (see CheckMetricNames).
var contract = map[string]MetricType{
	// Sampler.
	"netburst_interface_bytes_total":                 Counter,
	"netburst_interface_packets_total":               Counter,
	"netburst_interface_errors_total":                Counter,
	"netburst_interface_drops_total":                 Counter,
	"netburst_interface_speed_bytes":                 Gauge,
	"netburst_interface_info":                        Gauge,
	"netburst_interface_throughput_bytes_per_second": Histogram,
	"netburst_interface_peak_bytes_per_second":       Gauge,
	"netburst_interface_burst_intervals_total":       Counter,
	"netburst_interface_counter_refresh_seconds":     Gauge,
	"netburst_qdisc_backlog_peak_bytes":              Gauge,
	"netburst_qdisc_drops_total":                     Counter,
	"netburst_sampler_interval_seconds":              Histogram,
	"netburst_sampler_duration_seconds":              Histogram,
	"netburst_sampler_overruns_total":                Counter,
	// Exporter and sampler metrics the exporter (issue 2) adds to §5.
	"netburst_sampler_samples_total":                 Counter,
	"netburst_sampler_errors_total":                  Counter,
	"netburst_sampler_source_info":                   Gauge,
	"netburst_sampler_configured_interval_seconds":   Gauge,
	"netburst_sampler_last_sample_timestamp_seconds": Gauge,
	"netburst_interface_discontinuities_total":       Counter,
	"netburst_qdisc_backlog_bytes":                   Gauge,
	"netburst_qdisc_overlimits_total":                Counter,
	"netburst_qdisc_requeues_total":                  Counter,
	"netburst_build_info":                            Gauge,
	"netburst_bond_info":                             Gauge,
	"netburst_bond_slave_info":                       Gauge,
	"netburst_bond_slave_share_ratio":                Gauge,
	"netburst_bond_slave_saturated_intervals_total":  Counter,
	"netburst_probe_rtt_seconds":                     Histogram,
	"netburst_probe_sent_total":                      Counter,
	"netburst_probe_replies_total":                   Counter,
	"netburst_probe_lost_total":                      Counter,
	"netburst_probe_late_replies_total":              Counter,
	"netburst_probe_duplicates_total":                Counter,
	"netburst_probe_send_errors_total":               Counter,
	"netburst_probe_jitter_seconds":                  Gauge,
	"netburst_probe_peak_rtt_seconds":                Gauge,
	"netburst_probe_spikes_total":                    Counter,
	"netburst_spikes_total":                          Counter,
	"netburst_spike_last_timestamp_seconds":          Gauge,
	"netburst_last_spike_port_bytes":                 Gauge,
	"netburst_capture_packets_total":                 Counter,
	"netburst_capture_kernel_drops_total":            Counter,
	"netburst_capture_files_bytes":                   Gauge,
	"netburst_segment_delay_seconds":                 Histogram,
}

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
