package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/live"
)

// sseSamples reads "sample" events of a stream until stop, handing each
// to f.
func sseSamples(t *testing.T, c *http.Client, addr, query string, f func(live.Sample) bool) error {
	resp, err := c.Get("http://" + addr + "/api/v1/stream" + query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("stream: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "event: "):
			event = l[7:]
		case strings.HasPrefix(l, "data: ") && event == "sample":
			var s live.Sample
			if err := json.Unmarshal([]byte(l[6:]), &s); err != nil {
				return err
			}
			if !f(s) {
				return nil
			}
		}
	}
	return sc.Err()
}

// TestLiveStream runs the exporter in a namespace whose veth is shaped by a
// tbf at 40 Mbit/s, and a UDP blast through it: /api/v1/stream carries the
// device's rate at the sampler's resolution, within 15 % of the shaped rate
// at its peak, to 20 clients at once, while a client that never reads holds
// none of them back. (That such a client is dropped once its queue is full
// is live's TestHubDropsSlowClients: over a real socket the kernel's
// buffers would take minutes of samples to fill.)
func TestLiveStream(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	p := nstest.VethPair(t, a, "lv0", b, "lv1")
	a.MustRun(t, "tc", "qdisc", "add", "dev", "lv0", "root", "tbf", "rate", "40mbit", "burst", "20kb", "latency", "50ms")
	e := nstest.StartExporter(t, a, nstest.Launch{}, "--sampler.device-include=^lv0$")
	// One that connects and never reads.
	var stuck net.Conn
	if err := a.Do(func() error {
		var err error
		stuck, err = net.Dial("tcp", e.Addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	fmt.Fprintf(stuck, "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")

	// A client without the harness' timeout: streams last.
	stream := &http.Client{Transport: e.Client.Transport}
	const clients = 20
	peaks := make([]float64, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := a.Do(func() error {
				n := 0
				return sseSamples(t, stream, e.Addr, "", func(s live.Sample) bool {
					n++
					if r, ok := s.Devices["lv0"]; ok {
						peaks[i] = max(peaks[i], r[1])
					}
					return n < 60 // 6 s of samples
				})
			})
			if err != nil {
				errs <- err
			}
		}()
	}
	// Every stream connected (the hello sent) before the traffic starts.
	nstest.Eventually(t, 20*time.Second, func() (bool, string) {
		_, body := e.Get(t, "/metrics")
		v, _ := sampleValue(body, "netburst_live_clients")
		return v == fmt.Sprint(clients+1), fmt.Sprintf("netburst_live_clients %q, want %d (the readers and the stuck one)", v, clients+1)
	})
	// Enough traffic for 60 samples of lv0 at 100 ms, through the tbf.
	nstest.BlastUDP(t, a, p.BPort(9), 8*time.Second)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("client: %v", err)
	}
	const shaped = 40e6 / 8 // bytes/s
	for i, pk := range peaks {
		if pk < 0.85*shaped || pk > 1.15*shaped {
			t.Errorf("client %d: peak tx rate of lv0 %.0f B/s, want within 15%% of the tbf's %.0f", i, pk, shaped)
		}
	}
}
