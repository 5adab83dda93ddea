package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/bpf"

	"github.com/netburst/netburst/capture"
	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/webui"
)

// spikesPath serves the in-memory spike reports.
const spikesPath = "/api/v1/spikes"

// captureFeature is the always-on header capture that freezes the seconds
// around each spike into a report and a pcap.
type captureFeature struct {
	devices     []string
	dir         string
	pre, post   time.Duration
	memory      units.Base2Bytes
	snaplen     int
	maxFiles    int
	maxBytes    units.Base2Bytes
	minInterval time.Duration
	topK        int
	reports     int
	ipOnly      bool
	filter      string
}

func newCaptureFeature(app *kingpin.Application) feature {
	f := &captureFeature{}
	app.Flag("capture.device", "Interface to capture headers on, for spike reports (repeatable; none: no capture).").StringsVar(&f.devices)
	app.Flag("capture.dir", "Directory for spike pcaps (mode 0600), created (0700) if missing; one the exporter cannot write to fails the start. Empty writes none, reports are still kept in memory.").Default("").StringVar(&f.dir)
	app.Flag("capture.pre", "History kept before a spike.").Default("2s").SetValue(&durationValue{"capture.pre", &f.pre})
	app.Flag("capture.post", "Time captured after a spike.").Default("1s").SetValue(&durationValue{"capture.post", &f.post})
	app.Flag("capture.memory", "Memory for all devices' capture rings and spike windows; the oldest frames go first (counted).").Default("64MiB").BytesVar(&f.memory)
	app.Flag("capture.snaplen", "Bytes kept of each frame (headers only by default).").Default("128").IntVar(&f.snaplen)
	app.Flag("capture.max-files", "Most spike pcaps kept in --capture.dir (oldest removed); 0 no bound.").Default("100").IntVar(&f.maxFiles)
	app.Flag("capture.max-bytes", "Most bytes of spike pcaps kept in --capture.dir (oldest removed); 0 no bound.").Default("1GiB").BytesVar(&f.maxBytes)
	app.Flag("capture.min-interval", "Per-trigger rate limit: a spike of the same trigger within this time of the last one, outside an open window, is suppressed (counted).").Default("10s").SetValue(&durationValue{"capture.min-interval", &f.minInterval})
	app.Flag("capture.top", "Entries per table (ports, hosts, conversations) in a spike report and its metrics.").Default("10").IntVar(&f.topK)
	app.Flag("capture.reports", "Spike reports kept in memory for "+spikesPath+".").Default("32").IntVar(&f.reports)
	app.Flag("capture.ip-only", "Drop non-IP Ethernet frames (ARP, LLDP, STP) in the kernel filter.").Default("false").BoolVar(&f.ipOnly)
	app.Flag("capture.filter", "Capture only the frames this expression matches, in the kernel (e.g. 'tcp and not port 22', 'vlan 100 and tcp port 80'; language in docs/capture.md); empty: all.").Default("").StringVar(&f.filter)
	return f
}

func (f *captureFeature) start(env *exporterEnv) (func(context.Context) error, error) {
	if len(f.devices) == 0 {
		// The API still answers, with an empty list, so clients need not
		// know whether capture is configured.
		env.mux.HandleFunc(spikesPath, func(w http.ResponseWriter, r *http.Request) { serveSpikes(w, r, nil) })
		if env.ui {
			pages := webui.Handler(func() []webui.Spike { return nil }, nil)
			env.mux.Handle("/spikes", pages)
			env.mux.Handle("/spikes/", pages)
		}
		return nil, nil
	}
	switch {
	case f.pre <= 0 || f.post <= 0:
		return nil, usageError{fmt.Errorf("--capture.pre=%v and --capture.post=%v must be above 0", f.pre, f.post)}
	case f.snaplen < 64 || f.snaplen > 262144:
		return nil, usageError{fmt.Errorf("--capture.snaplen=%d out of 64..262144", f.snaplen)}
	case f.memory < 1<<20:
		return nil, usageError{fmt.Errorf("--capture.memory=%v must be at least 1MiB", f.memory)}
	case f.maxFiles < 0 || f.maxBytes < 0 || f.topK <= 0 || f.reports <= 0:
		return nil, usageError{fmt.Errorf("--capture.max-files, --capture.max-bytes must be 0 or more, --capture.top and --capture.reports above 0")}
	}
	if slices.Contains(f.devices, "") {
		return nil, usageError{fmt.Errorf("--capture.device: empty interface name")}
	}
	for i, d := range f.devices {
		if slices.Contains(f.devices[:i], d) {
			return nil, usageError{fmt.Errorf("--capture.device=%s given twice", d)}
		}
	}
	// The rings and windows are allocated up front: more than the host can
	// give fails with the runtime's out-of-memory crash, not an error.
	if total, err := hostMemory(env.procfs); err == nil && int64(f.memory) > total/2 {
		return nil, usageError{fmt.Errorf("--capture.memory=%v is more than half of this host's memory (%v): the capture would starve the host", f.memory, fmt.Sprintf("%.1fGiB", float64(total)/(1<<30)))}
	}
	var filter *capture.Filter
	if f.filter != "" {
		var err error
		if filter, err = capture.ParseFilter(f.filter); err != nil {
			return nil, usageError{fmt.Errorf("--capture.filter: %w", err)}
		}
	}
	if f.dir != "" {
		// A directory that cannot take a pcap would lose every spike's
		// file: a runtime failure at start (exit 1), not a warning.
		if err := capture.PrepareDir(f.dir); err != nil {
			return nil, fmt.Errorf("--capture.dir=%s: %w", f.dir, err)
		}
	}
	var devFilter capture.FilterFunc
	if filter != nil {
		devFilter = func(lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
			return filter.Program(lt, snaplen, f.ipOnly)
		}
	}
	var (
		devs     []capture.Device
		releases []func()
	)
	// Each device re-opens itself when its interface is re-created; the
	// link-change signal (one per device: a receive consumes it) makes
	// that immediate instead of within a second.
	releaseAll := func() {
		for _, r := range releases {
			r()
		}
	}
	closeAll := func() {
		for _, d := range devs {
			d.Source.Close()
		}
		releaseAll()
	}
	for _, name := range f.devices {
		changes, release := env.watchLinks()
		releases = append(releases, release)
		d, err := capture.Open(capture.DeviceConfig{
			Name: name, Snaplen: f.snaplen, Filter: devFilter, IPOnly: f.ipOnly,
			Changes: changes, Logger: env.logger,
		})
		if err != nil {
			closeAll()
			err = fmt.Errorf("--capture.device=%s: %w", name, err)
			if errors.Is(err, syscall.ENODEV) {
				return nil, usageError{err} // a name that is not an interface here
			}
			return nil, err
		}
		devs = append(devs, d)
	}
	c, err := capture.New(capture.Config{
		Pre: f.pre, Post: f.post, Memory: int64(f.memory), Snaplen: f.snaplen,
		Dir: f.dir, MaxFiles: f.maxFiles, MaxBytes: int64(f.maxBytes),
		TopK: f.topK, MaxReports: f.reports, MinInterval: f.minInterval,
		Logger: env.logger,
	}, devs)
	if err != nil {
		closeAll()
		return nil, err
	}
	env.spikes.Subscribe(c)
	env.registry.MustRegister(collector.NewCapture(captureSnapshotter{c}))
	env.mux.HandleFunc(spikesPath, func(w http.ResponseWriter, r *http.Request) { serveSpikes(w, r, c.Reports()) })
	env.links = append(env.links, web.LandingLinks{Address: spikesPath, Text: "Spike reports (JSON)"})
	if env.ui {
		pages := webui.Handler(func() []webui.Spike { return spikePages(c.Reports()) }, func(w http.ResponseWriter, r *http.Request, id string) { servePcap(w, r, c.Reports(), id) })
		env.mux.Handle("/spikes", pages)
		env.mux.Handle("/spikes/", pages)
		env.links = append(env.links, web.LandingLinks{Address: "/spikes", Text: "Spikes"})
	}
	env.logger.Info("spike capture started", "devices", f.devices, "dir", f.dir, "pre", f.pre, "post", f.post, "memory", f.memory, "snaplen", f.snaplen, "filter", f.filter)
	return func(ctx context.Context) error {
		defer releaseAll()
		return c.Run(ctx)
	}, nil
}

// serveSpikes writes the reports, newest first, as a JSON list.
func serveSpikes(w http.ResponseWriter, r *http.Request, reports []capture.Report) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	if reports == nil {
		reports = []capture.Report{}
	}
	slices.Reverse(reports)
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(reports)
}

// spikePages turns the capture's reports into the pages' view.
func spikePages(reports []capture.Report) []webui.Spike {
	out := make([]webui.Spike, len(reports))
	for i, r := range reports {
		trig := make([]string, len(r.Triggers))
		for j, t := range r.Triggers {
			trig[j] = string(t)
		}
		out[i] = webui.Spike{
			ID: r.ID, Time: r.Time, Trigger: string(r.Trigger), Triggers: trig, Target: r.Target,
			Value: r.Value, Threshold: r.Threshold, Device: r.Device, WindowStart: r.WindowStart, WindowEnd: r.WindowEnd,
			HasPcap: r.File != "", FileError: r.FileError, Dropped: r.Dropped, Summary: r.Summary, Timeline: r.Timeline,
		}
	}
	return out
}

// servePcap sends the pcap of report id as a download, if the retention
// of --capture.dir kept it.
func servePcap(w http.ResponseWriter, r *http.Request, reports []capture.Report, id string) {
	for _, rep := range reports {
		if rep.ID != id || rep.File == "" {
			continue
		}
		f, err := os.Open(rep.File)
		if err != nil {
			http.Error(w, fmt.Sprintf("pcap of %s: %v (--capture.max-files and --capture.max-bytes remove the oldest)", id, err), http.StatusNotFound)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
		w.Header().Set("Content-Disposition", `attachment; filename="`+filepath.Base(rep.File)+`"`)
		http.ServeContent(w, r, filepath.Base(rep.File), st.ModTime(), f)
		return
	}
	http.Error(w, fmt.Sprintf("no pcap for spike report %q", id), http.StatusNotFound)
}

// captureSnapshotter adapts the capture's counters and latest reports to the
// collector's plain snapshot.
type captureSnapshotter struct{ c *capture.Capture }

func (s captureSnapshotter) CaptureSnapshot() collector.CaptureSnapshot {
	st := s.c.Stats()
	out := collector.CaptureSnapshot{
		Spikes: map[string]uint64{}, LastSpike: map[string]time.Time{},
		Suppressed: st.Suppressed, EventsDropped: st.EventsDropped,
		FilesBytes: st.FilesBytes, FileErrors: st.FileErrors,
	}
	for t, n := range st.Spikes {
		out.Spikes[string(t)] = n
	}
	for t, ts := range st.LastSpike {
		out.LastSpike[string(t)] = ts
	}
	for _, d := range st.Devices {
		out.Devices = append(out.Devices, collector.CaptureDevice{Device: d.Device, Packets: d.Packets,
			KernelDrops: d.KernelDrops, RingDropped: d.RingDropped, FreezeDropped: d.FreezeDropped,
			Up: d.Up, Reopens: d.Reopens})
	}
	// The latest report of each device gives its top ports.
	reports := s.c.Reports()
	seen := map[string]bool{}
	for i := len(reports) - 1; i >= 0; i-- {
		rep := &reports[i]
		if seen[rep.Device] {
			continue
		}
		seen[rep.Device] = true
		for _, p := range rep.Ports {
			out.LastPorts = append(out.LastPorts, collector.CapturePort{Device: rep.Device, Protocol: p.Protocol, Port: p.Port, Bytes: p.Bytes})
		}
	}
	return out
}
