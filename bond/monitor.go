package bond

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/netburst/netburst/spike"
)

// Windows are the trailing windows shares are computed over, in the order
// of DirRates' arrays.
var Windows = [3]string{"1s", "10s", "60s"}

// Directions are the traffic directions, in the order of DeviceRates'
// fields.
var Directions = [2]string{"receive", "transmit"}

// DirRates is what the sampler knows of one device in one direction.
type DirRates struct {
	// Rate is the latest interval's rate in bytes per second.
	Rate float64
	// Peak holds the highest interval rate over the trailing 1 s, 10 s and
	// 60 s, in bytes per second.
	Peak [3]float64
	// Bytes holds the bytes moved over the trailing 1 s, 10 s and 60 s.
	Bytes [3]float64
}

// DeviceRates is one device's rates per direction and its link speed.
type DeviceRates struct {
	Receive, Transmit DirRates
	// SpeedBytes is the link speed in bytes per second (0: unknown).
	SpeedBytes float64
}

// dir returns the rates of direction d (0 receive, 1 transmit).
func (r *DeviceRates) dir(d int) *DirRates {
	if d == 0 {
		return &r.Receive
	}
	return &r.Transmit
}

// Rates gives the sampler's current rates by device name. The Monitor calls
// it from Update only.
type Rates interface {
	Lookup(device string) (DeviceRates, bool)
}

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	// SaturationThreshold is the slave utilisation (1 s peak rate / speed)
	// at or above which a slave counts as saturated (default 0.9).
	SaturationThreshold float64
	// IdleThreshold is the bond utilisation at or below which the bond as a
	// whole counts as idle while a slave saturates (default 0.6).
	IdleThreshold float64
	// EventInterval is the least time between two spike events for the same
	// slave and direction while a saturation lasts (default 10 s).
	EventInterval time.Duration
	// Spikes receives the spike events (default spike.Discard).
	Spikes spike.Sink
}

// ErrBadConfig is returned by NewMonitor for thresholds out of range.
var ErrBadConfig = errors.New("bad bond monitor configuration")

// Monitor follows each bond slave's share of its bond's bytes and detects
// single-slave saturation. Update runs on the sampler's goroutine;
// SetTopology and Snapshot may be called from any goroutine.
type Monitor struct {
	cfg MonitorConfig

	mu       sync.Mutex
	topo     *Topology
	state    map[slaveDir]*satState
	shares   []Share
	problems map[string]uint64
	current  map[string]int
	updated  time.Time
	rates    []DeviceRates
	known    []bool
}

// slaveDir keys per-slave, per-direction state.
type slaveDir struct {
	bond, slave string
	dir         int
}

// satState is one slave direction's saturation accounting.
type satState struct {
	count       uint64
	lastCounted time.Time
	// events spaces the saturation's spike events (see spike.Limiter).
	events spike.Limiter
	active bool
	// held says the condition held at the previous update: a saturation
	// counts from its second consecutive sample on, so that traffic
	// ramping up through the band (a slave's first, partial interval of a
	// blast that then fills the whole bond) is not one.
	held bool
}

// Share is a slave's share of its bond's bytes in one direction and window.
type Share struct {
	Bond, Device, Direction, Window string
	// Ratio is the slave's bytes over the bond's (the sum of its slaves').
	Ratio float64
}

// Saturation is the saturated-interval count of one slave and direction.
type Saturation struct {
	Bond, Device, Direction string
	// Intervals counts the 1-second windows in which the slave was
	// saturated while its bond idled.
	Intervals uint64
}

// Snapshot is a consistent copy of the monitor's state for a scrape.
type Snapshot struct {
	// Updated is the time of the last Update (zero before the first).
	Updated time.Time
	// Bonds is the current topology.
	Bonds []Bond
	// Shares are present for bonds that moved bytes in the window.
	Shares []Share
	// Saturations lists every slave direction of the current topology.
	Saturations []Saturation
	// ProblemsTotal counts topology problems by kind over all refreshes.
	ProblemsTotal map[string]uint64
	// Problems counts the problems of the current topology by kind.
	Problems map[string]int
}

// NewMonitor returns a Monitor; zero config fields take their defaults.
func NewMonitor(cfg MonitorConfig) (*Monitor, error) {
	if cfg.SaturationThreshold == 0 {
		cfg.SaturationThreshold = 0.9
	}
	if cfg.IdleThreshold == 0 {
		cfg.IdleThreshold = 0.6
	}
	if cfg.EventInterval == 0 {
		cfg.EventInterval = 10 * time.Second
	}
	if cfg.Spikes == nil {
		cfg.Spikes = spike.Discard{}
	}
	if !(cfg.SaturationThreshold > 0 && cfg.SaturationThreshold <= 1) || !(cfg.IdleThreshold > 0 && cfg.IdleThreshold <= 1) || cfg.EventInterval < 0 {
		return nil, fmt.Errorf("%w: saturation threshold %v and idle threshold %v must be in (0, 1]", ErrBadConfig, cfg.SaturationThreshold, cfg.IdleThreshold)
	}
	return &Monitor{cfg: cfg, topo: &Topology{}, state: map[slaveDir]*satState{}, problems: map[string]uint64{}, current: map[string]int{}}, nil
}

// SetTopology replaces the bonds followed, counts the topology's problems
// and drops the state of slaves that are gone (so memory follows the
// topology). The monitor keeps t: the caller must not modify it afterwards.
func (m *Monitor) SetTopology(t *Topology) {
	if t == nil {
		t = &Topology{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.topo = t
	clear(m.current)
	for _, p := range t.Problems {
		m.problems[p.Kind()]++
		m.current[p.Kind()]++
	}
	keep := map[slaveDir]bool{}
	for _, b := range t.Bonds {
		for _, s := range b.Slaves {
			for d := range Directions {
				keep[slaveDir{b.Name, s.Name, d}] = true
			}
		}
	}
	for k := range m.state {
		if !keep[k] {
			delete(m.state, k)
		}
	}
}

// Update recomputes shares and saturation from the sampler's rates at now.
func (m *Monitor) Update(now time.Time, r Rates) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updated = now
	m.shares = m.shares[:0]
	for bi := range m.topo.Bonds {
		b := &m.topo.Bonds[bi]
		if len(b.Slaves) == 0 {
			continue
		}
		// Scratch buffers reused across samples: Update runs every 100 ms.
		m.rates = append(m.rates[:0], make([]DeviceRates, len(b.Slaves))...)
		m.known = append(m.known[:0], make([]bool, len(b.Slaves))...)
		rates, known := m.rates, m.known
		for i, s := range b.Slaves {
			rates[i], known[i] = r.Lookup(s.Name)
		}
		bondRates, bondKnown := r.Lookup(b.Name)
		for d := range Directions {
			for w := range Windows {
				var total float64
				for i := range rates {
					total += rates[i].dir(d).Bytes[w]
				}
				if total <= 0 {
					continue
				}
				for i, s := range b.Slaves {
					if !known[i] {
						continue
					}
					m.shares = append(m.shares, Share{Bond: b.Name, Device: s.Name, Direction: Directions[d], Window: Windows[w], Ratio: rates[i].dir(d).Bytes[w] / total})
				}
			}
			m.saturation(now, b, d, rates, known, bondRates, bondKnown)
		}
	}
}

// saturation counts and reports slaves at or above the saturation
// threshold while the bond is at or below the idle threshold, for
// direction d. Active-backup and broadcast bonds are skipped: one slave
// carrying everything is their design.
func (m *Monitor) saturation(now time.Time, b *Bond, d int, rates []DeviceRates, known []bool, bondRates DeviceRates, bondKnown bool) {
	if b.Mode == "active-backup" || b.Mode == "broadcast" {
		return
	}
	var speed, peakSum float64
	for i, s := range b.Slaves {
		sp := slaveSpeed(s, rates[i], known[i])
		if s.MIIStatus == "up" || s.MIIStatus == "unknown" {
			speed += sp
		}
		peakSum += rates[i].dir(d).Peak[0]
	}
	if bondKnown && bondRates.SpeedBytes > 0 {
		speed = bondRates.SpeedBytes
	}
	bondPeak := peakSum // an upper bound when the bond's own peak is unknown
	if bondKnown {
		bondPeak = bondRates.dir(d).Peak[0]
	}
	if speed <= 0 {
		return
	}
	bondUtil := bondPeak / speed
	for i, s := range b.Slaves {
		key := slaveDir{b.Name, s.Name, d}
		st := m.state[key]
		if st == nil {
			st = &satState{}
			m.state[key] = st
		}
		sp := slaveSpeed(s, rates[i], known[i])
		if !known[i] || sp <= 0 {
			st.active, st.held = false, false
			continue
		}
		util := rates[i].dir(d).Peak[0] / sp
		if util < m.cfg.SaturationThreshold || bondUtil > m.cfg.IdleThreshold {
			st.active, st.held = false, false
			continue
		}
		if !st.held {
			st.held = true // counted from the next sample on, if it lasts
			continue
		}
		if now.Sub(st.lastCounted) >= time.Second {
			st.count++
			st.lastCounted = now
		}
		if !st.active {
			st.events.Reset() // a new saturation is reported at once
		}
		if st.events.Allow(now, m.cfg.EventInterval) {
			m.cfg.Spikes.Notify(spike.Event{Time: now, Trigger: spike.TriggerBond, Device: s.Name, Value: util, Threshold: m.cfg.SaturationThreshold})
		}
		st.active = true
	}
}

// slaveSpeed prefers the sampler's speed, then the topology's.
func slaveSpeed(s Slave, r DeviceRates, known bool) float64 {
	if known && r.SpeedBytes > 0 {
		return r.SpeedBytes
	}
	return s.SpeedBytes
}

// Snapshot returns a copy of the current state.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Snapshot{
		Updated:       m.updated,
		Bonds:         append([]Bond(nil), m.topo.Bonds...),
		Shares:        append([]Share(nil), m.shares...),
		ProblemsTotal: make(map[string]uint64, len(m.problems)),
		Problems:      make(map[string]int, len(m.current)),
	}
	for k, v := range m.problems {
		s.ProblemsTotal[k] = v
	}
	for k, v := range m.current {
		s.Problems[k] = v
	}
	for _, b := range m.topo.Bonds {
		for _, sl := range b.Slaves {
			for d, dn := range Directions {
				var n uint64
				if st := m.state[slaveDir{b.Name, sl.Name, d}]; st != nil {
					n = st.count
				}
				s.Saturations = append(s.Saturations, Saturation{Bond: b.Name, Device: sl.Name, Direction: dn, Intervals: n})
			}
		}
	}
	return s
}
