package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/netburst/netburst/capture"
	"github.com/netburst/netburst/internal/nstest"
)

// Accept headers of a Prometheus server: protobuf (native histograms on)
// and the classic text format. The churn test alternates them.
const (
	acceptProtobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
	acceptText     = "text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
)

// scrapeAs fetches /metrics as a Prometheus server would and decodes it.
func scrapeAs(e *nstest.Exporter, accept string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+e.Addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	// The transport asks for gzip itself, and decompresses, as Prometheus
	// does.
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	resp, err := e.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("/metrics: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	out := map[string]*dto.MetricFamily{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return nil, fmt.Errorf("decode scrape: %w", err)
		}
		out[mf.GetName()] = &mf
	}
}

// value is the value of the family's series whose labels include want
// (counter or gauge); ok is false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
metrics:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			if !hasLabel(m, want[i], want[i+1]) {
				continue metrics
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, v string) bool {
	for _, l := range m.Label {
		if l.GetName() == name && l.GetValue() == v {
			return true
		}
	}
	return false
}

// devicesIn returns the device label values of every netburst family but
// the capture's (which lists its configured devices, present or not).
func devicesIn(fams map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, mf := range fams {
		if !strings.HasPrefix(name, "netburst_") || strings.HasPrefix(name, "netburst_capture_") || strings.HasPrefix(name, "netburst_spike_last_") {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "device" {
					out[l.GetValue()] = true
				}
			}
		}
	}
	return out
}

// kernelLinks lists the namespace's interfaces as the kernel has them.
func kernelLinks(t *testing.T, ns *nstest.NS) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, line := range strings.Split(ns.MustRun(t, "ip", "-o", "link", "show"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		if i := strings.IndexByte(name, '@'); i >= 0 {
			name = name[:i]
		}
		out[name] = true
	}
	return out
}

// churnVif deletes host i's vif (its peer, the host's eth0, goes with it)
// and creates it again with the same names and addresses: what a
// hypervisor does when VM i restarts.
func churnVif(t *testing.T, x *nstest.NS, hosts []*nstest.NS, i int) {
	t.Helper()
	vif := fmt.Sprintf("vif%d.0", i)
	x.MustRun(t, "ip", "link", "del", vif)
	x.MustRun(t, "ip", "link", "add", vif, "type", "veth", "peer", "name", "eth0", "netns", hosts[i].Name)
	x.MustRun(t, "ip", "addr", "add", fmt.Sprintf("198.18.%d.1/24", i), "dev", vif)
	x.MustRun(t, "ip", "link", "set", vif, "up")
	hosts[i].MustRun(t, "ip", "addr", "add", fmt.Sprintf("198.18.%d.2/24", i), "dev", "eth0")
	hosts[i].MustRun(t, "ip", "link", "set", "eth0", "up")
}

// churnFigures are what the churn test measures, logged for BENCHMARKS.md.
type churnFigures struct {
	fds, goroutines float64
	rss, cpu        float64
	linkEvents      float64
	overflows       float64
	tableReads      float64
	samples         float64
}

func figuresOf(fams map[string]*dto.MetricFamily) churnFigures {
	v := func(name string) float64 { x, _ := value(fams, name); return x }
	return churnFigures{
		fds: v("process_open_fds"), goroutines: v("go_goroutines"), rss: v("process_resident_memory_bytes"),
		cpu: v("process_cpu_seconds_total"), linkEvents: v("netburst_link_events_total"),
		overflows: v("netburst_link_event_overflows_total"), tableReads: v("netburst_link_table_reads_total"),
		samples: v("netburst_sampler_samples_total"),
	}
}

// TestProductionChurn is a hypervisor as deploy/ runs the exporter on it
// (uid 65534, CAP_NET_RAW only): 1,001 interfaces, 200 of them deleted and
// re-created per minute, scraped every second as Prometheus scrapes
// (protobuf and text in turn), 20 VM-like hosts probed, h0 bound to its
// vif0.0; vif0.0, and the captured vif1.0 and vif2.0, are re-created in
// turn, one every 12 s.
// At the end: no series of a device that is gone, the bound probe and both
// captures work again (replies, packets and a spike pcap after the last
// re-creation), open fds and goroutines back to their level after warm-up,
// and RSS growth bounded. NETBURST_CHURN_DURATION (default 45s) sets how
// long the churn lasts; bench/churn_soak.sh runs it for 30 minutes.
func TestProductionChurn(t *testing.T) {
	nstest.SkipShort(t, "a 45 s soak of an exporter process that -race does not instrument")
	duration := 45 * time.Second
	if s := os.Getenv("NETBURST_CHURN_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("NETBURST_CHURN_DURATION: %v", err)
		}
		duration = d
	}
	x := nstest.New(t)
	const nHosts = 20
	hosts := make([]*nstest.NS, nHosts)
	var batch []string
	for i := range hosts {
		hosts[i] = nstest.New(t)
		batch = append(batch, fmt.Sprintf("link add vif%d.0 type veth peer name eth0 netns %s", i, hosts[i].Name),
			fmt.Sprintf("addr add 198.18.%d.1/24 dev vif%d.0", i, i), fmt.Sprintf("link set vif%d.0 up", i))
	}
	// OpenStack-like port pairs fill the namespace to 1,001 interfaces.
	const nPairs = 490
	pair := func(n int) (string, string) {
		return fmt.Sprintf("qvo%08x-%02x", n, n%256), fmt.Sprintf("qvb%08x-%02x", n, n%256)
	}
	for n := range nPairs {
		a, b := pair(n)
		batch = append(batch, fmt.Sprintf("link add %s type veth peer name %s", a, b), "link set "+a+" up", "link set "+b+" up")
	}
	x.Batch(t, batch)
	for i, h := range hosts {
		h.MustRun(t, "ip", "addr", "add", fmt.Sprintf("198.18.%d.2/24", i), "dev", "eth0")
		h.MustRun(t, "ip", "link", "set", "eth0", "up")
	}
	// Real qdiscs on a few devices, as physical NICs have.
	for _, q := range [][]string{
		{"dev", "qvo00000000-00", "root", "tbf", "rate", "1gbit", "burst", "64kb", "latency", "10ms"},
		{"dev", "qvo00000001-01", "root", "htb", "default", "1"},
		{"dev", "vif5.0", "root", "tbf", "rate", "100mbit", "burst", "32kb", "latency", "20ms"},
	} {
		x.MustRun(t, append([]string{"tc", "qdisc", "add"}, q...)...)
	}
	if n := len(kernelLinks(t, x)); n != 1+nHosts+2*nPairs {
		t.Fatalf("namespace has %d interfaces, want %d", n, 1+nHosts+2*nPairs)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "netburst.yml")
	var y strings.Builder
	y.WriteString("probe:\n  targets:\n")
	for i := range nHosts {
		fmt.Fprintf(&y, "    - name: h%d\n      host: 198.18.%d.2\n", i, i)
		if i == 0 {
			y.WriteString("      interface: vif0.0\n")
		}
	}
	if err := os.WriteFile(cfg, []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	pcaps := filepath.Join(dir, "pcaps")
	if err := os.Mkdir(pcaps, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(pcaps, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	readableByAll(t, dir)
	e := nstest.StartExporter(t, x, nstest.Launch{As: nstest.AsNetRaw}, "--config.file="+cfg, "--probe.interval=1s",
		"--capture.device=vif1.0", "--capture.device=vif2.0", "--capture.dir="+pcaps, "--capture.memory=8MiB",
		"--capture.min-interval=1s", "--capture.pre=1s", "--capture.post=500ms", "--sampler.burst-threshold=0.001")
	pid := e.Cmd.Process.Pid

	// Prometheus: a scrape every second until the end, protobuf and text
	// in turn. Every scrape must succeed.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var scrapes int
	var scrapeErrs []error
	var latest map[string]*dto.MetricFamily
	var peakRSS float64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for n := 0; ; n++ {
			accept := acceptProtobuf
			if n%2 == 1 {
				accept = acceptText
			}
			fams, err := scrapeAs(e, accept)
			mu.Lock()
			scrapes++
			if err != nil {
				scrapeErrs = append(scrapeErrs, err)
			} else {
				latest = fams
				peakRSS = max(peakRSS, figuresOf(fams).rss)
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	})
	snapshot := func() map[string]*dto.MetricFamily {
		mu.Lock()
		defer mu.Unlock()
		return latest
	}
	// waitScrape waits for a scrape (one second apart) that satisfies cond.
	waitScrape := func(what string, limit time.Duration, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
		t.Helper()
		var f map[string]*dto.MetricFamily
		nstest.Eventually(t, limit, func() (bool, string) {
			f = snapshot()
			return f != nil && cond(f), what + "; logs:\n" + tail(e.Logs.String(), 40)
		})
		return f
	}
	openFDs := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatalf("open fds of the exporter: %v", err)
		}
		return len(ents)
	}

	// Warm-up: every target answered, every re-created vif seen once, so
	// that the sockets of re-binding and re-opening exist.
	replied := func(f map[string]*dto.MetricFamily, target string, above float64) bool {
		v, _ := value(f, "netburst_probe_replies_total", "target", target)
		return v > above
	}
	waitScrape("every target answers", 30*time.Second, func(f map[string]*dto.MetricFamily) bool {
		for i := range nHosts {
			if !replied(f, fmt.Sprintf("h%d", i), 0) {
				return false
			}
		}
		return true
	})
	for i := range 3 {
		churnVif(t, x, hosts, i)
	}
	time.Sleep(5 * time.Second)
	base := figuresOf(waitScrape("a scrape after warm-up", 10*time.Second, func(map[string]*dto.MetricFamily) bool { return true }))
	baseFDs := openFDs()

	// The churn: every 3 s, 5 port pairs (10 interfaces) deleted and
	// created again, 200 interfaces a minute; every 12 s one of the three
	// churned vifs in turn.
	start := time.Now()
	cycles := 0
	every := time.NewTicker(3 * time.Second)
	defer every.Stop()
	for next := 0; time.Since(start) < duration; cycles++ {
		var del, add []string
		for k := range 5 {
			a, b := pair((next + k) % nPairs)
			del = append(del, "link del "+a)
			add = append(add, fmt.Sprintf("link add %s type veth peer name %s", a, b), "link set "+a+" up", "link set "+b+" up")
		}
		next += 5
		x.Batch(t, del)
		x.Batch(t, add)
		if cycles%4 == 3 {
			churnVif(t, x, hosts, (cycles/4)%3)
		}
		<-every.C
	}
	// The last re-creation of each churned vif; what follows must work on
	// the new devices.
	for i := range 3 {
		churnVif(t, x, hosts, i)
	}
	recreated := time.Now()
	after := snapshot()
	h0Before, _ := value(after, "netburst_probe_replies_total", "target", "h0")
	vif2Before, _ := value(after, "netburst_capture_packets_total", "device", "vif2.0")

	// The bound probe answers again, and the captures count packets again.
	waitScrape("h0 (bound to the re-created vif0.0) answers again", 30*time.Second, func(f map[string]*dto.MetricFamily) bool {
		return replied(f, "h0", h0Before+2)
	})
	waitScrape("the capture on vif1.0 and vif2.0 is up and counts packets after re-creation", 30*time.Second, func(f map[string]*dto.MetricFamily) bool {
		up1, _ := value(f, "netburst_capture_up", "device", "vif1.0")
		up2, _ := value(f, "netburst_capture_up", "device", "vif2.0")
		pk2, _ := value(f, "netburst_capture_packets_total", "device", "vif2.0")
		return up1 == 1 && up2 == 1 && pk2 > vif2Before
	})
	// A burst from host 1 into vif1.0 triggers a spike; its pcap is written
	// from the re-created device.
	nstest.BlastUDP(t, hosts[1], "198.18.1.1:7000", 1500*time.Millisecond)
	var report *capture.Report
	nstest.Eventually(t, 30*time.Second, func() (bool, string) {
		reports := spikeReports(t, e.Client, e.Addr)
		for i := range reports {
			if r := &reports[i]; r.Device == "vif1.0" && r.Time.After(recreated) && r.File != "" {
				report = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("no spike pcap of vif1.0 after its re-creation; reports %+v; logs:\n%s", reports, tail(e.Logs.String(), 40))
	})
	if info, err := os.Stat(report.File); err != nil || info.Size() == 0 || report.Packets == 0 {
		t.Errorf("spike pcap %s after re-creation: %v, %d packets in the report", report.File, err, report.Packets)
	}

	// Quiet again: let the table settle and the scrapes catch up.
	time.Sleep(3 * time.Second)
	end := waitScrape("a scrape whose devices are the kernel's", 15*time.Second, func(f map[string]*dto.MetricFamily) bool {
		got, want := devicesIn(f), kernelLinks(t, x)
		return len(got) == len(want)
	})
	got, want := devicesIn(end), kernelLinks(t, x)
	var stale, missing []string
	for d := range got {
		if !want[d] {
			stale = append(stale, d)
		}
	}
	for d := range want {
		if !got[d] {
			missing = append(missing, d)
		}
	}
	slices.Sort(stale)
	slices.Sort(missing)
	if len(stale)+len(missing) > 0 {
		t.Errorf("series of devices that are gone %v; devices without series %v", stale, missing)
	}
	for i := range nHosts {
		if !replied(end, fmt.Sprintf("h%d", i), 0) {
			t.Errorf("target h%d has no replies", i)
		}
	}
	final := figuresOf(end)
	finalFDs := openFDs()
	mu.Lock()
	nScrapes, errs, peak := scrapes, slices.Clone(scrapeErrs), peakRSS
	mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("%d of %d scrapes failed, first: %v", len(errs), nScrapes, errs[0])
	}
	// Sockets and goroutines are replaced, never accumulated: what warm-up
	// had, with room for one re-open or drain in progress.
	if finalFDs > baseFDs+2 {
		t.Errorf("open fds %d after churn, %d after warm-up: descriptors leak", finalFDs, baseFDs)
	}
	if final.goroutines > base.goroutines+5 {
		t.Errorf("%v goroutines after churn, %v after warm-up: goroutines leak", final.goroutines, base.goroutines)
	}
	// RSS: the capture rings (8 MiB), the series and the Go heap settle in
	// warm-up; churn may add a few MiB of garbage between collections.
	if final.rss > base.rss+24<<20 {
		t.Errorf("RSS %.1f MiB after churn, %.1f MiB after warm-up", final.rss/(1<<20), base.rss/(1<<20))
	}
	if final.linkEvents <= base.linkEvents {
		t.Errorf("link events %v -> %v: the churn was not followed", base.linkEvents, final.linkEvents)
	}
	t.Logf("churn %v (%d cycles, %d vif re-creations), %d scrapes: fds %d -> %d, goroutines %v -> %v, RSS %.1f -> %.1f MiB (peak %.1f), CPU %.2f s over %v (%.2f %% of a core), link events %v, overflows %v, table reads %v",
		time.Since(start).Round(time.Second), cycles, cycles/4+3, nScrapes, baseFDs, finalFDs, base.goroutines, final.goroutines,
		base.rss/(1<<20), final.rss/(1<<20), peak/(1<<20), final.cpu-base.cpu, time.Since(start).Round(time.Second),
		100*(final.cpu-base.cpu)/time.Since(start).Seconds(), final.linkEvents, final.overflows, final.tableReads)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
