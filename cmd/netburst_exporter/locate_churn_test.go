package main

import (
	"strings"
	"testing"

	"github.com/netburst/netburst/internal/nstest"
)

// TestLocateChurnEndToEnd runs live locate (as nobody with CAP_NET_RAW)
// over a VM's vif and the host's eth0, then deletes the vif and creates it
// again, as a hypervisor does when a VM restarts: netburst_locate_point_up
// of the vif must go 0 then 1 (one re-open), and echoes pinged after the
// re-creation must be matched across both points again.
//
//	vm_a eth0 198.18.16.2 ── 198.18.16.1 vif [hv_a] eth0 198.18.17.1 ── 198.18.17.2 eth0 far
func TestLocateChurnEndToEnd(t *testing.T) {
	nstest.RequireTool(t, "ping")
	vmA, hvA, far := nstest.New(t), nstest.New(t), nstest.New(t)
	vif := func() {
		nstest.Veth(t, vmA, "eth0", hvA, "vif")
		vmA.MustRun(t, "ip", "addr", "add", "198.18.16.2/24", "dev", "eth0")
		hvA.MustRun(t, "ip", "addr", "add", "198.18.16.1/24", "dev", "vif")
		vmA.MustRun(t, "ip", "route", "add", "198.18.17.0/24", "via", "198.18.16.1")
	}
	vif()
	nstest.Veth(t, hvA, "eth0", far, "eth0")
	hvA.MustRun(t, "ip", "addr", "add", "198.18.17.1/24", "dev", "eth0")
	far.MustRun(t, "ip", "addr", "add", "198.18.17.2/24", "dev", "eth0")
	far.MustRun(t, "ip", "route", "add", "198.18.16.0/24", "via", "198.18.17.1")
	hvA.MustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	e := nstest.StartExporter(t, hvA, nstest.Launch{As: nstest.AsNetRaw}, "--locate.points=vif,eth0", "--sampler.device-include=^(vif|eth0)$")
	const (
		vifUp      = `netburst_locate_point_up{point="vif"}`
		eth0Up     = `netburst_locate_point_up{point="eth0"}`
		vifReopens = `netburst_locate_point_reopens_total{point="vif"}`
		complete   = `netburst_locate_echoes_total{outcome="complete"}`
		requests   = `netburst_segment_delay_seconds_count{direction="request",from="vif",to="eth0"}`
	)
	waitMetric(t, e, vifUp, "vif captured at start", func(v float64) bool { return v == 1 })
	ping := func() {
		t.Helper()
		if _, err := vmA.Exec("ping", "-n", "-q", "-i", "0.05", "-c", "20", "-W", "2", "198.18.17.2"); err != nil {
			t.Fatalf("ping through the path: %v", err)
		}
	}
	ping()
	c0 := waitMetric(t, e, complete, "echoes before the deletion", func(v float64) bool { return v > 0 })

	hvA.MustRun(t, "ip", "link", "del", "dev", "vif")
	waitMetric(t, e, vifUp, "vif down after the deletion", func(v float64) bool { return v == 0 })
	if v := waitMetric(t, e, eth0Up, "eth0", func(float64) bool { return true }); v != 1 {
		t.Errorf("%s = %v while only the vif was deleted", eth0Up, v)
	}
	vif()
	waitMetric(t, e, vifUp, "vif captured after the re-creation", func(v float64) bool { return v == 1 })
	if n := waitMetric(t, e, vifReopens, "re-opens", func(float64) bool { return true }); n != 1 {
		t.Errorf("%s = %v, want 1", vifReopens, n)
	}
	c1 := waitMetric(t, e, complete, "echoes", func(float64) bool { return true })
	r1 := waitMetric(t, e, requests, "request delays", func(float64) bool { return true })
	ping()
	waitMetric(t, e, complete, "echoes matched after the re-creation", func(v float64) bool { return v >= c1+20 })
	waitMetric(t, e, requests, "request delays across vif -> eth0 after the re-creation", func(v float64) bool { return v >= r1+20 })
	if out := e.Logs.String(); !strings.Contains(out, `msg="capture device down; it captures again when an interface of that name exists" feature=locate device=vif`) || !strings.Contains(out, `msg="capture device captures again" feature=locate device=vif`) {
		t.Errorf("logs lack the vif's down and up lines:\n%s", out)
	}
	t.Logf("echoes complete: %v before the deletion, %v at the re-creation", c0, c1)
}
