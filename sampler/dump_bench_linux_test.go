package sampler

import (
	"errors"
	"fmt"
	"runtime"
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
