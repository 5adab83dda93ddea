package alerts

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/netburst/netburst/alerts/promstack"
	"github.com/netburst/netburst/internal/nstest"
)

// TestEndToEndJitterRealPath is the seed's symptom end to end: the real
// exporter pings a peer namespace whose replies cross a tbf bottleneck (10
// Mbit/s, up to 100 ms of queue) that on/off bursts of real traffic from the
// peer fill and drain, so echo RTTs swing between a fraction of a
// millisecond and tens of milliseconds. Prometheus, loaded with the bundle, fires NetburstHighJitter
// and NetburstRTTSpikes for the target and Alertmanager delivers both; the
// p99 recording rule (from the RTT histogram) is consistent with the
// exporter's own peak RTT.
func TestEndToEndJitterRealPath(t *testing.T) {
	t.Parallel() // own ports, directories and namespaces
	host, peer := nstest.New(t), nstest.New(t)
	h0 := nstest.VethPair(t, host, "h0", peer, "p0")
	// The bottleneck is on the peer's side, on the replies' way back, as in
	// the seed, where the delay was on the reply. (A queue on the prober's
	// own egress shows in its RTTs too: prober's TestLocalQueue.)
	peer.MustRun(t, "tc", "qdisc", "add", "dev", "p0", "root", "tbf", "rate", "10mbit", "burst", "10kb", "latency", "100ms")

	target, stack := exporterStack(t, host, "--probe.target=vm-b="+h0.AddrB.String())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sel := fmt.Sprintf(`{instance=%q, target="vm-b"}`, target)
	if _, err := stack.WaitQuery(ctx, `netburst_probe_jitter_seconds`+sel, func([]promstack.Sample) bool { return true }); err != nil {
		t.Fatal(err)
	}

	// On/off bursts at twice the bottleneck's rate: 200 ms on fills the
	// queue, 300 ms off drains it, for up to 40 s or until the test ends.
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	errc := make(chan error, 1)
	var total, bursts int64
	go func() {
		for trafficCtx.Err() == nil {
			n, err := burst(trafficCtx, peer, h0.APort(9), 200*time.Millisecond, 2.5e6)
			if err != nil {
				errc <- err
				return
			}
			total += n
			bursts++
			select {
			case <-trafficCtx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
		errc <- nil
	}()
	t.Cleanup(func() {
		stopTraffic()
		if err := <-errc; err != nil {
			t.Error(err)
		}
		t.Logf("sent %d bytes in %d bursts", total, bursts)
	})
	go func() {
		select {
		case <-trafficCtx.Done():
		case <-time.After(40 * time.Second):
			stopTraffic()
		}
	}()

	for _, name := range []string{"NetburstHighJitter", "NetburstRTTSpikes"} {
		labels := map[string]string{"alertname": name, "instance": target, "target": "vm-b"}
		if _, err := stack.WaitAlert(ctx, labels, "firing"); err != nil {
			for _, q := range []string{`netburst_probe_jitter_seconds`, `instance_target:netburst_probe_jitter_seconds:avg_over_time5m`, `netburst_probe_peak_rtt_seconds`,
				`netburst_probe_spikes_total`, `netburst_probe_sent_total`, `netburst_probe_replies_total`, `netburst_probe_lost_total`,
				`netburst_interface_peak_bytes_per_second`, `netburst_qdisc_backlog_peak_bytes`} {
				r, qerr := stack.Query(context.Background(), q+fmt.Sprintf(`{instance=%q}`, target))
				t.Logf("%s = %v %v", q, r, qerr)
			}
			t.Fatal(err)
		}
		hook, err := stack.WaitWebhook(ctx, labels, "firing")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("delivered: %s: %s", name, hook.Annotations["description"])
	}
	p99, err := stack.Query(ctx, fmt.Sprintf(`instance_target_quantile:netburst_probe_rtt_seconds:histogram_quantile_rate5m{instance=%q, target="vm-b", quantile="0.99"}`, target))
	if err != nil || len(p99) != 1 {
		t.Fatalf("p99: %v %v", p99, err)
	}
	peak, err := stack.Query(ctx, `max_over_time(netburst_probe_peak_rtt_seconds{instance="`+target+`", target="vm-b", window="60s"}[5m])`)
	if err != nil || len(peak) != 1 {
		t.Fatalf("peak: %v %v", peak, err)
	}
	t.Logf("RTT p99 %.1f ms, peak %.1f ms", p99[0].Value*1e3, peak[0].Value*1e3)
	if p99[0].Value < 0.005 {
		t.Errorf("p99 RTT %.4f s: the bursts should push it past 5 ms", p99[0].Value)
	}
	// A quantile cannot exceed the largest RTT by more than its bucket's width.
	if p99[0].Value > peak[0].Value*1.25 {
		t.Errorf("p99 RTT %.4f s above the exporter's own 60s peak %.4f s", p99[0].Value, peak[0].Value)
	}
	stopTraffic()
}
