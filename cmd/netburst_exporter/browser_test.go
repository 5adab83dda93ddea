package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/netburst/netburst/internal/nstest"
)

// chromium returns Debian's chromium, skipping the test without it
// (failing under CI, whose .ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found in PATH under CI: .ci/run must install it")
	}
	t.Skip("skipping: chromium not found in PATH (apt-get install chromium)")
	return ""
}

// chart is one chart of the live page, as its script labels it.
type chart struct {
	Name   string  `json:"name"`
	PeakTx float64 `json:"peakTx"` // bits/s
	MaxRTT float64 `json:"maxRtt"` // ms
}

// TestBrowserLivePage opens the live page in a real browser against an
// exporter in a namespace testbed: a 300 ms UDP burst through a tbf at
// 40 Mbit/s on the exporter's interface, which also queues the probes to
// the peer (an RTT spike). The page must show the burst with a peak within
// 15 % of the shaped rate and the probe's RTT rise, the spike list must
// link the spike's page, and that page must show the top port. Screenshots
// of both pages go to the test log's directory (and, with -update, to
// docs/img for the README).
func TestBrowserLivePage(t *testing.T) {
	browser := chromium(t)
	a, b := nstest.New(t), nstest.New(t)
	p := nstest.VethPair(t, a, "wb0", b, "wb1")
	a.MustRun(t, "tc", "qdisc", "add", "dev", "wb0", "root", "tbf", "rate", "40mbit", "burst", "20kb", "latency", "50ms")
	e := nstest.StartExporter(t, a, nstest.Launch{}, "--sampler.device-include=^wb0$",
		"--sampler.burst-rate=1250000", "--probe.target=peer="+p.AddrB.String(), "--probe.interval=20ms",
		"--capture.device=wb0", "--capture.dir="+t.TempDir(), "--capture.pre=1s", "--capture.post=500ms")
	base := "http://" + nstest.Proxy(t, a, e.Addr)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-gpu", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	// No timeout on the browser's context: it would stop the browser;
	// each wait below has its own.
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("live page: %v", err)
	}
	wctx, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`body[data-live="1"]`))); err != nil {
		t.Fatalf("live page never connected to its stream: %v; exporter log:\n%s", err, e.Logs)
	}
	time.Sleep(time.Second) // a quiet baseline of RTTs before the burst
	nstest.BlastUDP(t, a, p.BPort(9), 300*time.Millisecond)

	const shaped = 40e6 // bits/s
	charts := func() []chart {
		cs, err := chromedp.Run(ctx, chromedp.Evaluate[[]chart](`Array.from(document.querySelectorAll('.chart')).map(c => ({name: c.querySelector('b').textContent, peakTx: +(c.dataset.peakTx||0), maxRtt: +(c.dataset.maxRtt||0)}))`))
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	var got []chart
	nstest.Eventually(t, 30*time.Second, func() (bool, string) {
		got = charts()
		var dev, peer bool
		for _, c := range got {
			dev = dev || c.Name == "wb0" && c.PeakTx >= 0.85*shaped
			peer = peer || c.Name == "peer" && c.MaxRTT >= 10
		}
		return dev && peer, fmt.Sprintf("charts %+v: want wb0's tx peak near %.0f bit/s and peer's RTT rise", got, shaped)
	})
	for _, c := range got {
		if c.Name == "wb0" && (c.PeakTx < 0.85*shaped || c.PeakTx > 1.15*shaped) {
			t.Errorf("wb0's peak on the page %.0f bit/s, want within 15%% of the tbf's %.0f", c.PeakTx, shaped)
		}
	}
	var spikeHref string
	nstest.Eventually(t, 30*time.Second, func() (bool, string) {
		hrefs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#spikes a')).map(a => a.getAttribute('href'))`))
		if err != nil {
			t.Fatal(err)
		}
		if len(hrefs) > 0 {
			spikeHref = hrefs[len(hrefs)-1] // the oldest: the burst's
		}
		return spikeHref != "", "no spike in the page's list"
	})
	dir := t.TempDir()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG (below it, JPEG)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
		if *update {
			if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", name), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	shot("live.png")
	if err := chromedp.Do(ctx, chromedp.Navigate(base+spikeHref)); err != nil {
		t.Fatalf("spike page %s: %v", spikeHref, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("spike page %s: %v", spikeHref, err)
	}
	if !strings.Contains(text, "Destination ports") || !strings.Contains(text, "udp\t9") && !strings.Contains(text, "udp 9") && !strings.Contains(text, "udp\n9") {
		t.Errorf("spike page %s lacks udp/9 in its ports:\n%.2000s", spikeHref, text)
	}
	shot("spike.png")
}
