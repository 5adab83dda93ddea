package locate

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// feed merges the points' observations by time (each point's own order
// kept, as a reader of several pcaps does) into a new Analyzer.
func feed(t *testing.T, names []string, clocks []string, per [][]Observation, opts Options) (*Result, error) {
	t.Helper()
	pts := make([]Point, len(names))
	for i, n := range names {
		pts[i].Name = n
		if clocks != nil {
			pts[i].Clock = clocks[i]
		}
	}
	a, err := NewAnalyzer(pts, opts)
	if err != nil {
		t.Fatalf("NewAnalyzer: %v", err)
	}
	streams := make([]Stream, len(per))
	for p := range per {
		streams[p] = &sliceStream{obs: per[p]}
	}
	if err := a.AddStreams(context.Background(), streams); err != nil {
		t.Fatalf("AddStreams: %v", err)
	}
	return a.Result()
}

func us(n int) time.Duration { return time.Duration(n) * time.Microsecond }

func near(a, b, tol time.Duration) bool { d := a - b; return d <= tol && d >= -tol }

func echoBySeq(t *testing.T, r *Result, seq uint16) *Echo {
	t.Helper()
	for i := range r.Echoes {
		if r.Echoes[i].Key.Seq == seq && !r.Echoes[i].Reversed {
			return &r.Echoes[i]
		}
	}
	t.Fatalf("no echo seq %d", seq)
	return nil
}

func segBy(e *Echo, from, to int) *SegmentDelay {
	for i := range e.Segments {
		if e.Segments[i].From == from && e.Segments[i].To == to {
			return &e.Segments[i]
		}
	}
	return nil
}

// TestSeedVector is the field report's acceptance vector (echo 21616/110
// at six points; 120.365 ms added between the NICs, on the reply): the six points,
// normal echoes around the slow seq 110 with the seed's VM clock offsets.
func TestSeedVector(t *testing.T) {
	for _, tc := range []struct {
		name   string
		clocks []string
	}{
		{"every clock estimated", nil},
		{"host clocks declared shared", []string{"vm_a", "hv_a", "hv_a", "hv_b", "hv_b", "vm_b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := feed(t, seedPoints, tc.clocks, seedObservations(100, 120), Options{})
			if err != nil {
				t.Fatal(err)
			}
			v := r.Verdict
			if v == nil {
				t.Fatalf("no verdict; threshold %+v", r.Threshold)
			}
			from, to := r.SegmentName(v.Segment)
			if from != "hv_a_eth0" || to != "hv_b_eth0" || v.Direction != DirReply {
				t.Fatalf("verdict %s -> %s %s, want hv_a_eth0 -> hv_b_eth0 reply", from, to, v.Direction)
			}
			if v.MaxDelay != us(120365) {
				t.Errorf("round-trip delay %v, want 120.365ms", v.MaxDelay)
			}
			if !v.WorstOneWay.Valid || !near(v.WorstOneWay.D, us(120185), us(2)) {
				t.Errorf("one-way reply delay %+v, want 120.185ms ±2µs", v.WorstOneWay)
			}
			if len(v.Echoes) != 1 || v.Echoes[0].Seq != 110 || v.Echoes[0].ID != seedID {
				t.Errorf("evidence %v, want seq 110 only", v.Echoes)
			}
			if len(r.Findings) != 1 {
				t.Errorf("findings %+v, want only one", r.Findings)
			}
			e := echoBySeq(t, r, 110)
			wantRT := []int{120554, 120483, 120449, 84, 53, 15}
			for p, w := range wantRT {
				if !e.RoundTrip[p].Valid || e.RoundTrip[p].D != us(w) {
					t.Errorf("%s round trip %+v, want %dµs", seedPoints[p], e.RoundTrip[p], w)
				}
			}
			// Each segment's one-way delays after offset estimation: the VM
			// clocks' offsets (0.5 ms and more) must not appear as delay.
			for _, s := range e.Segments {
				if s.To == 6 {
					continue
				}
				if !s.Request.Valid || !s.Reply.Valid {
					t.Errorf("segment %d->%d: one-way delays unknown", s.From, s.To)
					continue
				}
				if s.From == 2 {
					if !near(s.Request.D, us(180), us(2)) || !near(s.Reply.D, us(120185), us(2)) {
						t.Errorf("hv_a_eth0->hv_b_eth0 request %v reply %v, want 180µs and 120185µs", s.Request.D, s.Reply.D)
					}
					continue
				}
				for _, d := range []time.Duration{s.Request.D, s.Reply.D} {
					if d < -us(5) || d > us(100) {
						t.Errorf("segment %s->%s one-way %v: a clock offset was blamed as delay", seedPoints[s.From], seedPoints[s.To], d)
					}
				}
			}
			// The estimated offsets are the clocks' offsets, within their
			// stated uncertainty.
			for p, pr := range r.Points {
				want := us(seedClock[p] - seedClock[0])
				if !near(pr.Offset.Value, want, pr.Offset.Uncertainty+us(2)) {
					t.Errorf("%s offset %v ± %v (%s), want %v", pr.Name, pr.Offset.Value, pr.Offset.Uncertainty, pr.Offset.Method, want)
				}
				if !pr.Offset.Consistent {
					t.Errorf("%s offset reported inconsistent", pr.Name)
				}
			}
			if tc.clocks != nil && r.Points[2].Offset.Method != OffsetShared {
				t.Errorf("hv_a_eth0 method %s, want shared", r.Points[2].Offset.Method)
			}
			if tc.clocks == nil && r.Points[5].Offset.Method != OffsetEstimated {
				t.Errorf("vm_b_eth0 method %s, want estimated", r.Points[5].Offset.Method)
			}
			if len(r.Warnings) != 0 || len(r.Losses) != 0 {
				t.Errorf("warnings %v losses %v, want none", r.Warnings, r.Losses)
			}
		})
	}
}

// TestSeedRawClocksWouldMislead shows why offsets are estimated: with the
// raw timestamps, VM a's clock makes its request arrive at the vif 0.5 ms
// before it left.
func TestSeedRawClocksWouldMislead(t *testing.T) {
	raw := us(seedSlow[1][0] - seedSlow[0][0])
	if raw > -us(500) {
		t.Fatalf("raw vm_a->vif request delay %v: the seed's table changed?", raw)
	}
}

func TestSeedPointErrors(t *testing.T) {
	swapped := func(per [][]Observation, a, b int) ([]string, [][]Observation) {
		names := slices.Clone(seedPoints)
		per = slices.Clone(per)
		names[a], names[b] = names[b], names[a]
		per[a], per[b] = per[b], per[a]
		return names, per
	}
	reversed := func(per [][]Observation) ([]string, [][]Observation) {
		names := slices.Clone(seedPoints)
		per = slices.Clone(per)
		slices.Reverse(names)
		slices.Reverse(per)
		return names, per
	}
	for _, tc := range []struct {
		name    string
		prepare func() ([]string, [][]Observation)
		opts    Options
		want    error
		msg     string
	}{
		{"two points swapped", func() ([]string, [][]Observation) { return swapped(seedObservations(100, 120), 2, 3) }, Options{}, ErrPointOrder, "hv_a_eth0 is not downstream of hv_b_eth0"},
		{"neighbours swapped", func() ([]string, [][]Observation) { return swapped(seedObservations(100, 120), 4, 5) }, Options{}, ErrPointOrder, "vm_b_eth0"},
		{"whole path reversed", func() ([]string, [][]Observation) { return reversed(seedObservations(100, 120)) }, Options{}, ErrPointOrder, "reverse them"},
		{"a point without echoes", func() ([]string, [][]Observation) {
			per := seedObservations(100, 120)
			per[3] = nil
			return seedPoints, per
		}, Options{}, ErrNoEchoes, "hv_b_eth0"},
		{"too few echoes for a baseline", func() ([]string, [][]Observation) { return seedPoints, seedObservations(110, 111) }, Options{}, ErrNoBaseline, "need 3"},
		{"captures of different times", func() ([]string, [][]Observation) {
			per := seedObservations(100, 105)
			later := seedObservations(200, 205)
			per[4], per[5] = later[4], later[5]
			return seedPoints, per
		}, Options{MaxAge: time.Second}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, per := tc.prepare()
			_, err := feed(t, names, nil, per, tc.opts)
			if tc.want == nil {
				// Disjoint captures still share echoes at points 0..3, so
				// this one must succeed.
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestNoMatch(t *testing.T) {
	per := make([][]Observation, 6)
	for p := range 6 {
		first := uint16(100 + 10*p)
		per[p] = seedObservations(first, first+4)[p]
	}
	_, err := feed(t, seedPoints, nil, per, Options{MaxAge: time.Second})
	if !errors.Is(err, ErrNoMatch) {
		t.Fatalf("error %v, want ErrNoMatch", err)
	}
}

func TestSeedSingleEchoExplicitThreshold(t *testing.T) {
	// Only seq 110 captured: no baseline, but an explicit threshold gives a
	// verdict on the round trip; no normal echo means no offset estimate,
	// so the direction is unknown unless clocks are declared shared.
	r, err := feed(t, seedPoints, nil, seedObservations(110, 110), Options{Threshold: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict == nil || r.Verdict.From != 2 || r.Verdict.To != 3 || r.Verdict.Direction != DirUnknown || r.Verdict.MaxDelay != us(120365) {
		t.Fatalf("verdict %+v, want segment 2->3, unknown, 120.365ms", r.Verdict)
	}
	if !r.Threshold.Explicit {
		t.Error("threshold not marked explicit")
	}
	r, err = feed(t, seedPoints, []string{"vm_a", "hv", "hv", "hv", "hv", "vm_b"}, seedObservations(110, 110), Options{Threshold: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict == nil || r.Verdict.Direction != DirReply || r.Verdict.WorstOneWay.D != us(120185) {
		t.Fatalf("verdict %+v, want reply 120.185ms with the hosts' clocks shared", r.Verdict)
	}
}

func TestClockJump(t *testing.T) {
	t.Run("forward step at one point", func(t *testing.T) {
		per := seedObservations(100, 120)
		// hv_b's clock steps 50 ms forward from seq 115 on (both points).
		for _, p := range []int{3, 4} {
			for i := range per[p] {
				if per[p][i].Seq >= 115 {
					per[p][i].Time = per[p][i].Time.Add(50 * time.Millisecond)
				}
			}
		}
		r, err := feed(t, seedPoints, nil, per, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var jumped []string
		for _, w := range r.Warnings {
			if errors.Is(w, ErrClockJump) {
				jumped = append(jumped, r.Points[w.Point].Name)
			}
		}
		if !slices.Contains(jumped, "hv_b_eth0") {
			t.Fatalf("warnings %v, want a clock jump at hv_b_eth0", r.Warnings)
		}
		// Round trips use one clock: the verdict's delay is still right,
		// but the direction cannot be told any more.
		v := r.Verdict
		if v == nil || v.From != 2 || v.To != 3 || v.MaxDelay != us(120365) || v.Direction != DirUnknown {
			t.Fatalf("verdict %+v, want 2->3 unknown 120.365ms", v)
		}
	})
	t.Run("step back within a capture", func(t *testing.T) {
		per := seedObservations(100, 120)
		for i := range per[1] {
			if per[1][i].Seq >= 115 {
				per[1][i].Time = per[1][i].Time.Add(-3 * time.Second)
			}
		}
		r, err := feed(t, seedPoints, nil, per, Options{MaxAge: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		// Sorted by time, the step shows as the echoes' contradiction of
		// the point's offset, and the stream's own order as unsorted.
		var jumped, unsorted bool
		for _, w := range r.Warnings {
			jumped = jumped || errors.Is(w, ErrClockJump) && w.Point == 1
			unsorted = unsorted || errors.Is(w, ErrUnsorted) && w.Point == 1 && strings.Contains(w.Message, "go back 1 time(s) in the capture's order, by up to 2.000301s (at 19:53:10.850975")
		}
		if !jumped || !unsorted {
			t.Fatalf("warnings %v, want a clock jump (%v) and a step back (%v) at point 1", r.Warnings, jumped, unsorted)
		}
		if r.Points[1].Offset.Known() {
			t.Error("point 1's offset still used for one-way delays")
		}
	})
}

func TestLossAndMissing(t *testing.T) {
	per := seedObservations(100, 120)
	drop := func(p int, seq uint16, reply bool) {
		per[p] = slices.DeleteFunc(per[p], func(o Observation) bool { return o.Seq == seq && o.Reply == reply })
	}
	// seq 105's reply lost between hv_b_eth0 and hv_a_eth0.
	for p := range 3 {
		drop(p, 105, true)
	}
	// seq 107's request lost between hv_a_eth0 and hv_b_eth0: no reply.
	for p := 3; p < 6; p++ {
		drop(p, 107, false)
	}
	for p := range 6 {
		drop(p, 107, true)
	}
	// seq 108: the target never replied (or its request died beyond).
	for p := range 6 {
		drop(p, 108, true)
	}
	// seq 112's request missing from the vif capture only.
	drop(1, 112, false)
	r, err := feed(t, seedPoints, nil, per, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seq  uint16
		want Loss
	}{
		{105, Loss{Direction: DirReply, Segment: Segment{From: 2, To: 3}}},
		{107, Loss{Direction: DirRequest, Segment: Segment{From: 2, To: 3}}},
		{108, Loss{Direction: DirUnknown, Segment: Segment{From: 5, To: 6}}},
	} {
		e := echoBySeq(t, r, tc.seq)
		if e.Lost == nil || *e.Lost != tc.want {
			t.Errorf("seq %d lost %+v, want %+v", tc.seq, e.Lost, tc.want)
		}
	}
	e := echoBySeq(t, r, 112)
	if e.Lost != nil || !slices.Equal(e.Missing, []int{1}) {
		t.Errorf("seq 112 lost %+v missing %v, want missing at point 1", e.Lost, e.Missing)
	}
	if s := segBy(e, 0, 2); s == nil {
		t.Errorf("seq 112 segments %+v, want one spanning 0->2", e.Segments)
	}
	if len(r.Losses) != 3 {
		t.Errorf("loss summary %+v, want 3 groups", r.Losses)
	}
	if r.Verdict == nil || r.Verdict.From != 2 || r.Verdict.Direction != DirReply {
		t.Errorf("verdict %+v changed by the losses", r.Verdict)
	}
}

func TestDirections(t *testing.T) {
	// Slow echoes built from normal ones: extra delay on the request at
	// vif->eth0 (seqs 104, 106), and on both ways at hv_b_eth0->vif (116).
	per := seedObservations(100, 120)
	for p := range per {
		for i := range per[p] {
			o := &per[p][i]
			switch {
			case (o.Seq == 104 || o.Seq == 106) && (p >= 2 || o.Reply):
				o.Time = o.Time.Add(30 * time.Millisecond)
			case o.Seq == 116 && p >= 4:
				o.Time = o.Time.Add(20 * time.Millisecond)
			case o.Seq == 116 && o.Reply:
				o.Time = o.Time.Add(60 * time.Millisecond)
			}
		}
	}
	r, err := feed(t, seedPoints, nil, per, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint16]struct {
		seg Segment
		dir Direction
	}{
		104: {Segment{1, 2}, DirRequest},
		106: {Segment{1, 2}, DirRequest},
		110: {Segment{2, 3}, DirReply},
		116: {Segment{3, 4}, DirBoth},
	}
	for seq, w := range want {
		e := echoBySeq(t, r, seq)
		if e.Blame == nil || e.Blame.Segment != w.seg || e.Blame.Direction != w.dir {
			t.Errorf("seq %d blame %+v, want %v %s", seq, e.Blame, w.seg, w.dir)
		}
	}
	if v := r.Verdict; v == nil || v.Segment != (Segment{1, 2}) || v.Direction != DirRequest || len(v.Echoes) != 2 {
		t.Errorf("verdict %+v, want the two request echoes at 1->2", v)
	}
	if len(r.Findings) != 3 {
		t.Errorf("%d findings, want 3", len(r.Findings))
	}
}

func TestReversedFlow(t *testing.T) {
	per := seedObservations(100, 120)
	// VM b pings VM a too: its echoes cross the points the other way.
	rev := seedObservations(100, 120)
	for p := range 6 {
		for _, o := range rev[5-p] {
			o.Src, o.Dst = netip.MustParseAddr("192.168.47.127"), netip.MustParseAddr("192.168.47.111")
			if o.Reply {
				o.Src, o.Dst = o.Dst, o.Src
			}
			o.ID = 999
			per[p] = append(per[p], o)
		}
		slices.SortStableFunc(per[p], func(a, b Observation) int { return a.Time.Compare(b.Time) })
	}
	r, err := feed(t, seedPoints, nil, per, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.Reversed != 21 {
		t.Errorf("reversed %d echoes, want 21", r.Stats.Reversed)
	}
	if v := r.Verdict; v == nil || v.Segment != (Segment{2, 3}) || v.Direction != DirReply || len(v.Echoes) != 1 {
		t.Errorf("verdict %+v", v)
	}
}

func TestIPv6Echo(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	per := seedObservations(100, 110)
	for p := range per {
		for i := range per[p] {
			o := &per[p][i]
			if o.Reply {
				o.Src, o.Dst = dst, src
			} else {
				o.Src, o.Dst = src, dst
			}
		}
	}
	r, err := feed(t, seedPoints, nil, per, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict == nil || r.Verdict.Worst.Src != src || r.Verdict.Direction != DirReply {
		t.Fatalf("verdict %+v", r.Verdict)
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		req, rep time.Duration
		want     Direction
	}{
		{0, 100, DirReply},
		{25, 75, DirReply},
		{26, 74, DirBoth},
		{50, 50, DirBoth},
		{75, 25, DirRequest},
		{100, -20, DirRequest},
		{-5, -5, DirUnknown},
		{0, 0, DirUnknown},
	} {
		if got := split(tc.req, tc.rep); got != tc.want {
			t.Errorf("split(%v, %v) = %s, want %s", tc.req, tc.rep, got, tc.want)
		}
	}
}

func TestMedianMAD(t *testing.T) {
	for _, tc := range []struct {
		in        []time.Duration
		med, madv time.Duration
	}{
		{[]time.Duration{3}, 3, 0},
		{[]time.Duration{4, 1, 3, 2}, 2, 1},
		{[]time.Duration{1, 1, 2, 2, 4, 6, 9}, 2, 1},
	} {
		m, ok := median(slices.Clone(tc.in))
		if !ok || m != tc.med {
			t.Errorf("median(%v) = %v, want %v", tc.in, m, tc.med)
		}
		if got := mad(slices.Clone(tc.in), m); got != tc.madv {
			t.Errorf("mad(%v) = %v, want %v", tc.in, got, tc.madv)
		}
	}
	if _, ok := median(nil); ok {
		t.Error("median of nothing reported ok")
	}
}

func TestAnalyzerConfigErrors(t *testing.T) {
	for _, pts := range [][]Point{
		{{Name: "a"}},
		{{Name: "a"}, {Name: "a"}},
		{{Name: "a"}, {Name: ""}},
		make([]Point, MaxPoints+1),
	} {
		if _, err := NewAnalyzer(pts, Options{}); !errors.Is(err, ErrConfig) {
			t.Errorf("NewAnalyzer(%v) error %v, want ErrConfig", pts, err)
		}
	}
}

func TestPointSharingNothing(t *testing.T) {
	per := seedObservations(100, 120)
	per[5] = seedObservations(400, 404)[5]
	r, err := feed(t, seedPoints, nil, per, Options{MaxAge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range r.Warnings {
		if w.Point == 5 && strings.Contains(w.Message, "shares no echo") {
			found = true
		}
	}
	if !found {
		t.Fatalf("warnings %v, want vm_b_eth0 sharing no echo", r.Warnings)
	}
	if v := r.Verdict; v == nil || v.Segment != (Segment{2, 3}) || v.Direction != DirReply {
		t.Errorf("verdict %+v", v)
	}
}

// TestClockDrift: VM b's clock runs 40 ppm fast over a 1,000 s capture, so
// its offset moves by 40 ms, far beyond the clock tolerance. The drift is
// estimated, the clock is not called jumping, and one-way delays stay
// right.
func TestClockDrift(t *testing.T) {
	per := seedObservations(0, 999)
	const drift = 40e-6
	for i := range per[5] {
		o := &per[5][i]
		o.Time = o.Time.Add(time.Duration(drift * float64(o.Time.Sub(seedBase))))
	}
	r, err := feed(t, seedPoints, nil, per, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 0 {
		t.Fatalf("warnings %v", r.Warnings)
	}
	off := r.Points[5].Offset
	if d := off.Drift - drift; d > 1e-7 || d < -1e-7 {
		t.Errorf("vm_b drift %.3g, want %.3g", off.Drift, drift)
	}
	for _, seq := range []uint16{3, 500, 990} {
		e := echoBySeq(t, r, seq)
		s := segBy(e, 4, 5)
		if s == nil || !s.Request.Valid || !near(s.Request.D, us(seedHops[4][0]), us(3)) || !near(s.Reply.D, us(seedHops[4][1]), us(3)) {
			t.Errorf("seq %d vif->vm_b one way %+v, want %dµs/%dµs", seq, s, seedHops[4][0], seedHops[4][1])
		}
	}
	if v := r.Verdict; v == nil || v.Segment != (Segment{2, 3}) || v.Direction != DirReply || !near(v.WorstOneWay.D, us(120185), us(2)) {
		t.Errorf("verdict %+v", v)
	}
}

// TestOffPath: pings to hv_b itself (seen at hv_b_eth0 only) and from VM a
// to hv_a (vm_a_eth0 and the vif, replies included) are not on the path:
// no loss, no baseline sample, and the verdict stands.
func TestOffPath(t *testing.T) {
	per := seedObservations(100, 120)
	other := netip.MustParseAddr("198.18.7.7")
	hvB := netip.MustParseAddr("10.1.16.55")
	for i := range 5 {
		at := seedBase.Add(time.Duration(i-5)*time.Second + 300*time.Millisecond)
		per[3] = append(per[3],
			Observation{Point: 3, Time: at, Src: other, Dst: hvB, ID: 5, Seq: uint16(i)},
			Observation{Point: 3, Time: at.Add(40 * time.Microsecond), Src: hvB, Dst: other, ID: 5, Seq: uint16(i), Reply: true})
	}
	for p := range per {
		slices.SortStableFunc(per[p], func(a, b Observation) int { return a.Time.Compare(b.Time) })
	}
	r, err := feed(t, seedPoints, nil, per, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.OffPath != 5 || len(r.Losses) != 0 || r.Threshold.Samples != 21 {
		t.Errorf("off path %d, losses %+v, baseline samples %d; want 5, none, 21", r.Stats.OffPath, r.Losses, r.Threshold.Samples)
	}
	if v := r.Verdict; v == nil || v.Segment != (Segment{2, 3}) || v.Direction != DirReply {
		t.Errorf("verdict %+v", v)
	}
}
