package alerts

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/netburst/netburst/alerts/promstack"
	"github.com/netburst/netburst/internal/nstest"
)

// TestEndToEndBondSaturation is the seed's root cause end to end: bond0's
// traffic all goes out of s0, shaped by tbf to s0's 40 Mbit/s, while s1
// idles, so the bond as a whole is half used. The real exporter counts
// single-slave saturation; Prometheus, loaded with the bundle, fires
// NetburstBondSlaveSaturated for s0 (not s1) and Alertmanager delivers it;
// the imbalance recording rule reads s0 carrying twice its fair share.
func TestEndToEndBondSaturation(t *testing.T) {
	t.Parallel() // own ports, directories and namespaces
	host, peer := nstest.New(t), nstest.New(t)
	s0 := nstest.VethPair(t, host, "s0", peer, "p0")
	nstest.VethPair(t, host, "s1", peer, "p1")
	host.MustRun(t, "tc", "qdisc", "add", "dev", "s0", "root", "tbf", "rate", "40mbit", "burst", "10kb", "latency", "20ms")

	target, stack := exporterStack(t, host, "--path.sysfs="+nstest.BondFixture(t, []string{"s0", "s1"}, "40"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := stack.WaitQuery(ctx, fmt.Sprintf(`netburst_bond_slave_info{instance=%q, device="s0"}`, target),
		func([]promstack.Sample) bool { return true }); err != nil {
		t.Fatal(err)
	}

	// Twice s0's speed offered, so tbf keeps it full: 20 s of saturation,
	// enough for the 5m rate to pass 5 % of the time (15 s).
	type result struct {
		n   int64
		err error
	}
	sent := make(chan result, 1)
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	go func() {
		n, err := burst(trafficCtx, host, s0.BPort(9), 20*time.Second, 10e6)
		sent <- result{n, err}
	}()
	// Whatever happens below, the traffic stops and its goroutine ends
	// before the namespaces go.
	t.Cleanup(func() {
		stopTraffic()
		if r := <-sent; r.err != nil {
			t.Error(r.err)
		} else {
			t.Logf("sent %d bytes toward s0", r.n)
		}
	})

	labels := map[string]string{"alertname": "NetburstBondSlaveSaturated", "instance": target, "bond": "bond0", "device": "s0", "direction": "transmit"}
	if _, err := stack.WaitAlert(ctx, labels, "firing"); err != nil {
		t.Fatal(err)
	}
	hook, err := stack.WaitWebhook(ctx, labels, "firing")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("delivered: %s", hook.Annotations["description"])
	r, err := stack.Query(ctx, fmt.Sprintf(`instance_bond:netburst_bond_share_imbalance:ratio60s{instance=%q, bond="bond0", direction="transmit"}`, target))
	if err != nil || len(r) != 1 {
		t.Fatalf("imbalance: %v %v", r, err)
	}
	t.Logf("busiest slave %s at %.2f x its fair share", r[0].Metric["device"], r[0].Value)
	if r[0].Metric["device"] != "s0" || r[0].Value < 1.9 {
		t.Errorf("imbalance %v: want s0 near 2x its fair share (all of a two-slave bond)", r[0])
	}
	alerts, err := stack.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == "NetburstBondSlaveSaturated" && a.Labels["device"] == "s1" {
			t.Errorf("NetburstBondSlaveSaturated %s for the idle slave s1", a.State)
		}
	}
	stopTraffic()
}
