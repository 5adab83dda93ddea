package collector_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netburst/netburst/collector"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/metrics.md from the collectors' descriptors")

// histograms are the histogram families: a Desc does not say its type.
// TestMetricsReference fails if one of them is no longer described, so the
// list cannot silently go stale in that direction.
var histograms = map[string]bool{
	"netburst_interface_throughput_bytes_per_second": true,
	"netburst_sampler_interval_seconds":              true,
	"netburst_sampler_duration_seconds":              true,
	"netburst_probe_rtt_seconds":                     true,
	"netburst_segment_delay_seconds":                 true,
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", help: "((?:[^"\\]|\\.)*)",(?: unit: "[^"]*",)? constLabels: \{[^}]*\}, variableLabels: \{([^}]*)\}\}$`)

type metricDoc struct {
	name, typ, help, labels string
}

// describe lists every metric the exporter's collectors can export.
func describe(t *testing.T) map[string][]metricDoc {
	t.Helper()
	sections := []struct {
		title string
		c     prometheus.Collector
	}{
		{"Sampler (docs/exporter.md)", collector.NewSampler(collector.SamplerOptions{})},
		{"Prober (docs/prober.md)", collector.NewProber()},
		{"Bonds (docs/bond.md)", collector.NewBond(nil)},
		{"Spike capture (docs/capture.md)", collector.NewCapture(nil)},
		{"Live locate (docs/locate.md)", collector.NewLocate()},
	}
	out := map[string][]metricDoc{}
	seen := map[string]bool{}
	for _, s := range sections {
		ch := make(chan *prometheus.Desc, 256)
		go func() { s.c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read descriptor %s", d)
			}
			name, help, labels := m[1], strings.ReplaceAll(m[2], `\"`, `"`), m[3]
			if seen[name] {
				continue
			}
			seen[name] = true
			typ := "gauge"
			switch {
			case histograms[name]:
				typ = "histogram"
			case strings.HasSuffix(name, "_total"):
				typ = "counter"
			}
			out[s.title] = append(out[s.title], metricDoc{name, typ, help, labels})
		}
	}
	for h := range histograms {
		if !seen[h] {
			t.Errorf("histogram %s is no longer described: update the histograms list", h)
		}
	}
	return out
}

func render(sections map[string][]metricDoc) string {
	var b strings.Builder
	b.WriteString("# Metrics reference\n\n")
	b.WriteString("Generated from the collectors' descriptors by `go test ./collector -run TestMetricsReference -update`;\n")
	b.WriteString("`make test` fails when this file and the code disagree. Besides these: `netburst_build_info`, and the\n")
	b.WriteString("Go runtime's `go_*` and the process's `process_*` metrics. Histograms have classic buckets and, for\n")
	b.WriteString("a scraper that asks for them, native buckets.\n")
	titles := make([]string, 0, len(sections))
	for t := range sections {
		titles = append(titles, t)
	}
	order := []string{"Sampler", "Prober", "Bonds", "Spike capture", "Live locate"}
	sort.Slice(titles, func(i, j int) bool {
		rank := func(s string) int {
			for k, o := range order {
				if strings.HasPrefix(s, o) {
					return k
				}
			}
			return len(order)
		}
		return rank(titles[i]) < rank(titles[j])
	})
	for _, title := range titles {
		ms := sections[title]
		sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
		fmt.Fprintf(&b, "\n## %s\n\n| metric | type | labels | meaning |\n|---|---|---|---|\n", title)
		for _, m := range ms {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", m.name, m.typ, m.labels, strings.ReplaceAll(m.help, "|", "\\|"))
		}
	}
	return b.String()
}

// The metrics reference in docs/ is generated from the code and must not
// drift from it.
func TestMetricsReference(t *testing.T) {
	got := render(describe(t))
	const path = "../docs/metrics.md"
	if *updateDocs {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./collector -run TestMetricsReference -update)", err)
	}
	if string(want) != got {
		t.Errorf("docs/metrics.md is stale: run go test ./collector -run TestMetricsReference -update")
	}
}
