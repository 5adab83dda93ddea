package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netburst/netburst/capture"
	"github.com/netburst/netburst/internal/nstest"
)

// lockedLogs collects an exporter's output while the test reads it.
type lockedLogs struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// nobodyDir returns a directory that uid 65534 can enter, removed after the
// test, with the exporter binary in it.
func nobodyDir(t *testing.T) (dir, bin string) {
	t.Helper()
	nstest.RequireTool(t, "setpriv")
	dir, err := os.MkdirTemp("", "nbt-churn-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(buildExporter(t))
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "netburst_exporter")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// nobodyPrefix runs a command as uid 65534 with CAP_NET_RAW only, as the
// systemd unit and the DaemonSet run the exporter.
var nobodyPrefix = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
	"--inh-caps=-all,+net_raw", "--ambient-caps=+net_raw", "--bounding-set=-all,+net_raw"}

// startNobody runs the exporter bin in ns as nobody with CAP_NET_RAW on
// 127.0.0.1:9917 and waits until it is ready.
func startNobody(t *testing.T, ns *nstest.NS, bin string, args ...string) (*http.Client, *lockedLogs) {
	t.Helper()
	logs := &lockedLogs{}
	argv := append(append([]string{"netns", "exec", ns.Name}, nobodyPrefix...), append([]string{bin, "--web.listen-address=127.0.0.1:9917"}, args...)...)
	cmd := exec.Command("ip", argv...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	client := ns.HTTPClient()
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := client.Get("http://127.0.0.1:9917/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return client, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter not ready after 15 s (last error %v); logs:\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricValue returns the value of one series in a scrape.
func metricValue(scrape, series string) (float64, bool) {
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// waitMetric scrapes until cond holds of the series' value (absent: NaN is
// not passed, cond sees ok false), and returns the value.
func waitMetric(t *testing.T, client *http.Client, logs *lockedLogs, series, what string, cond func(v float64) bool) float64 {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		_, scrape := get(t, client, "/metrics")
		if v, ok := metricValue(scrape, series); ok && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			v, ok := metricValue(scrape, series)
			t.Fatalf("%s: %s = %v (present %v) 15 s on; logs:\n%s", what, series, v, ok, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCaptureChurnEndToEnd runs the exporter as nobody with CAP_NET_RAW,
// capturing a veth that is then deleted and re-created with the same name
// (a VM's vif on a hypervisor): netburst_capture_up must go 0 then 1 with
// one re-open, the capture must count the new interface's frames, and a
// burst after the re-creation must be frozen into a spike pcap of them.
func TestCaptureChurnEndToEnd(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	mk := func() {
		nstest.Veth(t, a, "nbw0", b, "nbw1")
		a.MustRun(t, "ip", "addr", "add", "198.18.15.1/24", "dev", "nbw0")
		b.MustRun(t, "ip", "addr", "add", "198.18.15.2/24", "dev", "nbw1")
	}
	mk()
	base, bin := nobodyDir(t)
	dir := filepath.Join(base, "pcaps")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	client, logs := startNobody(t, b, bin, "--capture.device=nbw1", "--capture.dir="+dir, "--capture.pre=1s", "--capture.post=500ms",
		"--sampler.device-include=^nbw1$", "--sampler.burst-threshold=0.0001", "--sampler.burst-rate=500000")
	const (
		up      = `netburst_capture_up{device="nbw1"}`
		reopens = `netburst_capture_reopens_total{device="nbw1"}`
		packets = `netburst_capture_packets_total{device="nbw1"}`
	)
	waitMetric(t, client, logs, up, "capturing at start", func(v float64) bool { return v == 1 })

	b.MustRun(t, "ip", "link", "del", "dev", "nbw1")
	waitMetric(t, client, logs, up, "down after the deletion", func(v float64) bool { return v == 0 })
	mk()
	waitMetric(t, client, logs, up, "capturing after the re-creation", func(v float64) bool { return v == 1 })
	if n := waitMetric(t, client, logs, reopens, "re-opens", func(float64) bool { return true }); n != 1 {
		t.Errorf("%s = %v, want 1", reopens, n)
	}
	recreated := time.Now()
	p0 := waitMetric(t, client, logs, packets, "packets", func(float64) bool { return true })

	// A burst to udp/7003 on the new interface.
	if err := a.Do(func() error {
		conn, err := net.Dial("udp4", "198.18.15.2:7003")
		if err != nil {
			return err
		}
		defer conn.Close()
		buf := make([]byte, 1400)
		for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
			for i := 0; i < 50; i++ {
				_, _ = conn.Write(buf)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, client, logs, packets, "frames of the new interface counted", func(v float64) bool { return v > p0 })
	var rep capture.Report
	for deadline := time.Now().Add(15 * time.Second); ; {
		var reports []capture.Report
		_, body := get(t, client, "/api/v1/spikes")
		if err := json.Unmarshal([]byte(body), &reports); err != nil {
			t.Fatalf("spikes JSON: %v\n%s", err, body)
		}
		i := slices.IndexFunc(reports, func(r capture.Report) bool { return r.Device == "nbw1" && r.Time.After(recreated) })
		if i >= 0 {
			rep = reports[i]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no spike report after the re-creation 15 s on (reports %+v); logs:\n%s", reports, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rep.File == "" || len(rep.Ports) == 0 || rep.Ports[0].Port != 7003 {
		t.Fatalf("report after the re-creation: file %q (%s), ports %+v", rep.File, rep.FileError, rep.Ports)
	}
	if _, err := os.Stat(rep.File); err != nil {
		t.Errorf("spike pcap: %v", err)
	}
	out := logs.String()
	for _, want := range []string{`msg="capture device down; it captures again when an interface of that name exists" device=nbw1`,
		`msg="capture device captures again" device=nbw1`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}
