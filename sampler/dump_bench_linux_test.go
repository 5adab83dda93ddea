package sampler

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netburst/netburst/internal/nstest"
)

// threadCPU is the calling thread's CPU time (user + system), in ns.
func threadCPU(b *testing.B) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return ts.Nano()
}

// BenchmarkStatsDump1000 is the kernel's floor under a sample: one
// RTM_GETSTATS dump ("stats") and one RTM_GETQDISC dump ("qdisc") of a
// namespace with 1,001 interfaces (down, as bench/exporter_vs_node_exporter.sh
// leaves them: only lo has a qdisc to report, "entries"), back to back ("gap=0") and 100 ms apart
// as the exporter runs them ("gap=100ms": the dump's working set has left
// the caches by then). "qdisc-unchanged" is what the qdisc source costs
// when no qdisc or link changed and no qdisc but noqueue exists: a
// non-blocking read of its notification socket instead of the dump. thread-us/op is the CPU time of the reading thread
// around the Read alone (CLOCK_THREAD_CPUTIME_ID, thread locked), nearly
// all of it the kernel building the dump; pct-core-at-10Hz is what that
// costs at one dump every 100 ms. user-us/op and sys-us/op are the whole
// process's (getrusage). Run with -benchtime=200x. Needs root.
func BenchmarkStatsDump1000(b *testing.B) {
	ns := nstest.New(b)
	var lines []string
	for i := range 500 {
		lines = append(lines, fmt.Sprintf("link add name p%da type veth peer name p%db", i, i))
	}
	ipBatch(b, ns, lines)
	var stats StatsSource
	var qdiscs QdiscSource
	if err := ns.Do(func() error {
		var err error
		if stats, err = NewNetlinkStats(); err != nil {
			return err
		}
		qdiscs, err = NewNetlinkQdiscs()
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	defer qdiscs.Close()
	var st []Stat
	var qs []QdiscStat
	dumps := []struct {
		name string
		read func() (int, error)
	}{
		{"stats", func() (int, error) {
			var err error
			st, err = stats.Read(st)
			return len(st), err
		}},
		{"qdisc", func() (int, error) {
			var err error
			qs, err = qdiscs.(*netlinkQdiscs).dump(qs)
			return len(qs), err
		}},
		{"qdisc-unchanged", func() (int, error) {
			var err error
			if qs, err = qdiscs.Read(qs); errors.Is(err, ErrUnchanged) {
				err = nil
			}
			return len(qs), err
		}},
	}
	for _, d := range dumps {
		for _, gap := range []time.Duration{0, 100 * time.Millisecond} {
			b.Run(fmt.Sprintf("%s/gap=%v", d.name, gap), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				n, err := d.read()
				if err != nil || n == 0 || (d.name == "stats" && n != 1001) {
					b.Fatalf("read %d entries, err %v", n, err)
				}
				var r0, r1 syscall.Rusage
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
				var thread int64
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if gap > 0 {
						time.Sleep(gap)
					}
					t0 := threadCPU(b)
					_, _ = d.read()
					thread += threadCPU(b) - t0
				}
				b.StopTimer()
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
				perOp := float64(thread) / 1e3 / float64(b.N)
				b.ReportMetric(perOp, "thread-us/op")
				b.ReportMetric(perOp/1e3, "pct-core-at-10Hz")
				b.ReportMetric(float64(n), "entries")
				b.ReportMetric(float64(r1.Utime.Nano()-r0.Utime.Nano())/1e3/float64(b.N), "user-us/op")
				b.ReportMetric(float64(r1.Stime.Nano()-r0.Stime.Nano())/1e3/float64(b.N), "sys-us/op")
			})
		}
	}
}

// BenchmarkFastRead is what the fast set's per-device readings cost the
// kernel against the dumps they replace, in a namespace of 1,001
// interfaces (1,000 veths, down, as in BenchmarkStatsDump1000) plus 8
// multi-queue veths with an mq root and a qdisc per queue (5 qdiscs each,
// as a NIC's mq with fq_codel children; pfifo_fast here): "stats-N" reads
// the counters of N interfaces with batched RTM_GETSTATS requests
// ("stats-dump" with the dump), "qdisc-8nics" the 40 qdiscs of the 8
// devices with batched RTM_GETQDISC requests ("qdisc-dump" with the dump).
// thread-us/op is the reading thread's CPU time around the read. It sets
// batchShare and maxQdiscGets. Run with -benchtime=200x. Needs root.
func BenchmarkFastRead(b *testing.B) {
	ns := nstest.New(b)
	var lines []string
	for i := range 500 {
		lines = append(lines, fmt.Sprintf("link add name p%da type veth peer name p%db", i, i))
	}
	for i := range 8 {
		lines = append(lines, fmt.Sprintf("link add name eth%d numtxqueues 4 numrxqueues 4 type veth peer name peth%d numtxqueues 4 numrxqueues 4", i, i))
	}
	ipBatch(b, ns, lines)
	for i := range 8 {
		ns.MustRun(b, "tc", "qdisc", "add", "dev", fmt.Sprintf("eth%d", i), "root", "handle", "1:", "mq")
	}
	var stats StatsSource
	var qdiscs QdiscSource
	var links LinkSource
	if err := ns.Do(func() error {
		var err error
		if stats, err = NewNetlinkStats(); err != nil {
			return err
		}
		if links, err = NewNetlinkLinks(b.TempDir(), nil); err != nil {
			return err
		}
		qdiscs, err = NewNetlinkQdiscs()
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	defer qdiscs.Close()
	defer links.Close()
	table, _ := links.Links()
	var all, nics []int32
	for _, l := range table {
		all = append(all, l.Index)
		if strings.HasPrefix(l.Name, "eth") {
			nics = append(nics, l.Index)
		}
	}
	slices.Sort(all)
	slices.Sort(nics)
	var st []Stat
	var qs []QdiscStat
	type read struct {
		name string
		want int
		fn   func() (int, error)
	}
	reads := []read{{"stats-dump", len(all), func() (int, error) {
		var err error
		st, err = stats.Read(st)
		return len(st), err
	}}}
	for _, n := range []int{8, 32, 64, 128, 256} {
		idx := all[:n]
		reads = append(reads, read{fmt.Sprintf("stats-%d", n), n, func() (int, error) {
			var err error
			st, err = stats.(IndexStatsSource).ReadIndexes(st, idx)
			return len(st), err
		}})
	}
	nq := qdiscs.(*netlinkQdiscs)
	reads = append(reads, read{"qdisc-dump", 0, func() (int, error) {
		var err error
		qs, err = nq.dump(qs)
		return len(qs), err
	}}, read{"qdisc-8nics", 40, func() (int, error) {
		var err error
		qs, err = nq.ReadDevices(qs, nics)
		return len(qs), err
	}})
	for _, r := range reads {
		for _, gap := range []time.Duration{0, 100 * time.Millisecond} {
			b.Run(fmt.Sprintf("%s/gap=%v", r.name, gap), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				n, err := r.fn()
				if err != nil || n == 0 || (r.want != 0 && n != r.want) {
					b.Fatalf("read %d entries (want %d), err %v", n, r.want, err)
				}
				var thread int64
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if gap > 0 {
						time.Sleep(gap)
					}
					t0 := threadCPU(b)
					_, _ = r.fn()
					thread += threadCPU(b) - t0
				}
				b.StopTimer()
				b.ReportMetric(float64(thread)/1e3/float64(b.N), "thread-us/op")
				b.ReportMetric(float64(n), "entries")
			})
		}
	}
	if nq.nGets == 0 {
		b.Fatal("the 8 devices' qdiscs were never read with requests")
	}
}

// BenchmarkSampleTiers is one second of samples as the exporter takes them
// (a slow sample and nine fast ones, 100 ms apart) on the host of
// bench/exporter_vs_node_exporter.sh MODE=tiers: 8 NIC-like devices with 4
// queues and an mq root, 1,000 vifs (up), the default tiers ("tiers") or
// every device in the fast set ("all-fast"). thread-us/op is the sampling
// thread's CPU time for the ten samples (kernel readings and arithmetic),
// pct-core is that over the second; slow-us and fast-us split it by kind
// of sample. Needs root; run with -benchtime=20x.
func BenchmarkSampleTiers(b *testing.B) {
	a, peer := quietNS(b), quietNS(b)
	var lines []string
	for i := 1; i <= 500; i++ {
		lines = append(lines, fmt.Sprintf("link add name vif%d.0 type veth peer name vif%d.1", i, i),
			fmt.Sprintf("link set vif%d.0 up", i), fmt.Sprintf("link set vif%d.1 up", i))
	}
	a.Batch(b, lines)
	for i := range 8 {
		multiQueueVeth(b, a, fmt.Sprintf("eth%d", i), peer, fmt.Sprintf("peer%d", i), fmt.Sprintf("198.18.3.%d", 4*i+1), fmt.Sprintf("198.18.3.%d", 4*i+2))
		a.MustRun(b, "tc", "qdisc", "add", "dev", fmt.Sprintf("eth%d", i), "root", "handle", "1:", "mq")
	}
	var src *NetlinkSources
	if err := a.Do(func() error {
		var err error
		src, err = OpenNetlinkSources(b.TempDir(), nil)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for _, bc := range []struct {
		name string
		slow *regexp.Regexp
	}{{"tiers", slowNames}, {"all-fast", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(Config{Interval: 100 * time.Millisecond, SlowDevices: bc.slow, Stats: src.Stats, Links: src.Links, Qdiscs: src.Qdiscs, QdiscEvery: 1})
			if err != nil {
				b.Fatal(err)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			now := time.Now()
			for range 20 { // the structure, devices and windows in place
				s.Sample(now)
				now = now.Add(100 * time.Millisecond)
			}
			var slowNS, fastNS int64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for range 10 {
					time.Sleep(100 * time.Millisecond)
					slow := s.slowDue(s.mono(now))
					t0 := threadCPU(b)
					s.Sample(now)
					d := threadCPU(b) - t0
					if slow {
						slowNS += d
					} else {
						fastNS += d
					}
					now = now.Add(100 * time.Millisecond)
				}
			}
			b.StopTimer()
			perOp := float64(slowNS+fastNS) / 1e3 / float64(b.N)
			b.ReportMetric(perOp, "thread-us/op")
			b.ReportMetric(perOp/1e4, "pct-core")
			b.ReportMetric(float64(slowNS)/1e3/float64(b.N), "slow-us")
			b.ReportMetric(float64(fastNS)/1e3/float64(b.N), "fast-us")
			var snap Snapshot
			s.Snapshot(&snap)
			if len(snap.Devices) != 1009 || snap.Errors != [numOps]uint64{} {
				b.Fatalf("%d devices, errors %v", len(snap.Devices), snap.Errors)
			}
		})
	}
}
