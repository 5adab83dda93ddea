package alerts

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netburst/netburst/alerts/promstack"
	"github.com/netburst/netburst/internal/nstest"
)

// shortForRules renders the shipped rules with every `for` set to 2s, so
// end-to-end tests see alerts fire within seconds, and writes them to a
// temporary file.
func shortForRules(t *testing.T) (*Config, string) {
	t.Helper()
	cfg, err := LoadConfig(ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range cfg.Alerts {
		a.For = "2s"
		cfg.Alerts[name] = a
	}
	rules, err := Render(cfg, "..")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "netburst-rules.yml")
	if err := os.WriteFile(path, rules, 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// exporterStack runs the exporter in ns on the namespace's 127.0.0.1:9917
// with args, waits until it is ready, and starts a Prometheus and
// Alertmanager that scrape it (through a proxy from the test's namespace)
// with the bundle's rules at test speed. It returns the scrape target's
// address and the stack.
func exporterStack(t *testing.T, ns *nstest.NS, args ...string) (string, *promstack.Stack) {
	t.Helper()
	e := nstest.StartExporter(t, ns, nstest.Launch{}, args...)
	target := nstest.Proxy(t, ns, e.Addr)
	_, rulesPath := shortForRules(t)
	return target, promstack.Start(t, promstack.Options{Targets: []string{target}, RuleFiles: []string{rulesPath}})
}

// TestEndToEndBurstingRealTraffic is the Overview story end to end: the
// real exporter samples a namespace whose veth carries a 3 s burst of real
// UDP traffic to a peer namespace (paced to about 50 MB/s, over a 5 MB/s
// burst threshold) in an otherwise idle minute.
// Prometheus, loaded with the bundle, fires NetburstInterfaceBursting for
// that device and Alertmanager delivers it; the peak-to-average recording
// rule shows what the minute average hides.
func TestEndToEndBurstingRealTraffic(t *testing.T) {
	t.Parallel() // own ports, directories and namespaces
	ns, peer := nstest.New(t), nstest.New(t)
	nbd := nstest.VethPair(t, ns, "nbd0", peer, "nbd1")
	// veth reports 10 Gbit/s: a 0.004 threshold makes 5 MB/s a burst; the
	// same rate applies should the speed be unknown.
	target, stack := exporterStack(t, ns, "--sampler.burst-threshold=0.004", "--sampler.burst-rate=5e6")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// A baseline first: the burst counter scraped at 0 for a few seconds.
	sel := fmt.Sprintf(`{instance=%q, device="nbd0", direction="transmit"}`, target)
	if _, err := stack.WaitQuery(ctx, `count_over_time(netburst_interface_burst_intervals_total`+sel+`[1m])`,
		func(s []promstack.Sample) bool { return s[0].Value >= 3 }); err != nil {
		t.Fatal(err)
	}
	sent, err := burst(ctx, ns, nbd.BPort(9), 3*time.Second, 50e6)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d bytes of UDP out of nbd0 in 3 s", sent)

	labels := map[string]string{"alertname": "NetburstInterfaceBursting", "instance": target, "device": "nbd0", "direction": "transmit"}
	if _, err := stack.WaitAlert(ctx, labels, "firing"); err != nil {
		t.Fatal(err)
	}
	hook, err := stack.WaitWebhook(ctx, labels, "firing")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("delivered: %s", hook.Annotations["description"])

	peak, err := stack.Query(ctx, `netburst_interface_peak_bytes_per_second`+sel[:len(sel)-1]+`, window="60s"}`)
	if err != nil || len(peak) != 1 {
		t.Fatalf("60s peak: %v %v", peak, err)
	}
	if peak[0].Value < 5e6 {
		t.Errorf("60s peak %.0f B/s is under the burst rate", peak[0].Value)
	}
	ratio, err := stack.Query(ctx, `instance_device:netburst_interface_peak_to_average:ratio_rate1m`+sel)
	if err != nil || len(ratio) != 1 {
		t.Fatalf("peak-to-average: %v %v", ratio, err)
	}
	t.Logf("60s peak %.1f MB/s, peak-to-average over the minute %.1f", peak[0].Value/1e6, ratio[0].Value)
	if ratio[0].Value < 5 {
		t.Errorf("peak-to-average ratio %.2f: a 3 s burst in a quiet minute should read at least 5x its minute average", ratio[0].Value)
	}
	// The device that stayed idle does not alert.
	alerts, err := stack.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == "NetburstInterfaceBursting" && a.Labels["device"] != "nbd0" {
			t.Errorf("NetburstInterfaceBursting %s for %s, which carried no burst", a.State, a.Labels["device"])
		}
	}
}

// burst sends UDP datagrams from inside ns to dst (host:port, the discard
// port of a peer namespace where nobody listens) at about rate bytes/s for d
// or until ctx ends, and returns the bytes sent.
func burst(ctx context.Context, ns *nstest.NS, dst string, d time.Duration, rate float64) (int64, error) {
	var conn net.Conn
	if err := ns.Do(func() error {
		var err error
		conn, err = net.Dial("udp", dst)
		return err
	}); err != nil {
		return 0, fmt.Errorf("udp socket in %s: %w", ns.Name, err)
	}
	defer conn.Close()
	payload := make([]byte, 1400)
	var sent int64
	start := time.Now()
	for {
		el := time.Since(start)
		if el >= d || ctx.Err() != nil {
			return sent, nil
		}
		// Catch up to the byte budget of the elapsed time, then pause.
		for float64(sent) < rate*el.Seconds() {
			n, err := conn.Write(payload)
			if err != nil {
				// ENOBUFS, ICMP unreachable reported back: the datagram is
				// gone either way; keep pacing.
				break
			}
			sent += int64(n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
