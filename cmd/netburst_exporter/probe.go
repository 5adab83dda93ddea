package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/prober"
)

// probeFeature pings the configured targets continuously. Targets come
// from --probe.target, from the probe section of --config.file and from
// Prometheus file_sd files; with none of them the feature stays off.
type probeFeature struct {
	targets        []string
	fileSD         []string
	configFile     string
	interval       time.Duration
	timeout        time.Duration
	spikeThreshold time.Duration
	spikeFactor    float64
	mode           string
	scrapeTargets  int
	scrapeTTL      time.Duration
}

func newProbeFeature(app *kingpin.Application) feature {
	f := &probeFeature{}
	app.Flag("probe.target", "ICMP echo target, name=address or address (repeatable; a name is re-resolved periodically).").StringsVar(&f.targets)
	app.Flag("probe.file-sd", "Prometheus file_sd file (JSON or YAML; glob patterns allowed; repeatable) listing probe targets; re-read when it changes.").StringsVar(&f.fileSD)
	app.Flag("probe.interval", "Time between two probes of a target.").Default("100ms").SetValue(&durationValue{"probe.interval", &f.interval})
	app.Flag("probe.timeout", "Time after which an unanswered probe is lost; later replies count as late.").Default("1s").SetValue(&durationValue{"probe.timeout", &f.timeout})
	app.Flag("probe.spike-threshold", "RTT at or above which (and at or above k x the rolling median) a reply is a spike.").Default("10ms").SetValue(&durationValue{"probe.spike-threshold", &f.spikeThreshold})
	app.Flag("probe.spike-factor", "k: an RTT must also reach k x the target's rolling median to be a spike.").Default("5").SetValue(&floatValue{"probe.spike-factor", &f.spikeFactor})
	app.Flag("probe.mode", "ICMP socket kind: auto (datagram where net.ipv4.ping_group_range allows, else raw), datagram or raw.").Default("auto").EnumVar(&f.mode, "auto", "datagram", "raw")
	app.Flag("config.file", "YAML configuration file (its probe section lists targets, file_sd files and /probe modules); re-read on SIGHUP and POST /-/reload.").Default("").StringVar(&f.configFile)
	app.Flag("probe.scrape-targets", "Most targets /probe?target=HOST&module=NAME may add (Prometheus-driven targets, as blackbox_exporter's multi-target pattern; each probed continuously while scraped); 0 turns /probe off.").Default("0").IntVar(&f.scrapeTargets)
	app.Flag("probe.scrape-target-ttl", "How long a /probe target is still probed after its last scrape.").Default("10m").SetValue(&durationValue{"probe.scrape-target-ttl", &f.scrapeTTL})
	return f
}

// sources says where the targets come from. Flags are parsed here, once:
// a reload re-reads the files, not the command line.
func (f *probeFeature) sources() (prober.Sources, error) {
	var ts []prober.Target
	for _, s := range f.targets {
		t, err := prober.ParseTarget(s)
		if err != nil {
			return prober.Sources{}, fmt.Errorf("--probe.target: %w", err)
		}
		ts = append(ts, t)
	}
	return prober.Sources{Targets: ts, FileSD: f.fileSD, ConfigFile: f.configFile}, nil
}

func (f *probeFeature) start(env *exporterEnv) (func(context.Context) error, error) {
	src, err := f.sources()
	if err != nil {
		return nil, usageError{err}
	}
	// The flags are checked whether or not a target is configured yet: a
	// mistake must not wait for the first file_sd entry to show.
	for _, fl := range []struct {
		name string
		v    time.Duration
	}{{"probe.interval", f.interval}, {"probe.timeout", f.timeout}, {"probe.spike-threshold", f.spikeThreshold}} {
		// Zero would mean "default" to prober.Config.
		if fl.v <= 0 {
			return nil, usageError{fmt.Errorf("--%s=%v must be above 0", fl.name, fl.v)}
		}
	}
	if f.spikeFactor < 1 {
		return nil, usageError{fmt.Errorf("--probe.spike-factor=%v must be 1 or more", f.spikeFactor)}
	}
	if f.scrapeTargets < 0 {
		return nil, usageError{fmt.Errorf("--probe.scrape-targets=%d must be 0 (no /probe) or more", f.scrapeTargets)}
	}
	if f.scrapeTTL <= 0 {
		return nil, usageError{fmt.Errorf("--probe.scrape-target-ttl=%v must be above 0", f.scrapeTTL)}
	}
	mode, err := prober.ParseMode(f.mode)
	if err != nil {
		return nil, usageError{err}
	}
	cfg := prober.Config{
		Interval: f.interval, Timeout: f.timeout, Mode: mode,
		SpikeThreshold: f.spikeThreshold, SpikeFactor: f.spikeFactor,
	}
	if err := cfg.Validate(); err != nil {
		return nil, usageError{fmt.Errorf("--probe.interval=%v, --probe.timeout=%v: %w", f.interval, f.timeout, err)}
	}
	loaded, err := src.Load()
	if err != nil {
		return nil, usageError{err}
	}
	if !loaded.Configured && f.scrapeTargets == 0 {
		return nil, nil // no probe target unless configured
	}
	logger := env.logger.With("feature", "probe")
	metrics := collector.NewProber()
	cfg.Observer, cfg.Spikes, cfg.Logger = metrics, env.spikes, logger
	if env.hub != nil {
		cfg.Observer = env.hub.Prober(metrics) // the live page's stream, then the metrics
	}
	p, err := prober.New(cfg)
	if err != nil {
		return nil, usageError{fmt.Errorf("--probe.*: %w", err)}
	}
	set := &probeTargets{p: p, metrics: metrics}
	env.probeTargets = p.Targets
	if f.scrapeTargets > 0 {
		set.demand = prober.NewDemand(f.scrapeTargets, f.scrapeTTL)
	}
	if err := set.setConfigured(loaded); err != nil {
		return nil, usageError{err}
	}
	metrics.SetSource(visible{set})
	env.registry.MustRegister(metrics)
	if set.demand != nil {
		env.mux.Handle("/probe", probeHandler(set, newScrapeStatus(env.registry, set.demand), logger))
		logger.Info("/probe: Prometheus-driven targets", "max", f.scrapeTargets, "ttl", f.scrapeTTL)
	}
	// Not ready only when the prober cannot work at all (no ICMP socket
	// may be opened); one unreachable target or a vif between two VMs is
	// the prober's business to report, not a reason to restart it.
	env.readiness = append(env.readiness, func() error {
		if err := p.CannotProbe(); err != nil {
			return fmt.Errorf("prober: %w", err)
		}
		return nil
	})
	st := newReloadStatus(env.registry)
	logger.Info("probing", "targets", len(loaded.Targets), "interval", f.interval, "timeout", f.timeout, "mode", mode, fileSDAttr(loaded.Files))

	var mu sync.Mutex
	reload := func(why string) error {
		mu.Lock()
		defer mu.Unlock()
		loaded, err := src.Load()
		if err == nil {
			// SetTargets also has the prober re-check its device-bound
			// sockets, and a reload re-checks them even when it failed:
			// SIGHUP is what a user tries first when a vif came back.
			err = set.setConfigured(loaded)
		}
		p.LinkChanged()
		if err != nil {
			st.failed()
			return fmt.Errorf("probe targets (%s): %w", why, err)
		}
		st.succeeded()
		logger.Info("probe targets reloaded", "why", why, "targets", len(loaded.Targets), fileSDAttr(loaded.Files))
		return nil
	}
	env.reloaders = append(env.reloaders, func() error { return reload("reload") })
	return func(ctx context.Context) error {
		var wg sync.WaitGroup
		if set.demand != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				expireScrapeTargets(ctx, set, f.scrapeTTL, logger)
			}()
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			src.Watch(ctx, 0, func() {
				if err := reload("file_sd changed"); err != nil {
					logger.Error("reload after a file_sd change failed; keeping the previous targets", "err", err)
				}
			})
		}()
		go func() {
			defer wg.Done()
			followLinks(ctx, env.watchLinks, p)
		}()
		err := p.Run(ctx)
		wg.Wait()
		return err
	}, nil
}

// expireScrapeTargets drops the /probe targets no scrape asked for in ttl,
// checking a few times per ttl, until ctx ends.
func expireScrapeTargets(ctx context.Context, set *probeTargets, ttl time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(max(ttl/4, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			gone, err := set.expire(now)
			if len(gone) > 0 {
				logger.Info("/probe targets no longer scraped: dropped", "targets", strings.Join(gone, ","), "ttl", ttl)
			}
			if err != nil {
				logger.Error("setting the probe targets after dropping /probe targets", "err", err)
			}
		}
	}
}

// followLinks hands the sampler's link-change signal to the prober until
// ctx ends, so that a target bound to a vif that was deleted and re-created
// (a VM restarted: same name, new index) probes again within a probe
// interval of its return. Without a link-event source (nil channel) the
// prober finds a stale socket by its failed sends and retries on its own.
func followLinks(ctx context.Context, watch func() (<-chan struct{}, func()), p interface{ LinkChanged() }) {
	if watch == nil {
		return
	}
	ch, release := watch()
	defer release()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			p.LinkChanged()
		}
	}
}

// reloadStatus exports the outcome of probe target reloads.
type reloadStatus struct {
	ok       prometheus.Gauge
	lastOK   prometheus.Gauge
	failures prometheus.Counter
}

func newReloadStatus(reg prometheus.Registerer) *reloadStatus {
	s := &reloadStatus{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: "netburst_probe_config_last_reload_successful",
			Help: "Whether the last reload of the probe targets succeeded (1) or failed and the previous targets were kept (0)."}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "netburst_probe_config_last_reload_success_timestamp_seconds",
			Help: "When the probe targets were last loaded successfully, as a Unix time."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "netburst_probe_config_reload_failures_total",
			Help: "Failed reloads of the probe targets (the reason is logged)."}),
	}
	reg.MustRegister(s.ok, s.lastOK, s.failures)
	s.succeeded()
	return s
}

func (s *reloadStatus) succeeded() {
	s.ok.Set(1)
	s.lastOK.SetToCurrentTime()
}

func (s *reloadStatus) failed() {
	s.ok.Set(0)
	s.failures.Inc()
}

// fileSDAttr logs the file_sd files read, or says there is none (a pattern
// that matches nothing yet), rather than an empty list.
func fileSDAttr(files []string) slog.Attr {
	if len(files) == 0 {
		return slog.String("file_sd", "no file")
	}
	return slog.String("file_sd", strings.Join(files, ","))
}
