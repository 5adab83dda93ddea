package sampler

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// startInNS opens the kernel sources inside ns and runs a sampler on them
// until the test ends.
func startInNS(t *testing.T, ns *nstest.NS, sysfs string, cfg Config) *Sampler {
	t.Helper()
	var src *NetlinkSources
	if err := ns.Do(func() error {
		var err error
		src, err = OpenNetlinkSources(sysfs, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cfg.Stats, cfg.Links, cfg.Qdiscs = src.Stats, src.Links, src.Qdiscs
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() }) // after the sampler stops: cleanups run last first
	nstest.Go(t, s.Run)
	nstest.Poll(5*time.Second, func() (bool, string) { return s.Ready(), "" })
	return s
}

func findDevice(snap *Snapshot, name string) (DeviceSnapshot, bool) {
	for _, d := range snap.Devices {
		if d.Name == name {
			return d, true
		}
	}
	return DeviceSnapshot{}, false
}

// A 300 ms burst shaped by tbf to 40 Mbit/s in an otherwise idle stretch:
// the 10 s peak reads the shaped rate, what a minute average would show is
// a sliver of it, and about three intervals count as bursts.
func TestNamespaceTBFBurst(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	v := nstest.VethPair(t, a, "va", b, "vb")
	a.MustRun(t, "tc", "qdisc", "add", "dev", "va", "root", "tbf", "rate", "40mbit", "burst", "10kb", "latency", "20ms")
	const shaped = 40e6 / 8
	// A sysfs fixture gives va the speed of its bottleneck, so the burst
	// threshold is 0.8 of 40 Mbit/s.
	sysfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(sysfs, "class/net/va"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sysfs, "class/net/va/speed"), []byte("40\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startInNS(t, a, sysfs, Config{Interval: 100 * time.Millisecond, QdiscEvery: 1})
	time.Sleep(1500 * time.Millisecond)
	var before Snapshot
	s.Snapshot(&before)
	vaBefore, ok := findDevice(&before, "va")
	if !ok {
		t.Fatalf("va not sampled: %+v", before.Devices)
	}
	if vaBefore.SpeedBytes != shaped {
		t.Fatalf("va speed = %v, want the fixture's %v", vaBefore.SpeedBytes, shaped)
	}
	nstest.BlastUDP(t, a, v.BPort(9), 300*time.Millisecond)
	time.Sleep(1500 * time.Millisecond)
	var after Snapshot
	s.Snapshot(&after)
	va, _ := findDevice(&after, "va")

	peak := va.Peak[Transmit][Window10s]
	t.Logf("10s peak %.0f B/s (shaped %.0f), bursts %d", peak, shaped, va.Bursts[Transmit])
	if math.Abs(peak-shaped)/shaped > 0.15 {
		t.Errorf("10s peak = %.0f B/s, want within 15%% of the shaped %.0f", peak, shaped)
	}
	sent := va.Bytes[Transmit] - vaBefore.Bytes[Transmit]
	if minuteAvg := float64(sent) / 60; minuteAvg > 0.02*shaped {
		t.Errorf("the minute's average %.0f B/s is not under 2%% of the shaped rate", minuteAvg)
	}
	if got := va.Bursts[Transmit]; got < 2 || got > 5 {
		t.Errorf("burst intervals = %d, want about 3 (a 300 ms burst at 100 ms)", got)
	}
	var tbf *QdiscSnapshot
	for i := range after.Qdiscs {
		if q := &after.Qdiscs[i]; q.Device == "va" && q.Kind == "tbf" {
			tbf = q
		}
	}
	if tbf == nil {
		t.Fatalf("no tbf qdisc on va in %+v", after.Qdiscs)
	}
	if tbf.BacklogPeak[Window10s] == 0 || tbf.Drops == 0 {
		t.Errorf("tbf backlog peak %v, drops %d: want a queue that filled and overflowed", tbf.BacklogPeak[Window10s], tbf.Drops)
	}
	if after.Errors != [numOps]uint64{} {
		t.Errorf("sampler errors: %v", after.Errors)
	}
}

// liveSet tracks which devices have histogram series, as the collector
// would.
type liveSet struct {
	mu   sync.Mutex
	live map[string]bool
}

func (l *liveSet) DeviceAdded(name string) (RateObserver, RateObserver) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live[name] = true
	return nil, nil
}

func (l *liveSet) DeviceRemoved(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.live, name)
}

func (l *liveSet) SampleDone(float64, float64) {}

func ipBatch(t testing.TB, ns *nstest.NS, lines []string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.MustRun(t, "ip", "-batch", f)
}

// 1,000 interfaces: one sample sees them all; 200 veths created and deleted
// while sampling leave no series behind and no absurd rate.
func TestNamespaceThousandInterfaces(t *testing.T) {
	ns := nstest.New(t)
	var lines []string
	for i := range 500 {
		lines = append(lines, fmt.Sprintf("link add name p%da type veth peer name p%db", i, i))
	}
	ipBatch(t, ns, lines)
	live := &liveSet{live: map[string]bool{}}
	s := startInNS(t, ns, t.TempDir(), Config{Interval: 100 * time.Millisecond, QdiscEvery: 1, Observer: live})
	var snap Snapshot
	s.Snapshot(&snap)
	if len(snap.Devices) != 1001 {
		t.Fatalf("first sample saw %d devices, want 1001", len(snap.Devices))
	}
	for round := range 2 {
		var add, del []string
		for i := range 100 {
			add = append(add, fmt.Sprintf("link add name c%d_%da type veth peer name c%d_%db", round, i, round, i))
			add = append(add, fmt.Sprintf("link set dev c%d_%da up", round, i), fmt.Sprintf("link set dev c%d_%db up", round, i))
			del = append(del, fmt.Sprintf("link del dev c%d_%da", round, i))
		}
		ipBatch(t, ns, add)
		time.Sleep(400 * time.Millisecond)
		s.Snapshot(&snap)
		if len(snap.Devices) < 1001 {
			t.Errorf("round %d: %d devices while 200 extra exist", round, len(snap.Devices))
		}
		ipBatch(t, ns, del)
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	s.Snapshot(&snap)
	if len(snap.Devices) != 1001 {
		t.Errorf("after churn: %d devices, want 1001", len(snap.Devices))
	}
	live.mu.Lock()
	if len(live.live) != len(snap.Devices) {
		t.Errorf("%d devices have series but %d are sampled: leaked series", len(live.live), len(snap.Devices))
	}
	live.mu.Unlock()
	for _, d := range snap.Devices {
		for dir := range 2 {
			for w := range NumWindows {
				if p := d.Peak[dir][w]; p < 0 || p > 1e9 || math.IsNaN(p) {
					t.Errorf("%s: absurd peak %v", d.Name, p)
				}
			}
		}
	}
	if snap.Overruns > snap.Samples/10 {
		t.Logf("note: %d overruns in %d samples on a busy machine", snap.Overruns, snap.Samples)
	}
}
