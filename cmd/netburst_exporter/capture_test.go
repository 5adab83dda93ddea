package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

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
		{[]string{"--capture.device=lo", "--capture.filter=tcp and"}, "--capture.filter: capture filter"},
		{[]string{"--capture.device=lo", "--capture.filter=port ssh"}, "not a number"},
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
	nbe := nstest.VethPair(t, a, "nbe0", b, "nbe1")
	dir := t.TempDir()
	// The kernel filter keeps the quiet flow to port 53 out of the capture.
	_, client, logs := startExporter(t, b, "--capture.device=nbe1", "--capture.dir="+dir, "--capture.pre=1s", "--capture.post=500ms",
		"--capture.filter=not port 53",
		"--sampler.device-include=^nbe1$", "--sampler.burst-threshold=0.0001", "--sampler.burst-rate=500000")

	// Quiet traffic first (the ring's history), then a burst.
	err := a.Do(func() error {
		conn, err := net.Dial("udp", nbe.BPort(7000))
		if err != nil {
			return err
		}
		defer conn.Close()
		quiet, err := net.Dial("udp", nbe.BPort(53))
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
	nstest.Eventually(t, 15*time.Second, func() (bool, string) {
		reports = spikeReports(t, client, "127.0.0.1:9917")
		return len(reports) > 0, "no spike report; logs:\n" + logs.String()
	})
	// The documented schema, key by key (docs/capture.md).
	_, body := get(t, client, "/api/v1/spikes")
	var raw []map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw) == 0 {
		t.Fatalf("spikes JSON: %v", err)
	}
	for _, k := range []string{"time", "trigger", "triggers", "device", "window_start", "window_end", "file", "dropped",
		"packets", "bytes", "peak_bytes_per_second", "ports", "hosts", "conversations", "overflow"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("report lacks %q: %s", k, body)
		}
	}
	if ports, ok := raw[0]["ports"].([]any); ok && len(ports) > 0 {
		for _, k := range []string{"protocol", "port", "packets", "bytes"} {
			if _, ok := ports[0].(map[string]any)[k]; !ok {
				t.Errorf("port entry lacks %q", k)
			}
		}
	}
	rep := reports[0]
	if rep.Trigger != "burst" || rep.Device != "nbe1" || len(rep.Ports) == 0 || rep.Ports[0].Port != 7000 || rep.Ports[0].Protocol != "udp" {
		t.Fatalf("report %+v", rep)
	}
	if !rep.Start.Before(rep.Time) {
		t.Errorf("no frame from before the trigger: first %v, trigger %v", rep.Start, rep.Time)
	}
	for _, p := range rep.Ports {
		if p.Port == 53 {
			t.Errorf("udp/53 in the report despite --capture.filter: %+v", rep.Ports)
		}
	}
	if info, err := os.Stat(rep.File); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("pcap %q: %v", rep.File, err)
	}
	// The pages (--web.ui, on by default): the list links the report, its
	// page shows the picture and the top port, and the pcap downloads as
	// the file written.
	if code, list := get(t, client, "/spikes"); code != 200 || !strings.Contains(list, `href="/spikes/`+rep.ID+`"`) {
		t.Errorf("/spikes: %d, no link to %s", code, rep.ID)
	}
	if code, page := get(t, client, "/spikes/"+rep.ID); code != 200 || !strings.Contains(page, "<svg") || !strings.Contains(page, "udp/7000") {
		t.Errorf("/spikes/%s: %d, want the SVG and udp/7000", rep.ID, code)
	}
	if code, pcap := get(t, client, "/spikes/"+rep.ID+".pcap"); code != 200 {
		t.Errorf("pcap download: %d", code)
	} else if want, err := os.ReadFile(rep.File); err != nil || pcap != string(want) {
		t.Errorf("pcap download differs from %s (%d bytes, want %d): %v", rep.File, len(pcap), len(want), err)
	}
	_, metrics := get(t, client, "/metrics")
	for _, want := range []string{
		`netburst_spikes_total{trigger="burst"}`,
		`netburst_capture_packets_total{device="nbe1"}`,
		`netburst_capture_kernel_drops_total{device="nbe1"} 0`,
		`netburst_spike_last_port_bytes{device="nbe1",port="7000",protocol="udp"}`,
		`netburst_capture_files_bytes`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestCaptureRTTSpikeThroughTbf is the end-to-end check: the
// exporter on host H probes T across a tbf bottleneck on T's egress and
// captures H's interface; a one-second storage-like TCP burst from T to
// H:7000, beside small UDP flows, queues in the tbf and delays the echo
// replies. The RTT spike's report must put tcp/7000 on top with bytes within
// 2 % of tshark's count of the pcap written, and the pcap must hold frames
// from before the trigger.
func TestCaptureRTTSpikeThroughTbf(t *testing.T) {
	nstest.RequireTool(t, "tshark")
	app := kingpin.New("probe-check", "")
	for _, f := range features {
		f(app)
	}
	if app.GetFlag("probe.target") == nil {
		t.Skip("skipping: this build of the exporter has no prober (--probe.target)")
	}
	h, tt := nstest.New(t), nstest.New(t)
	nbh := nstest.VethPair(t, h, "nbh0", tt, "nbt0")
	tt.MustRun(t, "tc", "qdisc", "add", "dev", "nbt0", "root", "tbf", "rate", "20mbit", "burst", "20kb", "latency", "400ms")

	// H's storage service: accept and discard.
	var ln net.Listener
	if err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", nbh.APort(7000))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()

	dir := t.TempDir()
	_, client, logs := startExporter(t, h, "--probe.target=peer="+nbh.AddrB.String(), "--probe.interval=20ms", "--probe.spike-threshold=30ms",
		"--capture.device=nbh0", "--capture.dir="+dir, "--capture.pre=2s", "--capture.post=1s", "--sampler.device-include=^nbh0$")

	// Small flows all along, the burst after two quiet seconds.
	stop := make(chan struct{})
	smallDone := make(chan error, 1)
	go func() {
		smallDone <- tt.Do(func() error {
			c, err := net.Dial("udp", nbh.APort(5353))
			if err != nil {
				return err
			}
			defer c.Close()
			for {
				select {
				case <-stop:
					return nil
				case <-time.After(10 * time.Millisecond):
					_, _ = c.Write(make([]byte, 100))
				}
			}
		})
	}()
	time.Sleep(2500 * time.Millisecond)
	if err := tt.Do(func() error {
		c, err := net.Dial("tcp", nbh.APort(7000))
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for end := time.Now().Add(time.Second); time.Now().Before(end); {
			_ = c.SetWriteDeadline(end)
			if _, err := c.Write(buf); err != nil {
				break
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var reports []capture.Report
	nstest.Eventually(t, 15*time.Second, func() (bool, string) {
		reports = spikeReports(t, client, "127.0.0.1:9917")
		return len(reports) > 0 && reports[len(reports)-1].Trigger == "rtt", fmt.Sprintf("no rtt spike report (reports %+v); logs:\n%s", reports, logs.String())
	})
	close(stop)
	if err := <-smallDone; err != nil {
		t.Fatal(err)
	}
	rep := reports[len(reports)-1] // the oldest: the first rtt spike
	if len(rep.Ports) == 0 || rep.Ports[0].Protocol != "tcp" || rep.Ports[0].Port != 7000 {
		t.Fatalf("top ports %+v, want tcp/7000 first", rep.Ports)
	}
	if !rep.Start.Before(rep.Time) {
		t.Errorf("pcap starts at %v, not before the trigger at %v", rep.Start, rep.Time)
	}
	out, err := exec.Command("tshark", "-n", "-r", rep.File, "-Y", "tcp.dstport == 7000", "-T", "fields", "-e", "frame.len").Output()
	if err != nil {
		t.Fatalf("tshark on %s: %v", rep.File, err)
	}
	var sum uint64
	for _, f := range strings.Fields(string(out)) {
		n, _ := strconv.ParseUint(f, 10, 64)
		sum += n
	}
	if diff := math.Abs(float64(sum) - float64(rep.Ports[0].Bytes)); diff > 0.02*float64(sum) {
		t.Errorf("tcp/7000: report %d bytes, tshark %d bytes in %s", rep.Ports[0].Bytes, sum, rep.File)
	}
	t.Logf("rtt spike at %v (value %.3fs): tcp/7000 %d bytes (tshark %d), %d frames from %v", rep.Time, rep.Value, rep.Ports[0].Bytes, sum, rep.Packets, rep.Start)
}

// TestCaptureDirUnusable: a --capture.dir that cannot be created (below a
// regular file) or written (read-only to the exporter's user, here nobody
// with CAP_NET_RAW, since root ignores permissions) fails the start with
// one line naming the flag, the directory and the error: exit status 1.
func TestCaptureDirUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	below := filepath.Join(file, "pcaps")
	var stdout, stderr bytes.Buffer
	code := run([]string{"--capture.device=lo", "--capture.dir=" + below, "--web.listen-address=127.0.0.1:0"}, &stdout, &stderr)
	msg := stderr.String()
	if code != 1 || !strings.HasPrefix(msg, "netburst_exporter: error: --capture.dir="+below+": ") || !strings.Contains(msg, "not a directory") ||
		strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Errorf("below a regular file: exit %d, stderr %q; want 1 and one line", code, msg)
	}

	ns := nstest.New(t)
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	readableByAll(t, ro)
	e := nstest.StartExporter(t, ns, nstest.Launch{As: nstest.AsNetRaw, NoWait: true}, "--capture.device=lo", "--capture.dir="+ro, "--log.level=error")
	err := e.Cmd.Wait()
	var exit *exec.ExitError
	msg = e.Logs.String()
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.HasPrefix(msg, "netburst_exporter: error: --capture.dir="+ro+": not writable: ") ||
		!strings.Contains(msg, "permission denied") || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Errorf("read-only directory as uid 65534: %v, output %q; want exit 1 and one line", err, msg)
	}
	if entries, _ := os.ReadDir(ro); len(entries) != 0 {
		t.Errorf("files left in the read-only directory: %v", entries)
	}
}

// TestCaptureVXLANEndToEnd: the hypervisor's case of issue 18. The exporter
// captures the underlay of a VXLAN overlay that the kernel encapsulates; a
// burst to the tenant's port 3260 inside VNI 100 must be reported as
// udp/3260 (in the ports, the conversations keyed by the VNI, the spike
// metric), not as the overlay's udp/4789, and the tunnel table must name
// VNI 100 between the underlay addresses.
func TestCaptureVXLANEndToEnd(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	nbe := nstest.VethPair(t, a, "nbe0", b, "nbe1")
	ua, ub := nbe.AddrA.String(), nbe.AddrB.String()
	a.MustRun(t, "ip", "link", "add", "vx100", "type", "vxlan", "id", "100", "local", ua, "remote", ub, "dstport", "4789", "dev", "nbe0")
	b.MustRun(t, "ip", "link", "add", "vx100", "type", "vxlan", "id", "100", "local", ub, "remote", ua, "dstport", "4789", "dev", "nbe1")
	a.MustRun(t, "ip", "addr", "add", "198.19.0.1/30", "dev", "vx100")
	b.MustRun(t, "ip", "addr", "add", "198.19.0.2/30", "dev", "vx100")
	a.MustRun(t, "ip", "link", "set", "vx100", "up")
	b.MustRun(t, "ip", "link", "set", "vx100", "up")
	// As deployed: uid 65534 with CAP_NET_RAW only.
	e := nstest.StartExporter(t, b, nstest.Launch{As: nstest.AsNetRaw}, "--capture.device=nbe1", "--capture.pre=1s", "--capture.post=500ms",
		"--sampler.device-include=^nbe1$", "--sampler.burst-threshold=0.0001", "--sampler.burst-rate=500000")
	client, logs := e.Client, e.Logs
	nstest.BlastUDP(t, a, "198.19.0.2:3260", 500*time.Millisecond)
	var reports []capture.Report
	nstest.Eventually(t, 15*time.Second, func() (bool, string) {
		reports = spikeReports(t, client, "127.0.0.1:9917")
		return len(reports) > 0, "no spike report; logs:\n" + logs.String()
	})
	rep := reports[0]
	if len(rep.Ports) == 0 || rep.Ports[0].Protocol != "udp" || rep.Ports[0].Port != 3260 {
		t.Fatalf("top ports %+v, want udp/3260 inside the overlay first", rep.Ports)
	}
	for _, p := range rep.Ports {
		// Only frames with no IP inside count under the overlay's port:
		// the tenant's ARP, a request and its reply.
		if p.Port == 4789 && p.Packets > 4 {
			t.Errorf("the overlay's udp/4789 counted as a port: %+v", rep.Ports)
		}
	}
	if c := rep.Conversations[0]; c.Tunnel != "vxlan" || c.TunnelID == nil || *c.TunnelID != 100 || c.Src.String() != "198.19.0.1" {
		t.Errorf("top conversation %+v, want 198.19.0.1 -> 198.19.0.2:3260 in vxlan 100", c)
	}
	if len(rep.Tunnels) == 0 || rep.Tunnels[0].Tunnel != "vxlan" || rep.Tunnels[0].Src.String() != ua || rep.Tunnels[0].Dst.String() != ub {
		t.Errorf("tunnels %+v, want vxlan 100 from %s to %s", rep.Tunnels, ua, ub)
	}
	if rep.Tunnelled.Bytes == 0 || rep.Tunnelled.Bytes > rep.Bytes {
		t.Errorf("tunnelled %+v of %d bytes", rep.Tunnelled, rep.Bytes)
	}
	if code, page := get(t, client, "/spikes/"+rep.ID); code != 200 || !strings.Contains(page, "<td>vxlan 100</td>") {
		t.Errorf("/spikes/%s: %d, no tunnel table naming vxlan 100", rep.ID, code)
	}
	_, metrics := get(t, client, "/metrics")
	if want := `netburst_spike_last_port_bytes{device="nbe1",port="3260",protocol="udp"}`; !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s", want)
	}
}
