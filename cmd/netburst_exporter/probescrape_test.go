package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// TestProbeScrapeTargets drives the prober from scrapes of /probe, as
// Prometheus would with a relabelled scrape config: a target is added by
// its first scrape and probed continuously, served by /probe and not by
// /metrics, refused beyond --probe.scrape-targets, with an unknown module
// or against a configured target's name, and dropped once no scrape asked
// for it for --probe.scrape-target-ttl.
func TestProbeScrapeTargets(t *testing.T) {
	ns := nstest.New(t)
	for _, a := range []string{"127.0.0.2/8", "127.0.0.3/8"} {
		ns.MustRun(t, "ip", "addr", "add", a, "dev", "lo")
	}
	config := filepath.Join(t.TempDir(), "netburst.yml")
	writeFile(t, config, "probe:\n  targets:\n    - {host: 127.0.0.1, size: 300}\n  modules:\n    big: {size: 1000}\n")
	_, client, logs := startExporter(t, ns, "--config.file="+config, "--probe.interval=20ms",
		"--probe.scrape-targets=2", "--probe.scrape-target-ttl=2s")
	probe := func(query string) (int, string) {
		t.Helper()
		return get(t, client, "/probe?"+query)
	}
	if code, body := probe("target=127.0.0.2"); code != http.StatusOK || !strings.Contains(body, `netburst_probe_sent_total{target="127.0.0.2"}`) {
		t.Fatalf("first /probe of 127.0.0.2: %d\n%s", code, body)
	}
	// Probed continuously from then on, at --probe.interval.
	nstest.Eventually(t, 10*time.Second, func() (bool, string) {
		_, body := probe("target=127.0.0.2")
		v, _ := sampleValue(body, `netburst_probe_replies_total{target="127.0.0.2"}`)
		_, hist := sampleValue(body, `netburst_probe_rtt_seconds_count{target="127.0.0.2"}`)
		return v != "" && v != "0" && hist, fmt.Sprintf("replies %q, histogram %v:\n%s", v, hist, body)
	})
	code, body := probe("target=127.0.0.3&module=big")
	if code != http.StatusOK || !strings.Contains(body, `netburst_probe_target_info{address="127.0.0.3",host="127.0.0.3",`) || !strings.Contains(body, `target="127.0.0.3/big"`) {
		t.Fatalf("/probe of 127.0.0.3 with module big: %d\n%s", code, body)
	}
	if strings.Contains(body, "127.0.0.2") || strings.Contains(body, "foreign_replies") {
		t.Errorf("/probe of one target shows another's series or the prober-wide counters:\n%s", body)
	}
	for _, tt := range []struct {
		query string
		code  int
		msg   string
	}{
		{"target=127.0.0.4", http.StatusServiceUnavailable, "too many scrape-driven probe targets: 2 held"},
		{"target=127.0.0.2&module=huge", http.StatusBadRequest, `unknown probe module "huge" (known: big, default)`},
		{"", http.StatusBadRequest, "no target given"},
		{"target=127.0.0.1", http.StatusConflict, `target "127.0.0.1": a configured target has this name`},
	} {
		if code, body := probe(tt.query); code != tt.code || !strings.Contains(body, tt.msg) {
			t.Errorf("/probe?%s: %d %q, want %d saying %q", tt.query, code, body, tt.code, tt.msg)
		}
	}
	_, scrape := get(t, client, "/metrics")
	if strings.Contains(scrape, `target="127.0.0.2"`) || strings.Contains(scrape, `target="127.0.0.3/big"`) {
		t.Errorf("/metrics serves the scrape-driven targets (Prometheus scrapes them from /probe)")
	}
	for series, want := range map[string]string{
		"netburst_probe_scrape_targets":                          "2",
		`netburst_probe_scrape_refused_total{reason="full"}`:     "1",
		`netburst_probe_scrape_refused_total{reason="invalid"}`:  "2",
		`netburst_probe_scrape_refused_total{reason="conflict"}`: "1",
	} {
		if v, _ := sampleValue(scrape, series); v != want {
			t.Errorf("%s = %q, want %s", series, v, want)
		}
	}
	if _, ok := sampleValue(scrape, `netburst_probe_sent_total{target="127.0.0.1"}`); !ok {
		t.Errorf("/metrics lacks the configured target")
	}
	// Scraped no more: dropped after the TTL, and the slot is free again.
	nstest.Eventually(t, 15*time.Second, func() (bool, string) {
		_, scrape := get(t, client, "/metrics")
		v, _ := sampleValue(scrape, "netburst_probe_scrape_targets")
		return v == "0", fmt.Sprintf("netburst_probe_scrape_targets %q; logs:\n%s", v, logs)
	})
	if !strings.Contains(logs.String(), "/probe targets no longer scraped: dropped") {
		t.Errorf("no log line for the dropped targets:\n%s", logs)
	}
	if code, _ := probe("target=127.0.0.4"); code != http.StatusOK {
		t.Errorf("/probe of a third target after the others expired: %d", code)
	}
}
