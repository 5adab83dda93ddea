package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// probeWait waits up to 20 s (generous) for cond to hold, and then fails
// with the exporter's logs.
func probeWait(t *testing.T, e *nstest.Exporter, what string, cond func() bool) {
	t.Helper()
	nstest.Eventually(t, 20*time.Second, func() (bool, string) { return cond(), what + "; logs:\n" + e.Logs.String() })
}

// logLines returns the exporter's log lines that contain every part.
func logLines(e *nstest.Exporter, parts ...string) []string {
	var out []string
	for _, l := range strings.Split(e.Logs.String(), "\n") {
		ok := l != ""
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// probeMetric returns the value of series in a text scrape.
func probeMetric(scrape, series string) (float64, bool) {
	v, ok := sampleValue(scrape, series)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// counterAbove reports whether series is in the scrape with a value above n.
func counterAbove(scrape, series string, n float64) bool {
	v, ok := probeMetric(scrape, series)
	return ok && v > n
}

// The exporter as uid 65534 without capabilities, in a namespace whose
// ping_group_range admits no group: no ICMP socket can be opened. It says
// so once per target in its log (not once per probe), exports
// netburst_probe_send_failing{cause="permission"}, and /-/ready answers
// 503 naming the prober. With CAP_NET_RAW alone the same exporter probes
// and is ready.
func TestProbePermission(t *testing.T) {
	nstest.RequireTool(t, "setpriv")
	ns := nstest.New(t)
	ns.MustRun(t, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0")
	args := []string{"--probe.target=lo4=127.0.0.1", "--probe.target=lo6=::1", "--probe.interval=20ms"}

	t.Run("no capability", func(t *testing.T) {
		e := nstest.StartExporter(t, ns, nstest.Launch{As: nstest.AsNobody, NoWait: true}, args...)
		var code int
		var body string
		probeWait(t, e, "/-/ready answering 503", func() bool {
			resp, err := e.Client.Get("http://" + e.Addr + "/-/ready")
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				return false
			}
			code, body = e.Get(t, "/-/ready")
			return code == http.StatusServiceUnavailable && strings.Contains(body, "prober")
		})
		if !strings.Contains(body, "prober: no permission to open ICMP sockets") || !strings.Contains(body, "CAP_NET_RAW") || strings.Count(strings.TrimSpace(body), "\n") != 0 {
			t.Errorf("/-/ready body %q, want one line naming the prober, the permission and CAP_NET_RAW", body)
		}
		// Many probes later, still one line per target.
		probeWait(t, e, "50 failed sends per target", func() bool {
			_, scrape := e.Get(t, "/metrics")
			return counterAbove(scrape, `netburst_probe_send_errors_total{target="lo4"}`, 50) && counterAbove(scrape, `netburst_probe_send_errors_total{target="lo6"}`, 50)
		})
		_, scrape := e.Get(t, "/metrics")
		for _, target := range []string{"lo4", "lo6"} {
			if v, ok := probeMetric(scrape, `netburst_probe_send_failing{cause="permission",target="`+target+`"}`); !ok || v != 1 {
				t.Errorf("%s: send_failing{cause=permission} = %v (present %v), want 1", target, v, ok)
			}
			lines := logLines(e, `msg="probe target cannot send"`, "target="+target)
			if len(lines) != 1 || !strings.Contains(lines[0], "cause=permission") || !strings.Contains(lines[0], "CAP_NET_RAW") || !strings.Contains(lines[0], "ping_group_range") {
				t.Errorf("%s: log lines %q, want one with cause=permission naming CAP_NET_RAW and ping_group_range", target, lines)
			}
		}
	})

	t.Run("CAP_NET_RAW", func(t *testing.T) {
		e := nstest.StartExporter(t, ns, nstest.Launch{As: nstest.AsNetRaw}, args...)
		probeWait(t, e, "replies from both targets", func() bool {
			_, scrape := e.Get(t, "/metrics")
			return counterAbove(scrape, `netburst_probe_replies_total{target="lo4"}`, 0) && counterAbove(scrape, `netburst_probe_replies_total{target="lo6"}`, 0)
		})
		_, scrape := e.Get(t, "/metrics")
		if strings.Contains(scrape, "netburst_probe_send_failing{") {
			t.Errorf("send_failing exported while the targets answer")
		}
		if v, _ := probeMetric(scrape, `netburst_probe_target_info{address="127.0.0.1",host="127.0.0.1",mode="raw",target="lo4"}`); v != 1 {
			t.Errorf("lo4 not probed with a raw socket")
		}
		if code, body := e.Get(t, "/-/ready"); code != http.StatusOK {
			t.Errorf("/-/ready: %d %q, want 200", code, body)
		}
		if l := logLines(e, "cannot send"); len(l) != 0 {
			t.Errorf("failure lines logged: %q", l)
		}
	})
}

// A target bound to a vif that is deleted and re-created (same name, new
// index) is probed again by the exporter, which runs as deploy/ runs it
// (uid 65534 with CAP_NET_RAW); while the vif is gone the target says
// no_device, and the exporter stays ready: one vif between two VMs is not
// a reason to restart it.
func TestProbeExporterRebind(t *testing.T) {
	nstest.RequireTool(t, "setpriv")
	a, b := nstest.New(t), nstest.New(t)
	veth := func() nstest.Pair { return nstest.VethPair(t, a, "vif7.0", b, "eth0") }
	vif := veth()
	dir := t.TempDir()
	readableByAll(t, dir)
	config := filepath.Join(dir, "netburst.yml")
	writeFile(t, config, "probe:\n  targets:\n    - {name: vm7, host: "+vif.AddrB.String()+", interface: vif7.0}\n")
	readableByAll(t, config)
	e := nstest.StartExporter(t, a, nstest.Launch{As: nstest.AsNetRaw}, "--config.file="+config, "--probe.interval=20ms")
	scrape := func() string {
		_, s := e.Get(t, "/metrics")
		return s
	}
	probeWait(t, e, "replies through vif7.0", func() bool { return counterAbove(scrape(), `netburst_probe_replies_total{target="vm7"}`, 0) })

	a.MustRun(t, "ip", "link", "del", "vif7.0")
	probeWait(t, e, "send_failing{cause=no_device}", func() bool {
		v, ok := probeMetric(scrape(), `netburst_probe_send_failing{cause="no_device",target="vm7"}`)
		return ok && v == 1
	})
	if code, body := e.Get(t, "/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready while a vif is gone: %d %q, want 200", code, body)
	}
	before, _ := probeMetric(scrape(), `netburst_probe_replies_total{target="vm7"}`)
	veth()
	probeWait(t, e, "replies after vif7.0 was re-created", func() bool {
		s := scrape()
		return counterAbove(s, `netburst_probe_replies_total{target="vm7"}`, before) && !strings.Contains(s, "netburst_probe_send_failing{")
	})
	probeWait(t, e, "the probing again line", func() bool { return len(logLines(e, `msg="probing again"`, "target=vm7")) == 1 })
	if l := logLines(e, `msg="probe target cannot send"`, "target=vm7", "cause=no_device", `reason="interface vif7.0 is gone`); len(l) != 1 {
		t.Errorf("no_device lines %q, want one", l)
	}
}

// followLinks hands every link-change signal to the prober and releases
// the subscription when its context ends; without a link-event source it
// just waits.
func TestFollowLinks(t *testing.T) {
	var calls atomic.Int64
	ch := make(chan struct{})
	var released atomic.Bool
	watch := func() (<-chan struct{}, func()) { return ch, func() { released.Store(true) } }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		followLinks(ctx, watch, counter{&calls})
	}()
	for range 3 {
		ch <- struct{}{} // unbuffered: each is received by followLinks
	}
	cancel()
	<-done
	if calls.Load() != 3 || !released.Load() {
		t.Errorf("LinkChanged called %d times for 3 signals, released %v", calls.Load(), released.Load())
	}

	ctx, cancel = context.WithCancel(context.Background())
	released.Store(false)
	done = make(chan struct{})
	go func() {
		defer close(done)
		followLinks(ctx, func() (<-chan struct{}, func()) { return nil, func() { released.Store(true) } }, counter{&calls})
	}()
	cancel()
	<-done
	if !released.Load() {
		t.Errorf("a nil link signal was not released")
	}
}

// counter counts LinkChanged calls.
type counter struct{ n *atomic.Int64 }

func (c counter) LinkChanged() { c.n.Add(1) }
