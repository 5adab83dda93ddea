package collector

import (
	"slices"
	"strings"
	"testing"
	"time"
)

type fakeCaptureSource CaptureSnapshot

func (f fakeCaptureSource) CaptureSnapshot() CaptureSnapshot { return CaptureSnapshot(f) }

func TestCaptureCollector(t *testing.T) {
	src := fakeCaptureSource{
		Devices: []CaptureDevice{
			{Device: "eth0", Packets: 1000, KernelDrops: 3, RingDropped: 7, FreezeDropped: 1, Up: true},
			{Device: "vif7.0", Packets: 20, Up: false, Reopens: 2},
		},
		Spikes:     map[string]uint64{"rtt": 2, "burst": 1},
		LastSpike:  map[string]time.Time{"rtt": time.Unix(1700000000, 500000000), "burst": time.Unix(1700000100, 0)},
		FilesBytes: 4096, FileErrors: 1, Suppressed: 5, EventsDropped: 0,
		LastPorts: []CapturePort{{Device: "eth0", Protocol: "tcp", Port: 7000, Bytes: 123456}},
	}
	want := `
# HELP netburst_spikes_total Spike events accepted by the capture, by trigger (events merged into an open window included, rate-limited ones not).
# TYPE netburst_spikes_total counter
netburst_spikes_total{trigger="burst"} 1
netburst_spikes_total{trigger="rtt"} 2
# HELP netburst_spike_last_timestamp_seconds Time of the latest accepted spike event, by trigger.
# TYPE netburst_spike_last_timestamp_seconds gauge
netburst_spike_last_timestamp_seconds{trigger="burst"} 1.7000001e+09
netburst_spike_last_timestamp_seconds{trigger="rtt"} 1.7000000005e+09
# HELP netburst_spike_last_port_bytes Bytes to each of the top destination ports during the latest spike window of the device (top K only; inside a tunnel, the inner packet's port).
# TYPE netburst_spike_last_port_bytes gauge
netburst_spike_last_port_bytes{device="eth0",port="7000",protocol="tcp"} 123456
# HELP netburst_capture_packets_total Frames the capture read from the kernel.
# TYPE netburst_capture_packets_total counter
netburst_capture_packets_total{device="eth0"} 1000
netburst_capture_packets_total{device="vif7.0"} 20
# HELP netburst_capture_kernel_drops_total Frames the kernel dropped because the capture socket's ring was full.
# TYPE netburst_capture_kernel_drops_total counter
netburst_capture_kernel_drops_total{device="eth0"} 3
netburst_capture_kernel_drops_total{device="vif7.0"} 0
# HELP netburst_capture_ring_dropped_total Frames pushed out of the pre-trigger ring by --capture.memory before they aged out, or lost from a spike window that did not fit.
# TYPE netburst_capture_ring_dropped_total counter
netburst_capture_ring_dropped_total{buffer="ring",device="eth0"} 7
netburst_capture_ring_dropped_total{buffer="window",device="eth0"} 1
netburst_capture_ring_dropped_total{buffer="ring",device="vif7.0"} 0
netburst_capture_ring_dropped_total{buffer="window",device="vif7.0"} 0
# HELP netburst_capture_up 1 while the capture device captures its interface; 0 while the interface of that name is gone (or cannot be captured, or the socket failed) and the device waits for it to return.
# TYPE netburst_capture_up gauge
netburst_capture_up{device="eth0"} 1
netburst_capture_up{device="vif7.0"} 0
# HELP netburst_capture_reopens_total Times the capture device captured again after it was down: a re-created interface of the same name, as a rule.
# TYPE netburst_capture_reopens_total counter
netburst_capture_reopens_total{device="eth0"} 0
netburst_capture_reopens_total{device="vif7.0"} 2
# HELP netburst_capture_files_bytes Bytes of spike pcaps kept in --capture.dir.
# TYPE netburst_capture_files_bytes gauge
netburst_capture_files_bytes 4096
# HELP netburst_capture_file_errors_total Spike pcaps not written (full or unwritable disk).
# TYPE netburst_capture_file_errors_total counter
netburst_capture_file_errors_total 1
# HELP netburst_capture_spikes_suppressed_total Spike events dropped by the per-trigger rate limit.
# TYPE netburst_capture_spikes_suppressed_total counter
netburst_capture_spikes_suppressed_total 5
# HELP netburst_capture_events_dropped_total Spike events dropped because the capture's queue was full.
# TYPE netburst_capture_events_dropped_total counter
netburst_capture_events_dropped_total 0
`
	// The exposition orders families by name: compare the sorted lines.
	sorted := func(s string) string {
		l := strings.Split(strings.TrimSpace(s), "\n")
		slices.Sort(l)
		return strings.Join(l, "\n")
	}
	if got := gatherText(t, NewCapture(src)); sorted(got) != sorted(want) {
		t.Errorf("scrape:\n%s\nwant:\n%s", got, want)
	}
}
