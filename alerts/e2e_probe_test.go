package alerts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/netburst/netburst/alerts/promstack"
	"github.com/netburst/netburst/internal/nstest"
)

// TestEndToEndProbeScrapeTargets drives the prober from a real Prometheus,
// as docs/prober.md's relabel config does with any service discovery (here
// file_sd): each discovered host becomes a /probe scrape, is probed
// continuously, lands in Prometheus with instance set to the host and its
// discovery labels, and is dropped by the exporter once service discovery
// no longer lists it and Prometheus stops scraping it.
func TestEndToEndProbeScrapeTargets(t *testing.T) {
	ns := nstest.New(t)
	for _, a := range []string{"127.0.0.2/8", "127.0.0.3/8"} {
		ns.MustRun(t, "ip", "addr", "add", a, "dev", "lo")
	}
	e := nstest.StartExporter(t, ns, nstest.Launch{}, "--probe.interval=50ms",
		"--probe.scrape-targets=10", "--probe.scrape-target-ttl=3s")
	exporter := nstest.Proxy(t, ns, e.Addr)
	sd := filepath.Join(t.TempDir(), "targets.json")
	writeSD := func(body string) {
		t.Helper()
		if err := os.WriteFile(sd+".tmp", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(sd+".tmp", sd); err != nil {
			t.Fatal(err)
		}
	}
	writeSD(`[{"targets": ["127.0.0.2", "127.0.0.3"], "labels": {"rack": "r1"}}]`)
	stack := promstack.Start(t, promstack.Options{Job: "netburst-probe", Scrape: map[string]any{
		"metrics_path":    "/probe",
		"params":          map[string][]string{"module": {"default"}},
		"file_sd_configs": []any{map[string]any{"files": []string{sd}}},
		// docs/prober.md's relabelling, with the exporter's address.
		"relabel_configs": []any{
			map[string]any{"source_labels": []string{"__address__"}, "target_label": "__param_target"},
			map[string]any{"source_labels": []string{"__param_target"}, "target_label": "instance"},
			map[string]any{"target_label": "__address__", "replacement": exporter},
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, host := range []string{"127.0.0.2", "127.0.0.3"} {
		q := fmt.Sprintf(`netburst_probe_replies_total{job="netburst-probe", instance=%q, target=%q, rack="r1"}`, host, host)
		if _, err := stack.WaitQuery(ctx, q, func(s []promstack.Sample) bool { return len(s) == 1 && s[0].Value > 0 }); err != nil {
			t.Fatalf("%s: %v; exporter log:\n%s", q, err, e.Logs)
		}
	}
	q := `histogram_quantile(0.5, rate(netburst_probe_rtt_seconds_bucket{job="netburst-probe", instance="127.0.0.2"}[10s])) or histogram_quantile(0.5, rate(netburst_probe_rtt_seconds{job="netburst-probe", instance="127.0.0.2"}[10s]))`
	if _, err := stack.WaitQuery(ctx, q, func(s []promstack.Sample) bool { return len(s) == 1 && s[0].Value > 0 && s[0].Value < 0.05 }); err != nil {
		t.Errorf("median RTT to 127.0.0.2 over loopback: %v", err)
	}
	held := regexp.MustCompile(`(?m)^netburst_probe_scrape_targets (\S+)$`)
	count := func() string {
		_, body := e.Get(t, "/metrics")
		m := held.FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return m[1]
	}
	if n := count(); n != "2" {
		t.Fatalf("netburst_probe_scrape_targets %q, want 2", n)
	}
	// Service discovery drops 127.0.0.3: Prometheus stops scraping it, the
	// exporter stops probing it after its TTL.
	writeSD(`[{"targets": ["127.0.0.2"], "labels": {"rack": "r1"}}]`)
	nstest.Eventually(t, 30*time.Second, func() (bool, string) {
		n := count()
		return n == "1", fmt.Sprintf("netburst_probe_scrape_targets %q, want 1; exporter log:\n%s", n, e.Logs)
	})
}
