package main

import (
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/prober"
	"github.com/netburst/netburst/sampler"
)

func TestMemoryLimitFlag(t *testing.T) {
	for _, c := range []struct {
		in   string
		want memoryLimitFlag
		err  bool
	}{
		{"auto", memoryLimitFlag{auto: true}, false},
		{"AUTO", memoryLimitFlag{auto: true}, false},
		{"0", memoryLimitFlag{}, false},
		{"512MiB", memoryLimitFlag{bytes: 512 << 20}, false},
		{"1GB", memoryLimitFlag{bytes: 1 << 30}, false},
		{"lots", memoryLimitFlag{}, true},
		{"-5MiB", memoryLimitFlag{}, true},
	} {
		var f memoryLimitFlag
		err := f.Set(c.in)
		if (err != nil) != c.err || (err == nil && f != c.want) {
			t.Errorf("Set(%q) = %+v, %v; want %+v, error %v", c.in, f, err, c.want, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), "--runtime.memory-limit") {
			t.Errorf("Set(%q): error %q does not name the flag", c.in, err)
		}
	}
	if got := (&memoryLimitFlag{bytes: 64 << 20}).String(); got != "64MiB" {
		t.Errorf("String() = %q", got)
	}
}

// cgroupFixture writes files (path relative to the fixture: "self" for
// /proc/self/cgroup, the rest under the cgroup root) and returns its paths.
func cgroupFixture(t *testing.T, files map[string]string) cgroupPaths {
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, "root", name)
		if name == "self" {
			p = filepath.Join(dir, "self")
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cgroupPaths{procSelfCgroup: filepath.Join(dir, "self"), root: filepath.Join(dir, "root")}
}

func TestCgroupMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string
		want  int64
		err   bool
		seen  bool
	}{
		{"v2, the service's own limit", map[string]string{
			"self": "0::/system.slice/netburst.service\n",
			"system.slice/netburst.service/memory.max": "268435456\n",
			"system.slice/memory.max":                  "max\n",
		}, 256 << 20, false, true},
		{"v2, a parent's lower limit", map[string]string{
			"self":                         "0::/kubepods/pod1/ctr\n",
			"kubepods/pod1/ctr/memory.max": "max\n",
			"kubepods/pod1/memory.max":     "67108864\n",
			"kubepods/memory.max":          "1073741824\n",
		}, 64 << 20, false, true},
		{"v2, a cgroup namespace (the container's cgroup is the root)", map[string]string{
			"self": "0::/\n", "memory.max": "134217728\n",
		}, 128 << 20, false, true},
		{"v2, no limit anywhere", map[string]string{
			"self": "0::/user.slice/session-1.scope\n", "user.slice/memory.max": "max\n",
		}, 0, false, true},
		{"v2, the root cgroup, or no cgroup filesystem", map[string]string{
			"self": "0::/system.slice/netburst.service\n",
		}, 0, false, false},
		{"v1 beside an empty v2 tree (hybrid)", map[string]string{
			"self": "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n",
			"memory/docker/abc/memory.limit_in_bytes": "536870912\n",
			"memory/docker/memory.limit_in_bytes":     "9223372036854771712\n",
			"memory/memory.limit_in_bytes":            "9223372036854771712\n",
		}, 512 << 20, false, true},
		{"v1 unlimited", map[string]string{
			"self": "4:memory:/process_api/x\n",
			"memory/process_api/x/memory.limit_in_bytes": "9223372036854771712\n",
		}, 0, false, true},
		{"malformed limit", map[string]string{
			"self": "0::/a\n", "a/memory.max": "lots\n",
		}, 0, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, seen, err := cgroupMemoryLimit(cgroupFixture(t, c.files))
			if (err != nil) != c.err || got != c.want || seen != c.seen {
				t.Errorf("limit %d, seen %v, %v; want %d, seen %v, error %v", got, seen, err, c.want, c.seen, c.err)
			}
		})
	}
	if _, _, err := cgroupMemoryLimit(cgroupPaths{procSelfCgroup: "/nonexistent", root: "/nonexistent"}); err == nil {
		t.Error("no error without /proc/self/cgroup")
	}
}

// The limit never sits below what the default pacing reaches: the case of
// issue 12 (24 MiB configured, 15 MiB live, 6 MiB outside the heap) gets
// 15 + 15 + 6 + 8 MiB, not 24.
func TestMemoryLimitFloor(t *testing.T) {
	m := &memoryLimiter{ceiling: 24 << 20}
	for _, c := range []struct {
		live, gogc, nonHeap, want int64
	}{
		{0, 100, 2 << 20, 24 << 20},             // the ceiling binds
		{4 << 20, 100, 4 << 20, 24 << 20},       // 4+4+4+8 = 20 MiB: still the ceiling
		{15 << 20, 100, 6 << 20, 44 << 20},      // issue 12: the floor
		{15 << 20, 50, 6 << 20, 36<<20 + 1<<19}, // GOGC=50 lowers the floor
		{15 << 20, -1, 6 << 20, 44 << 20},       // GOGC=off: as 100
		{200 << 20, 100, 10 << 20, 418 << 20},
	} {
		if got := m.want(c.live, c.gogc, c.nonHeap); got != c.want {
			t.Errorf("live %d MiB, GOGC %d, non-heap %d MiB: limit %.1f MiB, want %.1f MiB", c.live>>20, c.gogc, c.nonHeap>>20, float64(got)/(1<<20), float64(c.want)/(1<<20))
		}
	}
	m = &memoryLimiter{ceiling: 1 << 30}
	if got := m.want(15<<20, 100, 6<<20); got != 1<<30 {
		t.Errorf("a ceiling above the floor is the limit: got %d", got)
	}
}

func TestStartMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	logger := slog.New(slog.DiscardHandler)
	limited := cgroupFixture(t, map[string]string{"self": "0::/svc\n", "svc/memory.max": "2147483648\n"})
	unlimited := cgroupFixture(t, map[string]string{"self": "0::/svc\n", "svc/memory.max": "max\n"})
	current := func() int64 { return debug.SetMemoryLimit(-1) }
	limit2G := int64(2 << 30)

	t.Setenv("GOMEMLIMIT", "")
	if startMemoryLimit(memoryLimitFlag{}, limited, logger) != nil || current() != before {
		t.Error("--runtime.memory-limit=0 set a limit")
	}
	if startMemoryLimit(memoryLimitFlag{auto: true}, unlimited, logger) != nil || current() != before {
		t.Error("auto set a limit outside a limited cgroup")
	}
	if startMemoryLimit(memoryLimitFlag{auto: true}, limited, logger) == nil {
		t.Fatal("auto under a 2 GiB cgroup: no limit")
	}
	if got, want := current(), int64(cgroupRatio*float64(limit2G)); got != want {
		t.Errorf("auto under a 2 GiB cgroup: limit %d, want 90%%: %d", got, want)
	}
	debug.SetMemoryLimit(before)
	if startMemoryLimit(memoryLimitFlag{bytes: 1 << 30}, limited, logger) == nil || current() != 1<<30 {
		t.Errorf("--runtime.memory-limit=1GiB: limit %d", current())
	}
	debug.SetMemoryLimit(before)
	if startMemoryLimit(memoryLimitFlag{bytes: 1 << 20}, unlimited, logger) == nil {
		t.Fatal("--runtime.memory-limit=1MiB: no limit")
	}
	if got := current(); got < 1<<20+floorSlack || got == math.MaxInt64 {
		t.Errorf("--runtime.memory-limit=1MiB: limit %d, want it raised to the floor", got)
	}

	debug.SetMemoryLimit(before)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if startMemoryLimit(memoryLimitFlag{auto: true}, limited, logger) != nil || startMemoryLimit(memoryLimitFlag{bytes: 24 << 20}, limited, logger) != nil || current() != before {
		t.Error("the flag overrode GOMEMLIMIT")
	}
}

// movingStats is a stats source of n devices that all move at every
// reading, at rates that vary (native histograms of tens of buckets).
type movingStats struct {
	stats []sampler.Stat
	reads int
}

func (m *movingStats) Read(dst []sampler.Stat) ([]sampler.Stat, error) {
	m.reads++
	for i := range m.stats {
		f := uint64(1 + (m.reads+i)%16)
		m.stats[i].RxBytes += f * uint64(1000+37*i)
		m.stats[i].TxBytes += f * uint64(3000+11*i)
		m.stats[i].RxPackets += f
		m.stats[i].TxPackets += f
	}
	return append(dst[:0], m.stats...), nil
}

func (m *movingStats) Name() string { return "netlink" }
func (m *movingStats) Close() error { return nil }

type fixedLinks []sampler.Link

func (l fixedLinks) Links() ([]sampler.Link, uint64) { return l, 1 }
func (l fixedLinks) Refresh()                        {}
func (l fixedLinks) Close() error                    { return nil }

type fixedProbes struct{ s prober.Snapshot }

func (p *fixedProbes) Snapshot() prober.Snapshot {
	s := p.s
	s.Targets = append([]prober.TargetStats(nil), p.s.Targets...)
	return s
}

// busyExporter is the exporter's scrape-time state for 1,000 devices that
// all move, every one with a throughput histogram, and 1,000 targets with
// RTT histograms, its /metrics handler over a registry with the Go and
// process collectors, and its sampler's tick.
func busyExporter(t *testing.T) (tick func(), scrape func()) {
	metrics := collector.NewSampler(collector.SamplerOptions{})
	links := make(fixedLinks, 1000)
	stats := &movingStats{stats: make([]sampler.Stat, 1000)}
	for i := range links {
		links[i] = sampler.Link{Index: int32(i + 1), Name: fmt.Sprintf("m%d", i), Kind: "veth", OperState: "up", SpeedBytes: 1.25e9}
		stats.stats[i].Index = int32(i + 1)
	}
	smp, err := sampler.New(sampler.Config{Stats: stats, Links: links, Observer: metrics})
	if err != nil {
		t.Fatal(err)
	}
	metrics.SetSource(smp)
	probes := collector.NewProber()
	src := &fixedProbes{}
	for i := range 1000 {
		name := fmt.Sprintf("vm%04d", i)
		src.s.Targets = append(src.s.Targets, prober.TargetStats{Name: name, Host: name, Sent: 10, Replies: 10, Source: prober.SourceKernel, Mode: prober.ModeDatagram})
		for k := range 50 {
			probes.ObserveRTT(name, time.Duration(200+(i*13+k*7)%50*20)*time.Microsecond)
		}
	}
	probes.SetSource(src)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := collector.NewHandler(reg, collector.HandlerOpts{EnableOpenMetrics: true})
	h.Registerer().MustRegister(metrics, probes)
	now := time.Unix(1e9, 0)
	tick = func() {
		now = now.Add(100 * time.Millisecond)
		smp.Sample(now)
	}
	accepts := []string{"text/plain;version=0.0.4", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}
	n := 0
	scrape = func() {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept", accepts[n%2])
		n++
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("scrape: %d", rec.Code)
		}
	}
	for range 700 { // past the 60 s window: the tick allocates nothing
		tick()
	}
	return tick, scrape
}

func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// needed is the live heap plus the runtime's memory outside the heap:
// a soft limit there leaves the heap no room to grow.
func needed() int64 {
	live, _, nonHeap := (&memoryLimiter{sample: newLimiterSample()}).read()
	return live + nonHeap
}

// No GC cliff (issue 12): after 10 scrapes of 1,000 devices and 1,000
// targets, 100 samples run at most 2 collections under every memory-limit
// setting: the default (auto) with no cgroup limit and with the
// DaemonSet's 256 MiB, and the old default of 24 MiB given explicitly
// (raised to the floor). The sampler's tick allocates nothing
// (collector's TestSampleAllocsWithScrapes); the rest of the exporter
// allocates a little between two samples (sysfs reads of the bond
// monitor, new native histogram buckets, HTTP keep-alives: a few KB,
// measured with GODEBUG=memprofilerate=1), modelled as 4 KiB per sample.
// With a soft limit at the live heap plus the runtime's memory outside it,
// where the 24 MiB default was with 1,000 interfaces (15 MiB live, 9 MiB
// outside), each of those allocations starts a collection: the control
// shows that this test sees that cliff.
func TestNoGCCliff(t *testing.T) {
	nstest.SkipShort(t, "a minute under -race; it counts GC cycles of the shipped runtime, not the race runtime's")
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	t.Setenv("GOMEMLIMIT", "")
	logger := slog.New(slog.DiscardHandler)
	tick, scrape := busyExporter(t)
	keep := make([][]byte, 16)
	run := func(name string, limit func()) uint64 {
		for range 10 {
			for range 10 {
				tick()
			}
			scrape()
		}
		runtime.GC() // the live heap the exporter's next check reads
		limit()
		g0 := gcCycles()
		for i := range 100 {
			// Samples come --sampler.interval apart (10 ms, the shortest:
			// time for a collection to finish, as it does between two
			// samples of the exporter).
			time.Sleep(10 * time.Millisecond)
			tick()
			keep[i%len(keep)] = make([]byte, 4<<10)
		}
		n := gcCycles() - g0
		live, _, nonHeap := (&memoryLimiter{sample: newLimiterSample()}).read()
		lim := "none"
		if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
			lim = fmt.Sprintf("%.1f MiB", float64(l)/(1<<20))
		}
		t.Logf("%s: limit %s (live heap %.1f MiB, outside the heap %.1f MiB): %d GC cycles over 100 samples", name, lim, float64(live)/(1<<20), float64(nonHeap)/(1<<20), n)
		debug.SetMemoryLimit(before)
		return n
	}
	unlimited := cgroupFixture(t, map[string]string{"self": "0::/svc\n", "svc/memory.max": "max\n"})
	daemonSet := cgroupFixture(t, map[string]string{"self": "0::/pod/ctr\n", "pod/memory.max": "268435456\n"})
	for _, c := range []struct {
		name string
		flag memoryLimitFlag
		cg   cgroupPaths
	}{
		{"auto, no cgroup limit", memoryLimitFlag{auto: true}, unlimited},
		{"auto, 256 MiB cgroup", memoryLimitFlag{auto: true}, daemonSet},
		{"--runtime.memory-limit=24MiB", memoryLimitFlag{bytes: 24 << 20}, unlimited},
	} {
		if n := run(c.name, func() { startMemoryLimit(c.flag, c.cg, logger) }); n > 2 {
			t.Errorf("%s: %d GC cycles over 100 samples, want at most 2", c.name, n)
		}
	}
	if n := run("control: a soft limit at the live heap plus the rest", func() { debug.SetMemoryLimit(needed()) }); n < 50 {
		t.Errorf("control: %d GC cycles over 100 samples under a limit without headroom: the test cannot see a cliff", n)
	}
}
