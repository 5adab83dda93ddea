package webui

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/packet"
)

func testSpike() Spike {
	t0 := time.Date(2026, 12, 4, 5, 16, 50, 123456000, time.UTC)
	tl := packet.NewTimelineBuilder(0, 0)
	tl.Span(t0.Add(-2*time.Second), t0.Add(time.Second))
	for i := range 100 {
		tl.Add(&packet.Packet{Time: t0.Add(time.Duration(i) * time.Millisecond), WireLen: 1500, IPVersion: 4, Protocol: 17, DstPort: 5201, HasPorts: true})
	}
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	return Spike{
		ID: "20261204T051650.123456Z-burst-eth0", Time: t0, Trigger: "burst", Triggers: []string{"burst", "rtt"},
		Value: 120e6, Threshold: 100e6, Device: `eth0<script>`, WindowStart: t0.Add(-2 * time.Second), WindowEnd: t0.Add(time.Second),
		HasPcap: true,
		Summary: packet.Summary{Counter: packet.Counter{Packets: 100, Bytes: 150000}, PeakBytesPerSecond: 1.5e6,
			Ports: []packet.PortStat{{Protocol: "udp", Port: 5201, Counter: packet.Counter{Packets: 100, Bytes: 150000}, PeakBytesPerSecond: 1.5e6}},
			Hosts: []packet.HostStat{{Src: src, Dst: dst, Counter: packet.Counter{Packets: 100, Bytes: 150000}}},
			Conversations: []packet.ConversationStat{{Protocol: "udp", Src: src, SrcPort: 40000, Dst: dst, DstPort: 5201,
				Counter: packet.Counter{Packets: 100, Bytes: 150000}}},
		},
		Timeline: tl.Timeline(5),
	}
}

// TestSpikePageTunnels: a spike of tunnelled traffic shows its
// conversations' tunnels and the tunnel table of outer pairs.
func TestSpikePageTunnels(t *testing.T) {
	s := testSpike()
	vni := uint32(100)
	s.Summary.Conversations[0].Tunnel, s.Summary.Conversations[0].TunnelID = "vxlan", &vni
	s.Summary.Tunnels = []packet.TunnelStat{{Tunnel: "vxlan", TunnelID: &vni, Src: netip.MustParseAddr("198.18.1.1"), Dst: netip.MustParseAddr("198.18.1.2"),
		Counter: packet.Counter{Packets: 100, Bytes: 155000}}}
	s.Summary.Tunnelled = packet.Counter{Packets: 100, Bytes: 155000}
	rec := httptest.NewRecorder()
	Handler(func() []Spike { return []Spike{s} }, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/spikes/"+s.ID, nil))
	page := rec.Body.String()
	for _, want := range []string{"<h2>Tunnels</h2>", "<td>vxlan 100</td><td>198.18.1.1</td><td>198.18.1.2</td>", "<th>tunnel</th>", "155.0 kB"} {
		if rec.Code != 200 || !strings.Contains(page, want) {
			t.Errorf("spike page (%d) lacks %q", rec.Code, want)
		}
	}
	if page := func() string {
		rec := httptest.NewRecorder()
		Handler(func() []Spike { return []Spike{testSpike()} }, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/spikes/"+s.ID, nil))
		return rec.Body.String()
	}(); strings.Contains(page, "Tunnels") || strings.Contains(page, "<th>tunnel</th>") {
		t.Error("a spike without tunnelled traffic shows a tunnel table")
	}
}

func TestSpikePages(t *testing.T) {
	s := testSpike()
	var pcapAsked string
	h := Handler(func() []Spike { return []Spike{s} }, func(w http.ResponseWriter, _ *http.Request, id string) { pcapAsked = id })
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	code, list := get("/spikes")
	if code != 200 || !strings.Contains(list, `href="/spikes/`+s.ID+`"`) || !strings.Contains(list, "udp/5201") || !strings.Contains(list, "960.0 Mb/s") {
		t.Errorf("list: %d\n%s", code, list)
	}
	code, page := get("/spikes/" + s.ID)
	for _, want := range []string{"<svg", "udp/5201", "198.18.0.1:40000", "merged: burst, rtt", "10ms bins", `href="/spikes/` + s.ID + `.pcap"`, "trigger"} {
		if code != 200 || !strings.Contains(page, want) {
			t.Errorf("spike page (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(list, "<script>") {
		t.Error("a device name reached the page unescaped")
	}
	if code, _ := get("/spikes/nope"); code != http.StatusNotFound {
		t.Errorf("unknown report: %d, want 404", code)
	}
	if get("/spikes/" + s.ID + ".pcap"); pcapAsked != s.ID {
		t.Errorf("pcap handler asked for %q", pcapAsked)
	}
	if code, body := get("/spikes"); code != 200 || !strings.Contains(body, s.ID) {
		t.Errorf("list again: %d", code)
	}
	empty := Handler(func() []Spike { return nil }, nil)
	rec := httptest.NewRecorder()
	empty.ServeHTTP(rec, httptest.NewRequest("GET", "/spikes", nil))
	if !strings.Contains(rec.Body.String(), "No spike captured yet") {
		t.Errorf("empty list:\n%s", rec.Body)
	}
}
