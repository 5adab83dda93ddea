package bond

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// frameFlow parses a test frame into a flow.
func frameFlow(t *testing.T, frame []byte) Flow {
	t.Helper()
	var f Flow
	if err := ParseFrame(frame, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFlowTable(t *testing.T) {
	// Hashes from the vectors of hash_test.go, layer3+4 current:
	// udp 198.18.0.1:40000 -> 198.18.0.2:7000 is 0x2da0004e (even: slave 0
	// of 2); udp [2001:db8::1]:1000 -> [2001:db8::2]:2000 is 0x69ea1e1f
	// (odd: slave 1 of 2); its first fragment, hashed without ports, is
	// fold(0x03000000) >> 1 = 0x01818181 (odd: slave 1); ARP falls back to
	// the layer2 hash 0x03 ^ 0x0806 = 0x0805 (odd: slave 1).
	v4 := frameFlow(t, ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)))
	v4frag := frameFlow(t, ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0x2000), l4ports(40000, 7000)))
	v6 := frameFlow(t, ether(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 17), l4ports(1000, 2000)))
	arp := frameFlow(t, ether(0x0806, make([]byte, 28)))
	a1, a2 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	b1, b2 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	v4key := FlowKey{EtherType: 0x0800, IP: true, Proto: 17, Src: a1, Dst: a2, HasPorts: true, SrcPort: 40000, DstPort: 7000}
	v6key := FlowKey{EtherType: 0x86DD, IP: true, Proto: 17, Src: b1, Dst: b2, HasPorts: true, SrcPort: 1000, DstPort: 2000}
	// Under layer2 (current) the hash is d[5] ^ s[5] ^ 0x0800: the test
	// MACs give 0x0803 (slave 1); a source MAC ending in 02 gives 0x0800
	// (slave 0). The IP flow's key has no MACs: one key, two slaves.
	v4mac := v4
	v4mac.SrcMAC[5] = 0x02

	type add struct {
		f              Flow
		packets, bytes uint64
	}
	type flow struct {
		key            FlowKey
		slave          int
		hash           uint32
		packets, bytes uint64
	}
	cases := []struct {
		name      string
		policy    Policy
		maxFlows  int
		adds      []add
		flows     []flow
		slaves    []SlaveStat
		weight    Weight
		imbalance float64
		unlisted  [2]uint64
		nonIP     uint64
	}{
		{
			// 9000 of 10000 bytes on slave 0: shares 0.9 and 0.1, busiest
			// over mean 9000 / 5000 = 1.8.
			name: "bytes", policy: Layer34, maxFlows: 10,
			adds:   []add{{v4, 6, 9000}, {v6, 1, 1000}},
			flows:  []flow{{v4key, 0, 0x2da0004e, 6, 9000}, {v6key, 1, 0x69ea1e1f, 1, 1000}},
			slaves: []SlaveStat{{6, 9000, 0.9}, {1, 1000, 0.1}}, weight: WeightBytes, imbalance: 1.8,
		},
		{
			// No byte known: packets weigh, 3 of 4 on slave 0: 3 / 2 = 1.5.
			name: "packets", policy: Layer34, maxFlows: 10,
			adds:   []add{{v4, 2, 0}, {v6, 1, 0}, {v4, 1, 0}},
			flows:  []flow{{v4key, 0, 0x2da0004e, 3, 0}, {v6key, 1, 0x69ea1e1f, 1, 0}},
			slaves: []SlaveStat{{3, 0, 0.75}, {1, 0, 0.25}}, weight: WeightPackets, imbalance: 1.5,
		},
		{
			// The first fragment is a flow of its own, without ports.
			name: "fragment", policy: Layer34, maxFlows: 10,
			adds: []add{{v4, 1, 100}, {v4frag, 1, 100}},
			flows: []flow{{v4key, 0, 0x2da0004e, 1, 100},
				{FlowKey{EtherType: 0x0800, IP: true, Proto: 17, Src: a1, Dst: a2}, 1, 0x01818181, 1, 100}},
			slaves: []SlaveStat{{1, 100, 0.5}, {1, 100, 0.5}}, weight: WeightBytes, imbalance: 1,
		},
		{
			// One key on two slaves is two entries; the third packet joins
			// the first.
			name: "one key, two slaves", policy: Layer2, maxFlows: 10,
			adds:   []add{{v4, 1, 100}, {v4mac, 1, 300}, {v4, 1, 100}},
			flows:  []flow{{v4key, 1, 0x0803, 2, 200}, {v4key, 0, 0x0800, 1, 300}},
			slaves: []SlaveStat{{1, 300, 0.6}, {2, 200, 0.4}}, weight: WeightBytes, imbalance: 1.2,
		},
		{
			// The second flow finds the table full: counted on its slave
			// and as unlisted, in no flow.
			name: "bounded", policy: Layer34, maxFlows: 1,
			adds:   []add{{v4, 1, 300}, {v6, 2, 100}},
			flows:  []flow{{v4key, 0, 0x2da0004e, 1, 300}},
			slaves: []SlaveStat{{1, 300, 0.75}, {2, 100, 0.25}}, weight: WeightBytes, imbalance: 1.5,
			unlisted: [2]uint64{2, 100},
		},
		{
			name: "not ip", policy: Layer34, maxFlows: 10,
			adds:   []add{{arp, 4, 240}},
			flows:  []flow{{FlowKey{EtherType: 0x0806, SrcMAC: macSrc, DstMAC: macDst}, 1, 0x0805, 4, 240}},
			slaves: []SlaveStat{{0, 0, 0}, {4, 240, 1}}, weight: WeightBytes, imbalance: 2, nonIP: 4,
		},
		{
			name: "empty", policy: Layer34, maxFlows: 10,
			flows: []flow{}, slaves: []SlaveStat{{}, {}}, weight: WeightPackets,
		},
	}
	for _, c := range cases {
		h, err := NewHasher(c.policy, Current)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := NewFlowTable(h, 2, c.maxFlows)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range c.adds {
			tab.Add(&a.f, a.packets, a.bytes)
		}
		b := tab.Result(5)
		var got []flow
		for _, f := range b.Flows {
			got = append(got, flow{f.FlowKey, f.Slave, f.Hash, f.Packets, f.Bytes})
		}
		if len(got) != len(c.flows) || (len(got) > 0 && !reflect.DeepEqual(got, c.flows)) {
			t.Errorf("%s: flows\n%+v\nwant\n%+v", c.name, got, c.flows)
		}
		if b.Flows == nil || b.Moves == nil {
			t.Errorf("%s: nil flows or moves", c.name)
		}
		if !reflect.DeepEqual(b.Slaves, c.slaves) || b.Weight != c.weight || b.Imbalance != c.imbalance {
			t.Errorf("%s: slaves %+v weight %v imbalance %v, want %+v %v %v", c.name, b.Slaves, b.Weight, b.Imbalance, c.slaves, c.weight, c.imbalance)
		}
		if b.UnlistedPackets != c.unlisted[0] || b.UnlistedBytes != c.unlisted[1] || b.NonIPPackets != c.nonIP {
			t.Errorf("%s: unlisted %d/%d, non-IP %d, want %v, %d", c.name, b.UnlistedPackets, b.UnlistedBytes, b.NonIPPackets, c.unlisted, c.nonIP)
		}
	}
}

func TestNewFlowTableBadSize(t *testing.T) {
	h, _ := NewHasher(Layer34, Current)
	for _, n := range [][2]int{{0, 1}, {1, 0}, {-1, 10}} {
		if _, err := NewFlowTable(h, n[0], n[1]); !errors.Is(err, ErrBadFlowTable) {
			t.Errorf("NewFlowTable(%d slaves, %d flows): %v, want ErrBadFlowTable", n[0], n[1], err)
		}
	}
}

func TestFlowTableAddAllocs(t *testing.T) {
	h, _ := NewHasher(Layer34, Current)
	tab, _ := NewFlowTable(h, 2, 10)
	f := frameFlow(t, ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)))
	tab.Add(&f, 1, 100) // the entry is created once
	if n := testing.AllocsPerRun(100, func() { tab.Add(&f, 1, 100) }); n != 0 {
		t.Errorf("Add of a known flow allocates %.1f times, want 0", n)
	}
}

func TestSuggestMoves(t *testing.T) {
	// A flow of the given weight (packets, or bytes) on a slave.
	stat := func(slave int, packets, bytes uint64) FlowStat {
		return FlowStat{Slave: slave, Packets: packets, Bytes: bytes}
	}
	// udp 198.18.0.1:40000 -> 198.18.0.2:7000: under layer3+4, source
	// ports 40000..40003 take slaves 0, 0, 1, 1 of 2 (the port word 9c
	// (40+k) 1b 58 read LE, XORed with the addresses' 0x03000000 and
	// folded, ends in the byte 9c+k; after >>1 the parity is its bit 1).
	v4 := frameFlow(t, ether(0x0800, ipv4("198.18.0.1", "198.18.0.2", 17, 0), l4ports(40000, 7000)))
	ported := FlowStat{Slave: 0, Packets: 1, Flow: v4}
	cases := []struct {
		name     string
		policy   Policy
		flows    []FlowStat
		w        Weight
		load     []uint64
		maxMoves int
		want     []Move
	}{
		{
			// 4000/0, diff 4000: every 1000 flow is 1000 from half of it,
			// the first wins; 3000/1000, diff 2000: the next is exactly
			// half; 2000/2000: nothing is smaller than a zero difference.
			name: "even out", policy: Layer23, w: WeightBytes, maxMoves: 5,
			flows: []FlowStat{stat(0, 1, 1000), stat(0, 1, 1000), stat(0, 1, 1000), stat(0, 1, 1000)},
			load:  []uint64{4000, 0},
			want:  []Move{{Flow: 0, From: 0, To: 1, Weight: 1000}, {Flow: 1, From: 0, To: 1, Weight: 1000}},
		},
		{
			name: "at most maxMoves", policy: Layer23, w: WeightBytes, maxMoves: 1,
			flows: []FlowStat{stat(0, 1, 1000), stat(0, 1, 1000), stat(0, 1, 1000), stat(0, 1, 1000)},
			load:  []uint64{4000, 0},
			want:  []Move{{Flow: 0, From: 0, To: 1, Weight: 1000}},
		},
		{
			// Diff 10: |2w - 10| is 8, 2, 2, 8: the 6 (first of the two
			// closest). Then 4/6: no flow left on slave 1, the busiest.
			name: "closest to half", policy: Layer23, w: WeightBytes, maxMoves: 5,
			flows: []FlowStat{stat(0, 1, 9), stat(0, 1, 6), stat(0, 1, 4), stat(0, 1, 1)},
			load:  []uint64{10, 0},
			want:  []Move{{Flow: 1, From: 0, To: 1, Weight: 6}},
		},
		{
			// A flow as heavy as the difference would only swap the loads.
			name: "too heavy", policy: Layer23, w: WeightBytes, maxMoves: 5,
			flows: []FlowStat{stat(0, 1, 9000), stat(1, 1, 1000)},
			load:  []uint64{9000, 1000},
			want:  []Move{},
		},
		{
			// Three slaves 9/3/0: the 5 and the 4 are both 1 from 4.5, the
			// first wins (to slave 2); then 4/3/5 and nothing on slave 2.
			name: "three slaves", policy: Layer23, w: WeightBytes, maxMoves: 5,
			flows: []FlowStat{stat(0, 1, 5), stat(0, 1, 4), stat(1, 1, 3)},
			load:  []uint64{9, 3, 0},
			want:  []Move{{Flow: 0, From: 0, To: 2, Weight: 5}},
		},
		{
			// Packets weigh: the byte counts are ignored.
			name: "packets", policy: Layer23, w: WeightPackets, maxMoves: 5,
			flows: []FlowStat{stat(0, 2, 9000), stat(0, 2, 1)},
			load:  []uint64{4, 0},
			want:  []Move{{Flow: 0, From: 0, To: 1, Weight: 2}},
		},
		{
			name: "one slave", policy: Layer23, w: WeightBytes, maxMoves: 5,
			flows: []FlowStat{stat(0, 1, 5)}, load: []uint64{5}, want: []Move{},
		},
		{
			// layer3+4 names the source port that lands the flow on slave 1:
			// 40002 (40001 still takes slave 0).
			name: "source port", policy: Layer34, w: WeightPackets, maxMoves: 5,
			flows: []FlowStat{ported, stat(0, 1, 0)},
			load:  []uint64{2, 0},
			want:  []Move{{Flow: 0, From: 0, To: 1, Weight: 1, SrcPort: 40002, HasSrcPort: true}},
		},
		{
			// layer2+3 does not hash ports: no port to suggest.
			name: "no port to suggest", policy: Layer23, w: WeightPackets, maxMoves: 5,
			flows: []FlowStat{ported, stat(0, 1, 0)},
			load:  []uint64{2, 0},
			want:  []Move{{Flow: 0, From: 0, To: 1, Weight: 1}},
		},
	}
	for _, c := range cases {
		h, err := NewHasher(c.policy, Current)
		if err != nil {
			t.Fatal(err)
		}
		load := append([]uint64(nil), c.load...)
		got := SuggestMoves(h, c.flows, c.w, load, c.maxMoves)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: moves %+v, want %+v", c.name, got, c.want)
		}
		if !reflect.DeepEqual(load, c.load) {
			t.Errorf("%s: the caller's loads changed to %v", c.name, load)
		}
	}
	// The moved flow is the caller's: its port is not changed.
	if ported.Flow.Net.Ports>>16 != 40000 {
		t.Errorf("SuggestMoves changed the flow's source port")
	}
}

func TestFlowKeyProtocol(t *testing.T) {
	cases := []struct {
		k    FlowKey
		want string
	}{
		{FlowKey{IP: true, Proto: 6}, "tcp"},
		{FlowKey{IP: true, Proto: 58}, "icmpv6"},
		{FlowKey{IP: true, Proto: 136}, "udplite"},
		{FlowKey{IP: true, Proto: 99}, "99"},
		{FlowKey{EtherType: 0x0806}, "arp"},
		{FlowKey{EtherType: 0x8100}, "vlan"},
		{FlowKey{EtherType: 0x88a8}, "vlan"},
		{FlowKey{EtherType: 0x88cc}, "ethertype-0x88cc"},
	}
	for _, c := range cases {
		if got := c.k.Protocol(); got != c.want {
			t.Errorf("%+v: Protocol() = %q, want %q", c.k, got, c.want)
		}
	}
}
