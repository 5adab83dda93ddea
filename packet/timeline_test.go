package packet

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func udpTo(t time.Time, port uint16, n int) *Packet {
	return &Packet{Time: t, WireLen: n, IPVersion: 4, Protocol: 17, HasPorts: true, DstPort: port}
}

func TestTimelineBinsAndStacks(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name    string
		bin     time.Duration
		maxBins int
		k       int
		frames  []*Packet
		span    [2]time.Time
		start   time.Time
		wantBin time.Duration
		total   []uint64
		series  map[string][]uint64
		other   []uint64
	}{
		{
			name: "two ports, top one", bin: 10 * time.Millisecond, k: 1,
			frames: []*Packet{udpTo(ms(1), 5201, 100), udpTo(ms(12), 5201, 100), udpTo(ms(15), 53, 10), {Time: ms(25), WireLen: 60}},
			start:  t0, wantBin: 10 * time.Millisecond,
			total:  []uint64{100, 110, 60},
			series: map[string][]uint64{"udp/5201": {100, 100, 0}},
			other:  []uint64{0, 10, 60},
		},
		{
			name: "out of order grows to the left", bin: 10 * time.Millisecond, k: 2,
			frames: []*Packet{udpTo(ms(25), 80, 5), udpTo(ms(3), 80, 7)},
			start:  t0, wantBin: 10 * time.Millisecond,
			total:  []uint64{7, 0, 5},
			series: map[string][]uint64{"udp/80": {7, 0, 5}},
			other:  []uint64{0, 0, 0},
		},
		{
			name: "past the bound the bins merge", bin: 10 * time.Millisecond, maxBins: 4, k: 1,
			frames: []*Packet{udpTo(ms(0), 1, 1), udpTo(ms(10), 1, 2), udpTo(ms(45), 1, 4), udpTo(ms(70), 1, 8)},
			start:  t0, wantBin: 20 * time.Millisecond,
			total:  []uint64{3, 0, 4, 8},
			series: map[string][]uint64{"udp/1": {3, 0, 4, 8}},
			other:  []uint64{0, 0, 0, 0},
		},
		{
			name: "a span covers quiet bins", bin: 10 * time.Millisecond, k: 1,
			frames: []*Packet{udpTo(ms(15), 9, 3)},
			span:   [2]time.Time{ms(0), ms(40)},
			start:  t0, wantBin: 10 * time.Millisecond,
			total:  []uint64{0, 3, 0, 0},
			series: map[string][]uint64{"udp/9": {0, 3, 0, 0}},
			other:  []uint64{0, 0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewTimelineBuilder(tt.bin, tt.maxBins)
			if !tt.span[0].IsZero() {
				b.Span(tt.span[0], tt.span[1])
			}
			for _, p := range tt.frames {
				b.Add(p)
			}
			tl := b.Timeline(tt.k)
			if !tl.Start.Equal(tt.start) || time.Duration(tl.Bin) != tt.wantBin {
				t.Errorf("start %v bin %v, want %v %v", tl.Start, time.Duration(tl.Bin), tt.start, tt.wantBin)
			}
			if !slices.Equal(tl.Total, tt.total) || !slices.Equal(tl.Other, tt.other) {
				t.Errorf("total %v other %v, want %v %v", tl.Total, tl.Other, tt.total, tt.other)
			}
			if len(tl.Series) != len(tt.series) {
				t.Fatalf("series %+v, want %v", tl.Series, tt.series)
			}
			for _, s := range tl.Series {
				if !slices.Equal(s.Bytes, tt.series[s.Label()]) {
					t.Errorf("%s: %v, want %v", s.Label(), s.Bytes, tt.series[s.Label()])
				}
			}
		})
	}
}

func TestTimelineEmptyAndJSON(t *testing.T) {
	b := NewTimelineBuilder(0, 0)
	tl := b.Timeline(5)
	if len(tl.Total) != 0 || time.Duration(tl.Bin) != DefaultTimelineBin {
		t.Fatalf("empty timeline: %+v", tl)
	}
	b.Add(udpTo(time.Unix(5, 0), 443, 1500))
	out, err := json.Marshal(b.Timeline(5))
	if err != nil {
		t.Fatal(err)
	}
	var back Timeline
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if time.Duration(back.Bin) != 10*time.Millisecond || back.Series[0].Label() != "udp/443" || back.Total[0] != 1500 {
		t.Errorf("round trip of %s: %+v", out, back)
	}
}
