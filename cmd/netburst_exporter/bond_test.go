package main

import (
	"bytes"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netburst/netburst/bond"
	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/sampler"
	"github.com/netburst/netburst/spike"
)

// The exporter over a sysfs fixture that describes bond0 (balance-xor,
// layer3+4) over two real veths, s0 and s1, of 40 Mbit/s each: traffic out
// of s0 only, shaped by tbf to that speed, shows as s0's share of the bond
// and as single-slave saturation.
func TestBondMetrics(t *testing.T) {
	host, peer := nstest.New(t), nstest.New(t)
	pair0 := nstest.VethPair(t, host, "s0", peer, "p0")
	nstest.VethPair(t, host, "s1", peer, "p1")
	host.MustRun(t, "tc", "qdisc", "add", "dev", "s0", "root", "tbf", "rate", "40mbit", "burst", "10kb", "latency", "20ms")
	// The fixture lists a slave that does not exist: logged and counted.
	fixture := nstest.BondFixture(t, []string{"s0", "s1"}, "40", "s0", "s1", "ghost0")
	_, client, logs := startExporter(t, host, "--path.sysfs="+fixture)

	var conn net.Conn
	if err := host.Do(func() error {
		var err error
		conn, err = net.Dial("udp4", pair0.BPort(9))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1400)
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); {
		_, _ = conn.Write(payload)
	}
	conn.Close()
	code, scrape := get(t, client, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`netburst_bond_info{bond="bond0",mode="balance-xor",xmit_hash_policy="layer3+4"} 1`,
		`netburst_bond_slave_info{bond="bond0",device="s0",mii_status="up",state="active"} 1`,
		`netburst_bond_slave_info{bond="bond0",device="s1",mii_status="up",state="active"} 1`,
		// ghost0 is listed but does not exist: counted, not fatal.
		`netburst_bond_topology_problems{kind="missing_slave"} 1`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	value := func(series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
		if m == nil {
			t.Errorf("scrape lacks %s", series)
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	if v := value(`netburst_bond_slave_share_ratio{bond="bond0",device="s0",direction="transmit",window="1s"}`); v < 0.95 {
		t.Errorf("s0 transmit share %v, want >= 0.95", v)
	}
	if v := value(`netburst_bond_slave_share_ratio{bond="bond0",device="s1",direction="transmit",window="1s"}`); v > 0.05 {
		t.Errorf("s1 transmit share %v, want ~0", v)
	}
	if v := value(`netburst_bond_slave_saturated_intervals_total{bond="bond0",device="s0",direction="transmit"}`); v < 1 {
		t.Errorf("s0 saturated intervals %v, want >= 1", v)
	}
	if v := value(`netburst_bond_slave_saturated_intervals_total{bond="bond0",device="s1",direction="transmit"}`); v != 0 {
		t.Errorf("s1 saturated intervals %v, want 0", v)
	}
	if !strings.Contains(logs.String(), "ghost0") {
		t.Errorf("the missing slave is not logged:\n%s", logs.String())
	}
}

func TestBondFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"--bond.saturation-threshold=1.5"}, {"--bond.idle-threshold=0"}, {"--bond.refresh-interval=0s"}} {
		var stdout, stderr bytes.Buffer
		if code := run(append(args, "--web.listen-address=127.0.0.1:0"), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--bond.") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

// bondSink records the bond monitor's spike events.
type bondSink struct {
	mu     sync.Mutex
	events []spike.Event
}

func (s *bondSink) Notify(e spike.Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

// Two real veths, s0 and s1, described as the slaves of bond0 by a sysfs
// fixture (this kernel has no bonding), sampled by the real sampler every
// 100 ms. Traffic leaves through s0 only. Unshaped, s0's share reads
// >= 0.95 and s1's ~0, and nothing saturates: the bond as a whole is busy.
// Shaped by tbf to the fixture's speed (40 Mbit/s), s0 runs at its speed
// while the bond (80 Mbit/s) is half used: saturated intervals are counted
// and a bond spike event is raised.
func TestBondRealTrafficOneSlave(t *testing.T) {
	host, peer := nstest.New(t), nstest.New(t)
	pair0 := nstest.VethPair(t, host, "s0", peer, "p0")
	nstest.VethPair(t, host, "s1", peer, "p1")
	const speed = 40e6 / 8
	fixture := nstest.BondFixture(t, []string{"s0", "s1"}, "40")

	topo, err := bond.ReadSysfs(fixture)
	if err != nil || len(topo.Problems) != 0 || len(topo.Bonds) != 1 {
		t.Fatalf("fixture topology %+v, %v", topo, err)
	}
	sink := &bondSink{}
	m, err := bond.NewMonitor(bond.MonitorConfig{Spikes: sink})
	if err != nil {
		t.Fatal(err)
	}
	m.SetTopology(topo)

	var cfg sampler.Config
	cfg.Interval = 100 * time.Millisecond
	var src *sampler.NetlinkSources
	if err := host.Do(func() error {
		var err error
		src, err = sampler.OpenNetlinkSources(fixture, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cfg.Stats, cfg.Links = src.Stats, src.Links
	s, err := sampler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.AddHook(func(v sampler.View) { m.Update(v.Time(), samplerRates{v}) })
	t.Cleanup(func() { src.Close() }) // after the sampler stops: cleanups run last first
	nstest.Go(t, s.Run)
	time.Sleep(500 * time.Millisecond)

	share := func(dev string) float64 {
		for _, sh := range m.Snapshot().Shares {
			if sh.Device == dev && sh.Direction == "transmit" && sh.Window == "1s" {
				return sh.Ratio
			}
		}
		return -1 // absent: the test fails below
	}
	saturated := func() uint64 {
		for _, st := range m.Snapshot().Saturations {
			if st.Device == "s0" && st.Direction == "transmit" {
				return st.Intervals
			}
		}
		return 0
	}

	// Unshaped: all of it on s0, far above its nominal speed, so the bond as
	// a whole is busy too: no single-slave saturation.
	nstest.BlastUDP(t, host, pair0.BPort(9), 1200*time.Millisecond)
	s0, s1 := share("s0"), share("s1")
	t.Logf("unshaped: share s0 %.4f, s1 %.4f, saturated intervals %d", s0, s1, saturated())
	if s0 < 0.95 || s1 < 0 || s1 > 0.05 {
		t.Errorf("unshaped shares s0 %.4f s1 %.4f, want >= 0.95 and ~0", s0, s1)
	}
	if n := saturated(); n != 0 {
		t.Errorf("unshaped: %d saturated intervals while the whole bond is over its speed", n)
	}

	// Shaped to the slave's speed: s0 full, the bond half used.
	host.MustRun(t, "tc", "qdisc", "add", "dev", "s0", "root", "tbf", "rate", "40mbit", "burst", "10kb", "latency", "20ms")
	time.Sleep(1100 * time.Millisecond) // let the unshaped peak leave the 1 s window
	nstest.BlastUDP(t, host, pair0.BPort(9), 2500*time.Millisecond)
	s0, s1 = share("s0"), share("s1")
	n := saturated()
	sink.mu.Lock()
	events := append([]spike.Event(nil), sink.events...)
	sink.mu.Unlock()
	t.Logf("shaped: share s0 %.4f, s1 %.4f, saturated intervals %d, events %d %+v", s0, s1, n, len(events), events)
	if s0 < 0.95 || s1 < 0 || s1 > 0.05 {
		t.Errorf("shaped shares s0 %.4f s1 %.4f, want >= 0.95 and ~0", s0, s1)
	}
	// 2.5 s saturated: about two or three 1-second intervals.
	if n < 1 {
		t.Errorf("saturated intervals = %d, want >= 1", n)
	}
	if len(events) == 0 {
		t.Fatal("no bond spike event")
	}
	e := events[0]
	if e.Trigger != spike.TriggerBond || e.Device != "s0" || e.Value < 0.9 || e.Threshold != 0.9 {
		t.Errorf("event %+v", e)
	}
	if e.Value > 1.3 {
		t.Errorf("s0 utilisation %.2f: shaped to %v B/s, want about 1", e.Value, speed)
	}
	for _, st := range m.Snapshot().Saturations {
		if st.Device == "s1" && st.Intervals != 0 {
			t.Errorf("s1 counted saturated: %+v", st)
		}
	}
}
