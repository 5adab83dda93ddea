package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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

// ErrNotSupported is returned by the live capture's constructors where
// there are no AF_PACKET sockets (systems other than Linux).
var ErrNotSupported = errors.New("netburst/capture: not supported on " + runtime.GOOS)

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
	// ID names the report at /spikes/ID: the trigger's time, the trigger
	// and the device ("20261204T051650.123456Z-burst-eth0"), as its pcap.
	ID string `json:"id"`
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
	// Timeline is the window's throughput in 10 ms bins, the top ports
	// stacked.
	Timeline packet.Timeline `json:"timeline"`
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
