package collector

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricInfo describes one metric family the exporter can export.
type MetricInfo struct {
	// Name is the family's name.
	Name string
	// Type is "counter", "gauge" or "histogram".
	Type string
	// Help is the family's help text.
	Help string
	// Labels are the family's variable labels, in order.
	Labels []string
	// Section names the collector (Sampler, Prober, Bonds, Spike capture,
	// Live locate).
	Section string
}

// histogramFamilies are the histogram families: a prometheus.Desc does not
// carry its type. TestReferenceHistograms keeps the list honest.
var histogramFamilies = map[string]bool{
	"netburst_interface_throughput_bytes_per_second": true,
	"netburst_sampler_interval_seconds":              true,
	"netburst_sampler_duration_seconds":              true,
	"netburst_probe_rtt_seconds":                     true,
	"netburst_segment_delay_seconds":                 true,
	"netburst_locate_round_trip_seconds":             true,
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", help: "((?:[^"\\]|\\.)*)",(?: unit: "[^"]*",)? constLabels: \{[^}]*\}, variableLabels: \{([^}]*)\}\}$`)

// Reference lists every metric family of netburst's collectors (without
// netburst_build_info and the Go and process collectors), from their
// descriptors: the code is the one source of the metrics reference and of
// the names the alert rules and dashboards may use.
func Reference() ([]MetricInfo, error) {
	sections := []struct {
		title string
		c     prometheus.Collector
	}{
		{"Sampler", NewSampler(SamplerOptions{})},
		{"Prober", NewProber()},
		{"Bonds", NewBond(nil)},
		{"Spike capture", NewCapture(nil)},
		{"Live locate", NewLocate()},
	}
	var out []MetricInfo
	seen := map[string]bool{}
	for _, s := range sections {
		ch := make(chan *prometheus.Desc, 64)
		go func() { s.c.Describe(ch); close(ch) }()
		var bad error
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				bad = fmt.Errorf("unreadable descriptor %s", d)
				continue
			}
			if seen[m[1]] {
				continue
			}
			seen[m[1]] = true
			info := MetricInfo{Name: m[1], Help: strings.ReplaceAll(m[2], `\"`, `"`), Section: s.title, Type: "gauge"}
			if m[3] != "" {
				info.Labels = strings.Split(m[3], ",")
			}
			switch {
			case histogramFamilies[info.Name]:
				info.Type = "histogram"
			case strings.HasSuffix(info.Name, "_total"):
				info.Type = "counter"
			}
			out = append(out, info)
		}
		if bad != nil {
			return nil, bad
		}
	}
	for h := range histogramFamilies {
		if !seen[h] {
			return nil, fmt.Errorf("histogram %s is no longer described", h)
		}
	}
	return out, nil
}
