package packet

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Unix(1700000000, 0).UTC()

func pkt(at time.Duration, proto uint8, src string, sport uint16, dst string, dport uint16, n int) Packet {
	p := Packet{Time: t0.Add(at), WireLen: n, IPVersion: 4, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Protocol: proto}
	if p.Src.Is6() {
		p.IPVersion = 6
	}
	if proto == 6 || proto == 17 {
		p.HasPorts, p.SrcPort, p.DstPort = true, sport, dport
	}
	return p
}

func TestAggregator(t *testing.T) {
	const a, b, c = "198.18.0.1", "198.18.0.2", "198.18.0.3"
	ms := time.Millisecond
	pkts := []Packet{
		// A TCP conversation opened by b towards a:7000, replies from a.
		pkt(0, 6, b, 40000, a, 7000, 1000),
		pkt(10*ms, 6, a, 7000, b, 40000, 100),
		pkt(50*ms, 6, b, 40000, a, 7000, 1000),
		// UDP to port 53 from two hosts.
		pkt(20*ms, 17, c, 5000, a, 53, 80),
		pkt(30*ms, 17, b, 5001, a, 53, 80),
		// ICMP: host pair only.
		pkt(40*ms, 1, a, 0, c, 0, 98),
		// A later fragment: host pair, no ports.
		{Time: t0.Add(60 * ms), WireLen: 600, IPVersion: 4, Src: netip.MustParseAddr(c), Dst: netip.MustParseAddr(a), Protocol: 17, FragmentOffset: 1480},
		// ARP: totals only.
		{Time: t0.Add(70 * ms), WireLen: 42},
		// MACsec: totals, and counted as such.
		{Time: t0.Add(80 * ms), WireLen: 120, EtherType: 0x88E5},
		pkt(150*ms, 6, b, 40000, a, 7000, 1500), // next 100 ms bucket
	}
	ag := NewAggregator(0)
	for i := range pkts {
		ag.Add(&pkts[i])
	}
	got := ag.Summary(0)
	addr := netip.MustParseAddr
	want := Summary{
		Start:              t0,
		End:                t0.Add(150 * ms),
		Counter:            Counter{10, 4620},
		PeakBytesPerSecond: 3120 / 0.1,
		Ports: []PortStat{
			{"tcp", 7000, Counter{3, 3500}, 2000 / 0.1},
			{"udp", 53, Counter{2, 160}, 160 / 0.1},
			{"tcp", 40000, Counter{1, 100}, 100 / 0.1},
		},
		Hosts: []HostStat{
			{addr(b), addr(a), Counter{4, 3580}, 2080 / 0.1},
			{addr(c), addr(a), Counter{2, 680}, 680 / 0.1},
			{addr(a), addr(b), Counter{1, 100}, 100 / 0.1},
			{addr(a), addr(c), Counter{1, 98}, 98 / 0.1},
		},
		Conversations: []ConversationStat{
			{"tcp", addr(b), 40000, addr(a), 7000, Counter{4, 3600}, Counter{3, 3500}, Counter{1, 100}, 2100 / 0.1, "", nil},
			{"udp", addr(b), 5001, addr(a), 53, Counter{1, 80}, Counter{1, 80}, Counter{}, 80 / 0.1, "", nil},
			{"udp", addr(c), 5000, addr(a), 53, Counter{1, 80}, Counter{1, 80}, Counter{}, 80 / 0.1, "", nil},
		},
		Tunnels: []TunnelStat{},
		MACsec:  Counter{1, 120},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Summary(0):\n got %+v\nwant %+v", got, want)
	}
	top := ag.Summary(1)
	if len(top.Ports) != 1 || len(top.Hosts) != 1 || len(top.Conversations) != 1 || top.Ports[0] != want.Ports[0] {
		t.Errorf("Summary(1) = %+v", top)
	}
	ag.Reset()
	if s := ag.Summary(0); s.Packets != 0 || len(s.Hosts) != 0 || !s.Start.IsZero() || s.PeakBytesPerSecond != 0 || s.MACsec.Packets != 0 {
		t.Errorf("after Reset: %+v", s)
	}
}

func TestAggregatorConversationDirection(t *testing.T) {
	// The first sender is "src" even when its address sorts higher.
	ag := NewAggregator(0)
	for _, p := range []Packet{
		pkt(0, 17, "198.18.0.9", 9, "198.18.0.1", 1, 10),
		pkt(1, 17, "198.18.0.1", 1, "198.18.0.9", 9, 20),
		pkt(2, 17, "198.18.0.1", 1, "198.18.0.9", 9, 20),
	} {
		ag.Add(&p)
	}
	c := ag.Summary(0).Conversations
	if len(c) != 1 || c[0].Src != netip.MustParseAddr("198.18.0.9") || c[0].SrcPort != 9 ||
		c[0].SrcToDst != (Counter{1, 10}) || c[0].DstToSrc != (Counter{2, 40}) {
		t.Errorf("conversations %+v", c)
	}
}

func TestAggregatorOverflow(t *testing.T) {
	ag := NewAggregator(2)
	for i := 0; i < 5; i++ {
		p := pkt(0, 17, "2001:db8::1", 1000, "2001:db8::2", uint16(i+1), 100)
		p.Dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
		ag.Add(&p)
	}
	s := ag.Summary(0)
	if len(s.Ports) != 2 || len(s.Hosts) != 2 || len(s.Conversations) != 2 {
		t.Fatalf("tables exceed their bound: %d %d %d", len(s.Ports), len(s.Hosts), len(s.Conversations))
	}
	want := Overflow{Counter{3, 300}, Counter{3, 300}, Counter{3, 300}, Counter{}}
	if s.Overflow != want || s.Packets != 5 {
		t.Errorf("overflow %+v, packets %d; want %+v, 5", s.Overflow, s.Packets, want)
	}
}

func TestAggregatorAddAllocs(t *testing.T) {
	ag := NewAggregator(0)
	p := pkt(0, 6, "198.18.0.1", 1, "198.18.0.2", 2, 100)
	ag.Add(&p)
	allocs := testing.AllocsPerRun(1000, func() {
		p.Time = p.Time.Add(time.Millisecond)
		ag.Add(&p)
	})
	if allocs != 0 {
		t.Errorf("Add of a known flow allocates %.1f times", allocs)
	}
}

func BenchmarkAggregatorAdd(b *testing.B) {
	// 1000 flows, round robin: the map lookups dominate.
	pkts := make([]Packet, 1000)
	for i := range pkts {
		pkts[i] = pkt(0, 17, "198.18.0.1", uint16(10000+i), "198.18.1.1", uint16(i%50), 1000)
		pkts[i].Src = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
	}
	ag := NewAggregator(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := &pkts[i%len(pkts)]
		p.Time = t0.Add(time.Duration(i) * time.Microsecond)
		ag.Add(p)
	}
}

// TestAggregatorTunnels: tunnelled frames count by what is inside, their
// conversations apart per VNI (two tenants with the same addresses), and
// in the tunnel table by their outer pair.
func TestAggregatorTunnels(t *testing.T) {
	outerA, outerB := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	in := func(vni uint32, n int) Packet {
		p := pkt(0, 6, "10.0.0.1", 41000, "10.0.0.2", 3260, n)
		p.Tunnel, p.Tunnels, p.HasTunnelID, p.TunnelID = TunnelVXLAN, 1, true, vni
		p.Outer = Underlay{Src: outerA, Dst: outerB, Protocol: 17, SrcPort: 51000, DstPort: 4789, L3Offset: 14}
		p.L3Offset = 64
		return p
	}
	pkts := []Packet{in(100, 1000), in(100, 1000), in(200, 500), pkt(0, 17, "198.18.0.1", 5000, "198.18.0.2", 53, 80)}
	gre := pkt(0, 6, "10.0.0.1", 41000, "10.0.0.2", 3260, 300)
	gre.Tunnel, gre.Tunnels, gre.Outer, gre.L3Offset = TunnelGRE, 1, Underlay{Src: outerB, Dst: outerA, Protocol: 47, L3Offset: 14}, 38
	pkts = append(pkts, gre)
	ag := NewAggregator(0)
	for i := range pkts {
		ag.Add(&pkts[i])
	}
	s := ag.Summary(0)
	if len(s.Ports) != 2 || s.Ports[0].Port != 3260 || s.Ports[0].Bytes != 2800 {
		t.Errorf("ports %+v: want tcp/3260 with the inner 2800 bytes first, no udp/4789", s.Ports)
	}
	id := func(v uint32) *uint32 { return &v }
	wantConvs := []struct {
		tunnel string
		id     *uint32
		bytes  uint64
	}{{"vxlan", id(100), 2000}, {"vxlan", id(200), 500}, {"gre", nil, 300}, {"", nil, 80}}
	if len(s.Conversations) != len(wantConvs) {
		t.Fatalf("conversations %+v", s.Conversations)
	}
	for i, w := range wantConvs {
		c := s.Conversations[i]
		if c.Tunnel != w.tunnel || (c.TunnelID == nil) != (w.id == nil) || (c.TunnelID != nil && *c.TunnelID != *w.id) || c.Bytes != w.bytes {
			t.Errorf("conversation %d: %s %v %d bytes, want %s %v %d", i, c.Tunnel, c.TunnelID, c.Bytes, w.tunnel, w.id, w.bytes)
		}
	}
	if len(s.Tunnels) != 3 {
		t.Fatalf("tunnels %+v", s.Tunnels)
	}
	if tu := s.Tunnels[0]; tu.Tunnel != "vxlan" || *tu.TunnelID != 100 || tu.Src != outerA || tu.Dst != outerB || tu.Packets != 2 {
		t.Errorf("first tunnel %+v", tu)
	}
	if tu := s.Tunnels[2]; tu.Tunnel != "gre" || tu.TunnelID != nil || tu.Src != outerB || tu.Bytes != 300 {
		t.Errorf("gre tunnel %+v", tu)
	}
}
