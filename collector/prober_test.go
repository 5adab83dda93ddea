package collector

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netburst/netburst/prober"
)

type fakeProberSource struct{ s prober.Snapshot }

func (f fakeProberSource) Snapshot() prober.Snapshot { return f.s }

func TestProberCollector(t *testing.T) {
	c := NewProber()
	c.SetSource(fakeProberSource{prober.Snapshot{
		Targets: []prober.TargetStats{{
			Name: "gw", Host: "gw.example", Addr: netip.MustParseAddr("198.18.0.1"),
			Sent: 10, Replies: 7, Lost: 3, Late: 1, Duplicates: 2, Reordered: 1, SendErrors: 1, ICMPErrors: 4, ResolveErrors: 5, Spikes: 6,
			InFlight: 1, Jitter: 250 * time.Microsecond, Peaks: [3]time.Duration{0, 120 * time.Millisecond, 120 * time.Millisecond},
			Source: prober.SourceKernel, Mode: prober.ModeDatagram,
		}, {
			Name: "vif", Host: "198.18.0.9", Addr: netip.MustParseAddr("198.18.0.9"), Sent: 3, Lost: 3, SendErrors: 3,
			Source: prober.SourceNone, Failure: prober.SendFailure{Cause: prober.CauseNoDevice, Error: "send echo to 198.18.0.9: no such device"},
		}},
		Foreign: 11, Unmatched: 12, Malformed: 13,
	}})
	c.ObserveRTT("gw", 200*time.Microsecond)
	c.ObserveRTT("gw", 120*time.Millisecond)
	c.ObserveRTT("gone", time.Millisecond)
	c.Retain([]string{"gw"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			got[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = v
		}
	}
	for series, v := range map[string]float64{
		"netburst_probe_sent_total{target=gw}":                                                   10,
		"netburst_probe_replies_total{target=gw}":                                                7,
		"netburst_probe_lost_total{target=gw}":                                                   3,
		"netburst_probe_late_replies_total{target=gw}":                                           1,
		"netburst_probe_duplicates_total{target=gw}":                                             2,
		"netburst_probe_reordered_total{target=gw}":                                              1,
		"netburst_probe_send_errors_total{target=gw}":                                            1,
		"netburst_probe_icmp_errors_total{target=gw}":                                            4,
		"netburst_probe_resolve_errors_total{target=gw}":                                         5,
		"netburst_probe_spikes_total{target=gw}":                                                 6,
		"netburst_probe_in_flight{target=gw}":                                                    1,
		"netburst_probe_jitter_seconds{target=gw}":                                               0.00025,
		"netburst_probe_peak_rtt_seconds{target=gw,window=10s}":                                  0.12,
		"netburst_probe_peak_rtt_seconds{target=gw,window=60s}":                                  0.12,
		"netburst_probe_timestamp_source_info{source=kernel,target=gw}":                          1,
		"netburst_probe_target_info{address=198.18.0.1,host=gw.example,mode=datagram,target=gw}": 1,
		"netburst_probe_foreign_replies_total{}":                                                 11,
		"netburst_probe_unmatched_replies_total{}":                                               12,
		"netburst_probe_malformed_packets_total{}":                                               13,
		"netburst_probe_send_failing{cause=no_device,target=vif}":                                1,
	} {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
		}
	}
	if _, ok := got["netburst_probe_peak_rtt_seconds{target=gw,window=1s}"]; ok {
		t.Errorf("a 1s peak exported though no reply came in the window")
	}
	for series := range got {
		if strings.HasPrefix(series, "netburst_probe_send_failing{") && series != "netburst_probe_send_failing{cause=no_device,target=vif}" {
			t.Errorf("%s exported; only vif's latest send failed", series)
		}
	}
	for _, mf := range mfs {
		if mf.GetName() != "netburst_probe_rtt_seconds" {
			continue
		}
		if len(mf.Metric) != 1 {
			t.Fatalf("%d RTT histograms, want 1 (gone was retained away)", len(mf.Metric))
		}
		h := mf.Metric[0].GetHistogram()
		if h.GetSampleCount() != 2 || h.Bucket[0].GetUpperBound() != 50e-6 || h.Bucket[len(h.Bucket)-1].GetUpperBound() < 9.99 {
			t.Errorf("histogram count %d, buckets %v..%v; want 2 in 50us..10s", h.GetSampleCount(), h.Bucket[0].GetUpperBound(), h.Bucket[len(h.Bucket)-1].GetUpperBound())
		}
		if h.GetSchema() == 0 && len(h.PositiveSpan) == 0 {
			t.Errorf("no native histogram buckets")
		}
		return
	}
	t.Fatal("no netburst_probe_rtt_seconds in the gather")
}

// TestProberForSource: the /probe view of one target serves that target's
// series and RTT histogram only, without the prober-wide counters; and a
// source that hides a target (the exporter's /metrics hides the
// scrape-driven ones) hides its histogram too.
func TestProberForSource(t *testing.T) {
	all := prober.Snapshot{Targets: []prober.TargetStats{
		{Name: "configured", Host: "198.18.0.1", Sent: 5, Source: prober.SourceKernel},
		{Name: "198.18.0.2", Host: "198.18.0.2", Sent: 7, Source: prober.SourceKernel},
	}, Foreign: 3}
	c := NewProber()
	c.SetSource(fakeProberSource{prober.Snapshot{Targets: all.Targets[:1], Foreign: 3}})
	c.ObserveRTT("configured", time.Millisecond)
	c.ObserveRTT("198.18.0.2", 2*time.Millisecond)
	gather := func(col prometheus.Collector) string {
		t.Helper()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(col)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, mf := range mfs {
			for _, m := range mf.Metric {
				b.WriteString(mf.GetName())
				for _, l := range m.Label {
					b.WriteString(" " + l.GetName() + "=" + l.GetValue())
				}
				b.WriteString("\n")
			}
		}
		return b.String()
	}
	main := gather(c)
	if !strings.Contains(main, "netburst_probe_rtt_seconds target=configured") || strings.Contains(main, "198.18.0.2") ||
		!strings.Contains(main, "netburst_probe_foreign_replies_total\n") {
		t.Errorf("/metrics view:\n%s\nwant configured's series and histogram, the global counters, nothing of 198.18.0.2", main)
	}
	view := gather(c.ForSource(fakeProberSource{prober.Snapshot{Targets: all.Targets[1:]}}))
	if !strings.Contains(view, "netburst_probe_rtt_seconds target=198.18.0.2") || !strings.Contains(view, "netburst_probe_sent_total target=198.18.0.2") ||
		strings.Contains(view, "configured") || strings.Contains(view, "foreign") {
		t.Errorf("/probe view:\n%s\nwant 198.18.0.2's series and histogram only", view)
	}
}
