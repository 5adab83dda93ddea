package sampler

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// quietNS is a namespace without IPv6, so that devices that are up send
// nothing of their own (no DAD, router or MLD messages) and their counters
// stand still between two readings.
func quietNS(t testing.TB) *nstest.NS {
	t.Helper()
	ns := nstest.New(t)
	ns.MustRun(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return ns
}

// multiQueueVeth creates name in a (4 transmit queues) with its peer in b,
// both up with the /30 addresses addrA and addrB.
func multiQueueVeth(t testing.TB, a *nstest.NS, name string, b *nstest.NS, peer, addrA, addrB string) {
	t.Helper()
	a.MustRun(t, "ip", "link", "add", name, "numtxqueues", "4", "numrxqueues", "4", "type", "veth", "peer", "name", peer, "numtxqueues", "4", "numrxqueues", "4")
	a.MustRun(t, "ip", "link", "set", peer, "netns", b.Name)
	a.MustRun(t, "ip", "addr", "add", addrA+"/30", "dev", name)
	b.MustRun(t, "ip", "addr", "add", addrB+"/30", "dev", peer)
	a.MustRun(t, "ip", "link", "set", name, "up")
	b.MustRun(t, "ip", "link", "set", peer, "up")
}

func indexesByName(t testing.TB, src LinkSource) map[string]int32 {
	t.Helper()
	links, _ := src.Links()
	out := map[string]int32{}
	for _, l := range links {
		out[l.Name] = l.Index
	}
	return out
}

// The batched RTM_GETSTATS requests return exactly the interfaces asked
// for, with the counters a dump shows, across several writes (more than
// maxBatch interfaces); an ifindex that does not exist is left out; a
// steady-state reading allocates nothing.
func TestNetlinkStatsReadIndexes(t *testing.T) {
	a, b := quietNS(t), quietNS(t)
	var lines []string
	for i := range 75 {
		lines = append(lines, fmt.Sprintf("link add name r%da type veth peer name r%db", i, i))
	}
	a.Batch(t, lines)
	v := nstest.VethPair(t, a, "va", b, "vb")
	nstest.BlastUDP(t, a, v.BPort(9), 50*time.Millisecond)
	var src StatsSource
	if err := a.Do(func() error {
		var err error
		src, err = NewNetlinkStats()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	ix := src.(IndexStatsSource)
	dump, err := src.Read(nil)
	if err != nil {
		t.Fatal(err)
	}
	byIndex := map[int32]Stat{}
	var all []int32
	for _, s := range dump {
		byIndex[s.Index] = s
		all = append(all, s.Index)
	}
	slices.Sort(all)
	if len(all) != 152 {
		t.Fatalf("dump of %d interfaces, want 152", len(all))
	}
	// Every other interface, and one that does not exist.
	var want []int32
	for i, x := range all {
		if i%2 == 0 || byIndex[x].TxBytes > 0 {
			want = append(want, x)
		}
	}
	if len(want) <= maxBatch {
		t.Fatalf("only %d interfaces asked for: the test needs more than one batch", len(want))
	}
	asked := append(slices.Clone(want), 1<<30)
	got, err := ix.ReadIndexes(nil, asked)
	if err != nil {
		t.Fatal(err)
	}
	var gotIdx []int32
	moved := false
	for _, s := range got {
		gotIdx = append(gotIdx, s.Index)
		d := byIndex[s.Index]
		if s.Counters != d.Counters {
			t.Errorf("ifindex %d: requested counters %+v, dump %+v", s.Index, s.Counters, d.Counters)
		}
		moved = moved || s.TxBytes > 0
	}
	if !slices.Equal(gotIdx, want) {
		t.Fatalf("requested %d interfaces, got %v, want %v", len(asked), gotIdx, want)
	}
	if !moved {
		t.Error("no interface asked for had counted anything: the comparison proves little")
	}
	if n := testing.AllocsPerRun(50, func() { got, _ = ix.ReadIndexes(got, want) }); n != 0 {
		t.Errorf("%v allocations per reading, want 0", n)
	}
}

// The per-device qdisc reading sees an mq (with tbf children), an htb and a
// tbf where a dump sees them, reads with requests only the qdiscs that are
// not noqueue (an mq's children only when the root moved), ignores noqueue
// devices, renews its structure from a dump when a qdisc changes, and
// allocates nothing in steady state.
func TestNetlinkQdiscsReadDevices(t *testing.T) {
	a, b := quietNS(t), quietNS(t)
	multiQueueVeth(t, a, "qa", b, "qapeer", "198.18.1.1", "198.18.1.2")
	a.MustRun(t, "tc", "qdisc", "add", "dev", "qa", "root", "handle", "1:", "mq")
	for q := 1; q <= 4; q++ {
		a.MustRun(t, "tc", "qdisc", "replace", "dev", "qa", "parent", fmt.Sprintf("1:%d", q), "tbf", "rate", "2mbit", "burst", "4kb", "latency", "5ms")
	}
	a.Batch(t, []string{
		"link add name qb type veth peer name qbp",
		"link add name qc type veth peer name qcp",
		"link add name qd type veth peer name qdp",
		"link add name qe type veth peer name qep",
		"link set qd up", "link set qdp up",
	})
	a.MustRun(t, "tc", "qdisc", "add", "dev", "qb", "root", "handle", "1:", "htb", "default", "10")
	a.MustRun(t, "tc", "class", "add", "dev", "qb", "parent", "1:", "classid", "1:10", "htb", "rate", "10mbit")
	a.MustRun(t, "tc", "qdisc", "add", "dev", "qb", "parent", "1:10", "handle", "10:", "pfifo", "limit", "100")
	a.MustRun(t, "tc", "qdisc", "add", "dev", "qc", "root", "tbf", "rate", "10mbit", "burst", "10kb", "latency", "20ms")
	var links LinkSource
	var src QdiscSource
	if err := a.Do(func() error {
		var err error
		if links, err = NewNetlinkLinks(t.TempDir(), nil); err != nil {
			return err
		}
		src, err = NewNetlinkQdiscs()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { links.Close(); src.Close() })
	q := src.(*netlinkQdiscs)
	names := indexesByName(t, links)
	idx := []int32{names["qa"], names["qb"], names["qc"], names["qd"], names["qe"]}
	slices.Sort(idx)
	devName := map[int32]string{}
	for n, i := range names {
		devName[i] = n
	}
	// dumped returns what a dump shows of the devices, for comparison.
	dumped := func() []QdiscStat {
		t.Helper()
		var fresh QdiscSource
		if err := a.Do(func() error {
			var err error
			fresh, err = NewNetlinkQdiscs()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		all, err := fresh.(*netlinkQdiscs).dump(nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []QdiscStat
		for _, ix := range idx {
			for _, s := range all {
				if s.Index == ix {
					out = append(out, s)
				}
			}
		}
		return out
	}
	var dst []QdiscStat
	read := func(step string) []QdiscStat {
		t.Helper()
		got, err := q.ReadDevices(dst, idx)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		dst = got
		return got
	}
	same := func(step string, got, want []QdiscStat) {
		t.Helper()
		key := func(s QdiscStat) string { return fmt.Sprintf("%s/%x/%x", devName[s.Index], s.Parent, s.Handle) }
		g, w := map[string]QdiscStat{}, map[string]QdiscStat{}
		for _, s := range got {
			g[key(s)] = s
		}
		for _, s := range want {
			w[key(s)] = s
		}
		if len(g) != len(got) || len(g) != len(w) {
			t.Fatalf("%s: %d qdiscs (%d distinct), the dump shows %d: %v against %v", step, len(got), len(g), len(w), got, want)
		}
		for k, ws := range w {
			if gs, ok := g[k]; !ok || gs != ws {
				t.Errorf("%s: %s reads %+v, the dump %+v", step, k, gs, ws)
			}
		}
	}
	kinds := func(got []QdiscStat) map[string][]string {
		out := map[string][]string{}
		for _, s := range got {
			out[devName[s.Index]] = append(out[devName[s.Index]], s.Kind)
		}
		for _, k := range out {
			slices.Sort(k)
		}
		return out
	}

	got := read("first reading")
	if q.nDumps != 1 || q.nGets != 0 {
		t.Fatalf("first reading: %d dumps, %d requests; want the structure from one dump", q.nDumps, q.nGets)
	}
	same("first reading", got, dumped())
	k := kinds(got)
	t.Logf("qdiscs: %v", k)
	if fmt.Sprint(k["qa"]) != "[mq tbf tbf tbf tbf]" || !slices.Contains(k["qb"], "htb") || !slices.Contains(k["qb"], "pfifo") ||
		fmt.Sprint(k["qc"]) != "[tbf]" || fmt.Sprint(k["qd"]) != "[noqueue]" || len(k["qe"]) != 0 {
		t.Fatalf("kinds %v: want qa mq with 4 tbf, qb htb with a pfifo, qc tbf, qd noqueue, qe none (down)", k)
	}
	// Requests for qa's root alone (quiet), qb's and qc's qdiscs; none
	// for qd's noqueue.
	wantGets := uint64(1 + len(k["qb"]) + 1)
	got = read("second reading")
	if q.nDumps != 1 || q.nGets != wantGets {
		t.Errorf("second reading: %d dumps, %d requests; want 1 and %d", q.nDumps, q.nGets, wantGets)
	}
	same("second reading", got, dumped())

	// Traffic through qa's tbf queues: the mq root's counters move, so
	// its children are read too, and agree with a dump.
	nstest.BlastUDP(t, a, "198.18.1.2:9", 300*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // the queues drain
	before := q.nGets
	got = read("after traffic")
	if d := q.nGets - before; d != wantGets+4 || q.nDumps != 1 {
		t.Errorf("after traffic: %d requests (want %d: qa's children too), %d dumps (want 1)", d, wantGets+4, q.nDumps)
	}
	want := dumped()
	same("after traffic", got, want)
	var drops uint32
	for _, s := range want {
		if s.Index == names["qa"] && s.Kind == "tbf" {
			drops += s.Drops
		}
	}
	if drops == 0 {
		t.Error("no tbf drops on qa: the traffic did not move the mq")
	}

	// Only noqueue devices: nothing to request, and the second reading
	// is unchanged.
	only := []int32{names["qd"]}
	if got, err := q.ReadDevices(nil, only); err != nil || len(got) != 1 || got[0].Kind != "noqueue" {
		t.Fatalf("noqueue device: %v, %v", got, err)
	}
	before = q.nGets
	if _, err := q.ReadDevices(nil, only); !errors.Is(err, ErrUnchanged) || q.nGets != before {
		t.Errorf("noqueue device again: err %v and %d requests; want ErrUnchanged and none", err, q.nGets-before)
	}

	// A qdisc change renews the structure: the notification comes back
	// ahead of the replies of the next reading's requests, which is then
	// the old structure's (a sample late at most), and the reading after
	// it dumps.
	a.MustRun(t, "tc", "qdisc", "replace", "dev", "qc", "root", "pfifo_fast")
	read("after replacing qc's tbf")
	got = read("after replacing qc's tbf, again")
	if q.nDumps != 2 {
		t.Errorf("after a qdisc change: %d dumps, want 2", q.nDumps)
	}
	if k := kinds(got); fmt.Sprint(k["qc"]) != "[pfifo_fast]" {
		t.Errorf("qc's qdiscs %v after the replace, want pfifo_fast", k["qc"])
	}
	read("steady")
	if n := testing.AllocsPerRun(50, func() { read("steady") }); n != 0 {
		t.Errorf("%v allocations per reading, want 0", n)
	}
	if q.nDumps != 2 {
		t.Errorf("%d dumps in steady state, want none since the change", q.nDumps-2)
	}
}

// countingStats wraps the netlink stats source and counts how often each
// interface was read, by dumps and by per-device requests.
type countingNetlink struct {
	StatsSource
	reads            map[int32]int
	dumps, requested int
}

func (c *countingNetlink) Read(dst []Stat) ([]Stat, error) {
	c.dumps++
	dst, err := c.StatsSource.Read(dst)
	for _, s := range dst {
		c.reads[s.Index]++
	}
	return dst, err
}

func (c *countingNetlink) ReadIndexes(dst []Stat, indexes []int32) ([]Stat, error) {
	c.requested++
	dst, err := c.StatsSource.(IndexStatsSource).ReadIndexes(dst, indexes)
	for _, s := range dst {
		c.reads[s.Index]++
	}
	return dst, err
}

// A hypervisor-like namespace with the default tiers: NIC-like devices
// with mq qdiscs and an uplink bridge are sampled at every sample through
// per-device requests, the 100 vifs and a per-VM firewall bridge once a
// second through the dump; a vif renamed out of the per-VM names joins the
// fast set. Samples are counted per device; no timing is asserted.
func TestNamespaceTiers(t *testing.T) {
	a, b := quietNS(t), quietNS(t)
	for i := range 2 {
		multiQueueVeth(t, a, fmt.Sprintf("eth%d", i), b, fmt.Sprintf("peer%d", i), fmt.Sprintf("198.18.2.%d", 4*i+1), fmt.Sprintf("198.18.2.%d", 4*i+2))
		a.MustRun(t, "tc", "qdisc", "add", "dev", fmt.Sprintf("eth%d", i), "root", "handle", "1:", "mq")
	}
	lines := []string{"link add name br0 type bridge", "link add name fwbr0 type bridge"}
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("link add name vif%da type veth peer name vif%db", i, i))
	}
	a.Batch(t, lines)
	var src *NetlinkSources
	if err := a.Do(func() error {
		var err error
		src, err = OpenNetlinkSources(t.TempDir(), nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	stats := &countingNetlink{StatsSource: src.Stats, reads: map[int32]int{}}
	s, err := New(Config{Interval: 100 * time.Millisecond, SlowDevices: slowNames, Stats: stats, Links: src.Links, Qdiscs: src.Qdiscs, QdiscEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	run := func(n int) {
		for range n {
			s.Sample(now)
			now = now.Add(100 * time.Millisecond)
		}
	}
	run(30)
	names := indexesByName(t, src.Links)
	fast := map[string]bool{"lo": true, "eth0": true, "eth1": true, "br0": true}
	if stats.dumps != 3 || stats.requested != 27 {
		t.Errorf("%d dumps and %d per-device readings in 30 samples, want 3 and 27", stats.dumps, stats.requested)
	}
	var snap Snapshot
	s.Snapshot(&snap)
	if len(snap.Devices) != len(names) {
		t.Fatalf("%d devices sampled, %d in the namespace", len(snap.Devices), len(names))
	}
	for _, d := range snap.Devices {
		wantReads, wantIv := 3, time.Second
		if fast[d.Name] {
			wantReads, wantIv = 30, 100*time.Millisecond
		}
		if got := stats.reads[names[d.Name]]; got != wantReads || d.Interval != wantIv {
			t.Errorf("%s: read %d times at %v, want %d at %v", d.Name, got, d.Interval, wantReads, wantIv)
		}
	}
	mq := 0
	for _, q := range snap.Qdiscs {
		if strings.HasPrefix(q.Device, "eth") && (q.Kind == "mq" || q.Kind == "pfifo_fast") {
			mq++
		}
	}
	if mq != 4 {
		t.Errorf("qdisc series %+v: want mq and pfifo_fast on eth0 and eth1", snap.Qdiscs)
	}
	if snap.Errors != [numOps]uint64{} {
		t.Errorf("sampler errors: %v", snap.Errors)
	}

	a.MustRun(t, "ip", "link", "set", "dev", "vif7a", "name", "uplink7")
	waitFor(t, "the link table to see the rename", func() bool { _, ok := indexesByName(t, src.Links)["uplink7"]; return ok })
	run(1) // the link table change reaches the sampler
	before := stats.reads[names["vif7a"]]
	run(20)
	if got := stats.reads[names["vif7a"]] - before; got != 20 {
		t.Errorf("after a rename to uplink7: read %d times in 20 samples, want 20", got)
	}
	if d := snapshotOf(t, s, "uplink7"); d.Interval != 100*time.Millisecond {
		t.Errorf("uplink7's interval %v, want 100ms", d.Interval)
	}

	// Zero allocations per sample once warm, over whole seconds: a slow
	// sample and nine fast ones each.
	run(700)
	if n := testing.AllocsPerRun(5, func() { run(10) }); n != 0 {
		t.Errorf("%v allocations per second of samples (1 slow + 9 fast), want 0", n)
	}
	s.Snapshot(&snap)
	if snap.Errors != [numOps]uint64{} {
		t.Errorf("sampler errors: %v", snap.Errors)
	}
}
