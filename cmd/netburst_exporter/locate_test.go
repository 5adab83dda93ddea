package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/capture"
	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/locate"
	"github.com/netburst/netburst/packet"
	"github.com/netburst/netburst/spike"
)

func TestLocateBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--locate.points=eth0"}, 2, "name at least two interfaces"},
		{[]string{"--locate.points=lo,lo"}, 2, "distinct"},
		{[]string{"--locate.points=lo,"}, 2, "distinct"},
		{[]string{"--locate.points=lo,lo2", "--locate.max-age=0s"}, 2, "above 0"},
		{[]string{"--locate.points=lo,lo2", "--locate.spike-threshold=soon"}, 2, "locate.spike-threshold"},
		{[]string{"--locate.points=lo,nbnosuchif0"}, 1, "nbnosuchif0"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(append(tt.args, "--web.listen-address=127.0.0.1:0"), &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}

// echoTimes reads a tcpdump file's echo timestamps by sequence number.
func echoTimes(t *testing.T, path string) (req, rep map[uint16]time.Time) {
	t.Helper()
	r, err := packet.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	req, rep = map[uint16]time.Time{}, map[uint16]time.Time{}
	var p packet.Packet
	for {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return req, rep
		}
		if err != nil {
			t.Fatal(err)
		}
		if isEcho, isReply := p.IsEcho(); isEcho {
			if isReply {
				rep[p.ICMPSeq] = p.Time
			} else {
				req[p.ICMPSeq] = p.Time
			}
		}
	}
}

// histogram returns a segment delay histogram's sum and count from a scrape.
func histogram(scrape, labels string) (sum, count float64) {
	sc := bufio.NewScanner(strings.NewReader(scrape))
	for sc.Scan() {
		line := sc.Text()
		for suffix, dst := range map[string]*float64{"_sum": &sum, "_count": &count} {
			prefix := "netburst_segment_delay_seconds" + suffix + labels + " "
			if strings.HasPrefix(line, prefix) {
				*dst, _ = strconv.ParseFloat(strings.TrimPrefix(line, prefix), 64)
			}
		}
	}
	return sum, count
}

// TestLocateLive runs the exporter on "hypervisor a" with --locate.points
// over its vif and eth0 while a storage burst toward VM a fills a tbf queue
// on the vif: echo replies wait there. The exported segment delays must
// agree with tcpdump on the same two interfaces.
//
//	vm_a eth0 198.18.1.2 ── 198.18.1.1 vif [hv_a] eth0 198.18.2.1 ── 198.18.2.2 eth0 far
func TestLocateLive(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.RequireTool(t, "tcpdump")
	nstest.RequireTool(t, "iperf3")
	nstest.RequireTool(t, "ping")
	vmA, hvA, far := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, vmA, "eth0", hvA, "vif")
	nstest.Veth(t, hvA, "eth0", far, "eth0")
	vmA.MustRun(t, "ip", "addr", "add", "198.18.1.2/24", "dev", "eth0")
	hvA.MustRun(t, "ip", "addr", "add", "198.18.1.1/24", "dev", "vif")
	hvA.MustRun(t, "ip", "addr", "add", "198.18.2.1/24", "dev", "eth0")
	far.MustRun(t, "ip", "addr", "add", "198.18.2.2/24", "dev", "eth0")
	hvA.MustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	vmA.MustRun(t, "ip", "route", "add", "198.18.0.0/15", "via", "198.18.1.1")
	far.MustRun(t, "ip", "route", "add", "198.18.1.0/24", "via", "198.18.2.1")
	// The vif's queue toward the VM: 20 Mbit/s, up to 100 ms.
	hvA.MustRun(t, "tc", "qdisc", "add", "dev", "vif", "root", "tbf", "rate", "20mbit", "burst", "16kb", "latency", "100ms")

	// The spike capture on the vif receives the segment spikes.
	_, client, logs := startExporter(t, hvA, "--locate.points=vif,eth0", "--locate.spike-threshold=5ms", "--sampler.device-include=^(vif|eth0)$",
		"--capture.device=vif", "--capture.pre=500ms", "--capture.post=200ms", "--sampler.burst-threshold=1000")
	dir := t.TempDir()
	files := map[string]string{"vif": filepath.Join(dir, "vif.pcap"), "eth0": filepath.Join(dir, "eth0.pcap")}
	stops := []func(){nstest.Tcpdump(t, hvA, "vif", files["vif"], "-s", "128", "icmp"), nstest.Tcpdump(t, hvA, "eth0", files["eth0"], "-s", "128", "icmp")}

	vmA.Start(t, "iperf3", "-s", "-p", "7000", "-B", "198.18.1.2")
	ping := exec.Command("ip", "netns", "exec", vmA.Name, "ping", "-n", "-q", "-i", "0.05", "-c", "100", "-W", "2", "198.18.2.2")
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ping.Process.Kill(); _ = ping.Wait() })
	time.Sleep(time.Second)
	var err error
	for try := 0; try < 10; try++ {
		if _, err = far.Exec("iperf3", "-c", "198.18.1.2", "-p", "7000", "-t", "2"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("storage burst: %v", err)
	}
	_ = ping.Wait()
	time.Sleep(300 * time.Millisecond)
	for _, stop := range stops {
		stop()
	}

	// tcpdump's view: request vif -> eth0, reply eth0 -> vif.
	reqV, repV := echoTimes(t, files["vif"])
	reqE, repE := echoTimes(t, files["eth0"])
	var wantReq, wantRep, nReq, nRep, maxRep float64
	for seq, tv := range reqV {
		if te, ok := reqE[seq]; ok {
			wantReq += te.Sub(tv).Seconds()
			nReq++
		}
	}
	for seq, tv := range repV {
		if te, ok := repE[seq]; ok {
			d := tv.Sub(te).Seconds()
			wantRep += d
			maxRep = max(maxRep, d)
			nRep++
		}
	}
	if nRep < 90 || maxRep < 0.005 {
		t.Fatalf("tcpdump saw %v replies at both points, largest delay %.6f s: the burst did not queue them", nRep, maxRep)
	}

	var scrape string
	var gotRep, gotRepN, gotReq, gotReqN float64
	nstest.Poll(5*time.Second, func() (bool, string) {
		_, scrape = get(t, client, "/metrics")
		gotReq, gotReqN = histogram(scrape, `{direction="request",from="vif",to="eth0"}`)
		gotRep, gotRepN = histogram(scrape, `{direction="reply",from="vif",to="eth0"}`)
		return gotReqN >= nReq && gotRepN >= nRep, ""
	})
	if gotReqN != nReq || gotRepN != nRep {
		t.Fatalf("exporter counted %v requests and %v replies across vif -> eth0, tcpdump %v and %v; logs:\n%s", gotReqN, gotRepN, nReq, nRep, logs.String())
	}
	// Two packet sockets get the same kernel timestamp of a packet when it
	// has one; when it has none (a veth transmit), each stamps it as it is
	// delivered to it, a few microseconds apart. 20 µs per packet on
	// average bounds that with room, against delays of milliseconds.
	if tol := 20e-6 * nRep; math.Abs(gotRep-wantRep) > tol {
		t.Errorf("exporter's reply delays sum to %.6f s, tcpdump's to %.6f s (tolerance %.6f s)", gotRep, wantRep, tol)
	}
	if tol := 20e-6 * nReq; math.Abs(gotReq-wantReq) > tol {
		t.Errorf("exporter's request delays sum to %.6f s, tcpdump's to %.6f s (tolerance %.6f s)", gotReq, wantReq, tol)
	}
	if !strings.Contains(scrape, "netburst_locate_spikes_total ") || strings.Contains(scrape, "netburst_locate_spikes_total 0\n") {
		t.Errorf("no segment spike raised for replies queued up to %.6f s", maxRep)
	}
	// The capture froze the seconds around a segment spike.
	var reports []capture.Report
	nstest.Poll(5*time.Second, func() (bool, string) {
		reports = spikeReports(t, client, "127.0.0.1:9917")
		return slices.ContainsFunc(reports, func(r capture.Report) bool { return r.Trigger == spike.TriggerSegment }), ""
	})
	if !slices.ContainsFunc(reports, func(r capture.Report) bool {
		return r.Trigger == spike.TriggerSegment && r.Device == "vif" && r.Value > 0.005 && r.Threshold == 0.005
	}) {
		t.Errorf("no segment spike report on vif: %+v", reports)
	}
	t.Logf("%v echoes: reply delay vif<-eth0 sums %.6f s (tcpdump %.6f s, worst %.6f s), request %.6f s (tcpdump %.6f s)", nRep, gotRep, wantRep, maxRep, gotReq, wantReq)

	// Round trips per point: the vif's includes the eth0's plus the
	// replies' queueing at the vif, so it is the larger, echo for echo.
	num := func(series string) float64 {
		v, _ := sampleValue(scrape, series)
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	vifN, vifSum := num(`netburst_locate_round_trip_seconds_count{point="vif",side="near"}`), num(`netburst_locate_round_trip_seconds_sum{point="vif",side="near"}`)
	ethN, ethSum := num(`netburst_locate_round_trip_seconds_count{point="eth0",side="near"}`), num(`netburst_locate_round_trip_seconds_sum{point="eth0",side="near"}`)
	if vifN < nRep || ethN < vifN || vifSum-ethSum < 0.9*wantRep {
		t.Errorf("round trips: vif %v echoes summing %.6f s, eth0 %v summing %.6f s; want >= %v echoes at vif and the difference near the replies' vif delay %.6f s", vifN, vifSum, ethN, ethSum, nRep, wantRep)
	}

	// The same observations, served for another host's netburst locate:
	// every echo packet tcpdump saw at each point, in path order.
	code, body := get(t, client, "/api/v1/echoes?since=0&limit=100000")
	b, err := locate.ParseEchoBatch([]byte(body))
	if code != 200 || err != nil {
		t.Fatalf("/api/v1/echoes: %d, %v", code, err)
	}
	perPoint := [2]int{}
	for _, o := range b.Echoes {
		perPoint[o.Point]++
	}
	if !slices.Equal(b.Points, []string{"vif", "eth0"}) || perPoint[0] != len(reqV)+len(repV) || perPoint[1] != len(reqE)+len(repE) || b.Missed != 0 || b.More {
		t.Errorf("/api/v1/echoes: points %v, %v observations per point (tcpdump %d and %d), missed %d, more %v",
			b.Points, perPoint, len(reqV)+len(repV), len(reqE)+len(repE), b.Missed, b.More)
	}
}

// TestEchoesHandler holds /api/v1/echoes' contract on a small ring: the
// observations after the cursor, at most limit with more set, the missed
// count after an overrun, a cursor of another run, refusals.
func TestEchoesHandler(t *testing.T) {
	ring := locate.NewEchoRing(8)
	h := echoesHandler(ring, []string{"vif", "eth0"})
	add := func(n int) {
		for i := range n {
			ring.Add(&locate.Observation{Point: i % 2, Time: time.Unix(1700000000, int64(i)), Src: netip.MustParseAddr("198.18.1.2"), Dst: netip.MustParseAddr("198.18.2.2"), ID: 7, Seq: uint16(i)})
		}
	}
	batch := func(query string) *locate.EchoBatch {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/echoes"+query, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", query, rec.Code, rec.Body)
		}
		b, err := locate.ParseEchoBatch(rec.Body.Bytes())
		if err != nil {
			t.Fatalf("%s: %v\n%s", query, err, rec.Body)
		}
		return b
	}
	add(5)
	if b := batch(""); len(b.Echoes) != 5 || b.Next != 5 || b.More || b.Missed != 0 || b.Run != ring.Run() {
		t.Errorf("all: %d echoes, next %d, more %v, missed %d", len(b.Echoes), b.Next, b.More, b.Missed)
	}
	if b := batch("?since=2&limit=2"); len(b.Echoes) != 2 || b.Echoes[0].Seq != 2 || b.Next != 4 || !b.More {
		t.Errorf("since 2, limit 2: %d echoes (first seq %d), next %d, more %v", len(b.Echoes), b.Echoes[0].Seq, b.Next, b.More)
	}
	if b := batch("?since=5"); len(b.Echoes) != 0 || b.Next != 5 || b.More {
		t.Errorf("nothing new: %d echoes, next %d", len(b.Echoes), b.Next)
	}
	add(10) // 15 in all, the ring holds the last 8 (cursors 8..15)
	if b := batch("?since=5"); b.Missed != 2 || len(b.Echoes) != 8 || b.Next != 15 {
		t.Errorf("after an overrun: missed %d, %d echoes, next %d; want 2, 8, 15", b.Missed, len(b.Echoes), b.Next)
	}
	if b := batch("?since=999"); len(b.Echoes) != 0 || b.Next != 15 {
		t.Errorf("a cursor of another run: %d echoes, next %d; want none and this run's 15", len(b.Echoes), b.Next)
	}
	for _, q := range []string{"?since=-1", "?since=x", "?limit=0", "?limit=100001"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/echoes"+q, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, rec.Code)
		}
	}
}

// TestLocateLiveVXLAN: the seed's hypervisor with an overlay. A VM's vif and
// a VXLAN device are bridged on hv, whose eth0 is the underlay; the VM pings
// a host behind the far VXLAN end. The echo filter passes the encapsulated
// echoes at eth0 and the decoder opens them, so every echo the exporter
// sees at the vif it also sees at eth0 (same id, sequence and direction,
// inner addresses), and the vif -> eth0 segment counts every request.
func TestLocateLiveVXLAN(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.RequireTool(t, "ping")
	vm, hv, far := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, vm, "eth0", hv, "vif")
	under := nstest.VethPair(t, hv, "eth0", far, "eth0")
	ua, ub := under.AddrA.String(), under.AddrB.String()
	hv.Batch(t, []string{
		"link add vx100 type vxlan id 100 local " + ua + " remote " + ub + " dstport 4789 dev eth0",
		"link add br0 type bridge",
		"link set vif master br0",
		"link set vx100 master br0",
		"link set vx100 up",
		"link set br0 up",
	})
	far.Batch(t, []string{
		"link add vx100 type vxlan id 100 local " + ub + " remote " + ua + " dstport 4789 dev eth0",
		"addr add 198.19.0.2/24 dev vx100",
		"link set vx100 up",
	})
	vm.MustRun(t, "ip", "addr", "add", "198.19.0.1/24", "dev", "eth0")
	e := nstest.StartExporter(t, hv, nstest.Launch{As: nstest.AsNetRaw}, "--locate.points=vif,eth0", "--sampler.device-include=^(vif|eth0)$")
	time.Sleep(500 * time.Millisecond) // the points' sockets open
	const n = 20
	vm.MustRun(t, "ping", "-n", "-q", "-i", "0.05", "-c", strconv.Itoa(n), "-W", "2", "198.19.0.2")
	type key struct {
		id, seq uint16
		reply   bool
	}
	seen := [2]map[key]bool{}
	nstest.Eventually(t, 5*time.Second, func() (bool, string) {
		code, body := get(t, e.Client, "/api/v1/echoes?since=0&limit=100000")
		b, err := locate.ParseEchoBatch([]byte(body))
		if code != 200 || err != nil {
			return false, fmt.Sprintf("/api/v1/echoes: %d, %v", code, err)
		}
		seen = [2]map[key]bool{{}, {}}
		for _, o := range b.Echoes {
			if o.Src.String() == "198.19.0.1" || o.Dst.String() == "198.19.0.1" {
				seen[o.Point][key{o.ID, o.Seq, o.Reply}] = true
			}
		}
		return len(seen[0]) >= 2*n && len(seen[1]) >= 2*n, fmt.Sprintf("echoes seen at vif %d, at eth0 %d; want %d each; logs:\n%s", len(seen[0]), len(seen[1]), 2*n, e.Logs.String())
	})
	for k := range seen[0] {
		if !seen[1][k] {
			t.Errorf("echo %+v seen at the vif, not inside the overlay at eth0", k)
		}
	}
	_, scrape := get(t, e.Client, "/metrics")
	if _, count := histogram(scrape, `{direction="request",from="vif",to="eth0"}`); count != n {
		t.Errorf("vif -> eth0 counted %v requests, want %d", count, n)
	}
}
