package collector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netburst/netburst/locate"
)

// TestLocateCollector feeds a real locate.Live with two echoes across two
// points and reads the metrics back.
func TestLocateCollector(t *testing.T) {
	c := NewLocate()
	live, err := locate.NewLive(locate.LiveConfig{Points: []string{"vif1", "eth0"}, Observer: c})
	if err != nil {
		t.Fatal(err)
	}
	c.SetSource(live)
	c.SetPointSource(fakePoints{{Point: "vif1", Up: false, Reopens: 3}, {Point: "eth0", Up: true}})
	t0 := time.Unix(1000, 0)
	src, dst := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.4.2")
	add := func(p int, us int, seq uint16, reply bool) {
		o := locate.Observation{Point: p, Time: t0.Add(time.Duration(us) * time.Microsecond), Src: src, Dst: dst, ID: 9, Seq: seq, Reply: reply}
		if reply {
			o.Src, o.Dst = dst, src
		}
		live.Add(&o)
	}
	// seq 1: request 20 µs vif1 -> eth0, reply 30 ms eth0 -> vif1.
	add(0, 0, 1, false)
	add(1, 20, 1, false)
	add(1, 1000, 1, true)
	add(0, 31000, 1, true)
	// seq 2: the reply never reaches vif1.
	add(0, 100000, 2, false)
	add(1, 100020, 2, false)
	add(1, 101000, 2, true)
	live.Flush()

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	series := map[string]float64{}
	rtt := map[string][2]float64{} // count, sum by point
	for _, mf := range mfs {
		if mf.GetName() == "netburst_locate_round_trip_seconds" {
			for _, m := range mf.GetMetric() {
				var point, side string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "point":
						point = l.GetValue()
					case "side":
						side = l.GetValue()
					}
				}
				if side != "near" {
					t.Errorf("round trip at %s on side %q, want near (pinged from vif1's side)", point, side)
				}
				rtt[point] = [2]float64{float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()}
			}
			continue
		}
		if mf.GetName() != "netburst_segment_delay_seconds" {
			for _, m := range mf.GetMetric() {
				k := mf.GetName()
				for _, l := range m.GetLabel() {
					k += " " + l.GetName() + "=" + l.GetValue()
				}
				series[k] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			continue
		}
		for _, m := range mf.GetMetric() {
			var dir string
			for _, l := range m.GetLabel() {
				if l.GetName() == "direction" {
					dir = l.GetValue()
				}
			}
			got[dir+" count"] += float64(m.GetHistogram().GetSampleCount())
			got[dir+" sum"] += m.GetHistogram().GetSampleSum()
		}
	}
	// Requests: 20 µs twice; replies: 30 ms once (seq 2's reply is lost).
	for k, v := range map[string]float64{"request count": 2, "request sum": 40e-6, "reply count": 1, "reply sum": 0.030} {
		if d := got[k] - v; d > 1e-12 || d < -1e-12 {
			t.Errorf("%s = %g, want %g", k, got[k], v)
		}
	}
	for k, v := range map[string]float64{
		"netburst_locate_echoes_total outcome=complete":                 1,
		"netburst_locate_echoes_total outcome=expired":                  1,
		"netburst_locate_echoes_total outcome=dropped":                  0,
		"netburst_locate_pending_echoes":                                0,
		"netburst_segment_lost_total direction=reply from=vif1 to=eth0": 1,
		"netburst_locate_negative_delays_total":                         0,
		"netburst_locate_duplicate_packets_total":                       0,
		"netburst_locate_spikes_total":                                  0,
		"netburst_locate_point_up point=vif1":                           0,
		"netburst_locate_point_up point=eth0":                           1,
		"netburst_locate_point_reopens_total point=vif1":                3,
		"netburst_locate_point_reopens_total point=eth0":                0,
	} {
		if got, ok := series[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	// Round trips: seq 1 at vif1 31 ms and at eth0 980 µs; seq 2 (its reply
	// lost before vif1) at eth0 980 µs only.
	for p, want := range map[string][2]float64{"vif1": {1, 0.031}, "eth0": {2, 0.00196}} {
		if g := rtt[p]; g[0] != want[0] || g[1]-want[1] > 1e-12 || want[1]-g[1] > 1e-12 {
			t.Errorf("round trip at %s: count %v sum %v, want %v", p, g[0], g[1], want)
		}
	}
	if len(series) != 12 {
		t.Errorf("series %v, want exactly the 12 above", series)
	}
}

type fakePoints []LocatePoint

func (f fakePoints) LocatePoints() []LocatePoint { return f }
