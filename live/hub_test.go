package live

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netburst/netburst/prober"
	"github.com/netburst/netburst/sampler"
	"github.com/netburst/netburst/spike"
)

// nopObserver stands for the metrics: it counts what it is handed.
type nopObserver struct {
	mu   sync.Mutex
	seen int
}

func (o *nopObserver) DeviceAdded(string) (rx, tx sampler.RateObserver) { return nil, nil }
func (o *nopObserver) DeviceRemoved(string)                             {}
func (o *nopObserver) SampleDone(float64, float64)                      { o.mu.Lock(); o.seen++; o.mu.Unlock() }
func (o *nopObserver) ObserveRTT(string, time.Duration)                 {}

type event struct {
	name string
	data string
}

// stream connects to the hub's handler and returns its events.
func stream(t *testing.T, srv *httptest.Server, query string) (<-chan event, func()) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/api/v1/stream" + query)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	ch := make(chan event, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var e event
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "event: "):
				e.name = l[7:]
			case strings.HasPrefix(l, "data: "):
				e.data = l[6:]
			case l == "" && e.name != "":
				ch <- e
				e = event{}
			}
		}
	}()
	return ch, func() { resp.Body.Close() }
}

func next(t *testing.T, ch <-chan event, name string) event {
	t.Helper()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended waiting for %s", name)
			}
			if e.name == name {
				return e
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", name)
		}
	}
}

func TestHubStream(t *testing.T) {
	metrics := &nopObserver{}
	h := NewHub(Config{
		Default: func(d string) bool { return !strings.HasPrefix(d, "tap") },
		Hello: func() Hello {
			return Hello{IntervalSeconds: 0.1, BurstThreshold: 0.9, Speeds: map[string]float64{"eth0": 1.25e9}, Targets: []string{"gw"}}
		},
		Busiest: 1,
	})
	obs := h.Sampler(metrics)
	eth0rx, eth0tx := obs.DeviceAdded("eth0")
	tap1rx, _ := obs.DeviceAdded("tap1")
	tap2rx, _ := obs.DeviceAdded("tap2")
	pobs := h.Prober(metrics).(prober.ResultObserver)
	// Nobody connected: nothing recorded, the metrics still see everything.
	eth0rx.Observe(1)
	obs.SampleDone(0.1, 0.001)
	if len(h.rates) != 0 || metrics.seen != 1 {
		t.Fatalf("recorded %d devices with no client; metrics saw %d samples", len(h.rates), metrics.seen)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/stream", h.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	all, closeAll := stream(t, srv, "")
	defer closeAll()
	only, closeOnly := stream(t, srv, "?devices=tap2&targets=none")
	defer closeOnly()
	var hello Hello
	if err := json.Unmarshal([]byte(next(t, all, "hello").data), &hello); err != nil || hello.Speeds["eth0"] != 1.25e9 || hello.Targets[0] != "gw" {
		t.Fatalf("hello %+v, %v", hello, err)
	}
	next(t, only, "hello")
	for h.Clients() != 2 {
		time.Sleep(time.Millisecond)
	}
	eth0rx.Observe(100e6)
	eth0tx.Observe(5e6)
	tap1rx.Observe(7e6)
	tap2rx.Observe(3e6)
	pobs.ObserveResult(prober.Result{Kind: prober.ResultReply, Target: "gw", RTT: 2 * time.Millisecond})
	pobs.ObserveResult(prober.Result{Kind: prober.ResultReply, Target: "gw", RTT: 120 * time.Millisecond})
	pobs.ObserveResult(prober.Result{Kind: prober.ResultLost, Target: "gw"})
	obs.SampleDone(0.1, 0.001)
	var s Sample
	if err := json.Unmarshal([]byte(next(t, all, "sample").data), &s); err != nil {
		t.Fatal(err)
	}
	// The default set (eth0) and the busiest other one (tap1, not tap2).
	if s.Devices["eth0"] != [2]float64{100e6, 5e6} || s.Devices["tap1"][0] != 7e6 || len(s.Devices) != 2 {
		t.Errorf("sample devices %v", s.Devices)
	}
	if p := s.Probes["gw"]; p.RTT == nil || *p.RTT != 0.12 || p.Replies != 2 || p.Lost != 1 {
		t.Errorf("sample probes %+v", s.Probes)
	}
	var f Sample
	if err := json.Unmarshal([]byte(next(t, only, "sample").data), &f); err != nil || len(f.Devices) != 1 || f.Devices["tap2"][0] != 3e6 || len(f.Probes) != 0 {
		t.Errorf("filtered sample %+v, %v", f, err)
	}
	h.Notify(spike.Event{Time: time.UnixMilli(1700000000123), Trigger: spike.TriggerBurst, Device: "eth0", Value: 1e9, Threshold: 9e8})
	var sp Spike
	if err := json.Unmarshal([]byte(next(t, all, "spike").data), &sp); err != nil || sp.Trigger != "burst" || sp.Time != 1700000000123 {
		t.Errorf("spike %+v, %v", sp, err)
	}
}

// blockingWriter is a client that never reads: its writes block until
// released.
type blockingWriter struct {
	header  http.Header
	release chan struct{}
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Flush()              {}
func (w *blockingWriter) Write(b []byte) (int, error) {
	<-w.release
	return len(b), nil
}

// TestHubDropsSlowClients: a client that does not read is dropped once its
// queue is full, not buffered without bound, and the others go on; beyond
// MaxClients a stream is refused.
func TestHubDropsSlowClients(t *testing.T) {
	h := NewHub(Config{Queue: 4, MaxClients: 2})
	obs := h.Sampler(&nopObserver{})
	rx, _ := obs.DeviceAdded("eth0")
	w := &blockingWriter{header: http.Header{}, release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/stream", nil))
	}()
	for h.Clients() != 1 {
		time.Sleep(time.Millisecond)
	}
	// A second client fills the hub; a third is refused.
	rec := httptest.NewRecorder()
	h.mu.Lock()
	h.subs[&client{ch: make(chan []byte, 1), gone: make(chan struct{})}] = struct{}{}
	h.clients.Add(1)
	h.mu.Unlock()
	h.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/stream", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "too many live clients") {
		t.Errorf("third client: %d %q", rec.Code, rec.Body)
	}
	for i := 0; i < 10; i++ {
		rx.Observe(float64(i + 1))
		obs.SampleDone(0.1, 0.001)
	}
	if h.Dropped() != 2 || h.Clients() != 0 {
		t.Errorf("dropped %d, clients %d; want both slow clients dropped", h.Dropped(), h.Clients())
	}
	close(w.release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the dropped client's handler did not return")
	}
}

// BenchmarkHubSample is one 100 ms sample of 1,000 moving devices streamed
// to 5 clients that keep up (each client the default: every device here),
// the live page's worst case on a hypervisor: its time per op, times 10
// samples a second, is the CPU the stream adds.
func BenchmarkHubSample(b *testing.B) {
	for _, clients := range []int{0, 5} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			h := NewHub(Config{Queue: 1 << 20, MaxClients: 8})
			obs := h.Sampler(&nopObserver{})
			rates := make([][2]sampler.RateObserver, 1000)
			for i := range rates {
				rates[i][0], rates[i][1] = obs.DeviceAdded(fmt.Sprintf("eth%d", i))
			}
			var cs []*client
			for range clients {
				c := &client{ch: make(chan []byte, 4), gone: make(chan struct{})}
				h.subs[c] = struct{}{}
				h.clients.Add(1)
				cs = append(cs, c)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range rates {
					rates[j][0].Observe(float64(i + j))
					rates[j][1].Observe(float64(i))
				}
				obs.SampleDone(0.1, 0.001)
				for _, c := range cs {
					<-c.ch
				}
			}
		})
	}
}
