package collector_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/prober"
	"github.com/netburst/netburst/sampler"
)

// Scrapes run concurrently with sampling and with each other; `make test`
// runs this under -race. Devices come and go meanwhile.
func TestConcurrentScrapesRace(t *testing.T) {
	metrics := collector.NewSampler(collector.SamplerOptions{Interval: 10 * time.Millisecond})
	s, err := sampler.New(sampler.Config{Interval: 10 * time.Millisecond, Stats: noStats{}, Observer: metrics})
	if err != nil {
		t.Fatal(err)
	}
	metrics.SetSource(s)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		now := time.Unix(1e9, 0)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n := 50 + i%20 // devices appear and vanish
			links := make([]sampler.Link, n)
			stats := make([]sampler.Stat, n)
			for j := range n {
				links[j] = sampler.Link{Index: int32(j + 1), Name: fmt.Sprintf("eth%d", j)}
				stats[j] = sampler.Stat{Index: int32(j + 1), Counters: sampler.Counters{RxBytes: uint64(i * 1000), RxPackets: uint64(i)}}
			}
			now = now.Add(10 * time.Millisecond)
			s.Step(now, stats, links, uint64(i))
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 30 {
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
}

// Scrapes through the Handler (every sampler and prober family streamed
// from its snapshot) run concurrently with sampling, with RTTs and target
// reloads, and with each other, in every format (each scrape has a
// snapshot and buffers of its own); `make test` runs this under -race.
func TestHandlerConcurrentRace(t *testing.T) {
	metrics := collector.NewSampler(collector.SamplerOptions{Interval: 10 * time.Millisecond})
	s, err := sampler.New(sampler.Config{Interval: 10 * time.Millisecond, Stats: noStats{}, Observer: metrics})
	if err != nil {
		t.Fatal(err)
	}
	metrics.SetSource(s)
	probes := collector.NewProber()
	probes.SetSource(&copyingProber{prober.Snapshot{Targets: []prober.TargetStats{{Name: "a", Sent: 1}, {Name: "b", Sent: 2}}}})
	reg := prometheus.NewRegistry()
	h := collector.NewHandler(reg, collector.HandlerOpts{EnableOpenMetrics: true})
	h.Registerer().MustRegister(metrics, probes)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		now := time.Unix(1e9, 0)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n := 50 + i%20 // devices appear and vanish, with their histograms
			links := make([]sampler.Link, n)
			stats := make([]sampler.Stat, n)
			for j := range n {
				links[j] = sampler.Link{Index: int32(j + 1), Name: fmt.Sprintf("eth%d", j)}
				stats[j] = sampler.Stat{Index: int32(j + 1), Counters: sampler.Counters{RxBytes: uint64(i * (1000 + j)), RxPackets: uint64(i)}}
			}
			now = now.Add(10 * time.Millisecond)
			s.Step(now, stats, links, uint64(i))
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			probes.ObserveRTT(fmt.Sprint("t", i%30), time.Duration(i%1000)*time.Microsecond)
			if i%100 == 0 {
				probes.Retain([]string{"t1", "t2"})
			}
		}
	}()
	for k, accept := range []string{acceptText, acceptProto, acceptOM, acceptText} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				req := newReq(accept)
				if (k+i)%2 == 0 {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				w := newDiscard()
				h.ServeHTTP(w, req)
				if w.code != 200 || w.n == 0 {
					t.Errorf("scrape: %d, %d bytes", w.code, w.n)
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
}
