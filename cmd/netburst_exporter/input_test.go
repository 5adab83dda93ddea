package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// TestImperfectInput holds the exporter's answer to the mistakes of
// issue 14: each gets exactly one line on stderr, naming the flag or file
// and what is wrong, and exit status 2 (a usage or configuration error),
// before anything is served.
func TestImperfectInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A procfs whose host has 1 GiB, for the capture's memory check.
	procfs := filepath.Join(dir, "proc")
	if err := os.Mkdir(procfs, 0o755); err != nil {
		t.Fatal(err)
	}
	write("proc/meminfo", "MemTotal:        1048576 kB\nMemFree:          524288 kB\n")
	cfgKey := write("typo.yml", "probe:\n  intervall: 5s\n")
	cfgType := write("type.yml", "probe: 5\n")
	webBad := write("web.yml", "basic_auth_users: 5\n")
	webKey := write("web2.yml", "tls_server_config:\n  cert_fiel: x\n")
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole line after "netburst_exporter: error: "
	}{
		{"metrics path without a slash", []string{"--web.telemetry-path=metrics"}, "--web.telemetry-path=metrics: must start with / (e.g. /metrics)"},
		{"metrics path of the exporter's own", []string{"--web.telemetry-path=/-/ready"}, "--web.telemetry-path=/-/ready: that path is the exporter's own"},
		{"capture memory beyond the host", []string{"--capture.device=lo", "--capture.memory=100GiB", "--path.procfs=" + procfs}, "--capture.memory=100GiB is more than half of this host's memory (1.0GiB): the capture would starve the host"},
		{"NaN burst threshold", []string{"--sampler.burst-threshold=NaN"}, "--sampler.burst-threshold=NaN: want a number (try --help)"},
		{"infinite burst threshold", []string{"--sampler.burst-threshold=+Inf"}, "--sampler.burst-threshold=+Inf: want a number (try --help)"},
		{"NaN spike factor", []string{"--probe.spike-factor=NaN"}, "--probe.spike-factor=NaN: want a number (try --help)"},
		{"NaN bond threshold", []string{"--bond.idle-threshold=nan"}, "--bond.idle-threshold=nan: want a number (try --help)"},
		{"negative burst rate", []string{"--sampler.burst-rate=-5"}, "--sampler.burst-rate=-5 must be 0 (no bursts on devices of unknown speed) or more"},
		{"zero max refresh", []string{"--sampler.max-refresh=0"}, "--sampler.max-refresh=0s must be at least --sampler.interval (100ms): a refresh period shorter than a sample cannot be seen"},
		{"negative max refresh", []string{"--sampler.max-refresh=-1s"}, "--sampler.max-refresh=-1s must be at least --sampler.interval (100ms): a refresh period shorter than a sample cannot be seen"},
		{"a capture device twice", []string{"--capture.device=lo", "--capture.device=lo"}, "--capture.device=lo given twice"},
		{"sysfs that is not there", []string{"--path.sysfs=/nonexistent"}, "--path.sysfs=/nonexistent: not a directory"},
		{"procfs that is a file", []string{"--path.procfs=" + cfgKey}, "--path.procfs=" + cfgKey + ": not a directory"},
		{"probe interval without targets", []string{"--probe.interval=0s"}, "--probe.interval=0s must be above 0"},
		{"probe timeout without targets", []string{"--probe.timeout=2m"}, "--probe.interval=100ms, --probe.timeout=2m0s: probe timeout 2m0s out of range 0..1m"},
		{"spike factor below 1 without targets", []string{"--probe.spike-factor=0.5"}, "--probe.spike-factor=0.5 must be 1 or more"},
		{"negative scrape targets", []string{"--probe.scrape-targets=-1"}, "--probe.scrape-targets=-1 must be 0 (no /probe) or more"},
		{"zero scrape target ttl", []string{"--probe.scrape-targets=5", "--probe.scrape-target-ttl=0s"}, "--probe.scrape-target-ttl=0s must be above 0"},
		{"unknown key in the config file", []string{"--config.file=" + cfgKey}, "config file " + cfgKey + `: line 2: unknown key "intervall" in the probe section (known: targets, file_sd, modules)`},
		{"wrong kind in the config file", []string{"--config.file=" + cfgType}, "config file " + cfgType + ": line 1: want the probe section (a mapping of targets, file_sd, modules), not the number 5"},
		{"web config of the wrong kind", []string{"--web.config.file=" + webBad}, "--web.config.file=" + webBad + ": line 1: want basic_auth_users (a mapping of user names to bcrypt hashes), not the int 5"},
		{"web config key misspelt", []string{"--web.config.file=" + webKey}, "--web.config.file=" + webKey + `: line 2: unknown key "cert_fiel" in tls_server_config`},
		{"web config missing", []string{"--web.config.file=" + filepath.Join(dir, "none.yml")}, "--web.config.file=" + filepath.Join(dir, "none.yml") + ": open " + filepath.Join(dir, "none.yml") + ": no such file or directory"},
		{"listen port out of range", []string{"--web.listen-address=127.0.0.1:99999"}, `--web.listen-address=127.0.0.1:99999: port "99999": want a number 0..65535`},
		{"listen address without a port", []string{"--web.listen-address=localhost"}, "--web.listen-address=localhost: want host:port or :port (e.g. :9917)"},
		{"negative max requests", []string{"--web.max-requests=-1"}, "--web.max-requests=-1 must be 0 (no limit) or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "--web.listen-address") {
				args = append(args, "--web.listen-address=127.0.0.1:0")
			}
			var stdout, stderr bytes.Buffer
			code := run(append(args, "--log.level=error"), &stdout, &stderr)
			want := "netburst_exporter: error: " + tc.want + "\n"
			if code != 2 || stderr.String() != want {
				t.Errorf("exit %d, stderr\n%q\nwant exit 2 and\n%q", code, stderr.String(), want)
			}
		})
	}
}

// TestLandingPageProfiles: the landing page links Go profiles only when
// --web.enable-pprof serves them (the toolkit links them by default, and
// they answered 404).
func TestLandingPageProfiles(t *testing.T) {
	for _, pprof := range []bool{false, true} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		args := "--web.listen-address=" + addr + " --log.level=error"
		if pprof {
			args += " --web.enable-pprof"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), "NETBURST_HELPER_ARGS="+args)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		var page string
		nstest.Eventually(t, 20*time.Second, func() (bool, string) {
			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				return false, err.Error()
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page = string(b)
			return resp.StatusCode == http.StatusOK, resp.Status
		})
		if got := strings.Contains(page, "/debug/pprof/"); got != pprof {
			t.Errorf("--web.enable-pprof=%v: landing page links profiles: %v\n%s", pprof, got, page)
		}
		resp, err := http.Get("http://" + addr + "/debug/pprof/heap")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[pprof]; resp.StatusCode != want {
			t.Errorf("--web.enable-pprof=%v: /debug/pprof/heap answers %d, want %d", pprof, resp.StatusCode, want)
		}
	}
}

// TestRuntimeFailureExitsOne: a host that refuses something the
// configuration may rightly ask for (here a port already taken) is exit 1,
// still one line.
func TestRuntimeFailureExitsOne(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"--web.listen-address=" + l.Addr().String(), "--log.level=error"}, &stdout, &stderr)
	want := "netburst_exporter: error: web server: listen tcp " + l.Addr().String() + ": bind: address already in use\n"
	if code != 1 || stderr.String() != want {
		t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr.String(), want)
	}
}
