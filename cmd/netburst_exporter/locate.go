package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/netburst/netburst/capture"
	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/locate"
	"github.com/netburst/netburst/packet"
)

// locateFeature is live locate: this host's interfaces along a path (a
// VM's vif, the physical NIC) capture every ICMP echo crossing them, and
// each segment's one-way delays become netburst_segment_delay_seconds.
type locateFeature struct {
	points     string
	threshold  time.Duration
	maxAge     time.Duration
	maxPending int
	echoRing   int
}

func newLocateFeature(app *kingpin.Application) feature {
	f := &locateFeature{}
	app.Flag("locate.points", "Comma-separated interfaces of this host along a path, in order from the pinging side (e.g. vif1.0,eth0): every ICMP echo crossing them is timestamped and each segment's one-way delay exported. None: live locate off.").Default("").StringVar(&f.points)
	app.Flag("locate.spike-threshold", "One-way delay across a segment above which a segment spike is raised (at most one per segment and direction a second); 0 raises none.").Default("10ms").SetValue(&durationValue{"locate.spike-threshold", &f.threshold})
	app.Flag("locate.max-age", "How long an echo waits for its packets at the other points before its missing packets count as lost.").Default("5s").SetValue(&durationValue{"locate.max-age", &f.maxAge})
	app.Flag("locate.max-pending", "Most echoes waiting for their other packets at once; older ones are dropped (counted).").Default("4096").IntVar(&f.maxPending)
	app.Flag("locate.echo-ring", "Echo observations of the points kept for "+echoesPath+" (another host's netburst locate --exporter reads them incrementally; about 90 bytes each); 0 serves none.").Default("65536").IntVar(&f.echoRing)
	return f
}

// echoSnaplen is what the echo filter keeps of a frame: headers up to the
// ICMP id and sequence behind a VLAN tag and IPv6, with room to spare.
const echoSnaplen = 128

func (f *locateFeature) start(env *exporterEnv) (func(context.Context) error, error) {
	if f.points == "" {
		return nil, nil
	}
	names := strings.Split(f.points, ",")
	switch {
	case len(names) < 2:
		return nil, usageError{fmt.Errorf("--locate.points=%s: name at least two interfaces", f.points)}
	case f.threshold < 0 || f.maxAge <= 0 || f.maxPending <= 0:
		return nil, usageError{fmt.Errorf("--locate.spike-threshold must be 0 or more, --locate.max-age and --locate.max-pending above 0")}
	case f.echoRing < 0:
		return nil, usageError{fmt.Errorf("--locate.echo-ring=%d must be 0 (none) or more", f.echoRing)}
	}
	c := collector.NewLocate()
	live, err := locate.NewLive(locate.LiveConfig{
		Points: names, MaxEntries: f.maxPending, MaxAge: f.maxAge,
		Threshold: f.threshold, Observer: c, Spikes: env.spikes,
	})
	if err != nil {
		return nil, usageError{fmt.Errorf("--locate.points=%s: %w", f.points, err)}
	}
	logger := env.logger.With("feature", "locate")
	var (
		devs     []capture.Device
		releases []func()
	)
	releaseAll := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, name := range names {
		// A point whose interface is re-created (a VM's vif) re-opens
		// itself; the link-change signal, one per point, makes it
		// immediate.
		changes, release := env.watchLinks()
		releases = append(releases, release)
		d, err := openEchoDevice(name, echoSnaplen, changes, logger)
		if err != nil {
			for _, d := range devs {
				d.Source.Close()
			}
			releaseAll()
			return nil, fmt.Errorf("--locate.points: %w", err)
		}
		devs = append(devs, d)
	}
	c.SetSource(live)
	c.SetPointSource(locatePoints(devs))
	env.registry.MustRegister(c)
	var ring *locate.EchoRing
	if f.echoRing > 0 {
		ring = locate.NewEchoRing(f.echoRing)
		env.mux.Handle(echoesPath, echoesHandler(ring, names))
		env.links = append(env.links, web.LandingLinks{Address: echoesPath, Text: "Echo observations (JSON)"})
	}
	logger.Info("live locate started", "points", names, "spike_threshold", f.threshold, "max_age", f.maxAge)
	return func(ctx context.Context) error {
		defer releaseAll()
		var wg sync.WaitGroup
		for i, d := range devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				readEchoes(ctx, i, d, live, ring, logger)
			}()
		}
		// Close echoes whose packets stopped coming, so losses are counted
		// even when the path goes quiet.
		tick := time.NewTicker(max(f.maxAge/4, 100*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				wg.Wait()
				for _, d := range devs {
					d.Source.Close()
				}
				return nil
			case now := <-tick.C:
				live.Expire(now)
			}
		}
	}, nil
}

// locatePoints gives the collector the points' capture state.
type locatePoints []capture.Device

func (p locatePoints) LocatePoints() []collector.LocatePoint {
	out := make([]collector.LocatePoint, 0, len(p))
	for _, d := range p {
		st := d.State()
		out = append(out, collector.LocatePoint{Point: d.Name, Up: st.Up, Reopens: st.Reopens})
	}
	return out
}

// echoesPath serves the points' echo observations incrementally.
const echoesPath = "/api/v1/echoes"

// Bounds of one answer of echoesPath.
const (
	defaultEchoLimit = 10000
	maxEchoLimit     = 100000
)

// echoesHandler serves GET /api/v1/echoes?since=CURSOR[&limit=N]: the
// observations after CURSOR (0: all the ring holds), oldest first, at most
// N (default 10,000), as locate.EchoBatch's JSON (docs/locate.md).
func echoesHandler(ring *locate.EchoRing, points []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		q := r.URL.Query()
		var since uint64
		if v := q.Get("since"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				http.Error(w, fmt.Sprintf("since=%s: want the cursor of the previous answer's \"next\" (a whole number)", v), http.StatusBadRequest)
				return
			}
			since = n
		}
		limit := defaultEchoLimit
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxEchoLimit {
				http.Error(w, fmt.Sprintf("limit=%s: want 1 to %d", v, maxEchoLimit), http.StatusBadRequest)
				return
			}
			limit = n
		}
		b := locate.EchoBatch{Run: ring.Run(), Points: points}
		// One more than the limit says whether there is more.
		echoes, next, missed := ring.Since(make([]locate.Observation, 0, min(limit+1, 4096)), since, limit+1)
		if len(echoes) > limit {
			echoes, next, b.More = echoes[:limit], next-1, true
		}
		b.Echoes, b.Next, b.Missed = echoes, next, missed
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b.AppendJSON(make([]byte, 0, 64+70*len(echoes))))
	})
}

// readEchoes feeds the echoes captured on d (point i) to live until ctx
// ends. A vanished interface is the device's to report and follow (it
// re-opens when the interface returns); any other failing read is logged
// once and retried every second.
func readEchoes(ctx context.Context, i int, d capture.Device, live *locate.Live, ring *locate.EchoRing, logger *slog.Logger) {
	dec, err := packet.NewDecoder(d.LinkType)
	if err != nil {
		logger.Error("cannot decode the interface's frames", "device", d.Name, "err", err)
		return
	}
	var (
		p packet.Packet
		o locate.Observation
	)
	failing := false
	for ctx.Err() == nil {
		data, ci, err := d.Source.ZeroCopyReadPacketData()
		if errors.Is(err, capture.ErrTimeout) || errors.Is(err, capture.ErrInterfaceDown) {
			continue
		}
		if err != nil {
			if !failing {
				logger.Warn("capture read failed; retrying every second", "device", d.Name, "err", err)
				failing = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if failing {
			logger.Info("capture reads again", "device", d.Name)
			failing = false
		}
		if dec.Decode(data, ci, &p) != nil {
			continue
		}
		if !locate.FromPacket(&p, i, &o) {
			continue
		}
		live.Add(&o)
		if ring != nil {
			ring.Add(&o)
		}
	}
}
