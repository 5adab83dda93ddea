package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/prober"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write and rename, as configuration tools do, so that a poll never
	// reads a half-written file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// What the prober's sources read is tested in prober (TestSourcesLoad):
// here only what the exporter adds, the parsing of --probe.target.
func TestProbeSources(t *testing.T) {
	f := &probeFeature{targets: []string{"="}}
	if _, err := f.sources(); err == nil || !strings.Contains(err.Error(), "--probe.target") {
		t.Fatalf("sources: %v, want an error mentioning --probe.target", err)
	}
	f = &probeFeature{targets: []string{"lo=127.0.0.1"}, fileSD: []string{"/x/*.json"}, configFile: "/x/c.yml"}
	src, err := f.sources()
	if err != nil {
		t.Fatal(err)
	}
	if len(src.Targets) != 1 || !reflect.DeepEqual(src.Targets[0], prober.Target{Name: "lo", Host: "127.0.0.1"}) || len(src.FileSD) != 1 || src.ConfigFile != "/x/c.yml" {
		t.Errorf("sources %+v", src)
	}
	f = &probeFeature{}
	if src, err := f.sources(); err != nil {
		t.Fatal(err)
	} else if l, err := src.Load(); err != nil || l.Configured {
		t.Fatalf("no flags: configured %v, err %v; want the prober off", l.Configured, err)
	}
}

func sampleValue(scrape, series string) (string, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(scrape)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// The exporter probes loopback targets from flags, the config file and a
// file_sd file; a broken config is refused on POST /-/reload with the old
// targets kept, a file_sd change and SIGHUP bring new ones.
func TestProbeExporterEndToEnd(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "ip", "addr", "add", "127.0.0.2/8", "dev", "lo")
	dir := t.TempDir()
	config := filepath.Join(dir, "netburst.yml")
	sd := filepath.Join(dir, "targets.json")
	writeFile(t, config, "probe:\n  targets:\n    - {name: cfg, host: 127.0.0.2}\n")
	writeFile(t, sd, `[{"targets": ["::1"], "labels": {"name": "sd6"}}]`)
	cmd, client, logs := startExporter(t, ns, "--probe.target=lo=127.0.0.1", "--probe.file-sd="+filepath.Join(dir, "*.json"),
		"--config.file="+config, "--probe.interval=20ms")
	time.Sleep(500 * time.Millisecond)
	_, scrape := get(t, client, "/metrics")
	for _, target := range []string{"lo", "cfg", "sd6"} {
		for _, series := range []string{
			`netburst_probe_timestamp_source_info{source="kernel",target="` + target + `"}`,
			`netburst_probe_rtt_seconds_bucket{target="` + target + `",le="+Inf"}`,
		} {
			if _, ok := sampleValue(scrape, series); !ok {
				t.Errorf("scrape lacks %s", series)
			}
		}
		if v, ok := sampleValue(scrape, `netburst_probe_replies_total{target="`+target+`"}`); !ok || v == "0" {
			t.Errorf("%s: replies %q", target, v)
		}
	}
	if _, ok := sampleValue(scrape, `netburst_probe_peak_rtt_seconds{target="lo",window="10s"}`); !ok {
		t.Errorf("scrape lacks the 10s peak RTT of lo")
	}

	// A config that does not parse: refused, old targets kept.
	writeFile(t, config, "probe: [\n")
	resp, err := client.Post("http://127.0.0.1:9917/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("reload of a broken config: status %d, want 500", resp.StatusCode)
	}
	_, scrape = get(t, client, "/metrics")
	if v, _ := sampleValue(scrape, "netburst_probe_config_last_reload_successful"); v != "0" {
		t.Errorf("last_reload_successful = %q after a failed reload, want 0", v)
	}
	if v, _ := sampleValue(scrape, "netburst_probe_config_reload_failures_total"); v != "1" {
		t.Errorf("reload_failures_total = %q, want 1", v)
	}
	if _, ok := sampleValue(scrape, `netburst_probe_sent_total{target="cfg"}`); !ok {
		t.Errorf("target cfg gone after a failed reload")
	}

	// A fixed config with another target, on SIGHUP, now with custom labels.
	writeFile(t, config, "probe:\n  targets:\n    - {name: cfg2, host: 127.0.0.2, size: 200, labels: {rack: r2}}\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// And a file_sd change, picked up by polling.
	writeFile(t, sd, `[{"targets": ["::1"], "labels": {"name": "sd6b", "rack": "r6", "__meta_x": "dropped"}}]`)
	nstest.Eventually(t, 15*time.Second, func() (bool, string) {
		_, scrape = get(t, client, "/metrics")
		_, cfg2 := sampleValue(scrape, `netburst_probe_sent_total{rack="r2",target="cfg2"}`)
		_, sd6b := sampleValue(scrape, `netburst_probe_rtt_seconds_count{rack="r6",target="sd6b"}`)
		_, cfg := sampleValue(scrape, `netburst_probe_sent_total{rack="",target="cfg"}`)
		_, sd6 := sampleValue(scrape, `netburst_probe_rtt_seconds_count{rack="",target="sd6"}`)
		return cfg2 && sd6b && !cfg && !sd6, fmt.Sprintf("after SIGHUP and a file_sd change: cfg2 %v sd6b %v, cfg still %v, sd6 histogram still %v; logs:\n%s", cfg2, sd6b, cfg, sd6, logs)
	})
	if v, _ := sampleValue(scrape, "netburst_probe_config_last_reload_successful"); v != "1" {
		t.Errorf("last_reload_successful = %q after a good reload, want 1", v)
	}
	// A target without the label has it empty (absent to Prometheus);
	// __-prefixed file_sd labels are dropped.
	if _, ok := sampleValue(scrape, `netburst_probe_sent_total{rack="",target="lo"}`); !ok {
		t.Errorf("scrape lacks lo's series with an empty rack label")
	}
	if strings.Contains(scrape, "__meta_x") {
		t.Errorf("a __ label of file_sd reached the scrape")
	}
}

func TestProbeOffByDefault(t *testing.T) {
	ns := nstest.New(t)
	_, client, _ := startExporter(t, ns)
	_, scrape := get(t, client, "/metrics")
	if strings.Contains(scrape, "netburst_probe_") {
		t.Errorf("probe metrics without any configured target")
	}
}

func TestProbeBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--probe.target=198.18.0.1", "--probe.interval=0s"}, "--probe.interval=0s must be above 0"},
		{[]string{"--probe.target=198.18.0.1", "--probe.interval=100us"}, "below 1ms"},
		{[]string{"--probe.target=198.18.0.1", "--probe.timeout=2m"}, "timeout"},
		{[]string{"--probe.target=198.18.0.1", "--probe.mode=tcp"}, "enum value"},
		{[]string{"--probe.target=="}, "--probe.target"},
		{[]string{"--probe.target=198.18.0.1", "--probe.spike-factor=0.5"}, "--probe.spike-factor=0.5 must be 1 or more"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			if code := run(tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}
