package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netburst/netburst/internal/ratelog"
	"github.com/netburst/netburst/packet"
	"github.com/netburst/netburst/spike"
)

// ErrTimeout is what a Source returns when no frame arrived within its poll
// timeout; the reader then checks for cancellation and polls again.
var ErrTimeout = errors.New("capture poll timeout")

// ErrInterfaceDown is returned by a read when the captured interface went
// down or vanished (the packet socket's error, ENETDOWN). A device of Open
// returns it once; it then follows the interface's name (DeviceState).
var ErrInterfaceDown = errors.New("captured interface is down or gone")

// ErrNotSupported is returned where live capture is not available (not
// Linux).
var ErrNotSupported = errors.New("live capture is only supported on Linux")

// Source delivers the frames of one device. The data returned by
// ZeroCopyReadPacketData is valid until the next call. The packet sockets
// of OpenDevice also hand over whole kernel blocks, which the capture reads
// instead (see blockSource); any other Source is read frame by frame.
type Source interface {
	// ZeroCopyReadPacketData returns the next frame, or ErrTimeout.
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	// KernelStats returns the cumulative frames the kernel saw and dropped
	// (for lack of room in the socket's ring).
	KernelStats() (packets, drops uint64, err error)
	// Close releases the source.
	Close() error
}

// Device is one capture point.
type Device struct {
	// Name is the interface name, used in reports, file names and metrics.
	Name string
	// LinkType is the link type of the frames Source delivers.
	LinkType layers.LinkType
	// Source delivers the frames.
	Source Source
}

// Config tunes a Capture. Zero values take the defaults named below.
type Config struct {
	// Pre is how much history before a spike the ring keeps (default 2 s).
	Pre time.Duration
	// Post is how long after a spike the window stays open (default 1 s).
	Post time.Duration
	// Memory bounds all devices' rings together (default 64 MiB), split
	// evenly between devices.
	Memory int64
	// Snaplen is the most bytes kept of a frame (default 128).
	Snaplen int
	// Dir is where spike pcaps are written; empty writes none.
	Dir string
	// MaxFiles and MaxBytes bound the pcaps kept in Dir (oldest removed
	// first); zero means no bound of that kind.
	MaxFiles int
	MaxBytes int64
	// TopK bounds the entries of each table in a report (default 10).
	TopK int
	// MaxReports is how many reports are kept in memory (default 32).
	MaxReports int
	// MinInterval is the per-trigger rate limit: an event of a trigger
	// within MinInterval of the last accepted one of that trigger that does
	// not fall into an open window is suppressed (default 10 s).
	MinInterval time.Duration
	// MaxFlows bounds each summary table (default packet.DefaultMaxFlows).
	MaxFlows int
	// Logger receives a line for each spike pcap not written (at most one
	// a minute per directory and kind of error); nil discards them.
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Pre <= 0 {
		c.Pre = 2 * time.Second
	}
	if c.Post <= 0 {
		c.Post = time.Second
	}
	if c.Memory <= 0 {
		c.Memory = 64 << 20
	}
	if c.Snaplen <= 0 {
		c.Snaplen = 128
	}
	if c.TopK <= 0 {
		c.TopK = 10
	}
	if c.MaxReports <= 0 {
		c.MaxReports = 32
	}
	if c.MinInterval <= 0 {
		c.MinInterval = 10 * time.Second
	}
}

// Report is the summary of one device's traffic around a spike, as served at
// /api/v1/spikes (schema in docs/capture.md).
type Report struct {
	// Time is the triggering event's time; Trigger its detector. Triggers
	// lists every trigger merged into the window, first one first.
	Time     time.Time       `json:"time"`
	Trigger  spike.Trigger   `json:"trigger"`
	Triggers []spike.Trigger `json:"triggers"`
	// Target, Value and Threshold come from the triggering event.
	Target    string  `json:"target,omitempty"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Device    string  `json:"device"`
	// WindowStart and WindowEnd are the frozen window [Time-pre, end].
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// File is the pcap written, empty when none was (no --capture.dir, or
	// a write error: FileError says which).
	File      string `json:"file"`
	FileError string `json:"file_error,omitempty"`
	// Dropped counts frames of the window lost to the memory bound.
	Dropped uint64 `json:"dropped"`
	packet.Summary
}

// DeviceStats are one device's counters.
type DeviceStats struct {
	Device string
	// Packets and Bytes are frames read from the kernel.
	Packets, Bytes uint64
	// KernelPackets are frames the kernel passed the filter (those it
	// dropped included); KernelDrops those it dropped before netburst read
	// them. Both continue across re-opens.
	KernelPackets, KernelDrops uint64
	// RingDropped are frames pushed out of the ring by its memory bound
	// before they aged out; FreezeDropped are those of them that belonged
	// to a spike window.
	RingDropped, FreezeDropped uint64
	// ReadErrors counts failed reads (a vanished interface).
	ReadErrors uint64
	// DeviceState says whether the device captures its interface (a
	// vanished one comes back under the same name).
	DeviceState
}

// Stats is a snapshot of a Capture's counters.
type Stats struct {
	Devices []DeviceStats
	// Spikes counts accepted events per trigger (merged ones included);
	// LastSpike is the time of the latest.
	Spikes    map[spike.Trigger]uint64
	LastSpike map[spike.Trigger]time.Time
	// Suppressed counts events dropped by the rate limit; EventsDropped
	// events dropped because the queue was full.
	Suppressed, EventsDropped uint64
	// Files and FilesBytes describe the pcaps in Dir after retention;
	// FileErrors counts pcaps not written (full or unwritable disk).
	Files      int
	FilesBytes int64
	FileErrors uint64
}

type device struct {
	Device
	decoder *packet.Decoder

	// mu guards the ring and the window fields; the reader holds it for
	// one frame at a time, the manager for one chunk of a window at a time.
	mu   sync.Mutex
	ring *ring
	// While frozen, frames at or after fromNs do not age out, so the ring
	// holds [fromNs, untilNs] until the window is summarised; only the
	// memory bound can push them out (counted in windowDropped).
	frozen        bool
	fromNs        int64
	untilNs       int64
	windowDropped uint64

	packets, bytes, kernelPackets, kernelDrops, readErrors atomic.Uint64
	ringDropped, freezeDropped                             atomic.Uint64
}

// Capture keeps the recent frames of its devices in memory and, on a spike
// event, freezes the window around it into a report and a pcap file. It
// implements spike.Sink.
type Capture struct {
	cfg     Config
	devices []*device
	events  chan spike.Event

	// scratch holds one chunk of a window being summarised (manager
	// goroutine only).
	scratch *ring

	mu         sync.Mutex
	reports    []Report
	spikes     map[spike.Trigger]uint64
	lastSpike  map[spike.Trigger]time.Time
	files      int
	filesBytes int64

	suppressed, eventsDropped, fileErrors atomic.Uint64
	// fileLog logs failed pcap writes, rate-limited (manager goroutine).
	fileLog *ratelog.Logger
}

// New returns a Capture of devices. Run starts it.
func New(cfg Config, devices []Device) (*Capture, error) {
	cfg.defaults()
	if len(devices) == 0 {
		return nil, errors.New("capture: no device")
	}
	c := &Capture{
		cfg:       cfg,
		events:    make(chan spike.Event, 64),
		spikes:    map[spike.Trigger]uint64{},
		lastSpike: map[spike.Trigger]time.Time{},
		fileLog:   ratelog.New(cfg.Logger, ratelog.DefaultInterval),
	}
	per := cfg.Memory / int64(len(devices))
	for _, d := range devices {
		dec, err := packet.NewDecoder(d.LinkType)
		if err != nil {
			return nil, fmt.Errorf("capture %s: %w", d.Name, err)
		}
		c.devices = append(c.devices, &device{Device: d, decoder: dec, ring: newRing(per, cfg.Snaplen)})
	}
	if cfg.Dir != "" {
		c.retain()
	}
	return c, nil
}

// Notify implements spike.Sink: it queues the event and never blocks; a full
// queue drops the event and counts it.
func (c *Capture) Notify(ev spike.Event) {
	select {
	case c.events <- ev:
	default:
		c.eventsDropped.Add(1)
	}
}

// Run reads every device and handles spike events until ctx is done, then
// closes the sources. It returns nil on cancellation. Call it once; Notify,
// Reports and Stats may be called from any goroutine meanwhile.
func (c *Capture) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, d := range c.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.read(ctx, d)
		}()
	}
	c.manage(ctx)
	wg.Wait()
	for _, d := range c.devices {
		d.Source.Close()
	}
	return nil
}

// kernelStatsEvery is how often a reader refreshes the kernel's counters.
const kernelStatsEvery = time.Second

// statsFlushEvery is how many frames a reader counts locally before
// publishing its counters: atomics per frame would cost more than the ring.
const statsFlushEvery = 64

// blockSource is a Source that also hands over the kernel's frames a
// TPACKET_V3 block at a time (the Linux packet socket does). The reader
// prefers it: one lock, one poll and one counter update per block instead
// of per frame.
type blockSource interface {
	// nextBlock returns the next block of frames (ErrTimeout when none came
	// within the poll timeout); it stays valid until releaseBlock.
	nextBlock() ([]byte, error)
	// releaseBlock hands the block back to the kernel.
	releaseBlock()
}

// reader is one device's reader state: counters published every
// statsFlushEvery frames, and the scratch Packet of the capture-time
// decoding.
type reader struct {
	d   *device
	pre int64

	packets, bytes, ringDropped, freezeDropped uint64

	lastStats              time.Time
	basePackets, baseDrops uint64

	p packet.Packet
}

func (rd *reader) flush() {
	d := rd.d
	d.packets.Add(rd.packets)
	d.bytes.Add(rd.bytes)
	d.ringDropped.Add(rd.ringDropped)
	d.freezeDropped.Add(rd.freezeDropped)
	rd.packets, rd.bytes, rd.ringDropped, rd.freezeDropped = 0, 0, 0, 0
}

// kernelStats refreshes the kernel's counters about once a second.
func (rd *reader) kernelStats() {
	if now := time.Now(); now.Sub(rd.lastStats) >= kernelStatsEvery {
		rd.lastStats = now
		if packets, drops, err := rd.d.Source.KernelStats(); err == nil && drops >= rd.baseDrops && packets >= rd.basePackets {
			rd.d.kernelPackets.Store(packets - rd.basePackets)
			rd.d.kernelDrops.Store(drops - rd.baseDrops)
		}
	}
}

// store ages the ring, then decodes the frame into a new slot. The caller
// holds d.mu.
func (rd *reader) store(ts int64, wireLen int, data []byte, tag vlanTag) {
	d := rd.d
	rd.packets++
	rd.bytes += uint64(wireLen)
	cutoff := ts - rd.pre
	if d.frozen && d.fromNs < cutoff {
		cutoff = d.fromNs // a spike window does not age out
	}
	r := d.ring
	r.expire(cutoff)
	if r.size == r.slots {
		rd.ringDropped++
		if d.frozen {
			if old := r.oldestTime(); old >= d.fromNs && old <= d.untilNs {
				rd.freezeDropped++
				d.windowDropped++
			}
		}
	}
	fillSlot(r.reserve(true), ts, wireLen, data, tag, d.decoder, &rd.p)
}

// readFailed counts a failed read and waits a little: the interface
// vanished or went down, and may come back.
func (rd *reader) readFailed(ctx context.Context) {
	rd.flush()
	rd.d.readErrors.Add(1)
	select {
	case <-ctx.Done():
	case <-time.After(100 * time.Millisecond):
	}
}

func (c *Capture) read(ctx context.Context, d *device) {
	rd := &reader{d: d, pre: int64(c.cfg.Pre), lastStats: time.Now()}
	// Drops before the reader runs are not the capture's: count from here
	// (OpenDevice's socket only binds on its first read; another Source
	// may have been receiving since it was opened).
	rd.basePackets, rd.baseDrops, _ = d.Source.KernelStats()
	defer rd.flush()
	if bs, ok := d.Source.(blockSource); ok {
		rd.readBlocks(ctx, bs)
		return
	}
	for n := 0; ; n++ {
		// ctx.Err takes a lock: look every 64 frames and on every timeout.
		if n&63 == 0 && ctx.Err() != nil {
			return
		}
		data, ci, err := d.Source.ZeroCopyReadPacketData()
		if n&1023 == 0 || err != nil {
			rd.kernelStats()
		}
		if errors.Is(err, ErrTimeout) {
			rd.flush()
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if err != nil {
			rd.readFailed(ctx)
			continue
		}
		d.mu.Lock()
		rd.store(ci.Timestamp.UnixNano(), ci.Length, data, vlanTag{})
		d.mu.Unlock()
		if rd.packets >= statsFlushEvery {
			rd.flush()
		}
	}
}

// readBlocks is read for a blockSource: per block, one wait, one lock and
// one counter update; per frame, only the ring and the decoder.
func (rd *reader) readBlocks(ctx context.Context, bs blockSource) {
	d := rd.d
	var (
		w v3Walker
		f v3Frame
	)
	for ctx.Err() == nil {
		block, err := bs.nextBlock()
		rd.kernelStats()
		if errors.Is(err, ErrTimeout) {
			continue
		}
		if err != nil {
			rd.readFailed(ctx)
			continue
		}
		w.reset(block)
		d.mu.Lock()
		for w.next(&f) {
			rd.store(f.ts, max(f.wireLen, len(f.data)), f.data, f.vlan)
		}
		d.mu.Unlock()
		bs.releaseBlock()
		rd.flush()
	}
}

// window is the open freeze window.
type window struct {
	first    spike.Event
	triggers []spike.Trigger
	start    time.Time
	end      time.Time
	devices  []*device
}

// finalizeGrace is how long after a window's end the manager waits for the
// readers to deliver its last frames (the kernel hands over a TPACKET_V3
// block at the latest 50 ms after its first frame).
const finalizeGrace = 150 * time.Millisecond

func (c *Capture) manage(ctx context.Context) {
	var (
		w     *window
		timer = time.NewTimer(time.Hour)
		// limits spaces each trigger's events (see spike.Limiter).
		limits = map[spike.Trigger]spike.Limiter{}
	)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			// Shutting down in a spike: keep what the window holds so far.
			if w != nil {
				c.finalize(w)
			}
			return
		case ev := <-c.events:
			if ev.Time.IsZero() {
				ev.Time = time.Now()
			}
			merging := w != nil && !ev.Time.Add(-c.cfg.Pre).After(w.end)
			// An event that falls into the open window joins it, limit or
			// not: the window is frozen already and the report names every
			// trigger.
			lim := limits[ev.Trigger]
			if merging {
				lim.Mark(ev.Time)
			} else if !lim.Allow(ev.Time, c.cfg.MinInterval) {
				c.suppressed.Add(1)
				continue
			}
			limits[ev.Trigger] = lim
			c.mu.Lock()
			c.spikes[ev.Trigger]++
			if ev.Time.After(c.lastSpike[ev.Trigger]) {
				c.lastSpike[ev.Trigger] = ev.Time
			}
			c.mu.Unlock()
			if w != nil && !merging {
				// A new window while one is open: close the old one first.
				c.finalize(w)
				w = nil
			}
			if w == nil {
				w = &window{first: ev, start: ev.Time.Add(-c.cfg.Pre), end: ev.Time.Add(c.cfg.Post)}
			}
			if !slices.Contains(w.triggers, ev.Trigger) {
				w.triggers = append(w.triggers, ev.Trigger)
			}
			if end := ev.Time.Add(c.cfg.Post); end.After(w.end) {
				w.end = end
			}
			c.freeze(w, ev)
			timer.Reset(time.Until(w.end) + finalizeGrace)
		case <-timer.C:
			if w == nil {
				continue
			}
			if wait := time.Until(w.end) + finalizeGrace; wait > 0 {
				timer.Reset(wait)
				continue
			}
			c.finalize(w)
			w = nil
		}
	}
}

// freeze starts (or extends) the window on the devices ev concerns: its own
// device if captured, else all. Freezing only stops the window's frames
// from aging out of the ring: nothing is copied.
func (c *Capture) freeze(w *window, ev spike.Event) {
	targets := c.devices
	for _, d := range c.devices {
		if d.Name == ev.Device {
			targets = []*device{d}
			break
		}
	}
	for _, d := range targets {
		if !slices.Contains(w.devices, d) {
			w.devices = append(w.devices, d)
		}
	}
	for _, d := range w.devices {
		d.mu.Lock()
		if !d.frozen {
			d.frozen = true
			d.fromNs = w.start.UnixNano()
			d.windowDropped = 0
		}
		d.untilNs = w.end.UnixNano()
		d.mu.Unlock()
	}
}

// finalize closes the window: each device's frames in it become a report and
// a pcap file.
func (c *Capture) finalize(w *window) {
	for _, d := range w.devices {
		rep := c.summarize(d, w)
		c.mu.Lock()
		c.reports = append(c.reports, rep)
		if len(c.reports) > c.cfg.MaxReports {
			c.reports = slices.Delete(c.reports, 0, len(c.reports)-c.cfg.MaxReports)
		}
		c.mu.Unlock()
	}
}

// chunkFrames is how many frames summarize copies out of the ring per lock:
// the reader waits for one chunk's copy (tens of microseconds), never for
// the decoding or the disk.
const chunkFrames = 4096

// summarize streams the device's frozen window out of the ring in chunks,
// into the aggregator and the pcap file, then unfreezes the device.
func (c *Capture) summarize(d *device, w *window) Report {
	if c.scratch == nil {
		c.scratch = newRing(int64(chunkFrames*(recordHeader+c.cfg.Snaplen)), c.cfg.Snaplen)
	}
	ag := packet.NewAggregator(c.cfg.MaxFlows)
	var (
		out     *pcapOut
		path    string
		fileErr error
	)
	if c.cfg.Dir != "" {
		path = c.pcapPath(d, w)
		out, fileErr = c.createPcap(path, d)
	}
	d.mu.Lock()
	from, until := d.fromNs, d.untilNs
	seq := d.ring.headSeq
	d.mu.Unlock()
	var lost uint64
	var p packet.Packet
	for done := false; !done; {
		c.scratch.reset()
		d.mu.Lock()
		if seq < d.ring.headSeq {
			// Pushed out by the memory bound since the last chunk (the
			// reader counted those inside the window).
			seq = d.ring.headSeq
		}
		for c.scratch.size < c.scratch.slots {
			i := int(seq - d.ring.headSeq)
			if i >= d.ring.size {
				done = true
				break
			}
			slot := d.ring.get(i)
			ts := slotTime(slot)
			if ts > until {
				done = true
				break
			}
			seq++
			if ts >= from {
				c.scratch.push(slot, false)
			}
		}
		if done {
			lost = d.windowDropped
			d.frozen = false
		}
		d.mu.Unlock()
		// The records were decoded at capture time: the summary reads them.
		for i := 0; i < c.scratch.size; i++ {
			data := readRecord(c.scratch.get(i), &p)
			ag.Add(&p)
			if out != nil && fileErr == nil {
				fileErr = out.write(gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(data), Length: p.WireLen}, data)
			}
		}
	}
	rep := Report{
		Time: w.first.Time.UTC(), Trigger: w.first.Trigger, Triggers: slices.Clone(w.triggers),
		Target: w.first.Target, Value: w.first.Value, Threshold: w.first.Threshold,
		Device: d.Name, WindowStart: w.start.UTC(), WindowEnd: w.end.UTC(),
		Dropped: lost, Summary: ag.Summary(c.cfg.TopK),
	}
	if c.cfg.Dir != "" {
		if out != nil {
			if err := out.close(fileErr); err != nil && fileErr == nil {
				fileErr = err
			}
		}
		if fileErr != nil {
			c.fileErrors.Add(1)
			rep.FileError = fileErr.Error()
			kind := errorKind(fileErr)
			c.fileLog.Log(slog.LevelError, c.cfg.Dir+"\x00"+kind, "spike pcap not written",
				"path", path, "kind", kind, "err", fileErr)
		} else {
			rep.File = out.path
		}
		c.retain()
	}
	return rep
}

// filePrefix and fileSuffix mark the pcaps this package writes, so that
// retention never removes anything else in the directory.
const (
	filePrefix = "netburst-"
	fileSuffix = ".pcap"
)

// pcapOut is a spike pcap being written.
type pcapOut struct {
	path string
	f    *os.File
	w    *packet.Writer
}

// pcapPath is the name of the window's file for device d.
func (c *Capture) pcapPath(d *device, w *window) string {
	name := fmt.Sprintf("%s%s-%s-%s%s", filePrefix, w.first.Time.UTC().Format("20060102T150405.000000Z"),
		w.first.Trigger, sanitize(d.Name), fileSuffix)
	return filepath.Join(c.cfg.Dir, name)
}

// errorKind names the kind of a failed write for the log's rate limit: one
// line a minute per directory and kind, so a full disk does not hide a
// permission error that follows it.
func errorKind(err error) string {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, os.ErrNotExist):
		return "missing"
	case errors.Is(err, os.ErrPermission):
		return "permission"
	}
	return "other"
}

// createPcap creates the window's file at path (mode 0600, never
// overwriting) and writes its header.
func (c *Capture) createPcap(path string, d *device) (*pcapOut, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write spike pcap: %w", err)
	}
	o := &pcapOut{path: path, f: f}
	if o.w, err = packet.NewWriter(f, c.cfg.Snaplen, d.LinkType); err != nil {
		err = fmt.Errorf("write spike pcap %s: %w", path, err)
		return o, err
	}
	return o, nil
}

func (o *pcapOut) write(ci gopacket.CaptureInfo, data []byte) error {
	if err := o.w.Write(ci, data); err != nil {
		return fmt.Errorf("write spike pcap %s: %w", o.path, err)
	}
	return nil
}

// close flushes and closes the file; after any error (failed, or its own)
// it removes the file: a partial pcap on a full disk helps nobody.
func (o *pcapOut) close(failed error) error {
	var err error
	if failed == nil {
		if ferr := o.w.Flush(); ferr != nil {
			err = fmt.Errorf("write spike pcap %s: %w", o.path, ferr)
		}
	}
	if cerr := o.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write spike pcap %s: %w", o.path, cerr)
	}
	if failed != nil || err != nil {
		os.Remove(o.path)
	}
	return err
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// retain removes the oldest of this package's pcaps in Dir beyond MaxFiles
// or MaxBytes and records what is left.
func (c *Capture) retain() {
	entries, err := os.ReadDir(c.cfg.Dir)
	if err != nil {
		return
	}
	type file struct {
		name string
		size int64
	}
	var files []file
	var total int64
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, filePrefix) || !strings.HasSuffix(n, fileSuffix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{n, info.Size()})
		total += info.Size()
	}
	// Names start with the UTC time, so name order is age order.
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	for len(files) > 0 && ((c.cfg.MaxFiles > 0 && len(files) > c.cfg.MaxFiles) || (c.cfg.MaxBytes > 0 && total > c.cfg.MaxBytes)) {
		if err := os.Remove(filepath.Join(c.cfg.Dir, files[0].name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			break
		}
		total -= files[0].size
		files = files[1:]
	}
	c.mu.Lock()
	c.files, c.filesBytes = len(files), total
	c.mu.Unlock()
}

// Reports returns the reports kept in memory, oldest first.
func (c *Capture) Reports() []Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reports)
}

// Stats returns a snapshot of the counters. It does no I/O.
func (c *Capture) Stats() Stats {
	s := Stats{
		Spikes:        map[spike.Trigger]uint64{},
		LastSpike:     map[spike.Trigger]time.Time{},
		Suppressed:    c.suppressed.Load(),
		EventsDropped: c.eventsDropped.Load(),
		FileErrors:    c.fileErrors.Load(),
	}
	for _, d := range c.devices {
		s.Devices = append(s.Devices, DeviceStats{
			Device: d.Name, Packets: d.packets.Load(), Bytes: d.bytes.Load(),
			KernelPackets: d.kernelPackets.Load(), KernelDrops: d.kernelDrops.Load(),
			RingDropped: d.ringDropped.Load(), FreezeDropped: d.freezeDropped.Load(), ReadErrors: d.readErrors.Load(),
			DeviceState: d.Device.State(),
		})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.spikes {
		s.Spikes[k] = v
	}
	for k, v := range c.lastSpike {
		s.LastSpike[k] = v
	}
	s.Files, s.FilesBytes = c.files, c.filesBytes
	return s
}
