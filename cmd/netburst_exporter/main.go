package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	webflag "github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/live"
	"github.com/netburst/netburst/sampler"
	"github.com/netburst/netburst/spike"
	"github.com/netburst/netburst/webui"
)

// defaultListen is netburst's port: 9917.
const defaultListen = ":9917"

// feature is an optional part of the exporter (prober, bonds, capture,
// locate) with its own flags, in a file of its own.
type feature interface {
	// start wires the feature once flags are parsed and the sampler exists.
	// It returns a function that runs in its own goroutine until ctx ends,
	// or nil when the feature has nothing to run.
	start(env *exporterEnv) (run func(ctx context.Context) error, err error)
}

// features lists the optional parts: each constructor adds its flags to app.
var features = []func(app *kingpin.Application) feature{newBondFeature, newProbeFeature, newCaptureFeature, newLocateFeature}

// exporterEnv is what features get to wire themselves in.
type exporterEnv struct {
	logger   *slog.Logger
	registry prometheus.Registerer
	mux      *http.ServeMux
	// spikes fans spike events out to the features that consume them
	// (the capture); features that raise spikes Notify it.
	spikes  *spike.Bus
	sampler *sampler.Sampler
	sysfs   string
	procfs  string
	// watchLinks returns the sampler's link-change signal and its release
	// (sampler.LinkWatcher): the process's one link-event subscription. The
	// channel is nil, never ready, where the link table follows no events
	// (the /proc/net/dev fallback): followers then rely on their own
	// periodic checks.
	watchLinks func() (<-chan struct{}, func())
	// links are added to the landing page.
	links []web.LandingLinks
	// ui says whether the exporter serves its own pages (--web.ui); hub
	// streams the live page's data then (nil otherwise), and probeTargets,
	// set by the probe feature, names the targets for its hello.
	ui           bool
	hub          *live.Hub
	probeTargets func() []string
	// readiness checks say why a configured feature cannot work at all
	// (not merely degraded: a device between VMs is not that): /-/ready
	// answers 503 with their reasons while any returns an error.
	readiness []func() error
	// reloaders run on SIGHUP and POST /-/reload; the first error is
	// reported and the old configuration stays.
	reloaders []func() error
}

// usageError is a bad command line or configuration: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	web            *web.FlagConfig
	metricsPath    string
	maxRequests    int
	pprof          bool
	ui             bool
	interval       time.Duration
	include        string
	exclude        string
	burstThreshold float64
	burstRate      float64
	histInclude    string
	histExclude    string
	qdiscEvery     int
	slowInterval   time.Duration
	allFast        bool
	maxRefresh     time.Duration
	source         string
	sysfs          string
	procfs         string
	log            promslog.Config
	memoryLimit    memoryLimitFlag
}

func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("netburst_exporter", "Sub-second network sampler and Prometheus exporter: samples NIC and bond counters every 100 ms (per-VM and per-container interfaces every second) and exports peaks, bursts and histograms that survive a 15-60 s scrape. Probes no target unless configured.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.HelpFlag.Short('h')
	app.Version(version.Print("netburst_exporter"))
	var o options
	o.web = webflag.AddFlags(app, defaultListen)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.metricsPath)
	app.Flag("web.max-requests", "Most scrapes of the metrics path served at once; more get 503 until one ends. 0: no limit.").Default("40").IntVar(&o.maxRequests)
	app.Flag("web.ui", "Serve netburst's own pages: the live page at / (rates at the sampler's resolution, RTTs, spikes; streamed from /api/v1/stream), the spike list at /spikes and a page per spike (/spikes/ID). --no-web.ui serves the JSON API and the plain landing page only.").Default("true").BoolVar(&o.ui)
	app.Flag("web.enable-pprof", "Serve Go profiles under /debug/pprof/ (CPU, heap, goroutines), for diagnosing the exporter itself.").Default("false").BoolVar(&o.pprof)
	app.Flag("sampler.interval", fmt.Sprintf("Sampling interval (%v..%v).", sampler.MinInterval, sampler.MaxInterval)).Default("100ms").SetValue(&durationValue{"sampler.interval", &o.interval})
	app.Flag("sampler.device-include", "Regexp of device names to sample (default: all).").Default("").StringVar(&o.include)
	app.Flag("sampler.device-exclude", "Regexp of device names not to sample.").Default("").StringVar(&o.exclude)
	app.Flag("sampler.burst-threshold", "Fraction of link speed at or above which an interval counts as a burst (above 0).").Default("0.8").SetValue(&floatValue{"sampler.burst-threshold", &o.burstThreshold})
	app.Flag("sampler.burst-rate", "Burst threshold in bytes/s for devices whose link speed is unknown; 0 counts no bursts on them.").Default("0").SetValue(&floatValue{"sampler.burst-rate", &o.burstRate})
	app.Flag("sampler.histogram-devices", "Regexp of devices that get a throughput histogram.").Default(".*").StringVar(&o.histInclude)
	app.Flag("sampler.histogram-devices-exclude", "Regexp of devices that get no throughput histogram (peaks and counters still cover them): by default per-VM and per-container interfaces.").Default(collector.DefaultHistogramExclude).StringVar(&o.histExclude)
	app.Flag("sampler.slow-interval", "Sampling interval of the slow tier: the per-VM and per-container devices that --sampler.histogram-devices-exclude names (bonds and their slaves excepted), read with one dump; rounded to a multiple of --sampler.interval, at most 10s. Every other device is sampled every --sampler.interval.").Default("1s").SetValue(&durationValue{"sampler.slow-interval", &o.slowInterval})
	app.Flag("sampler.all-fast", "Sample every device every --sampler.interval: no slow tier.").Default("false").BoolVar(&o.allFast)
	app.Flag("sampler.qdisc-every", "Read each device's qdisc statistics every Nth sample of its tier; 0 never.").Default("1").IntVar(&o.qdiscEvery)
	app.Flag("sampler.max-refresh", "Longest counter refresh period believed of a driver (lazy-counter detection); at least --sampler.interval.").Default("3s").SetValue(&durationValue{"sampler.max-refresh", &o.maxRefresh})
	app.Flag("sampler.source", "Where counters come from: auto (netlink RTM_GETSTATS, falling back to /proc/net/dev), netlink or procfs.").Default("auto").EnumVar(&o.source, "auto", "netlink", "procfs")
	app.Flag("path.sysfs", "sysfs mount point (link speeds, bonds); must be a directory.").Default("/sys").StringVar(&o.sysfs)
	app.Flag("path.procfs", "procfs mount point (/proc/net/dev fallback, memory size, 802.3ad churn in net/bonding); must be a directory.").Default("/proc").StringVar(&o.procfs)
	app.Flag("runtime.memory-limit", "Soft memory limit of the Go runtime (debug.SetMemoryLimit): auto is 90% of the cgroup's memory limit, or none outside one; a size sets it; 0 none. Never below what the live heap needs with the runtime's default pacing (twice the live heap, plus its memory outside the heap): it caps growth and never makes the collector run more often. The GOMEMLIMIT environment variable, when set, wins.").Default(defaultMemoryLimit).SetValue(&o.memoryLimit)
	promslogflag.AddFlags(app, &o.log)
	var feats []feature
	for _, f := range features {
		feats = append(feats, f(app))
	}

	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "netburst_exporter: error: %s (try --help)\n", oneLine(err.Error()))
		return 2
	}
	logger := promslog.New(&o.log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, &o, feats, logger); err != nil {
		// One line: what a unit's journal or a pod's last state shows.
		fmt.Fprintf(stderr, "netburst_exporter: error: %s\n", oneLine(err.Error()))
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// floatValue is a number flag that refuses NaN and infinities (which
// compare false with every bound, so range checks would let them through)
// and whose parse error names the flag.
type floatValue struct {
	name string
	f    *float64
}

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("--%s=%s: want a number", v.name, s)
	}
	*v.f = f
	return nil
}

func (v *floatValue) String() string { return strconv.FormatFloat(*v.f, 'g', -1, 64) }

// durationValue is a duration flag whose parse error names the flag.
type durationValue struct {
	name string
	d    *time.Duration
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("--%s: %w (want a duration such as 100ms)", v.name, err)
	}
	*v.d = d
	return nil
}

func (v *durationValue) String() string { return v.d.String() }

func compile(flag, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, usageError{fmt.Errorf("--%s: invalid regexp: %w", flag, err)}
	}
	return re, nil
}

func serve(ctx context.Context, o *options, feats []feature, logger *slog.Logger) error {
	if o.interval < sampler.MinInterval || o.interval > sampler.MaxInterval {
		return usageError{fmt.Errorf("--sampler.interval=%v out of range %v..%v", o.interval, sampler.MinInterval, sampler.MaxInterval)}
	}
	if o.burstThreshold <= 0 {
		return usageError{fmt.Errorf("--sampler.burst-threshold=%v must be above 0", o.burstThreshold)}
	}
	if o.slowInterval < o.interval || o.slowInterval > sampler.MaxInterval {
		return usageError{fmt.Errorf("--sampler.slow-interval=%v out of range --sampler.interval (%v)..%v", o.slowInterval, o.interval, sampler.MaxInterval)}
	}
	if o.qdiscEvery < 0 {
		return usageError{fmt.Errorf("--sampler.qdisc-every=%d must be 0 or more", o.qdiscEvery)}
	}
	if o.burstRate < 0 {
		return usageError{fmt.Errorf("--sampler.burst-rate=%v must be 0 (no bursts on devices of unknown speed) or more", o.burstRate)}
	}
	if o.maxRefresh < o.interval {
		return usageError{fmt.Errorf("--sampler.max-refresh=%v must be at least --sampler.interval (%v): a refresh period shorter than a sample cannot be seen", o.maxRefresh, o.interval)}
	}
	if err := checkWebFlags(o); err != nil {
		return err
	}
	for _, d := range []struct{ flag, path string }{{"path.sysfs", o.sysfs}, {"path.procfs", o.procfs}} {
		if fi, err := os.Stat(d.path); err != nil || !fi.IsDir() {
			return usageError{fmt.Errorf("--%s=%s: not a directory", d.flag, d.path)}
		}
	}
	var res [4]*regexp.Regexp
	for i, f := range []struct{ flag, expr string }{
		{"sampler.device-include", o.include}, {"sampler.device-exclude", o.exclude},
		{"sampler.histogram-devices", o.histInclude}, {"sampler.histogram-devices-exclude", o.histExclude},
	} {
		re, err := compile(f.flag, f.expr)
		if err != nil {
			return err
		}
		res[i] = re
	}

	logger.Info("starting netburst_exporter", "version", version.Info(), "build", version.BuildContext())
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("netburst"),
	)
	// /metrics: the sampler's and prober's families, registered through
	// the handler's Registerer, are encoded straight from their snapshots;
	// the registry gathers the rest.
	metricsHandler := collector.NewHandler(reg, collector.HandlerOpts{ErrorLog: logger, EnableOpenMetrics: true, MaxRequestsInFlight: o.maxRequests})
	registry := metricsHandler.Registerer()

	sources, err := openSources(o, logger)
	if err != nil {
		return err
	}
	defer sources.close()

	bus := &spike.Bus{}
	metrics := collector.NewSampler(collector.SamplerOptions{HistogramInclude: res[2], HistogramExclude: res[3], Interval: o.interval})
	// The slow tier is the per-VM and per-container name classes, the
	// same that get no histogram.
	slowDevices := res[3]
	if o.allFast {
		slowDevices = nil
	}
	// The live page's stream sits between the sampler and its metrics;
	// with no browser connected it only forwards.
	var hub *live.Hub
	var samplerObserver sampler.Observer = metrics
	var smp *sampler.Sampler
	env := &exporterEnv{}
	if o.ui {
		hub = live.NewHub(live.Config{
			Default: func(d string) bool { return slowDevices == nil || !slowDevices.MatchString(d) },
			Hello:   func() live.Hello { return liveHello(smp, o, env.probeTargets) },
		})
		samplerObserver = hub.Sampler(metrics)
		bus.Subscribe(hub)
	}
	smp, err = sampler.New(sampler.Config{
		Interval: o.interval, DeviceInclude: res[0], DeviceExclude: res[1],
		BurstThreshold: o.burstThreshold, BurstRate: o.burstRate,
		SlowDevices: slowDevices, SlowInterval: o.slowInterval,
		QdiscEvery: o.qdiscEvery, MaxRefresh: o.maxRefresh,
		Stats: sources.stats, Links: sources.links, Qdiscs: sources.qdiscs,
		Observer: samplerObserver, Spikes: bus, Logger: logger,
	})
	if err != nil {
		return usageError{err}
	}
	metrics.SetSource(smp)
	registry.MustRegister(metrics)
	if slowDevices != nil {
		logger.Info("sampler tiers", "interval", o.interval, "slow_interval", smp.SlowInterval(), "slow_devices", slowDevices.String())
	} else {
		logger.Info("sampler tiers: every device in the fast set", "interval", o.interval)
	}

	mux := http.NewServeMux()
	*env = exporterEnv{
		logger: logger, registry: registry, mux: mux, spikes: bus, sampler: smp,
		sysfs: o.sysfs, procfs: o.procfs, watchLinks: sources.watchLinks, ui: o.ui, hub: hub,
		links: []web.LandingLinks{{Address: o.metricsPath, Text: "Metrics"}},
	}
	if hub != nil {
		mux.Handle(streamPath, hub.Handler())
		registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "netburst_live_clients", Help: "Browsers (or other clients) streaming " + streamPath + " now."},
				func() float64 { return float64(hub.Clients()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "netburst_live_clients_dropped_total", Help: "Clients of " + streamPath + " dropped for falling behind (their queue of samples was full)."},
				func() float64 { return float64(hub.Dropped()) }),
		)
	}
	var runs []func(context.Context) error
	if r := startMemoryLimit(o.memoryLimit, hostCgroups(), logger); r != nil {
		runs = append(runs, r)
	}
	for _, f := range feats {
		r, err := f.start(env)
		if err != nil {
			return err
		}
		if r != nil {
			runs = append(runs, r)
		}
	}

	mux.Handle(o.metricsPath, metricsHandler)
	if o.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		env.links = append(env.links, web.LandingLinks{Address: "/debug/pprof/", Text: "Profiles"})
	}
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !smp.Ready() {
			http.Error(w, "Not ready: no sample taken yet", http.StatusServiceUnavailable)
			return
		}
		var reasons []string
		for _, check := range env.readiness {
			if err := check(); err != nil {
				reasons = append(reasons, err.Error())
			}
		}
		if len(reasons) > 0 {
			http.Error(w, "Not ready: "+strings.Join(reasons, "; "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	reload := func() error {
		for _, r := range env.reloaders {
			if err := r(); err != nil {
				return err
			}
		}
		return nil
	}
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			http.Error(w, "use POST or PUT to reload", http.StatusMethodNotAllowed)
			return
		}
		if err := reload(); err != nil {
			logger.Error("reload failed; keeping the previous configuration", "err", err)
			http.Error(w, fmt.Sprintf("reload failed, previous configuration kept: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded")
	})
	switch {
	case o.metricsPath == "/":
	case o.ui:
		links := make([]webui.Link, len(env.links))
		for i, l := range env.links {
			links[i] = webui.Link{Address: l.Address, Text: l.Text}
		}
		mux.Handle("/", webui.Live(version.Info(), links))
	default:
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "netburst exporter",
			Description: "Sub-second network sampler: interface peaks and bursts, qdisc backlog, probes, bonds and spike captures.",
			Version:     version.Info(),
			Links:       env.links,
			// The toolkit links profiles unless told not to; they are
			// served only with --web.enable-pprof.
			Profiling: strconv.FormatBool(o.pprof),
		})
		if err != nil {
			return fmt.Errorf("landing page: %w", err)
		}
		mux.Handle("/", landing)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(runs)+2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errc <- smp.Run(ctx)
	}()
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r(ctx); err != nil {
				errc <- err
			}
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := reload(); err != nil {
					logger.Error("reload on SIGHUP failed; keeping the previous configuration", "err", err)
				} else {
					logger.Info("configuration reloaded on SIGHUP")
				}
			}
		}
	}()

	// The server's own complaints (TLS handshakes that fail, bad requests)
	// go through the logger, in its format, not the log package's.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	srvErr := make(chan error, 1)
	go func() { srvErr <- web.ListenAndServe(srv, o.web, logger) }()

	var result error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-srvErr:
		if !errors.Is(err, http.ErrServerClosed) {
			result = fmt.Errorf("web server: %w", err)
		}
	case err := <-errc:
		if err != nil {
			result = err
		}
	}
	cancel()
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = srv.Shutdown(shutdownCtx)
	wg.Wait()
	return result
}

// streamPath serves the live page's server-sent events.
const streamPath = "/api/v1/stream"

// liveHello is what a live client is told first: the sampler's intervals
// and thresholds, the link speeds, the probe targets.
func liveHello(smp *sampler.Sampler, o *options, targets func() []string) live.Hello {
	h := live.Hello{
		IntervalSeconds: o.interval.Seconds(), SlowIntervalSeconds: o.interval.Seconds(),
		BurstThreshold: o.burstThreshold, BurstRate: o.burstRate,
		Speeds: map[string]float64{}, Targets: []string{},
	}
	if smp != nil {
		var snap sampler.Snapshot
		smp.Snapshot(&snap)
		h.SlowIntervalSeconds = snap.SlowInterval.Seconds()
		for _, d := range snap.Devices {
			if d.SpeedBytes > 0 {
				h.Speeds[d.Name] = d.SpeedBytes
			}
		}
	}
	if targets != nil {
		h.Targets = targets()
	}
	return h
}
