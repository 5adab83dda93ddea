package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/capture"
	"github.com/netburst/netburst/internal/nstest"
)

func TestCaptureBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--capture.device=lo", "--capture.snaplen=10"}, "--capture.snaplen=10 out of 64..262144"},
		{[]string{"--capture.device=lo", "--capture.memory=1KiB"}, "must be at least 1MiB"},
		{[]string{"--capture.device=lo", "--capture.pre=-1s"}, "must be above 0"},
		{[]string{"--capture.pre=soon"}, "capture.pre"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tt.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}

// TestCaptureEndToEnd runs the exporter in a namespace capturing its veth,
// with a burst threshold low enough that a UDP burst to port 7000 makes the
// sampler raise a spike: the spike report must appear at /api/v1/spikes with
// udp/7000 on top, a pcap in --capture.dir, and the capture metrics.
func TestCaptureEndToEnd(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "nbe0", b, "nbe1")
	a.MustRun(t, "ip", "addr", "add", "198.18.9.1/24", "dev", "nbe0")
	b.MustRun(t, "ip", "addr", "add", "198.18.9.2/24", "dev", "nbe1")
	dir := t.TempDir()
	_, client, logs := startExporter(t, b, "--capture.device=nbe1", "--capture.dir="+dir, "--capture.pre=1s", "--capture.post=500ms",
		"--sampler.device-include=^nbe1$", "--sampler.burst-threshold=0.0001", "--sampler.burst-rate=500000")

	// Quiet traffic first (the ring's history), then a burst.
	err := a.Do(func() error {
		conn, err := net.Dial("udp", "198.18.9.2:7000")
		if err != nil {
			return err
		}
		defer conn.Close()
		quiet, err := net.Dial("udp", "198.18.9.2:53")
		if err != nil {
			return err
		}
		defer quiet.Close()
		for i := 0; i < 20; i++ {
			_, _ = quiet.Write(make([]byte, 50))
			time.Sleep(20 * time.Millisecond)
		}
		buf := make([]byte, 1400)
		for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
			for i := 0; i < 50; i++ {
				_, _ = conn.Write(buf)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var reports []capture.Report
	for deadline := time.Now().Add(15 * time.Second); len(reports) == 0; {
		code, body := get(t, client, "/api/v1/spikes")
		if code != 200 {
			t.Fatalf("GET /api/v1/spikes: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &reports); err != nil {
			t.Fatalf("spikes JSON: %v\n%s", err, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no spike report after 15 s; logs:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	rep := reports[0]
	if rep.Trigger != "burst" || rep.Device != "nbe1" || len(rep.Ports) == 0 || rep.Ports[0].Port != 7000 || rep.Ports[0].Protocol != "udp" {
		t.Fatalf("report %+v", rep)
	}
	if !rep.Start.Before(rep.Time) {
		t.Errorf("no frame from before the trigger: first %v, trigger %v", rep.Start, rep.Time)
	}
	if info, err := os.Stat(rep.File); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("pcap %q: %v", rep.File, err)
	}
	_, metrics := get(t, client, "/metrics")
	for _, want := range []string{
		`netburst_spikes_total{trigger="burst"}`,
		`netburst_capture_packets_total{device="nbe1"}`,
		`netburst_capture_kernel_drops_total{device="nbe1"} 0`,
		`netburst_last_spike_port_bytes{device="nbe1",port="7000",protocol="udp"}`,
		`netburst_capture_files_bytes`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
