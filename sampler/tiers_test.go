package sampler

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"testing"
	"time"
)

// slowNames is the exporter's default of --sampler.histogram-devices-exclude
// (collector.DefaultHistogramExclude, which this package may not import).
var slowNames = regexp.MustCompile(`^(veth|tap|vif|vnet|tun|cali|lxc|fwpr|fwln|fwbr|macvtap)`)

var tierEpoch = time.Unix(50000, 0)

// tierStats is a counter source over a link table whose devices move at
// fixed rates (bytes/s, set per ifindex) and that counts how often each
// device was read, by dumps and by per-device requests.
type tierStats struct {
	links   *tierLinks
	now     time.Time // set before each sample
	rate    map[int32]float64
	reads   map[int32]int
	dumps   int
	batches [][]int32
	gone    map[int32]bool // answered ENODEV: left out of readings
}

func newTierStats(l *tierLinks) *tierStats {
	return &tierStats{links: l, rate: map[int32]float64{}, reads: map[int32]int{}, gone: map[int32]bool{}}
}

func (f *tierStats) stat(ix int32) Stat {
	b := uint64(f.rate[ix] * f.now.Sub(tierEpoch).Seconds())
	return Stat{Index: ix, Counters: Counters{RxBytes: b, TxBytes: b / 2, RxPackets: b / 100, TxPackets: b / 200}}
}

func (f *tierStats) Read(dst []Stat) ([]Stat, error) {
	f.dumps++
	dst = dst[:0]
	for _, l := range f.links.links {
		if !f.gone[l.Index] {
			f.reads[l.Index]++
			dst = append(dst, f.stat(l.Index))
		}
	}
	return dst, nil
}

func (f *tierStats) ReadIndexes(dst []Stat, indexes []int32) ([]Stat, error) {
	f.batches = append(f.batches, slices.Clone(indexes))
	dst = dst[:0]
	for _, ix := range indexes {
		if !f.gone[ix] {
			f.reads[ix]++
			dst = append(dst, f.stat(ix))
		}
	}
	return dst, nil
}

func (*tierStats) Name() string { return "fake" }
func (*tierStats) Close() error { return nil }

// tierLinks is a link table the test changes.
type tierLinks struct {
	links []Link
	ver   uint64
}

func (l *tierLinks) Links() ([]Link, uint64) { return l.links, l.ver }
func (*tierLinks) Refresh()                  {}
func (*tierLinks) Close() error              { return nil }

// set replaces the table (a copy, so that the sampler's view of the old
// one stays as it was).
func (l *tierLinks) set(links []Link) {
	l.links = slices.Clone(links)
	l.ver++
}

// countObserver counts each device's observations and keeps their values.
type countObserver struct {
	added map[string]int
	rates map[string][]float64
}

type countDir struct {
	o   *countObserver
	key string
}

func (c countDir) Observe(v float64) { c.o.rates[c.key] = append(c.o.rates[c.key], v) }

func (c *countObserver) DeviceAdded(name string) (RateObserver, RateObserver) {
	c.added[name]++
	return countDir{c, name}, countDir{c, name + "/tx"}
}
func (*countObserver) DeviceRemoved(string)        {}
func (*countObserver) SampleDone(float64, float64) {}

// hypervisorLinks is a host's table: NICs, a bond with a slave named like a
// VM's tap, bridges, VM taps and vifs.
func hypervisorLinks(vifs int) []Link {
	links := []Link{
		{Index: 1, Name: "lo", Kind: "loopback"},
		{Index: 2, Name: "eth0", Kind: "physical"},
		{Index: 3, Name: "eth1", Kind: "physical"},
		{Index: 4, Name: "bond0", Kind: "bond"},
		{Index: 5, Name: "tap0", Kind: "tun", Master: "bond0"},
		{Index: 6, Name: "brq1", Kind: "bridge"},
		{Index: 7, Name: "tap1", Kind: "tun", Master: "brq1"},
		{Index: 8, Name: "fwbr1", Kind: "bridge"},
	}
	for i := range vifs {
		links = append(links, Link{Index: int32(100 + i), Name: "vif" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Kind: "veth"})
	}
	return links
}

// hypervisorFast is the fast set of hypervisorLinks: everything but the
// per-VM names, plus the bond's slave; the bridge port tap1 and the per-VM
// bridge fwbr1 are slow.
var hypervisorFast = []int32{1, 2, 3, 4, 5, 6}

type tierRig struct {
	t     *testing.T
	s     *Sampler
	stats *tierStats
	links *tierLinks
	obs   *countObserver
	now   time.Time
}

func newTierRig(t *testing.T, links []Link, slow *regexp.Regexp) *tierRig {
	t.Helper()
	r := &tierRig{t: t, links: &tierLinks{}, obs: &countObserver{added: map[string]int{}, rates: map[string][]float64{}}, now: tierEpoch}
	r.links.set(links)
	r.stats = newTierStats(r.links)
	for i, l := range links {
		r.stats.rate[l.Index] = float64(1000 * (i + 1))
	}
	s, err := New(Config{Interval: 100 * time.Millisecond, SlowDevices: slow, Stats: r.stats, Links: r.links, Observer: r.obs})
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	return r
}

// run takes n samples 100 ms apart.
func (r *tierRig) run(n int) {
	for range n {
		r.stats.now = r.now
		r.s.Sample(r.now)
		r.now = r.now.Add(100 * time.Millisecond)
	}
}

func (r *tierRig) device(name string) DeviceSnapshot {
	r.t.Helper()
	return snapshotOf(r.t, r.s, name)
}

// checkRates says that every observation of name is its real rate: the
// rates of both tiers span the real time between their readings.
func (r *tierRig) checkRates(name string, ix int32) {
	r.t.Helper()
	want := r.stats.rate[ix]
	// The fake's counters are whole bytes: a byte per 100 ms of error.
	tolerance := 10 + 1e-6*want
	for i, v := range r.obs.rates[name] {
		if math.Abs(v-want) > tolerance {
			r.t.Errorf("%s: observation %d = %v B/s, want %v", name, i, v, want)
		}
	}
}

// The fast set is read by per-device requests at every sample and the rest
// by one dump every second; each device is folded in at its own tier's
// interval, with rates, histogram observations and peaks over the real time
// between its readings.
func TestTiersSampleEachAtItsInterval(t *testing.T) {
	links := hypervisorLinks(40)
	r := newTierRig(t, links, slowNames)
	r.run(30) // 3 s: slow samples at 0, 1 and 2 s
	if r.stats.dumps != 3 || len(r.stats.batches) != 27 {
		t.Fatalf("%d dumps and %d per-device readings, want 3 and 27", r.stats.dumps, len(r.stats.batches))
	}
	for i, b := range r.stats.batches {
		if !slices.Equal(b, hypervisorFast) {
			t.Fatalf("per-device reading %d asked for %v, want the fast set %v", i, b, hypervisorFast)
		}
	}
	for _, l := range links {
		fast := slices.Contains(hypervisorFast, l.Index)
		wantReads, wantIv, wantObs := 3, time.Second, 2
		if fast {
			wantReads, wantIv, wantObs = 30, 100*time.Millisecond, 28
		}
		if got := r.stats.reads[l.Index]; got != wantReads {
			t.Errorf("%s read %d times, want %d", l.Name, got, wantReads)
		}
		d := r.device(l.Name)
		if d.Interval != wantIv {
			t.Errorf("%s: interval %v, want %v", l.Name, d.Interval, wantIv)
		}
		// The first movement after the baseline waits one more sample
		// (lazy-counter detection); every later one is observed.
		if got := len(r.obs.rates[l.Name]); got < wantObs || got > wantObs+1 {
			t.Errorf("%s: %d histogram observations, want %d or %d", l.Name, got, wantObs, wantObs+1)
		}
		r.checkRates(l.Name, l.Index)
		if p, want := d.Peak[Receive][Window1s], r.stats.rate[l.Index]; math.Abs(p-want) > 1/wantIv.Seconds()+1e-6*want {
			t.Errorf("%s: 1s peak %v, want %v", l.Name, p, want)
		}
		if wantRefresh := wantIv.Seconds(); d.RefreshSeconds != wantRefresh {
			t.Errorf("%s: refresh %v, want its interval %v (eager counters)", l.Name, d.RefreshSeconds, wantRefresh)
		}
	}
	var snap Snapshot
	r.s.Snapshot(&snap)
	if snap.SlowInterval != time.Second || r.s.SlowInterval() != time.Second {
		t.Errorf("slow interval %v / %v, want 1s", snap.SlowInterval, r.s.SlowInterval())
	}
}

// When the fast set is too large a share of the namespace for per-device
// requests to pay, it is read by the dump at every sample, and the slow
// tier is still folded in only at its interval.
func TestTiersLargeFastSetDumps(t *testing.T) {
	links := hypervisorLinks(4) // 6 fast of 12
	r := newTierRig(t, links, slowNames)
	r.run(30)
	if r.stats.dumps != 30 || len(r.stats.batches) != 0 {
		t.Fatalf("%d dumps and %d per-device readings, want 30 and 0", r.stats.dumps, len(r.stats.batches))
	}
	for _, l := range links {
		wantIv, wantObs := time.Second, 2
		if slices.Contains(hypervisorFast, l.Index) {
			wantIv, wantObs = 100*time.Millisecond, 28
		}
		if d := r.device(l.Name); d.Interval != wantIv {
			t.Errorf("%s: interval %v, want %v", l.Name, d.Interval, wantIv)
		}
		if got := len(r.obs.rates[l.Name]); got < wantObs || got > wantObs+1 {
			t.Errorf("%s: %d observations, want %d or %d", l.Name, got, wantObs, wantObs+1)
		}
		r.checkRates(l.Name, l.Index)
	}
}

// A device enslaved to a bond joins the fast set at the next sample and
// leaves it when released; a rename moves a device across the name classes;
// its histograms, totals and rates carry on across the moves. A fast device
// the kernel no longer knows leaves at the next fast sample, a slow one at
// the next slow sample.
func TestTierMoves(t *testing.T) {
	links := hypervisorLinks(40)
	r := newTierRig(t, links, slowNames)
	const tap = 7 // tap1, a bridge port: slow
	r.run(10)
	reads := func(ix int32, n int) int {
		before := r.stats.reads[ix]
		r.run(n)
		return r.stats.reads[ix] - before
	}
	if got := reads(tap, 10); got != 1 {
		t.Fatalf("bridge port read %d times in a second, want 1 (slow)", got)
	}
	idx := slices.IndexFunc(links, func(l Link) bool { return l.Index == tap })
	links[idx].Master = "bond0"
	r.links.set(links)
	if got := reads(tap, 10); got != 10 {
		t.Errorf("after enslaving to bond0: read %d times in a second, want 10", got)
	}
	if d := r.device("tap1"); d.Interval != 100*time.Millisecond {
		t.Errorf("bond slave's interval %v, want 100ms", d.Interval)
	}
	links[idx].Master = ""
	r.links.set(links)
	if got := reads(tap, 10); got != 1 {
		t.Errorf("after release: read %d times in a second, want 1", got)
	}
	if d := r.device("tap1"); d.Interval != time.Second {
		t.Errorf("released device's interval %v, want 1s", d.Interval)
	}
	// A rename out of the per-VM classes.
	links[len(links)-1].Name = "uplink9"
	vif := links[len(links)-1].Index
	r.links.set(links)
	if got := reads(vif, 10); got != 10 {
		t.Errorf("after a rename to uplink9: read %d times in a second, want 10", got)
	}
	if r.obs.added["tap1"] != 1 {
		t.Errorf("tap1 added %d times to the observer, want once (moves keep its series)", r.obs.added["tap1"])
	}
	r.checkRates("tap1", tap)
	r.checkRates("uplink9", vif)
	d := r.device("tap1")
	if want := uint64(r.stats.rate[tap] * (r.now.Add(-100 * time.Millisecond).Sub(tierEpoch).Seconds())); d.Bytes[Receive] > want || d.Bytes[Receive] < want-uint64(r.stats.rate[tap]) {
		t.Errorf("tap1 total %d, want about %d", d.Bytes[Receive], want)
	}

	// Right after a slow sample, eth1 (fast) and vifba (slow) vanish: the
	// kernel answers ENODEV for eth1, and the next dump lacks vifba.
	for !r.s.slowDue(r.s.mono(r.now)) {
		r.run(1)
	}
	r.run(1)
	r.stats.gone[3], r.stats.gone[101] = true, true
	r.run(1)
	var snap Snapshot
	r.s.Snapshot(&snap)
	if _, ok := findDeviceNamed(&snap, "eth1"); ok {
		t.Error("eth1 still sampled after a fast reading without it")
	}
	if _, ok := findDeviceNamed(&snap, "vifba"); !ok {
		t.Error("vifba gone before the slow sample that could see it gone")
	}
	r.run(10)
	r.s.Snapshot(&snap)
	if _, ok := findDeviceNamed(&snap, "vifba"); ok {
		t.Error("vifba still sampled after a slow sample without it")
	}
}

func findDeviceNamed(snap *Snapshot, name string) (DeviceSnapshot, bool) {
	for _, d := range snap.Devices {
		if d.Name == name {
			return d, true
		}
	}
	return DeviceSnapshot{}, false
}

// Without SlowDevices every device is in the fast set and read by the dump
// at every sample, as before tiers existed.
func TestNoTiers(t *testing.T) {
	links := hypervisorLinks(40)
	r := newTierRig(t, links, nil)
	r.run(12)
	if r.stats.dumps != 12 || len(r.stats.batches) != 0 {
		t.Fatalf("%d dumps and %d per-device readings, want 12 and 0", r.stats.dumps, len(r.stats.batches))
	}
	for _, l := range links {
		if d := r.device(l.Name); d.Interval != 100*time.Millisecond {
			t.Errorf("%s: interval %v, want 100ms", l.Name, d.Interval)
		}
	}
	if r.s.SlowInterval() != 100*time.Millisecond {
		t.Errorf("SlowInterval() = %v without tiers, want the interval", r.s.SlowInterval())
	}
}

func TestSlowIntervalValidation(t *testing.T) {
	for _, tc := range []struct {
		slow, want time.Duration
		err        bool
	}{
		{0, time.Second, false},
		{950 * time.Millisecond, time.Second, false},
		{1240 * time.Millisecond, 1200 * time.Millisecond, false},
		{50 * time.Millisecond, 100 * time.Millisecond, false},
		{11 * time.Second, 0, true},
	} {
		s, err := New(Config{Interval: 100 * time.Millisecond, SlowInterval: tc.slow, SlowDevices: slowNames, Stats: nopStats{}})
		if tc.err {
			if !errors.Is(err, ErrBadInterval) {
				t.Errorf("slow interval %v: err %v, want ErrBadInterval", tc.slow, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("slow interval %v: %v", tc.slow, err)
		}
		if got := s.SlowInterval(); got != tc.want {
			t.Errorf("slow interval %v: got %v, want %v", tc.slow, got, tc.want)
		}
	}
}

// tierQdiscs is a qdisc source that reads chosen devices: one tbf per
// device, with a backlog that follows the device's ifindex.
type tierQdiscs struct {
	links *tierLinks
	asked [][]int32 // nil entries: every device
}

func (q *tierQdiscs) Read([]QdiscStat) ([]QdiscStat, error) {
	return nil, errors.New("tierQdiscs reads chosen devices only")
}

func (q *tierQdiscs) ReadDevices(dst []QdiscStat, indexes []int32) ([]QdiscStat, error) {
	q.asked = append(q.asked, slices.Clone(indexes))
	dst = dst[:0]
	for _, l := range q.links.links {
		if indexes == nil || slices.Contains(indexes, l.Index) {
			dst = append(dst, QdiscStat{Index: l.Index, Parent: tcHRootForTest, Kind: "tbf", Backlog: uint32(l.Index), Drops: 1})
		}
	}
	return dst, nil
}

func (*tierQdiscs) Close() error { return nil }

// Structure implements DeviceQdiscSource: the table's version (the fake's
// qdiscs follow the link table).
func (q *tierQdiscs) Structure() uint64 { return q.links.ver }

const tcHRootForTest = 0xffffffff

// Each tier's qdiscs are read at that tier's interval, and a reading of the
// fast set leaves the slow tier's qdisc series alone.
func TestTiersQdiscs(t *testing.T) {
	links := hypervisorLinks(40)
	tl := &tierLinks{}
	tl.set(links)
	stats := newTierStats(tl)
	qd := &tierQdiscs{links: tl}
	s, err := New(Config{Interval: 100 * time.Millisecond, SlowDevices: slowNames, Stats: stats, Links: tl, Qdiscs: qd, QdiscEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := tierEpoch
	for range 25 {
		stats.now = now
		s.Sample(now)
		now = now.Add(100 * time.Millisecond)
	}
	all, fast := 0, 0
	for i, a := range qd.asked {
		switch {
		case a == nil:
			all++
		case slices.Equal(a, hypervisorFast):
			fast++
		default:
			t.Errorf("qdisc reading %d asked for %v", i, a)
		}
	}
	if all != 3 || fast != 22 {
		t.Errorf("%d readings of every device and %d of the fast set, want 3 and 22", all, fast)
	}
	var snap Snapshot
	s.Snapshot(&snap)
	if len(snap.Qdiscs) != len(links) {
		t.Fatalf("%d qdisc series after fast readings, want one per device (%d)", len(snap.Qdiscs), len(links))
	}
	for _, q := range snap.Qdiscs {
		d, _ := findDeviceNamed(&snap, q.Device)
		if q.Kind != "tbf" || q.Backlog == 0 || d.Name == "" {
			t.Errorf("qdisc series %+v", q)
		}
	}
}

// BenchmarkQdiscFold1000 folds in a qdisc reading of 1,009 devices, each
// with one noqueue (1,000 up vifs, say) and 4 with an mq of 4 children: what
// a sample of every device costs the sampler's arithmetic besides the
// kernel's reading, while the source's structure stands ("quick": only the
// 20 qdiscs other than noqueue are folded in) and when it changed ("full").
func BenchmarkQdiscFold1000(b *testing.B) {
	for _, quick := range []bool{true, false} {
		name := "full"
		if quick {
			name = "quick"
		}
		b.Run(name, func(b *testing.B) {
			s, err := New(Config{Stats: nopStats{}})
			if err != nil {
				b.Fatal(err)
			}
			var links []Link
			var stats []Stat
			var qs []QdiscStat
			for i := range 1009 {
				ix := int32(i + 1)
				links = append(links, Link{Index: ix, Name: fmt.Sprintf("m%d", i)})
				stats = append(stats, Stat{Index: ix})
				if i < 4 {
					qs = append(qs, QdiscStat{Index: ix, Handle: 0x10000, Parent: tcHRootForTest, Kind: "mq"})
					for c := range 4 {
						qs = append(qs, QdiscStat{Index: ix, Parent: 0x10001 + uint32(c), Kind: "pfifo_fast"})
					}
					continue
				}
				qs = append(qs, QdiscStat{Index: ix, Parent: tcHRootForTest, Kind: "noqueue"})
			}
			now := time.Unix(1e6, 0)
			s.Step(now, stats, links, 1)
			var structure uint64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				now = now.Add(100 * time.Millisecond)
				if !quick {
					structure++
				}
				s.mu.Lock()
				s.seq++ // a new sample, as step counts them
				s.stepQdiscs(s.mono(now), qs, false, structure, true)
				s.mu.Unlock()
			}
		})
	}
}

// fixedQdiscs is a qdisc source whose structure number the test sets.
type fixedQdiscs struct {
	qdiscs    []QdiscStat
	structure uint64
}

func (q *fixedQdiscs) Read([]QdiscStat) ([]QdiscStat, error) { return nil, errors.New("unused") }
func (q *fixedQdiscs) ReadDevices(dst []QdiscStat, indexes []int32) ([]QdiscStat, error) {
	dst = dst[:0]
	for _, e := range q.qdiscs {
		if indexes == nil || slices.Contains(indexes, e.Index) {
			dst = append(dst, e)
		}
	}
	return dst, nil
}
func (q *fixedQdiscs) Structure() uint64 { return q.structure }
func (*fixedQdiscs) Close() error        { return nil }

// While the qdisc structure stands, the quick folds follow the moving
// qdiscs; a device renamed, or sampled only after its qdisc was first
// listed, gets its qdisc series all the same.
func TestQdiscQuickFold(t *testing.T) {
	links := []Link{{Index: 1, Name: "lo", Kind: "loopback"}, {Index: 2, Name: "eth0", Kind: "physical"}, {Index: 3, Name: "vif1", Kind: "veth"}}
	tl := &tierLinks{}
	tl.set(links[:2])
	stats := newTierStats(tl)
	qd := &fixedQdiscs{structure: 7, qdiscs: []QdiscStat{
		{Index: 1, Parent: tcHRootForTest, Kind: "noqueue"},
		{Index: 2, Parent: tcHRootForTest, Handle: 0x80010000, Kind: "tbf", Backlog: 100, Drops: 1},
		{Index: 3, Parent: tcHRootForTest, Kind: "noqueue"},
	}}
	s, err := New(Config{Stats: stats, Links: tl, Qdiscs: qd, QdiscEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := tierEpoch
	sample := func() {
		stats.now = now
		s.Sample(now)
		now = now.Add(100 * time.Millisecond)
	}
	series := func() map[string]QdiscSnapshot {
		var snap Snapshot
		s.Snapshot(&snap)
		out := map[string]QdiscSnapshot{}
		for _, q := range snap.Qdiscs {
			out[q.Device+"/"+q.Kind] = q
		}
		return out
	}
	sample()
	sample()
	if got := series(); len(got) != 2 || got["eth0/tbf"].Backlog != 100 {
		t.Fatalf("series %v, want lo/noqueue and eth0/tbf with a backlog of 100", got)
	}
	qd.qdiscs[1].Backlog, qd.qdiscs[1].Drops = 300, 5
	sample()
	if q := series()["eth0/tbf"]; q.Backlog != 300 || q.Drops != 4 || q.BacklogPeak[Window1s] != 300 {
		t.Errorf("eth0/tbf after a quick fold: %+v, want backlog 300, 4 drops, 1s peak 300", q)
	}
	// vif1 joins the link table; its qdisc was listed all along.
	tl.set(links)
	sample()
	if _, ok := series()["vif1/noqueue"]; !ok {
		t.Errorf("series %v: vif1/noqueue missing once vif1 is sampled", series())
	}
	links[2].Name = "vif9"
	tl.set(links)
	sample()
	got := series()
	if _, ok := got["vif9/noqueue"]; !ok || len(got) != 3 {
		t.Errorf("series %v after renaming vif1 to vif9, want lo, eth0 and vif9's", got)
	}
}

// A device deleted and created again under its name (a VM restarting) has
// one set of series at every sample, whichever way the fast set is read:
// no qdisc series of the old device survives next to the new one's (which
// would make two series with the same labels and fail the scrape).
func TestTiersDeviceRecreated(t *testing.T) {
	for _, vifs := range []int{4, 40} { // the fast set read by the dump, by requests
		t.Run(fmt.Sprintf("vifs=%d", vifs), func(t *testing.T) {
			links := hypervisorLinks(vifs)
			tl := &tierLinks{}
			tl.set(links)
			stats := newTierStats(tl)
			qd := &tierQdiscs{links: tl}
			s, err := New(Config{Interval: 100 * time.Millisecond, SlowDevices: slowNames, Stats: stats, Links: tl, Qdiscs: qd, QdiscEvery: 1})
			if err != nil {
				t.Fatal(err)
			}
			now := tierEpoch
			check := func(step string) {
				t.Helper()
				var snap Snapshot
				s.Snapshot(&snap)
				devices, qdiscs := map[string]int{}, map[string]int{}
				for _, d := range snap.Devices {
					devices[d.Name]++
				}
				for _, q := range snap.Qdiscs {
					qdiscs[q.Device+"/"+q.Kind]++
				}
				for k, n := range devices {
					if n != 1 {
						t.Errorf("%s: %d devices named %s", step, n, k)
					}
				}
				for k, n := range qdiscs {
					if n != 1 {
						t.Errorf("%s: %d qdisc series %s", step, n, k)
					}
				}
			}
			for i := range 40 {
				stats.now = now
				if i == 12 || i == 25 {
					// eth1 (fast) and tap1 (slow) come back with new
					// ifindexes, between two samples.
					for j := range links {
						if links[j].Name == "eth1" || links[j].Name == "tap1" {
							links[j].Index += 1000
							stats.rate[links[j].Index] = 500
						}
					}
					tl.set(links)
				}
				s.Sample(now)
				check(fmt.Sprintf("sample %d", i))
				now = now.Add(100 * time.Millisecond)
			}
		})
	}
}
