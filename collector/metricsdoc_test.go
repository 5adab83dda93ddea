package collector_test

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/netburst/netburst/collector"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/metrics.md from the collectors' descriptors")

type metricDoc struct {
	name, typ, help, labels string
}

var sectionPages = map[string]string{
	"Sampler": "docs/exporter.md", "Prober": "docs/prober.md", "Bonds": "docs/bond.md",
	"Spike capture": "docs/capture.md", "Live locate": "docs/locate.md",
}

// describe lists every metric the exporter's collectors can export.
func describe(t *testing.T) map[string][]metricDoc {
	t.Helper()
	ref, err := collector.Reference()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]metricDoc{}
	for _, m := range ref {
		title := fmt.Sprintf("%s (%s)", m.Section, sectionPages[m.Section])
		out[title] = append(out[title], metricDoc{m.Name, m.Type, m.Help, strings.Join(m.Labels, ",")})
	}
	return out
}

func render(sections map[string][]metricDoc) string {
	var b strings.Builder
	b.WriteString("# Metrics reference\n\n")
	b.WriteString("Generated from the collectors' descriptors by `go test ./collector -run TestMetricsReference -update`;\n")
	b.WriteString("`make test` fails when this file and the code disagree. Besides these: `netburst_build_info`, and the\n")
	b.WriteString("Go runtime's `go_*` and the process's `process_*` metrics. Histograms have classic buckets and, for\n")
	b.WriteString("a scraper that asks for them, native buckets. Every per-target probe series (those labelled target)\n")
	b.WriteString("also carries the target set's custom labels, if any (docs/prober.md).\n")
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
