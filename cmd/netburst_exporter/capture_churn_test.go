package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/capture"
	"github.com/netburst/netburst/internal/nstest"
)

// pcapDir returns a directory for spike pcaps that uid 65534 owns, below
// one it can enter.
func pcapDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pcaps")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	readableByAll(t, filepath.Dir(dir))
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return dir
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

// waitMetric scrapes e until the series is there and cond holds of its
// value, and returns the value.
func waitMetric(t *testing.T, e *nstest.Exporter, series, what string, cond func(v float64) bool) float64 {
	t.Helper()
	var v float64
	nstest.Eventually(t, 15*time.Second, func() (bool, string) {
		_, scrape := e.Get(t, "/metrics")
		var ok bool
		v, ok = metricValue(scrape, series)
		return ok && cond(v), fmt.Sprintf("%s: %s = %v (present %v); logs:\n%s", what, series, v, ok, e.Logs.String())
	})
	return v
}

// TestCaptureChurnEndToEnd runs the exporter as nobody with CAP_NET_RAW,
// capturing a veth that is then deleted and re-created with the same name
// (a VM's vif on a hypervisor): netburst_capture_up must go 0 then 1 with
// one re-open, the capture must count the new interface's frames, and a
// burst after the re-creation must be frozen into a spike pcap of them.
func TestCaptureChurnEndToEnd(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	mk := func() nstest.Pair { return nstest.VethPair(t, a, "nbw0", b, "nbw1") }
	nbw := mk()
	dir := pcapDir(t)
	e := nstest.StartExporter(t, b, nstest.Launch{As: nstest.AsNetRaw}, "--capture.device=nbw1", "--capture.dir="+dir, "--capture.pre=1s", "--capture.post=500ms",
		"--sampler.device-include=^nbw1$", "--sampler.burst-threshold=0.0001", "--sampler.burst-rate=500000")
	const (
		up      = `netburst_capture_up{device="nbw1"}`
		reopens = `netburst_capture_reopens_total{device="nbw1"}`
		packets = `netburst_capture_packets_total{device="nbw1"}`
	)
	waitMetric(t, e, up, "capturing at start", func(v float64) bool { return v == 1 })

	b.MustRun(t, "ip", "link", "del", "dev", "nbw1")
	waitMetric(t, e, up, "down after the deletion", func(v float64) bool { return v == 0 })
	mk()
	waitMetric(t, e, up, "capturing after the re-creation", func(v float64) bool { return v == 1 })
	if n := waitMetric(t, e, reopens, "re-opens", func(float64) bool { return true }); n != 1 {
		t.Errorf("%s = %v, want 1", reopens, n)
	}
	recreated := time.Now()
	p0 := waitMetric(t, e, packets, "packets", func(float64) bool { return true })

	// A burst to udp/7003 on the new interface.
	if err := a.Do(func() error {
		conn, err := net.Dial("udp4", nbw.BPort(7003))
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
	waitMetric(t, e, packets, "frames of the new interface counted", func(v float64) bool { return v > p0 })
	var rep capture.Report
	nstest.Eventually(t, 15*time.Second, func() (bool, string) {
		reports := spikeReports(t, e.Client, e.Addr)
		i := slices.IndexFunc(reports, func(r capture.Report) bool { return r.Device == "nbw1" && r.Time.After(recreated) })
		if i >= 0 {
			rep = reports[i]
		}
		return i >= 0, fmt.Sprintf("no spike report after the re-creation (reports %+v); logs:\n%s", reports, e.Logs.String())
	})
	if rep.File == "" || len(rep.Ports) == 0 || rep.Ports[0].Port != 7003 {
		t.Fatalf("report after the re-creation: file %q (%s), ports %+v", rep.File, rep.FileError, rep.Ports)
	}
	if _, err := os.Stat(rep.File); err != nil {
		t.Errorf("spike pcap: %v", err)
	}
	out := e.Logs.String()
	for _, want := range []string{`msg="capture device down; it captures again when an interface of that name exists" device=nbw1`,
		`msg="capture device captures again" device=nbw1`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}
