package bond

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/netburst/netburst/spike"
)

type fakeRates map[string]DeviceRates

func (f fakeRates) Lookup(dev string) (DeviceRates, bool) {
	r, ok := f[dev]
	return r, ok
}

type recSink struct {
	mu     sync.Mutex
	events []spike.Event
}

func (s *recSink) Notify(e spike.Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func xorBond() *Topology {
	return &Topology{Bonds: []Bond{{
		Name: "bond0", Mode: "balance-xor", XmitHashPolicy: "layer3+4",
		Slaves: []Slave{
			{Name: "eth0", State: "active", MIIStatus: "up", SpeedBytes: 125e6},
			{Name: "eth1", State: "active", MIIStatus: "up", SpeedBytes: 125e6},
		},
	}}}
}

func tx(rate, peak1s, bytes1s float64) DeviceRates {
	return DeviceRates{Transmit: DirRates{Rate: rate, Peak: [3]float64{peak1s, peak1s, peak1s}, Bytes: [3]float64{bytes1s, bytes1s * 10, bytes1s * 60}}}
}

func TestMonitorShares(t *testing.T) {
	m, err := NewMonitor(MonitorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m.SetTopology(xorBond())
	m.Update(time.Unix(100, 0), fakeRates{"eth0": tx(3e6, 3e6, 3e6), "eth1": tx(1e6, 1e6, 1e6)})
	s := m.Snapshot()
	got := map[string]float64{}
	for _, sh := range s.Shares {
		got[sh.Device+"/"+sh.Direction+"/"+sh.Window] = sh.Ratio
	}
	// 3 MB of 4 MB on eth0 in every window; nothing received: no receive shares.
	want := map[string]float64{
		"eth0/transmit/1s": 0.75, "eth0/transmit/10s": 0.75, "eth0/transmit/60s": 0.75,
		"eth1/transmit/1s": 0.25, "eth1/transmit/10s": 0.25, "eth1/transmit/60s": 0.25,
	}
	if len(got) != len(want) {
		t.Fatalf("shares %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if !s.Updated.Equal(time.Unix(100, 0)) || len(s.Saturations) != 4 {
		t.Errorf("snapshot %+v", s)
	}
}

func TestMonitorSaturation(t *testing.T) {
	sink := &recSink{}
	m, err := NewMonitor(MonitorConfig{Spikes: sink})
	if err != nil {
		t.Fatal(err)
	}
	m.SetTopology(xorBond())
	t0 := time.Unix(1000, 0)
	// eth0 at 120 MB/s of 125 (0.96), eth1 idle: bond 120/250 = 0.48 <= 0.6.
	busy := fakeRates{"eth0": tx(120e6, 120e6, 120e6), "eth1": tx(0, 0, 0)}
	steps := []struct {
		at     time.Duration
		rates  fakeRates
		count  uint64
		events int
	}{
		{0, busy, 0, 0},                        // first saturated sample: held, not counted yet
		{100 * time.Millisecond, busy, 1, 1},   // the second in a row: counted, event
		{200 * time.Millisecond, busy, 1, 1},   // same second: not counted again, no event
		{1100 * time.Millisecond, busy, 2, 1},  // next second counted; event rate-limited
		{10100 * time.Millisecond, busy, 3, 2}, // EventInterval passed: a second event
		// eth1 busy too: bond at 0.96, not idle: nothing.
		{11100 * time.Millisecond, fakeRates{"eth0": tx(120e6, 120e6, 120e6), "eth1": tx(120e6, 120e6, 120e6)}, 3, 2},
		// eth0 alone again: held one sample, then a new saturation raises
		// an event at once.
		{12100 * time.Millisecond, busy, 3, 2},
		{12200 * time.Millisecond, busy, 4, 3},
		// eth0 at 0.8: below 0.9.
		{13200 * time.Millisecond, fakeRates{"eth0": tx(100e6, 100e6, 100e6), "eth1": tx(0, 0, 0)}, 4, 3},
		// Traffic ramping up through the band: one sample of eth0 alone at
		// 0.96, then the whole bond busy: no saturation.
		{14200 * time.Millisecond, busy, 4, 3},
		{14300 * time.Millisecond, fakeRates{"eth0": tx(120e6, 120e6, 120e6), "eth1": tx(120e6, 120e6, 120e6)}, 4, 3},
	}
	for _, st := range steps {
		m.Update(t0.Add(st.at), st.rates)
		var count uint64
		for _, s := range m.Snapshot().Saturations {
			if s.Device == "eth0" && s.Direction == "transmit" {
				count = s.Intervals
			} else if s.Intervals != 0 {
				t.Errorf("at %v: %+v counted", st.at, s)
			}
		}
		sink.mu.Lock()
		n := len(sink.events)
		sink.mu.Unlock()
		if count != st.count || n != st.events {
			t.Errorf("at %v: count %d events %d, want %d and %d", st.at, count, n, st.count, st.events)
		}
	}
	e := sink.events[0]
	if e.Trigger != spike.TriggerBond || e.Device != "eth0" || e.Value != 120e6/125e6 || e.Threshold != 0.9 || !e.Time.Equal(t0.Add(100*time.Millisecond)) {
		t.Errorf("event %+v", e)
	}
}

func TestMonitorSaturationNeeds(t *testing.T) {
	busy := fakeRates{"eth0": tx(120e6, 120e6, 120e6), "eth1": tx(0, 0, 0)}
	cases := []struct {
		name  string
		topo  *Topology
		rates fakeRates
	}{
		{"active-backup is one slave by design", func() *Topology { t := xorBond(); t.Bonds[0].Mode = "active-backup"; return t }(), busy},
		{"unknown speeds", func() *Topology {
			t := xorBond()
			t.Bonds[0].Slaves[0].SpeedBytes, t.Bonds[0].Slaves[1].SpeedBytes = 0, 0
			return t
		}(), busy},
		// The bond's own counters say it is busy (its speed is 250 MB/s).
		{"bond peak from the sampler", xorBond(), fakeRates{"eth0": tx(120e6, 120e6, 120e6), "eth1": tx(0, 0, 0), "bond0": func() DeviceRates {
			r := tx(200e6, 200e6, 200e6)
			r.SpeedBytes = 250e6
			return r
		}()}},
	}
	for _, c := range cases {
		sink := &recSink{}
		m, _ := NewMonitor(MonitorConfig{Spikes: sink})
		m.SetTopology(c.topo)
		m.Update(time.Unix(5, 0), c.rates)
		for _, s := range m.Snapshot().Saturations {
			if s.Intervals != 0 {
				t.Errorf("%s: %+v", c.name, s)
			}
		}
		if len(sink.events) != 0 {
			t.Errorf("%s: events %+v", c.name, sink.events)
		}
	}
}

func TestMonitorTopology(t *testing.T) {
	m, _ := NewMonitor(MonitorConfig{})
	m.SetTopology(xorBond())
	m.Update(time.Unix(1, 0), fakeRates{"eth0": tx(120e6, 120e6, 120e6), "eth1": tx(0, 0, 0)})
	broken := &Topology{Problems: []Problem{{Bond: "bond0", Device: "ghost0", Err: ErrMissingSlave}, {Bond: "bond0", Err: ErrUnknownMode}}}
	m.SetTopology(broken)
	m.SetTopology(broken)
	s := m.Snapshot()
	if len(s.Bonds) != 0 || len(s.Saturations) != 0 || len(m.state) != 0 {
		t.Errorf("state not pruned: %+v %d", s, len(m.state))
	}
	if s.ProblemsTotal["missing_slave"] != 2 || s.ProblemsTotal["unknown_mode"] != 2 || s.Problems["missing_slave"] != 1 {
		t.Errorf("problems %v %v", s.ProblemsTotal, s.Problems)
	}
}

func TestNewMonitorBadConfig(t *testing.T) {
	for _, c := range []MonitorConfig{{SaturationThreshold: 1.5}, {IdleThreshold: -1}, {EventInterval: -time.Second}} {
		if _, err := NewMonitor(c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestRefresh(t *testing.T) {
	m, _ := NewMonitor(MonitorConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan struct{}, 1)
	reads := make(chan int, 10)
	n := 0
	read := func() (*Topology, error) {
		n++
		reads <- n
		if n == 2 {
			return nil, errors.New("boom")
		}
		return xorBond(), nil
	}
	done := make(chan error, 1)
	go func() { done <- m.Refresh(ctx, time.Hour, read, events) }()
	<-reads // the first read happens at once
	events <- struct{}{}
	<-reads // a link event triggers the second (failing) read
	events <- struct{}{}
	<-reads
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Refresh returned %v", err)
	}
	s := m.Snapshot()
	if len(s.Bonds) != 1 || s.ProblemsTotal["read_error"] != 1 {
		t.Errorf("bonds %d problems %v", len(s.Bonds), s.ProblemsTotal)
	}
}

// BenchmarkMonitorUpdate is one sample's work for two bonds of four slaves.
func BenchmarkMonitorUpdate(b *testing.B) {
	m, _ := NewMonitor(MonitorConfig{})
	topo := &Topology{}
	rates := fakeRates{}
	for _, bn := range []string{"bond0", "bond1"} {
		bd := Bond{Name: bn, Mode: "802.3ad", XmitHashPolicy: "layer3+4"}
		for i := 0; i < 4; i++ {
			name := bn + "s" + string(rune('0'+i))
			bd.Slaves = append(bd.Slaves, Slave{Name: name, State: "active", MIIStatus: "up", SpeedBytes: 1.25e9})
			rates[name] = tx(float64(i)*1e8, float64(i)*1e8, float64(i)*1e8)
		}
		topo.Bonds = append(topo.Bonds, bd)
	}
	m.SetTopology(topo)
	now := time.Unix(0, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(100 * time.Millisecond)
		m.Update(now, rates)
	}
}
