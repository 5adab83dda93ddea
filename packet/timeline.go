package packet

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// DefaultTimelineBin is the finest bin of a Timeline: 10 ms, fine enough to
// show the shape of a burst that a 100 ms sampler sees as one interval.
const DefaultTimelineBin = 10 * time.Millisecond

// DefaultTimelineBins bounds a Timeline's bins: a longer span doubles the
// bin width (10 ms, 20 ms, 40 ms...) instead of growing the memory.
const DefaultTimelineBins = 2000

// timelinePorts bounds the ports a TimelineBuilder keeps a series for; the
// traffic of ports seen after that many counts in Other.
const timelinePorts = 256

// Timeline is throughput over time in fixed bins, the top destination
// ports stacked: Total[i] = sum of the Series' Bytes[i] + Other[i]. It is
// the picture of a spike window (/spikes/ID, schema in docs/capture.md)
// and of `netburst top --svg`.
type Timeline struct {
	// Start is the start of bin 0; Bin is every bin's width.
	Start time.Time `json:"start"`
	Bin   Duration  `json:"bin_seconds"`
	// Total is every frame's bytes per bin.
	Total []uint64 `json:"total"`
	// Series are the top ports by bytes, largest first.
	Series []TimelineSeries `json:"series"`
	// Other is the traffic of every other port and of frames without one.
	Other []uint64 `json:"other"`
}

// TimelineSeries is one destination port's bytes per bin.
type TimelineSeries struct {
	Protocol string   `json:"protocol"`
	Port     uint16   `json:"port"`
	Bytes    []uint64 `json:"bytes"`
}

// Label names the series as netburst top does: "udp/5201".
func (s TimelineSeries) Label() string { return s.Protocol + "/" + strconv.Itoa(int(s.Port)) }

// End is the end of the last bin.
func (t Timeline) End() time.Time {
	return t.Start.Add(time.Duration(t.Bin) * time.Duration(len(t.Total)))
}

// Duration is a time.Duration that JSON encodes as seconds.
type Duration time.Duration

// MarshalJSON encodes the duration in seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Seconds(), 'g', -1, 64), nil
}

// UnmarshalJSON decodes seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*d = Duration(f * 1e9)
	return nil
}

// TimelineBuilder bins frames by time into a Timeline. Frames may come in
// any order; the span grows both ways, and past maxBins the bin width
// doubles (adjacent bins merge). Memory is bounded by maxBins times the
// ports kept (at most 256). It is not safe for concurrent use.
type TimelineBuilder struct {
	bin, origin int64 // ns; origin is a multiple of bin
	base        int64
	maxBins     int
	started     bool
	total       []uint64
	ports       map[portKey]int
	series      [][]uint64
}

// NewTimelineBuilder returns a builder starting at bins of width bin
// (DefaultTimelineBin when 0) and keeping at most maxBins
// (DefaultTimelineBins when 0).
func NewTimelineBuilder(bin time.Duration, maxBins int) *TimelineBuilder {
	if bin <= 0 {
		bin = DefaultTimelineBin
	}
	if maxBins <= 1 {
		maxBins = DefaultTimelineBins
	}
	return &TimelineBuilder{bin: int64(bin), base: int64(bin), maxBins: maxBins, ports: map[portKey]int{}}
}

// Span sets the builder's span ahead of the frames (a spike window), so
// that the picture covers it whole, quiet bins included.
func (b *TimelineBuilder) Span(from, to time.Time) {
	if !timelineTime(from) || !timelineTime(to) || !from.Before(to) {
		return
	}
	b.grow(from.UnixNano())
	b.grow(to.UnixNano() - 1)
}

// timelineTime reports whether t can be binned: from 1970 to 2261 (the
// span of int64 nanoseconds).
func timelineTime(t time.Time) bool { return t.Unix() >= 0 && t.Year() < 2262 }

// Add counts one frame; frames timestamped before 1970 or after 2261 are
// left out.
func (b *TimelineBuilder) Add(p *Packet) {
	if !timelineTime(p.Time) {
		return
	}
	i := b.grow(p.Time.UnixNano())
	n := uint64(p.WireLen)
	b.total[i] += n
	if !p.HasPorts || (p.Protocol != 6 && p.Protocol != 17) {
		return
	}
	k := portKey{p.Protocol, p.DstPort}
	s, ok := b.ports[k]
	if !ok {
		if len(b.series) >= timelinePorts {
			return
		}
		s = len(b.series)
		b.ports[k] = s
		b.series = append(b.series, make([]uint64, len(b.total)))
	}
	b.series[s][i] += n
}

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// grow makes the bins cover ns and returns its bin.
func (b *TimelineBuilder) grow(ns int64) int {
	if !b.started {
		b.started = true
		b.origin = floorDiv(ns, b.bin) * b.bin
		b.total = make([]uint64, 1)
		return 0
	}
	for {
		lo, hi := b.origin, b.origin+int64(len(b.total))*b.bin
		if ns >= lo && ns < hi {
			return int((ns - b.origin) / b.bin)
		}
		newLo, newHi := min(lo, floorDiv(ns, b.bin)*b.bin), max(hi, (floorDiv(ns, b.bin)+1)*b.bin)
		if n := (newHi - newLo) / b.bin; n <= int64(b.maxBins) {
			b.rebin(b.bin, newLo, int(n))
			continue
		}
		// Too long at this width: merge pairs of bins and try again.
		w := b.bin * 2
		o := floorDiv(lo, w) * w
		b.rebin(w, o, int((floorDiv(hi-1, w)*w+w-o)/w))
	}
}

// rebin moves the counts to bins of width w from origin o, n of them.
func (b *TimelineBuilder) rebin(w, o int64, n int) {
	move := func(old []uint64) []uint64 {
		out := make([]uint64, n)
		for i, v := range old {
			if v != 0 {
				out[(b.origin+int64(i)*b.bin-o)/w] += v
			}
		}
		return out
	}
	b.total = move(b.total)
	for i := range b.series {
		b.series[i] = move(b.series[i])
	}
	b.bin, b.origin = w, o
}

// Timeline returns the bins with the k largest ports by bytes as series
// (k <= 0: none, everything in Other). It is empty before the first frame.
func (b *TimelineBuilder) Timeline(k int) Timeline {
	if !b.started {
		return Timeline{Bin: Duration(b.base), Total: []uint64{}, Series: []TimelineSeries{}, Other: []uint64{}}
	}
	type ranked struct {
		k     portKey
		i     int
		bytes uint64
	}
	var rs []ranked
	for pk, i := range b.ports {
		var sum uint64
		for _, v := range b.series[i] {
			sum += v
		}
		if sum > 0 {
			rs = append(rs, ranked{pk, i, sum})
		}
	}
	slices.SortFunc(rs, func(x, y ranked) int {
		if c := cmp.Compare(y.bytes, x.bytes); c != 0 {
			return c
		}
		if c := cmp.Compare(x.k.proto, y.k.proto); c != 0 {
			return c
		}
		return cmp.Compare(x.k.port, y.k.port)
	})
	if k < 0 {
		k = 0
	}
	rs = rs[:min(k, len(rs))]
	t := Timeline{
		Start: time.Unix(0, b.origin).UTC(), Bin: Duration(b.bin),
		Total: slices.Clone(b.total), Other: slices.Clone(b.total), Series: []TimelineSeries{},
	}
	for _, r := range rs {
		s := TimelineSeries{Protocol: protoName(r.k.proto), Port: r.k.port, Bytes: slices.Clone(b.series[r.i])}
		for i, v := range s.Bytes {
			t.Other[i] -= v
		}
		t.Series = append(t.Series, s)
	}
	return t
}
