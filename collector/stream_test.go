package collector

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/netburst/netburst/prober"
	"github.com/netburst/netburst/sampler"
)

// fakeSnapshots hands out a snapshot the test sets, as the sampler does
// (into the caller's slices).
type fakeSnapshots struct{ s sampler.Snapshot }

func (f *fakeSnapshots) Snapshot(dst *sampler.Snapshot) {
	devs, qds := dst.Devices[:0], dst.Qdiscs[:0]
	*dst = f.s
	dst.Devices = append(devs, f.s.Devices...)
	dst.Qdiscs = append(qds, f.s.Qdiscs...)
}

// streamStep fills the fakes with step's state: devices that come and go,
// names that are not UTF-8 or need escaping, attributes, speeds and refresh
// periods that change, qdiscs of several kinds per device, and probe
// targets whose sources, addresses and causes sort otherwise than their
// names.
func streamStep(step int, snaps *fakeSnapshots, probes *fakeProberSource, metrics *Sampler, rtts *Prober) {
	s := sampler.Snapshot{Interval: 100 * time.Millisecond, SlowInterval: time.Second, Source: "netlink", Samples: uint64(10 * step), Overruns: uint64(step / 3),
		FollowsLinks: step%2 == 0, LinkEvents: sampler.LinkEventStats{Events: uint64(step), Overflows: 1, Relists: 2}}
	s.Errors[sampler.OpStats], s.Errors[sampler.OpLinks] = uint64(step), 7
	if step > 0 {
		s.Time = time.Unix(1e9, int64(step)*1e8)
	}
	for i := range 40 {
		if step > 3 && (i+step)%9 == 0 {
			continue // gone at this step
		}
		name := fmt.Sprintf("eth%d", i)
		switch i % 10 {
		case 3:
			name = fmt.Sprintf("tap\xff%d", i) // not UTF-8
		case 5:
			name = fmt.Sprintf(`we"ird\%d`, i) // kernel names may hold these
		case 7:
			name = fmt.Sprintf("m%d", 40-i) // sorts otherwise than its index
		}
		d := sampler.DeviceSnapshot{Name: name, Kind: []string{"physical", "veth", "bond", "tun"}[i%4], OperState: "up",
			Bytes: [2]uint64{uint64(step * (1000 + i)), uint64(step * i * 7)}, Packets: [2]uint64{uint64(step), uint64(2 * step)},
			Errors: [2]uint64{uint64(i % 3), 0}, Drops: [2]uint64{0, uint64(i % 2)}, Bursts: [2]uint64{uint64(step / 4), 1},
			Discontinuities: uint64(i % 4)}
		if (i+step)%3 == 0 {
			d.SpeedBytes = 1.25e9
		}
		if i%3 != 0 {
			d.Interval = time.Duration(100*(1+9*(i%2))) * time.Millisecond // fast or slow tier
		}
		if (i+step)%4 == 1 {
			d.RefreshSeconds = 0.1 * float64(1+i%5)
		}
		if i%2 == 0 {
			d.CarrierChanges, d.CarrierKnown = uint32(step+i), true
		}
		if (i+step)%5 == 0 {
			d.OperState, d.Master = "down", "bond0"
		}
		for dir := range 2 {
			for w := range sampler.NumWindows {
				d.Peak[dir][w] = float64((i+1)*(step+1)*(dir+1)) * math.Pow(10, float64(w)) / 3
			}
		}
		s.Devices = append(s.Devices, d)
		if i%6 == 0 {
			for _, kind := range []string{"mq", "fq_codel"} {
				s.Qdiscs = append(s.Qdiscs, sampler.QdiscSnapshot{Device: name, Kind: kind, Backlog: uint64(step * i),
					Drops: uint64(step), Overlimits: 3, Requeues: uint64(i), BacklogPeak: [sampler.NumWindows]float64{1, 1e6, float64(step) * 1.5e7}})
			}
		}
		if step == 0 && i%4 != 2 {
			rx, tx := metrics.DeviceAdded(name)
			for k := range 20 {
				rx.Observe(float64((k + 1) * (i + 1) * 1000))
				tx.Observe(float64(k*i) * 1.7e5)
			}
		}
	}
	if step == 5 {
		metrics.DeviceRemoved("eth1")
	}
	metrics.SampleDone(0.1+float64(step)*1e-4, 0.0003)
	snaps.s = s

	p := prober.Snapshot{Foreign: uint64(step), Unmatched: 2, Malformed: 3}
	for i := range 12 {
		t := prober.TargetStats{Name: fmt.Sprintf("t%02d", (i*5)%12), Host: fmt.Sprintf("h%d.example", 11-i),
			Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(200 - i*7)}), Sent: uint64(step*10 + i), Replies: uint64(step * 9),
			Lost: uint64(step), Late: 1, Duplicates: uint64(i % 2), Reordered: 3, SendErrors: uint64(i % 3), ICMPErrors: 4, ResolveErrors: 5,
			Spikes: uint64(step / 2), InFlight: i % 3, Jitter: time.Duration(i*step) * time.Microsecond,
			Peaks:  [3]time.Duration{time.Duration(i%3) * time.Millisecond, 2 * time.Millisecond, time.Duration(step) * time.Millisecond},
			Source: []prober.TimestampSource{prober.SourceKernel, prober.SourceNone, "userspace"}[i%3], Mode: prober.ModeDatagram}
		switch i % 4 {
		case 1:
			t.Addr, t.Mode = netip.Addr{}, ""
		case 2:
			t.Failure = prober.SendFailure{Cause: []prober.Cause{prober.CauseNoDevice, prober.CausePermission}[step%2], Error: "x"}
		}
		if i == 5 {
			t.Name = `quo"te\d`
		}
		// Custom labels on most steps (not on every target, one value to
		// escape), none on others: the schema changes between scrapes.
		if step%3 != 2 {
			p.LabelNames = []string{"rack", "zone"}
			t.Labels = map[string]string{"rack": fmt.Sprintf("r%d", i%3)}
			if i%4 == 0 {
				t.Labels["zone"] = `z"` + fmt.Sprint(step)
			}
			if i == 7 {
				t.Labels = nil
			}
		}
		p.Targets = append(p.Targets, t)
		if step == 0 && i%3 != 1 {
			for k := range 10 {
				rtts.ObserveRTT(t.Name, time.Duration(100+k*k*i)*time.Microsecond)
			}
		}
	}
	probes.s = p
}

// A Handler's output, with the sampler's and prober's families streamed,
// is byte for byte what promhttp writes for the same collectors gathered
// through the registry, in every format and step after step.
func TestStreamMatchesRegistry(t *testing.T) {
	snaps, probes := &fakeSnapshots{}, &fakeProberSource{}
	metrics, rtts := NewSampler(SamplerOptions{}), NewProber()
	metrics.SetSource(snaps)
	rtts.SetSource(probes)
	reg := prometheus.NewPedanticRegistry()
	h := NewHandler(reg, HandlerOpts{EnableOpenMetrics: true})
	h.Registerer().MustRegister(metrics, rtts)
	ref := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	get := func(h http.Handler, accept string) (string, string) {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", accept, rec.Code, rec.Body)
		}
		return rec.Body.String(), rec.Header().Get("Content-Type")
	}
	formats := map[string]string{
		"text":         "text/plain;version=0.0.4",
		"openmetrics":  "application/openmetrics-text;version=1.0.0",
		"openmetrics0": "application/openmetrics-text;version=0.0.1",
		"protobuf":     "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"prototext":    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
		"default":      "",
	}
	for step := range 8 {
		streamStep(step, snaps, probes, metrics, rtts)
		for name, accept := range formats {
			got, gotType := get(h, accept)
			// The same collectors through the registry.
			metrics.streamed.Store(false)
			rtts.streamed.Store(false)
			want, wantType := get(ref, accept)
			metrics.streamed.Store(true)
			rtts.streamed.Store(true)
			if gotType != wantType {
				t.Errorf("step %d, %s: Content-Type %q, want %q", step, name, gotType, wantType)
			}
			if got != want {
				t.Fatalf("step %d, %s: streamed output differs from the registry's:\n%s", step, name, firstDiff(want, got))
			}
			if step == 6 && name == "text" {
				for _, series := range []string{"netburst_interface_bytes_total{device=\"tap\ufffd13\",direction=\"receive\"}",
					`netburst_interface_info{device="we\"ird\\5",kind="veth"`, `netburst_probe_target_info{address="",host=`,
					`netburst_interface_stats_refresh_seconds{`, `netburst_interface_speed_bytes{`, `netburst_qdisc_backlog_peak_bytes{`,
					`netburst_probe_send_failing{cause=`, `netburst_link_events_total `, `netburst_interface_sampling_interval_seconds{device="eth1"} 1`,
					`netburst_sampler_configured_slow_interval_seconds 1`, `netburst_probe_rtt_seconds_bucket{rack="r2",target="quo\"te\\d"`,
					`netburst_probe_sent_total{rack="r0",target="t00",zone="z\"6"} 60`,
					`netburst_interface_throughput_bytes_per_second_bucket{device="eth0",direction="receive",le="1000"}`} {
					if !strings.Contains(got, series) {
						t.Errorf("no %s...: the test does not cover it", series)
					}
				}
				if strings.Contains(got, `device="eth1",direction="receive",le=`) {
					t.Error("a removed device's histogram is still served")
				}
				// Carrier changes are known for some devices only.
				if !strings.Contains(got, `netburst_interface_carrier_changes_total{device="eth0"} 6`) || strings.Contains(got, `netburst_interface_carrier_changes_total{device="eth1"}`) {
					t.Error("carrier changes: want eth0's, none for eth1")
				}
			}
		}
	}
	// promtool agrees with the streamed text.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		text, _ := get(h, formats["text"])
		check := exec.Command(promtool, "check", "metrics")
		check.Stdin = strings.NewReader(text)
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
}

// firstDiff shows where two expositions part.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n- %q\n+ %q", i+1, a, b)
		}
	}
	return "(same lines)"
}

// What the handler does besides encoding: gzip when asked, name[]
// filters, the bound on concurrent scrapes, 500 on a gathering error.
func TestHandlerHTTP(t *testing.T) {
	snaps, probes := &fakeSnapshots{}, &fakeProberSource{}
	metrics, rtts := NewSampler(SamplerOptions{}), NewProber()
	metrics.SetSource(snaps)
	rtts.SetSource(probes)
	streamStep(0, snaps, probes, metrics, rtts)
	reg := prometheus.NewRegistry()
	h := NewHandler(reg, HandlerOpts{MaxRequestsInFlight: 1})
	h.Registerer().MustRegister(metrics, rtts)

	serve := func(target string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", target, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	plain := serve("/metrics").Body.String()
	rec := serve("/metrics", "Accept-Encoding", "gzip")
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || string(unzipped) != plain {
		t.Errorf("gzipped body (%v) differs from the plain one", err)
	}
	for _, ae := range []string{"identity", "gzip;q=0", "*;q=0", "deflate"} {
		if rec := serve("/metrics", "Accept-Encoding", ae); rec.Header().Get("Content-Encoding") != "" || rec.Body.String() != plain {
			t.Errorf("Accept-Encoding %q: encoded %q", ae, rec.Header().Get("Content-Encoding"))
		}
	}
	filtered := serve("/metrics?name[]=netburst_interface_info&name[]=netburst_probe_rtt_seconds").Body.String()
	var fams []string
	for _, l := range strings.Split(filtered, "\n") {
		if n, ok := strings.CutPrefix(l, "# TYPE "); ok {
			fams = append(fams, strings.Fields(n)[0])
		}
	}
	if strings.Join(fams, " ") != "netburst_interface_info netburst_probe_rtt_seconds" {
		t.Errorf("name[] filter served %v", fams)
	}

	// A second scrape while one is in flight gets 503.
	h.inFlight <- struct{}{}
	if rec := serve("/metrics"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("scrape beyond the bound: %d, want 503", rec.Code)
	}
	<-h.inFlight

	// A failing collector fails the scrape with 500, and is counted.
	bad := failing{prometheus.NewDesc("bad", "x", nil, nil)}
	h.Registerer().MustRegister(bad)
	if rec := serve("/metrics"); rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "broken") {
		t.Errorf("gathering error: %d %q, want 500", rec.Code, rec.Body)
	}
	h.Registerer().Unregister(bad)
	if !strings.Contains(serve("/metrics").Body.String(), `promhttp_metric_handler_errors_total{cause="gathering"} 1`) {
		t.Error("the gathering error is not counted")
	}

	// Unregistered, a streamer's families leave the output.
	h.Registerer().Unregister(rtts)
	if out := serve("/metrics").Body.String(); strings.Contains(out, "netburst_probe_") || !strings.Contains(out, "netburst_interface_info") {
		t.Error("unregistering the prober did not remove exactly its families")
	}
}

// Devices and targets whose label values collide (two names the same after
// UTF-8 repair, or a rename caught half way) are served once: the
// exposition never holds duplicate series.
func TestStreamDuplicates(t *testing.T) {
	snaps := &fakeSnapshots{s: sampler.Snapshot{Source: "netlink", Devices: []sampler.DeviceSnapshot{
		{Name: "tap\xff"}, {Name: "tap\xfe"}, {Name: "eth0"}, {Name: "eth0"},
	}, Qdiscs: []sampler.QdiscSnapshot{{Device: "eth0", Kind: "mq"}, {Device: "eth0", Kind: "mq"}}}}
	probes := &fakeProberSource{prober.Snapshot{Targets: []prober.TargetStats{{Name: "a"}, {Name: "a"}}}}
	metrics, rtts := NewSampler(SamplerOptions{}), NewProber()
	metrics.SetSource(snaps)
	rtts.SetSource(probes)
	h := NewHandler(prometheus.NewRegistry(), HandlerOpts{})
	h.Registerer().MustRegister(metrics, rtts)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	seen := map[string]bool{}
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		series := l[:strings.LastIndexByte(l, ' ')]
		if seen[series] {
			t.Errorf("duplicate series %s", series)
		}
		seen[series] = true
	}
	if !seen["netburst_interface_discontinuities_total{device=\"tap\ufffd\"}"] || !seen[`netburst_qdisc_drops_total{device="eth0",kind="mq"}`] || !seen[`netburst_probe_sent_total{target="a"}`] {
		t.Errorf("a series went missing:\n%s", rec.Body)
	}
	// The protobuf output decodes, family by family.
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	dec := expfmt.NewDecoder(bytes.NewReader(rec.Body.Bytes()), expfmt.NewFormat(expfmt.TypeProtoDelim))
	n := 0
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("family %d: %v", n, err)
		}
		n++
	}
	if n < 20 {
		t.Errorf("decoded %d families", n)
	}
}

// failing is a collector whose every collection fails.
type failing struct{ d *prometheus.Desc }

func (f failing) Describe(ch chan<- *prometheus.Desc) { ch <- f.d }
func (f failing) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.d, fmt.Errorf("broken"))
}

// appendFloat formats every value as expfmt does, in text and OpenMetrics.
func TestAppendFloat(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 2, 10, 999999, 1e6, 1e6 + 1, -999999, -1e6, 123456789, 1e21, 1e22,
		1.5e-7, 0.0001, 0.00001, 1e300, 5e-324, math.MaxInt64, 1 << 53, 1<<53 + 2, math.NaN(), math.Inf(1), math.Inf(-1), 3.3333333333333335}
	for _, v := range vals {
		mf := &dto.MetricFamily{Name: strPtr("x"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}
		var text, om bytes.Buffer
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
		if _, err := expfmt.MetricFamilyToOpenMetrics(&om, mf); err != nil {
			t.Fatal(err)
		}
		wantText := strings.TrimPrefix(strings.Split(text.String(), "\n")[1], "x ")
		wantOM := strings.TrimPrefix(strings.Split(om.String(), "\n")[1], "x ")
		if got := string(appendFloat(nil, v, false)); got != wantText {
			t.Errorf("text %v: %q, want %q", v, got, wantText)
		}
		if got := string(appendFloat(nil, v, true)); got != wantOM {
			t.Errorf("OpenMetrics %v: %q, want %q", v, got, wantOM)
		}
	}
}

func strPtr(s string) *string { return &s }
