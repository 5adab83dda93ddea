package main

import (
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
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

func TestProbeLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), `[{"targets": ["198.18.0.1", "198.18.0.2:9100", "[2001:2::1]:80"], "labels": {"size": "100", "tos": "184"}},
		{"targets": ["198.18.0.3"], "labels": {"name": "three", "interface": "eth0", "interval": "1s"}}]`)
	writeFile(t, filepath.Join(dir, "b.yml"), "- targets: [198.18.0.4]\n  labels: {ttl: \"9\", network: ip4}\n")
	writeFile(t, filepath.Join(dir, "config.yaml"), `
sampler: {ignored: true}
probe:
  file_sd: [`+filepath.Join(dir, "*.yml")+`]
  targets:
    - {name: gw, host: 198.18.0.254, source: 198.18.0.1, tos: 16, ttl: 3, size: 64, interval: 500ms}
    - {host: 198.18.0.1, size: 100, tos: 184, name: 198.18.0.1}
`)
	f := &probeFeature{targets: []string{"lo=127.0.0.1"}, fileSD: []string{filepath.Join(dir, "*.json")}, configFile: filepath.Join(dir, "config.yaml")}
	ts, files, configured, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	if !configured || len(files) != 2 {
		t.Fatalf("configured %v, files %v", configured, files)
	}
	got := map[string]prober.Target{}
	for _, tg := range ts {
		got[tg.Name] = tg
	}
	want := map[string]prober.Target{
		"lo":              {Name: "lo", Host: "127.0.0.1"},
		"gw":              {Name: "gw", Host: "198.18.0.254", Source: mustParse("198.18.0.1"), TOS: 16, TTL: 3, Size: 64, Interval: 500 * time.Millisecond},
		"198.18.0.1":      {Name: "198.18.0.1", Host: "198.18.0.1", Size: 100, TOS: 184},
		"198.18.0.2:9100": {Name: "198.18.0.2:9100", Host: "198.18.0.2", Size: 100, TOS: 184},
		"[2001:2::1]:80":  {Name: "[2001:2::1]:80", Host: "2001:2::1", Size: 100, TOS: 184},
		"three":           {Name: "three", Host: "198.18.0.3", Interface: "eth0", Interval: time.Second},
		"198.18.0.4":      {Name: "198.18.0.4", Host: "198.18.0.4", TTL: 9, Network: "ip4"},
	}
	if len(got) != len(want) || len(ts) != len(want) {
		t.Errorf("got %d targets (%d distinct), want %d: %+v", len(ts), len(got), len(want), ts)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %+v, want %+v", name, got[name], w)
		}
	}
}

func mustParse(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestProbeLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, content, want string
		flags                     []string
	}{
		{"bad json", "x.json", `[{"targets": [1]}]`, "file_sd", nil},
		{"bad label", "x.json", `[{"targets": ["198.18.0.1"], "labels": {"ttl": "many"}}]`, "label ttl", nil},
		{"bad extension", "x.txt", `[]`, "want a .json", nil},
		{"bad yaml config", "config.yml", "probe: [", "config file", nil},
		{"bad source", "config.yml", "probe:\n  targets: [{host: 198.18.0.1, source: nowhere}]\n", "source", nil},
		{"bad interval", "config.yml", "probe:\n  targets: [{host: 198.18.0.1, interval: soon}]\n", "interval", nil},
		{"conflicting names", "config.yml", "probe:\n  targets: [{name: a, host: 198.18.0.1}, {name: a, host: 198.18.0.2}]\n", "defined twice", nil},
		{"bad flag", "config.yml", "", "--probe.target", []string{"=198.18.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			writeFile(t, path, tc.content)
			defer os.Remove(path)
			f := &probeFeature{targets: tc.flags}
			if tc.file == "config.yml" {
				f.configFile = path
			} else {
				f.fileSD = []string{path}
			}
			_, _, _, err := f.load()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	f := &probeFeature{configFile: filepath.Join(dir, "missing.yml")}
	if _, _, _, err := f.load(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing config file: %v", err)
	}
	f = &probeFeature{}
	if _, _, configured, err := f.load(); err != nil || configured {
		t.Fatalf("no flags: configured %v, err %v; want the prober off", configured, err)
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

	// A fixed config with another target, on SIGHUP.
	writeFile(t, config, "probe:\n  targets:\n    - {name: cfg2, host: 127.0.0.2, size: 200}\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// And a file_sd change, picked up by polling.
	writeFile(t, sd, `[{"targets": ["::1"], "labels": {"name": "sd6b"}}]`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, scrape = get(t, client, "/metrics")
		_, cfg2 := sampleValue(scrape, `netburst_probe_sent_total{target="cfg2"}`)
		_, sd6b := sampleValue(scrape, `netburst_probe_sent_total{target="sd6b"}`)
		_, cfg := sampleValue(scrape, `netburst_probe_sent_total{target="cfg"}`)
		_, sd6 := sampleValue(scrape, `netburst_probe_rtt_seconds_count{target="sd6"}`)
		if cfg2 && sd6b && !cfg && !sd6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP and a file_sd change: cfg2 %v sd6b %v, cfg still %v, sd6 histogram still %v; logs:\n%s", cfg2, sd6b, cfg, sd6, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v, _ := sampleValue(scrape, "netburst_probe_config_last_reload_successful"); v != "1" {
		t.Errorf("last_reload_successful = %q after a good reload, want 1", v)
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
