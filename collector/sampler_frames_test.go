package collector_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/sampler"
)

func encode(t testing.TB, mfs []*dto.MetricFamily) string {
	t.Helper()
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// deviceStep is one reading of a changing set of devices: device i exists
// when alive(i), and its attributes change with the step too.
func deviceStep(step, n int, alive func(i int) bool) ([]sampler.Link, []sampler.Stat) {
	var links []sampler.Link
	var stats []sampler.Stat
	for i := range n {
		if !alive(i) {
			continue
		}
		l := sampler.Link{Index: int32(i + 1), Name: fmt.Sprintf("eth%d", i), Kind: "physical", OperState: "up"}
		if (i+step)%3 == 0 {
			l.SpeedBytes = 1.25e9 // speed known at some steps only
		}
		if (i+step)%5 == 0 {
			l.OperState = "down"
		}
		if i%7 == 0 {
			l.Name = fmt.Sprintf("tap\xff%d", i) // not UTF-8
		}
		links = append(links, l)
		stats = append(stats, sampler.Stat{Index: int32(i + 1), Counters: sampler.Counters{
			RxBytes: uint64(step * (1000 + i)), TxBytes: uint64(step * i), RxPackets: uint64(step), TxPackets: uint64(step),
		}})
	}
	return links, stats
}

// The cached families serve exactly what the registry would: the same
// text, step after step, while devices come and go, change their
// attributes and gain or lose their speed and refresh series.
func TestDeviceGathererMatchesRegistry(t *testing.T) {
	s, err := sampler.New(sampler.Config{Stats: noStats{}})
	if err != nil {
		t.Fatal(err)
	}
	viaRegistry := collector.NewSampler(collector.SamplerOptions{})
	viaRegistry.SetSource(s)
	regA := prometheus.NewRegistry()
	regA.MustRegister(viaRegistry)

	cached := collector.NewSampler(collector.SamplerOptions{})
	cached.SetSource(s)
	regB := prometheus.NewRegistry()
	regB.MustRegister(cached)
	g := cached.DeviceGatherer(regB)

	now := time.Unix(1e9, 0)
	for step := range 40 {
		now = now.Add(100 * time.Millisecond)
		alive := func(i int) bool { return step < 10 || (i+step/10)%4 != 0 }
		links, stats := deviceStep(step, 30, alive)
		s.Step(now, stats, links, uint64(step/3)) // the table changes every third step
		a, err := regA.Gather()
		if err != nil {
			t.Fatal(err)
		}
		b, done, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		want, got := encode(t, a), encode(t, b)
		done()
		if got != want {
			t.Fatalf("step %d: cached families differ from the registry's:\n--- registry\n%s\n--- cached\n%s", step, want, got)
		}
		if step == 20 && !strings.Contains(got, "netburst_interface_counter_refresh_seconds") {
			t.Errorf("step %d: no refresh series: the test does not cover them", step)
		}
	}
}

// Scrapes through the cached families run concurrently with sampling and
// with each other (each scrape has a frame of its own until done); `make
// test` runs this under -race.
func TestDeviceGathererConcurrentRace(t *testing.T) {
	s, err := sampler.New(sampler.Config{Interval: 10 * time.Millisecond, Stats: noStats{}})
	if err != nil {
		t.Fatal(err)
	}
	metrics := collector.NewSampler(collector.SamplerOptions{})
	metrics.SetSource(s)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)
	g := metrics.DeviceGatherer(reg)
	links, stats := deviceStep(0, 40, func(int) bool { return true })
	s.Step(time.Unix(1e9, 0), stats, links, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		now := time.Unix(1e9, 0)
		for step := 1; ; step++ {
			select {
			case <-stop:
				return
			default:
			}
			links, stats := deviceStep(step, 40, func(i int) bool { return (i+step/5)%3 != 0 })
			now = now.Add(10 * time.Millisecond)
			s.Step(now, stats, links, uint64(step))
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 30 {
				mfs, done, err := g.Gather()
				if err != nil {
					t.Error(err)
				}
				if out := encode(t, mfs); !strings.Contains(out, "netburst_interface_bytes_total{") {
					t.Error("a scrape without device series")
				}
				done()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
}
