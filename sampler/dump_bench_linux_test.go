package sampler

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// BenchmarkStatsDump1000 is one RTM_GETSTATS dump of a namespace with
// 1,001 interfaces, back to back ("gap=0") and 100 ms apart as the exporter
// runs it ("gap=100ms", where the kernel's caches have gone cold). It
// reports the process's user and system CPU per dump from getrusage: most
// of a dump's cost is the kernel's. Run with -benchtime=200x. Needs root.
func BenchmarkStatsDump1000(b *testing.B) {
	ns := nstest.New(b)
	var lines []string
	for i := range 500 {
		lines = append(lines, fmt.Sprintf("link add name p%da type veth peer name p%db", i, i))
	}
	ipBatch(b, ns, lines)
	var src StatsSource
	if err := ns.Do(func() error {
		var err error
		src, err = NewNetlinkStats()
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for _, gap := range []time.Duration{0, 100 * time.Millisecond} {
		b.Run(fmt.Sprintf("gap=%v", gap), func(b *testing.B) {
			stats, err := src.Read(nil)
			if err != nil || len(stats) != 1001 {
				b.Fatalf("read %d interfaces, err %v", len(stats), err)
			}
			var r0, r1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if gap > 0 {
					time.Sleep(gap)
				}
				stats, _ = src.Read(stats)
			}
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			b.ReportMetric(float64(r1.Utime.Nano()-r0.Utime.Nano())/1e3/float64(b.N), "user-us/op")
			b.ReportMetric(float64(r1.Stime.Nano()-r0.Stime.Nano())/1e3/float64(b.N), "sys-us/op")
		})
	}
}
