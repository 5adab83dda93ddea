package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/spike"

	"github.com/netburst/netburst/packet"
)

type fakeFrame struct {
	ts   time.Time
	data []byte
	wire int
}

// fakeSource delivers frames handed to it, with the timestamps given, as a
// packet socket would.
type fakeSource struct {
	ch     chan fakeFrame
	drops  uint64
	closed chan struct{}
	once   sync.Once
}

func newFakeSource() *fakeSource {
	return &fakeSource{ch: make(chan fakeFrame, 1024), closed: make(chan struct{})}
}

func (f *fakeSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	select {
	case fr := <-f.ch:
		return fr.data, gopacket.CaptureInfo{Timestamp: fr.ts, CaptureLength: len(fr.data), Length: fr.wire}, nil
	case <-time.After(5 * time.Millisecond):
		return nil, gopacket.CaptureInfo{}, ErrTimeout
	}
}

func (f *fakeSource) KernelStats() (uint64, uint64, error) { return 0, f.drops, nil }

func (f *fakeSource) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func udpFrame(t testing.TB, dport uint16, size int) []byte {
	return serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(dport)}, make(gopacket.Payload, size))
}

type liveRig struct {
	t   *testing.T
	c   *Capture
	src *fakeSource
	dir string
}

func startLive(t *testing.T, cfg Config) *liveRig {
	t.Helper()
	src := newFakeSource()
	c, err := New(cfg, []Device{{Name: "veth0", LinkType: layers.LinkTypeEthernet, Source: src}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &liveRig{t: t, c: c, src: src, dir: cfg.Dir}
}

// feed hands frames to the source and waits until the reader took them.
func (r *liveRig) feed(frames ...fakeFrame) {
	r.t.Helper()
	before := r.c.Stats().Devices[0].Packets
	for _, f := range frames {
		r.src.ch <- f
	}
	nstest.Eventually(r.t, 5*time.Second, func() (bool, string) {
		took := r.c.Stats().Devices[0].Packets - before
		return took >= uint64(len(frames)), fmt.Sprintf("the reader took %d of %d frames", took, len(frames))
	})
}

func (r *liveRig) waitReports(n int) []Report {
	r.t.Helper()
	return waitReports(r.t, r.c, n)
}

// waitReports waits until c has at least n reports and returns them.
func waitReports(t *testing.T, c *Capture, n int) []Report {
	t.Helper()
	var reps []Report
	nstest.Eventually(t, 10*time.Second, func() (bool, string) {
		reps = c.Reports()
		return len(reps) >= n, fmt.Sprintf("%d reports since the spike, want %d", len(reps), n)
	})
	return reps
}

func TestLiveWindow(t *testing.T) {
	dir := t.TempDir()
	rig := startLive(t, Config{Pre: 300 * time.Millisecond, Post: 200 * time.Millisecond, Dir: dir, MinInterval: time.Hour})
	now := time.Now()
	f := func(d time.Duration, port uint16, wire int) fakeFrame {
		return fakeFrame{ts: now.Add(d), data: udpFrame(t, port, 20), wire: wire}
	}
	// History: one frame too old for the window, two inside it.
	rig.feed(f(-600*time.Millisecond, 1111, 1000), f(-200*time.Millisecond, 7000, 1500), f(-100*time.Millisecond, 53, 100))
	rig.c.Notify(spike.Event{Time: now, Trigger: spike.TriggerRTT, Target: "198.18.0.9", Value: 0.12, Threshold: 0.05})
	time.Sleep(20 * time.Millisecond) // let the manager open the window
	rig.feed(f(100*time.Millisecond, 7000, 1500), f(150*time.Millisecond, 7000, 1500), f(400*time.Millisecond, 2222, 999))
	reps := rig.waitReports(1)
	rep := reps[0]
	if rep.Packets != 4 || rep.Bytes != 4600 {
		t.Errorf("report totals %d packets %d bytes, want 4, 4600", rep.Packets, rep.Bytes)
	}
	if len(rep.Ports) != 2 || rep.Ports[0].Port != 7000 || rep.Ports[0].Bytes != 4500 || rep.Ports[0].Protocol != "udp" {
		t.Errorf("ports %+v, want udp/7000 with 4500 bytes first", rep.Ports)
	}
	if rep.Trigger != spike.TriggerRTT || rep.Target != "198.18.0.9" || rep.Device != "veth0" ||
		!rep.WindowStart.Equal(now.Add(-300*time.Millisecond)) || !rep.WindowEnd.Equal(now.Add(200*time.Millisecond)) {
		t.Errorf("report header %+v", rep)
	}
	// The timeline covers the window in 10 ms bins, udp/7000 stacked
	// first, the same bytes as the tables.
	first := rep.WindowStart.Truncate(10 * time.Millisecond)
	bins := int((rep.WindowEnd.Sub(first) + 10*time.Millisecond - 1) / (10 * time.Millisecond))
	if tl := rep.Timeline; !tl.Start.Equal(first) || len(tl.Total) != bins ||
		len(tl.Series) != 2 || tl.Series[0].Label() != "udp/7000" || sum(tl.Series[0].Bytes) != 4500 || sum(tl.Total) != rep.Bytes {
		t.Errorf("timeline from %v, %d bins, series %+v, total %d; want %d bins from %v, udp/7000 first", tl.Start, len(tl.Total), tl.Series, sum(tl.Total), bins, first)
	}
	if want := rep.Time.UTC().Format("20060102T150405.000000Z") + "-rtt-veth0"; rep.ID != want || filepath.Base(rep.File) != "netburst-"+want+".pcap" {
		t.Errorf("report ID %q file %s, want %s", rep.ID, rep.File, want)
	}
	// The pcap holds the same frames, with mode 0600.
	info, err := os.Stat(rep.File)
	if err != nil {
		t.Fatalf("report file: %v (error %q)", err, rep.FileError)
	}
	if info.Mode().Perm() != 0o600 || filepath.Dir(rep.File) != dir {
		t.Errorf("file %s mode %v", rep.File, info.Mode().Perm())
	}
	fr, err := packet.OpenFile(rep.File)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	ag := packet.NewAggregator(0)
	var p packet.Packet
	for {
		err := fr.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.CapLen > 128 {
			t.Errorf("frame of %d bytes beyond the 128-byte snap length", p.CapLen)
		}
		ag.Add(&p)
	}
	if got := ag.Summary(10); got.Counter != rep.Counter || got.Ports[0] != rep.Ports[0] {
		t.Errorf("file summary %+v, report %+v", got.Counter, rep.Counter)
	}
	st := rig.c.Stats()
	if st.Spikes[spike.TriggerRTT] != 1 || !st.LastSpike[spike.TriggerRTT].Equal(now) || st.Files != 1 || st.FilesBytes != info.Size() {
		t.Errorf("stats %+v", st)
	}
}

func TestLiveMergeRateLimitRetention(t *testing.T) {
	dir := t.TempDir()
	// Files not written by netburst are never removed.
	if err := os.WriteFile(filepath.Join(dir, "keep.pcap"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	rig := startLive(t, Config{Pre: 100 * time.Millisecond, Post: 100 * time.Millisecond, Dir: dir, MinInterval: 500 * time.Millisecond, MaxFiles: 2})
	now := time.Now()
	frame := udpFrame(t, 9, 10)
	rig.feed(fakeFrame{ts: now.Add(-50 * time.Millisecond), data: frame, wire: 100})
	// Two triggers 150 ms apart: one window, extended.
	rig.c.Notify(spike.Event{Time: now, Trigger: spike.TriggerBurst, Device: "veth0"})
	rig.c.Notify(spike.Event{Time: now.Add(150 * time.Millisecond), Trigger: spike.TriggerRTT})
	reps := rig.waitReports(1)
	if len(reps[0].Triggers) != 2 || !reps[0].WindowEnd.Equal(now.Add(250*time.Millisecond)) {
		t.Errorf("merged report triggers %v end %v", reps[0].Triggers, reps[0].WindowEnd)
	}
	// A burst 400 ms after the first, after the window closed: rate-limited.
	rig.c.Notify(spike.Event{Time: now.Add(400 * time.Millisecond), Trigger: spike.TriggerBurst})
	// Two bursts far enough apart: two more windows, files beyond two go.
	rig.c.Notify(spike.Event{Time: now.Add(time.Second), Trigger: spike.TriggerBurst})
	rig.c.Notify(spike.Event{Time: now.Add(2 * time.Second), Trigger: spike.TriggerBurst})
	// Their windows end in the future: the manager waits for them.
	reps = rig.waitReports(3)
	st := rig.c.Stats()
	if st.Suppressed != 1 || st.Spikes[spike.TriggerBurst] != 3 || st.Spikes[spike.TriggerRTT] != 1 {
		t.Errorf("suppressed %d, spikes %v", st.Suppressed, st.Spikes)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 || st.Files != 2 { // keep.pcap and the two newest
		t.Errorf("files %v, stats say %d", names, st.Files)
	}
	if _, err := os.Stat(reps[0].File); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("oldest pcap %s still there: %v", reps[0].File, err)
	}
}

// TestLiveUnwritableDir: a spike pcap that cannot be written is in the
// report and the counters, and logged with its path, once a minute per
// directory and kind of error.
func TestLiveUnwritableDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	var logs nstest.LogBuffer
	rig := startLive(t, Config{Pre: 50 * time.Millisecond, Post: 50 * time.Millisecond, Dir: dir, MinInterval: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	now := time.Now()
	rig.c.Notify(spike.Event{Time: now, Trigger: spike.TriggerRTT})
	rep := rig.waitReports(1)[0]
	if rep.File != "" || rep.FileError == "" || rig.c.Stats().FileErrors != 1 {
		t.Errorf("report file %q error %q, stats %+v", rep.File, rep.FileError, rig.c.Stats())
	}
	rig.c.Notify(spike.Event{Time: now.Add(time.Second), Trigger: spike.TriggerRTT})
	second := rig.waitReports(2)[1]
	out := logs.String()
	if !strings.Contains(out, "spike pcap not written") || !strings.Contains(out, "path="+filepath.Join(dir, "netburst-")) ||
		!strings.Contains(out, "no such file or directory") || strings.Count(out, "\n") != 1 || second.FileError == "" {
		t.Errorf("log after two failed pcaps (second: %q):\n%s", second.FileError, out)
	}
}

// TestPrepareDir: a missing directory is created 0700 and accepted; one
// that cannot be created (below a regular file) is an error naming it.
func TestPrepareDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := PrepareDir(dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() || info.Mode().Perm() != 0o700 {
		t.Errorf("created %s: %v, %v", dir, info, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("probe file left behind: %v", entries)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := PrepareDir(filepath.Join(file, "pcaps")); err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("below a regular file: %v", err)
	}
}

func TestNotifyNeverBlocks(t *testing.T) {
	c, err := New(Config{}, []Device{{Name: "x", LinkType: layers.LinkTypeEthernet, Source: newFakeSource()}})
	if err != nil {
		t.Fatal(err)
	}
	// Not running: the queue fills and the rest is counted.
	for i := 0; i < 100; i++ {
		c.Notify(spike.Event{Trigger: spike.TriggerRTT})
	}
	if got := c.Stats().EventsDropped; got != 100-uint64(cap(c.events)) {
		t.Errorf("EventsDropped = %d, want %d", got, 100-cap(c.events))
	}
}

// pushFrame stores a frame in r as the reader does.
func pushFrame(t testing.TB, r *ring, ts int64, wireLen int, data []byte, overwrite bool) {
	t.Helper()
	dec, err := packet.NewDecoder(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	if s := r.reserve(overwrite); s != nil {
		var p packet.Packet
		fillSlot(s, ts, wireLen, data, vlanTag{}, dec, &p)
	}
}

func TestRingBounds(t *testing.T) {
	r := newRing(3*(recordHeader+16), 16)
	if r.slots != 3 {
		t.Fatalf("slots %d", r.slots)
	}
	for i := 0; i < 5; i++ {
		pushFrame(t, r, int64(i), 100+i, make([]byte, 40), true)
	}
	if r.size != 3 || r.dropped != 2 {
		t.Errorf("size %d dropped %d", r.size, r.dropped)
	}
	var p packet.Packet
	d := readRecord(r.get(0), nil, &p)
	if ts := p.Time.UnixNano(); ts != 2 || p.WireLen != 102 || len(d) != 16 || p.CapLen != 16 {
		t.Errorf("oldest record %d %d %d bytes", ts, p.WireLen, len(d))
	}
	r.expire(4)
	if r.size != 1 || r.dropped != 2 {
		t.Errorf("after expire: size %d dropped %d", r.size, r.dropped)
	}
	pushFrame(t, r, 5, 1, nil, false)
	pushFrame(t, r, 6, 1, nil, false)
	pushFrame(t, r, 7, 1, nil, false)
	if r.size != 3 || r.rejected != 1 {
		t.Errorf("no-overwrite push: size %d rejected %d", r.size, r.rejected)
	}
	if readRecord(r.get(2), nil, &p); p.Time.UnixNano() != 6 || p.WireLen != 1 || p.CapLen != 0 {
		t.Errorf("newest record %+v", p)
	}
}

func TestLiveRingDropsCounted(t *testing.T) {
	// Room for 2 frames in the ring: the rest of a burst is pushed out.
	rig := startLive(t, Config{Memory: 2 * (recordHeader + 128), Pre: time.Second, Post: time.Second})
	now := time.Now()
	var frames []fakeFrame
	for i := 0; i < 10; i++ {
		frames = append(frames, fakeFrame{ts: now.Add(time.Duration(i) * time.Millisecond), data: udpFrame(t, 1, 10), wire: 60})
	}
	rig.feed(frames...)
	if st := rig.c.Stats().Devices[0]; st.RingDropped != 8 || st.Packets != 10 {
		t.Errorf("device stats %+v, want 10 packets, 8 ring drops", st)
	}
}

// sliceSource replays one frame n times with advancing timestamps, then
// cancels: the per-frame cost of the reader without a kernel.
type sliceSource struct {
	frame  []byte
	n      int
	ts     time.Time
	cancel context.CancelFunc
}

func (s *sliceSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if s.n == 0 {
		s.cancel()
		return nil, gopacket.CaptureInfo{}, ErrTimeout
	}
	s.n--
	s.ts = s.ts.Add(10 * time.Microsecond)
	return s.frame, gopacket.CaptureInfo{Timestamp: s.ts, CaptureLength: len(s.frame), Length: 1500}, nil
}

func (s *sliceSource) KernelStats() (uint64, uint64, error) { return 0, 0, nil }
func (s *sliceSource) Close() error                         { return nil }

// BenchmarkCaptureRead measures the reader's per-frame work for a Source
// read frame by frame (not the packet socket's block path, see
// BenchmarkCaptureBlocks): the device lock, ring expiry, the copy into a
// slot and the capture-time decoding into its record, counters.
func BenchmarkCaptureRead(b *testing.B) {
	frame := udpFrame(b, 7000, 1400)[:128]
	ctx, cancel := context.WithCancel(context.Background())
	src := &sliceSource{frame: frame, n: b.N, ts: time.Now(), cancel: cancel}
	c, err := New(Config{}, []Device{{Name: "bench", LinkType: layers.LinkTypeEthernet, Source: src}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	c.read(ctx, c.devices[0])
	b.StopTimer()
	if got := c.Stats().Devices[0].Packets; got != uint64(b.N) {
		b.Fatalf("read %d frames, want %d", got, b.N)
	}
}

func TestLiveWindowDropsCounted(t *testing.T) {
	// Ten slots: a window of 25 frames keeps its newest 10 and counts 15.
	rig := startLive(t, Config{Memory: 10 * (recordHeader + 128), Pre: 200 * time.Millisecond, Post: 200 * time.Millisecond})
	now := time.Now()
	var before, after []fakeFrame
	for i := 0; i < 5; i++ {
		before = append(before, fakeFrame{ts: now.Add(-time.Duration(100-i*10) * time.Millisecond), data: udpFrame(t, 1, 10), wire: 60})
	}
	for i := 0; i < 20; i++ {
		after = append(after, fakeFrame{ts: now.Add(time.Duration(i+1) * time.Millisecond), data: udpFrame(t, 2, 10), wire: 60})
	}
	rig.feed(before...)
	rig.c.Notify(spike.Event{Time: now, Trigger: spike.TriggerBurst})
	rig.waitFrozen()
	rig.feed(after...)
	rep := rig.waitReports(1)[0]
	if rep.Packets != 10 || rep.Dropped != 15 || len(rep.Ports) != 1 || rep.Ports[0].Port != 2 {
		t.Errorf("report: %d packets, %d dropped, ports %+v; want 10, 15, only udp/2", rep.Packets, rep.Dropped, rep.Ports)
	}
	if st := rig.c.Stats().Devices[0]; st.FreezeDropped != 15 || st.RingDropped != 15 {
		t.Errorf("device stats %+v, want 15 ring drops, all in the window", st)
	}
}

// waitFrozen waits until the manager has frozen the (only) device.
func (r *liveRig) waitFrozen() {
	r.t.Helper()
	d := r.c.devices[0]
	nstest.Eventually(r.t, 5*time.Second, func() (bool, string) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.frozen, "the device is not frozen after the spike"
	})
}

func sum(v []uint64) (n uint64) {
	for _, x := range v {
		n += x
	}
	return n
}
