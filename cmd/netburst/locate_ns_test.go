package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/locate"
)

// pathBed is the seed's path rebuilt from namespaces, routed hop by hop
// (each namespace is a router, like the hypervisors' and the switch's
// layer 3; routing keeps every capture point on its own interface):
//
//	vm_a eth0 198.18.0.1 ── 198.18.0.2 vif  [hv_a]  eth0 198.18.0.5 ──
//	  198.18.0.6 pa [switch] pb 198.18.0.9 ──
//	198.18.0.10 eth0 [hv_b] vif 198.18.0.13 ── 198.18.0.14 eth0 vm_b
//
// The switch's port toward hv_a (pa) has a tbf bottleneck, filled by a TCP
// stream from hv_b to hv_a's port 7000 (the storage traffic): echo replies
// queue behind it, requests do not.
type pathBed struct {
	vmA, hvA, sw, hvB, vmB *nstest.NS
	// The links from vm_a to vm_b, in order.
	vmLinkA, up, down, vmLinkB nstest.Pair
}

func newPathBed(t *testing.T) *pathBed {
	t.Helper()
	b := &pathBed{vmA: nstest.New(t), hvA: nstest.New(t), sw: nstest.New(t), hvB: nstest.New(t), vmB: nstest.New(t)}
	b.vmLinkA = nstest.VethPair(t, b.vmA, "eth0", b.hvA, "vif")
	b.up = nstest.VethPair(t, b.hvA, "eth0", b.sw, "pa")
	b.down = nstest.VethPair(t, b.sw, "pb", b.hvB, "eth0")
	b.vmLinkB = nstest.VethPair(t, b.hvB, "vif", b.vmB, "eth0")
	route := func(ns *nstest.NS, dst netip.Prefix, via netip.Addr) {
		ns.MustRun(t, "ip", "route", "add", dst.String(), "via", via.String())
	}
	for _, ns := range []*nstest.NS{b.hvA, b.sw, b.hvB} {
		ns.MustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	// Routes only for the test's 198.18.0.0/15: nothing can leave it.
	testNet := netip.MustParsePrefix("198.18.0.0/15")
	route(b.vmA, testNet, b.vmLinkA.AddrB)
	route(b.hvA, b.down.Net, b.up.AddrB)
	route(b.hvA, b.vmLinkB.Net, b.up.AddrB)
	route(b.sw, b.vmLinkA.Net, b.up.AddrA)
	route(b.sw, b.vmLinkB.Net, b.down.AddrB)
	route(b.hvB, b.vmLinkA.Net, b.down.AddrA)
	route(b.hvB, b.up.Net, b.down.AddrA)
	route(b.vmB, testNet, b.vmLinkB.AddrA)
	// 20 Mbit/s with a 100 ms queue (250 kB): the TCP stream keeps it
	// nearly full, so a reply waits tens of milliseconds.
	b.sw.MustRun(t, "tc", "qdisc", "add", "dev", "pa", "root", "tbf", "rate", "20mbit", "burst", "16kb", "latency", "100ms")
	return b
}

// pingThroughBurst pings vm_b from vm_a 120 times over 6 s while a 2 s
// TCP stream from hv_b to hv_a's port 7000 (the storage traffic) fills the
// switch's tbf, from 1.5 s to 3.5 s, and returns when the ping is done.
func (b *pathBed) pingThroughBurst(t *testing.T) {
	t.Helper()
	b.hvA.Start(t, "iperf3", "-s", "-p", "7000", "-B", b.up.AddrA.String())
	ping := exec.Command("ip", "netns", "exec", b.vmA.Name, "ping", "-n", "-q", "-i", "0.05", "-c", "120", "-W", "2", b.vmLinkB.AddrB.String())
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ping.Process.Kill(); _ = ping.Wait() })
	time.Sleep(1500 * time.Millisecond)
	var burstErr error
	for try := 0; try < 10; try++ { // the server may still be starting
		if _, burstErr = b.hvB.Exec("iperf3", "-c", b.up.AddrA.String(), "-p", "7000", "-B", b.down.AddrB.String(), "-t", "2"); burstErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if burstErr != nil {
		t.Fatalf("storage burst: %v", burstErr)
	}
	if err := ping.Wait(); err != nil {
		t.Logf("ping: %v (some replies lost in the queue)", err)
	}
	time.Sleep(250 * time.Millisecond)
}

// tsharkEcho holds one file's echo timestamps by seq, in nanoseconds, as
// tshark reads them.
type tsharkEcho struct{ req, rep int64 }

func tsharkEchoes(t *testing.T, file string) map[uint16]tsharkEcho {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-r", file, "-Y", "icmp.type == 0 || icmp.type == 8",
		"-T", "fields", "-e", "frame.time_epoch", "-e", "icmp.type", "-e", "icmp.seq").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", file, err)
	}
	m := map[uint16]tsharkEcho{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		ns := parseEpochNanos(t, f[0])
		seq, err := strconv.ParseUint(f[2], 10, 16)
		if err != nil {
			t.Fatalf("tshark seq %q: %v", f[2], err)
		}
		e := m[uint16(seq)]
		if f[1] == "8" {
			e.req = ns
		} else {
			e.rep = ns
		}
		m[uint16(seq)] = e
	}
	return m
}

// parseEpochNanos parses tshark's "1712345678.123456000" exactly: a
// float64 would round it to a quarter of a microsecond.
func parseEpochNanos(t *testing.T, s string) int64 {
	t.Helper()
	sec, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000000")[:9]
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("tshark time %q", s)
	}
	return a*1e9 + b
}

// TestLocateNamespacePath builds the seed's path, pings through a storage
// burst, captures at six points and checks the verdict against tshark's
// timestamps of the same files.
func TestLocateNamespacePath(t *testing.T) {
	nstest.RequireRoot(t)
	for _, tool := range []string{"tcpdump", "tshark", "iperf3", "ping"} {
		nstest.RequireTool(t, tool)
	}
	b := newPathBed(t)
	dir := t.TempDir()
	points := []struct {
		name string
		ns   *nstest.NS
		dev  string
	}{
		{"vm_a_eth0", b.vmA, "eth0"},
		{"hv_a_vif", b.hvA, "vif"},
		{"hv_a_eth0", b.hvA, "eth0"},
		{"hv_b_eth0", b.hvB, "eth0"},
		{"hv_b_vif", b.hvB, "vif"},
		// "any" gives a cooked (SLL2) capture: another link type.
		{"vm_b_eth0", b.vmB, "any"},
	}
	var args []string
	var stops []func()
	files := map[string]string{}
	for _, p := range points {
		f := filepath.Join(dir, p.name+".pcap")
		files[p.name] = f
		stops = append(stops, nstest.Tcpdump(t, p.ns, p.dev, f, "-s", "200", "icmp"))
		args = append(args, p.name+"="+f)
	}

	b.pingThroughBurst(t)
	for _, stop := range stops {
		stop()
	}

	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"offsets estimated", nil},
		// All namespaces share the kernel's clock: declare it.
		{"one clock declared", []string{"--same-clock", "vm_a_eth0,hv_a_vif,hv_a_eth0,hv_b_eth0,hv_b_vif,vm_b_eth0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runLocate(t, append(append([]string{"locate", "--json"}, tc.extra...), args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var doc jsonLocate
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatal(err)
			}
			for _, p := range doc.Points {
				// Every request crossed every point (replies may be dropped
				// by the full queue); the any-device capture is cooked.
				if p.Requests != 120 || p.DecodeErrors != 0 {
					t.Errorf("point %s: %d requests, %d undecodable frames; want 120 and 0", p.Name, p.Requests, p.DecodeErrors)
				}
			}
			if lt := doc.Points[5].LinkType; !strings.Contains(lt, "SLL") && !strings.Contains(lt, "276") {
				t.Errorf("vm_b_eth0 link type %q, want a cooked capture", lt)
			}
			v := doc.Verdict
			if v == nil {
				t.Fatalf("no verdict; threshold %+v", doc.Threshold)
			}
			if v.From != "hv_a_eth0" || v.To != "hv_b_eth0" || v.Direction != "reply" {
				t.Fatalf("verdict %s -> %s %s, want hv_a_eth0 -> hv_b_eth0 reply (findings %+v)", v.From, v.To, v.Direction, doc.Findings)
			}
			if len(v.Seqs) < 5 {
				t.Errorf("only %d slow echoes as evidence: %v", len(v.Seqs), v.Seqs)
			}
			// The same echoes from tshark's timestamps of the same files:
			// hv_a eth0's round trip minus hv_b eth0's, and the reply's
			// hv_b eth0 -> hv_a eth0 time (one clock in this testbed).
			ta, tb := tsharkEchoes(t, files["hv_a_eth0"]), tsharkEchoes(t, files["hv_b_eth0"])
			var maxDelay int64
			for _, e := range doc.Echoes {
				if e.Blame == nil || e.Blame.From != "hv_a_eth0" || e.Blame.To != "hv_b_eth0" {
					continue
				}
				a, bb := ta[e.Seq], tb[e.Seq]
				if a.req == 0 || a.rep == 0 || bb.req == 0 || bb.rep == 0 {
					t.Fatalf("seq %d: tshark lacks a packet: %+v %+v", e.Seq, a, bb)
				}
				want := (a.rep - a.req) - (bb.rep - bb.req)
				maxDelay = max(maxDelay, want)
				// Both read the same microsecond timestamps: equal to the
				// nanosecond, up to the float64 of the JSON (1e-9 s).
				if got := e.Blame.Delay; abs(got-float64(want)/1e9) > 1e-9 {
					t.Errorf("seq %d delay %.9f s, tshark gives %.9f s", e.Seq, got, float64(want)/1e9)
				}
				wantReply := a.rep - bb.rep
				var oneWay *float64
				for _, s := range e.Segments {
					if s.From == "hv_a_eth0" && s.To == "hv_b_eth0" {
						oneWay = s.Reply
					}
				}
				// With offsets estimated, the reply's one-way delay may be off
				// by the estimate's stated uncertainty (plus a microsecond of
				// rounding); with the clock declared shared it is exact.
				tol := doc.Points[3].Offset.Uncertainty + doc.Points[2].Offset.Uncertainty + 1e-6
				if tc.extra != nil {
					tol = 1e-9
				}
				if oneWay == nil || abs(*oneWay-float64(wantReply)/1e9) > tol {
					t.Errorf("seq %d reply one way %v, tshark gives %.9f s (tolerance %.9f)", e.Seq, oneWay, float64(wantReply)/1e9, tol)
				}
			}
			if abs(v.Delay-float64(maxDelay)/1e9) > 1e-9 {
				t.Errorf("verdict delay %.9f s, tshark's largest %.9f s", v.Delay, float64(maxDelay)/1e9)
			}
			if v.Delay < 0.005 {
				t.Errorf("verdict delay %.6f s: the burst did not queue the replies", v.Delay)
			}
			t.Logf("verdict %s -> %s %s: %.6f s (median %.6f s) over %d echoes, threshold %.6f s, %d losses",
				v.From, v.To, v.Direction, v.Delay, v.MedianDelay, len(v.Seqs), doc.Threshold.Seconds, len(doc.Losses))
		})
	}
	if testing.Verbose() {
		_, out, _ := runLocate(t, append([]string{"locate"}, args...)...)
		t.Log("\n" + out)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestMain(m *testing.M) { nstest.Main(m) }

// TestLocateAcrossExporters is the seed's incident across two hosts, each
// with its own exporter and points: vm_a -> hv_a (vif, eth0) -> the switch's
// tbf filled by a TCP burst -> hv_b (eth0, vif) -> vm_b, pings from vm_a.
// `netburst locate --exporter hv_a=... --exporter hv_b=...` must blame
// hv_a/eth0 -> hv_b/eth0 on the reply, with the delay within 5 % of the
// offline analysis of tcpdump captures of the same four interfaces; an
// exporter that does not answer is named and left out, the rest analysed.
func TestLocateAcrossExporters(t *testing.T) {
	nstest.RequireRoot(t)
	for _, tool := range []string{"tcpdump", "iperf3", "ping"} {
		nstest.RequireTool(t, tool)
	}
	b := newPathBed(t)
	ea := nstest.StartExporter(t, b.hvA, nstest.Launch{}, "--locate.points=vif,eth0", "--sampler.device-include=^(vif|eth0)$")
	eb := nstest.StartExporter(t, b.hvB, nstest.Launch{}, "--locate.points=eth0,vif", "--sampler.device-include=^(vif|eth0)$")
	urlA, urlB := "http://"+nstest.Proxy(t, b.hvA, ea.Addr), "http://"+nstest.Proxy(t, b.hvB, eb.Addr)
	dir := t.TempDir()
	caps := []struct {
		name string
		ns   *nstest.NS
		dev  string
	}{{"hv_a_vif", b.hvA, "vif"}, {"hv_a_eth0", b.hvA, "eth0"}, {"hv_b_eth0", b.hvB, "eth0"}, {"hv_b_vif", b.hvB, "vif"}}
	var files []string
	var stops []func()
	for _, c := range caps {
		f := filepath.Join(dir, c.name+".pcap")
		stops = append(stops, nstest.Tcpdump(t, c.ns, c.dev, f, "-s", "200", "icmp"))
		files = append(files, c.name+"="+f)
	}
	b.pingThroughBurst(t)
	for _, stop := range stops {
		stop()
	}

	verdict := func(args ...string) (*jsonFinding, string) {
		t.Helper()
		code, out, errOut := runLocate(t, append([]string{"locate", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("locate %v: exit %d: %s", args, code, errOut)
		}
		var doc jsonLocate
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Verdict == nil {
			t.Fatalf("locate %v: no verdict", args)
		}
		return doc.Verdict, errOut
	}
	offline, _ := verdict(append([]string{"--same-clock", "hv_a_vif,hv_a_eth0,hv_b_eth0,hv_b_vif"}, files...)...)
	live, _ := verdict("--exporter", "hv_a="+urlA, "--exporter", "hv_b="+urlB)
	if live.From != "hv_a/eth0" || live.To != "hv_b/eth0" || live.Direction != "reply" {
		t.Fatalf("verdict %s -> %s %s, want hv_a/eth0 -> hv_b/eth0 on the reply", live.From, live.To, live.Direction)
	}
	if offline.From != "hv_a_eth0" || offline.To != "hv_b_eth0" || abs(live.Delay-offline.Delay) > 0.05*offline.Delay {
		t.Errorf("across exporters %.6f s, offline on tcpdump's captures %s -> %s %.6f s: want within 5 %%", live.Delay, offline.From, offline.To, offline.Delay)
	}
	if live.Delay < 0.005 {
		t.Errorf("verdict delay %.6f s: the burst did not queue the replies", live.Delay)
	}
	// hv_b's clock 37 ms off (its answers rewritten on the way): the
	// offset is estimated from the normal echoes, the verdict does not move.
	shifted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(urlB + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		batch, err := locate.ParseEchoBatch(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for i := range batch.Echoes {
			batch.Echoes[i].Time = batch.Echoes[i].Time.Add(37 * time.Millisecond)
		}
		w.Write(batch.AppendJSON(nil))
	}))
	defer shifted.Close()
	moved, _ := verdict("--exporter", "hv_a="+urlA, "--exporter", "hv_b="+shifted.URL)
	if moved.From != live.From || moved.To != live.To || moved.Direction != live.Direction || abs(moved.Delay-live.Delay) > 1e-6 {
		t.Errorf("with hv_b's clock 37 ms off: %s -> %s %s %.6f s, want %s -> %s %s %.6f s", moved.From, moved.To, moved.Direction, moved.Delay, live.From, live.To, live.Direction, live.Delay)
	}

	// Files and an exporter in one path: hv_a's captures, then hv_b's
	// exporter at its place.
	mixed, _ := verdict("--same-clock", "hv_a_vif,hv_a_eth0", files[0], files[1], "hv_b="+urlB)
	if mixed.From != "hv_a_eth0" || mixed.To != "hv_b/eth0" || mixed.Direction != "reply" || abs(mixed.Delay-live.Delay) > 0.05*live.Delay {
		t.Errorf("files and an exporter: %s -> %s %s %.6f s, want hv_a_eth0 -> hv_b/eth0 reply near %.6f s", mixed.From, mixed.To, mixed.Direction, mixed.Delay, live.Delay)
	}

	// A third exporter that does not answer: named, left out.
	again, errOut := verdict("--exporter", "hv_a="+urlA, "--exporter", "hv_x=http://127.0.0.1:1", "--exporter", "hv_b="+urlB)
	if again.From != "hv_a/eth0" || !strings.Contains(errOut, "exporter hv_x at http://127.0.0.1:1") || !strings.Contains(errOut, "its points are left out") {
		t.Errorf("with an unreachable exporter: verdict %s -> %s, stderr %q", again.From, again.To, errOut)
	}
	t.Logf("across exporters: %s -> %s %s %.6f s; offline %.6f s", live.From, live.To, live.Direction, live.Delay, offline.Delay)

	// --follow: a report per window of the echoes that arrived in it.
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"locate", "--follow", "--window", "1s", "--exporter", "hv_a=" + urlA, "--exporter", "hv_b=" + urlB}, &out, &errb)
	}()
	if _, err := b.vmA.Exec("ping", "-n", "-q", "-i", "0.05", "-c", "50", b.vmLinkB.AddrB.String()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("--follow: exit %d: %s", code, errb.String())
	}
	windows := strings.Count(out.String(), "=== window ending")
	if windows < 3 || !strings.Contains(out.String(), "hv_a/vif") || !strings.Contains(out.String(), "hv_b/vif") {
		t.Errorf("--follow printed %d windows:\n%s\nstderr: %s", windows, out.String(), errb.String())
	}
}
