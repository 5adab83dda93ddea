package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/prober"
)

// fileSDPoll is how often file_sd files are checked for changes.
const fileSDPoll = 5 * time.Second

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
}

func newProbeFeature(app *kingpin.Application) feature {
	f := &probeFeature{}
	app.Flag("probe.target", "ICMP echo target, name=address or address (repeatable; a name is re-resolved periodically).").StringsVar(&f.targets)
	app.Flag("probe.file-sd", "Prometheus file_sd file (JSON or YAML; glob patterns allowed; repeatable) listing probe targets; re-read when it changes.").StringsVar(&f.fileSD)
	app.Flag("probe.interval", "Time between two probes of a target.").Default("100ms").SetValue(&durationValue{"probe.interval", &f.interval})
	app.Flag("probe.timeout", "Time after which an unanswered probe is lost; later replies count as late.").Default("1s").SetValue(&durationValue{"probe.timeout", &f.timeout})
	app.Flag("probe.spike-threshold", "RTT at or above which (and at or above k x the rolling median) a reply is a spike.").Default("10ms").SetValue(&durationValue{"probe.spike-threshold", &f.spikeThreshold})
	app.Flag("probe.spike-factor", "k: an RTT must also reach k x the target's rolling median to be a spike.").Default("5").Float64Var(&f.spikeFactor)
	app.Flag("probe.mode", "ICMP socket kind: auto (datagram where net.ipv4.ping_group_range allows, else raw), datagram or raw.").Default("auto").EnumVar(&f.mode, "auto", "datagram", "raw")
	app.Flag("config.file", "YAML configuration file (its probe section lists targets and file_sd files); re-read on SIGHUP and POST /-/reload.").Default("").StringVar(&f.configFile)
	return f
}

// probeConfig is the probe section of --config.file.
type probeConfig struct {
	Targets []targetConfig `yaml:"targets"`
	FileSD  []string       `yaml:"file_sd"`
}

// targetConfig is one target of the configuration file.
type targetConfig struct {
	Name      string `yaml:"name"`
	Host      string `yaml:"host"`
	Network   string `yaml:"network"`
	Source    string `yaml:"source"`
	Interface string `yaml:"interface"`
	TOS       int    `yaml:"tos"`
	TTL       int    `yaml:"ttl"`
	Size      int    `yaml:"size"`
	Interval  string `yaml:"interval"`
}

func (tc targetConfig) target() (prober.Target, error) {
	t := prober.Target{Name: tc.Name, Host: tc.Host, Network: tc.Network, Interface: tc.Interface, TOS: tc.TOS, TTL: tc.TTL, Size: tc.Size}
	if tc.Source != "" {
		a, err := netip.ParseAddr(tc.Source)
		if err != nil {
			return t, fmt.Errorf("target %q: source %q: %w", tc.Host, tc.Source, err)
		}
		t.Source = a
	}
	if tc.Interval != "" {
		d, err := time.ParseDuration(tc.Interval)
		if err != nil || d <= 0 {
			return t, fmt.Errorf("target %q: interval %q: want a positive duration", tc.Host, tc.Interval)
		}
		t.Interval = d
	}
	return t, nil
}

// readProbeConfig reads the probe section of the YAML file; other
// top-level sections are left to their owners.
func readProbeConfig(path string) (probeConfig, bool, error) {
	var doc struct {
		Probe *probeConfig `yaml:"probe"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return probeConfig{}, false, fmt.Errorf("config file: %w", err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return probeConfig{}, false, fmt.Errorf("config file %s: %w", path, err)
	}
	if doc.Probe == nil {
		return probeConfig{}, false, nil
	}
	return *doc.Probe, true, nil
}

// fileSDGroup is one target group of a Prometheus file_sd file.
type fileSDGroup struct {
	Targets []string          `json:"targets" yaml:"targets"`
	Labels  map[string]string `json:"labels" yaml:"labels"`
}

// readFileSD reads a file_sd file. Each target is an address or name,
// optionally with a port (ignored, so that lists made for other probers
// can be reused). Labels set per-group options: name (single-target groups
// only), network, source, interface, tos, ttl, size, interval.
func readFileSD(path string) ([]prober.Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("file_sd: %w", err)
	}
	var groups []fileSDGroup
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		err = json.Unmarshal(b, &groups)
	case ".yml", ".yaml":
		err = yaml.Unmarshal(b, &groups)
	default:
		return nil, fmt.Errorf("file_sd %s: want a .json, .yml or .yaml file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("file_sd %s: %w", path, err)
	}
	var out []prober.Target
	for gi, g := range groups {
		tc := targetConfig{Network: g.Labels["network"], Source: g.Labels["source"], Interface: g.Labels["interface"], Interval: g.Labels["interval"]}
		for _, k := range []struct {
			key string
			v   *int
		}{{"tos", &tc.TOS}, {"ttl", &tc.TTL}, {"size", &tc.Size}} {
			if s, ok := g.Labels[k.key]; ok {
				n, err := strconv.Atoi(s)
				if err != nil {
					return nil, fmt.Errorf("file_sd %s: group %d: label %s=%q: want an integer", path, gi, k.key, s)
				}
				*k.v = n
			}
		}
		for _, addr := range g.Targets {
			host := addr
			if h, _, err := net.SplitHostPort(addr); err == nil {
				host = h
			}
			tc.Host, tc.Name = host, addr
			if n := g.Labels["name"]; n != "" && len(g.Targets) == 1 {
				tc.Name = n
			}
			t, err := tc.target()
			if err != nil {
				return nil, fmt.Errorf("file_sd %s: group %d: %w", path, gi, err)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// load gathers every target: flags, configuration file, file_sd files.
// It returns whether the prober is configured at all.
func (f *probeFeature) load() ([]prober.Target, []string, bool, error) {
	var ts []prober.Target
	for _, s := range f.targets {
		t, err := prober.ParseTarget(s)
		if err != nil {
			return nil, nil, false, fmt.Errorf("--probe.target: %w", err)
		}
		ts = append(ts, t)
	}
	patterns := append([]string(nil), f.fileSD...)
	configured := len(ts) > 0 || len(patterns) > 0
	if f.configFile != "" {
		pc, ok, err := readProbeConfig(f.configFile)
		if err != nil {
			return nil, nil, false, err
		}
		configured = configured || ok
		for _, tc := range pc.Targets {
			t, err := tc.target()
			if err != nil {
				return nil, nil, false, fmt.Errorf("config file %s: probe: %w", f.configFile, err)
			}
			ts = append(ts, t)
		}
		patterns = append(patterns, pc.FileSD...)
	}
	var files []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, nil, false, fmt.Errorf("file_sd pattern %q: %w", p, err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	for _, file := range files {
		more, err := readFileSD(file)
		if err != nil {
			return nil, nil, false, err
		}
		ts = append(ts, more...)
	}
	ts, err := dedupe(ts)
	return ts, files, configured, err
}

// dedupe drops exact repeats (the same target listed by two sources) and
// rejects two different targets under one name.
func dedupe(ts []prober.Target) ([]prober.Target, error) {
	seen := map[string]prober.Target{}
	out := ts[:0]
	for _, t := range ts {
		name := t.Name
		if name == "" {
			name = t.Host
		}
		if prev, ok := seen[name]; ok {
			if prev != t {
				return nil, fmt.Errorf("probe target name %q defined twice, differently: %w", name, prober.ErrInvalidConfig)
			}
			continue
		}
		seen[name] = t
		out = append(out, t)
	}
	return out, nil
}

func (f *probeFeature) start(env *exporterEnv) (func(context.Context) error, error) {
	ts, files, configured, err := f.load()
	if err != nil {
		return nil, usageError{err}
	}
	if !configured {
		return nil, nil // no probe target unless configured
	}
	// Zero would mean "default" to prober.Config: reject it here.
	for _, fl := range []struct {
		name string
		v    time.Duration
	}{{"probe.interval", f.interval}, {"probe.timeout", f.timeout}, {"probe.spike-threshold", f.spikeThreshold}} {
		if fl.v <= 0 {
			return nil, usageError{fmt.Errorf("--%s=%v must be above 0", fl.name, fl.v)}
		}
	}
	if f.spikeFactor < 1 {
		return nil, usageError{fmt.Errorf("--probe.spike-factor=%v must be 1 or more", f.spikeFactor)}
	}
	mode, err := prober.ParseMode(f.mode)
	if err != nil {
		return nil, usageError{err}
	}
	logger := env.logger.With("feature", "probe")
	metrics := collector.NewProber()
	p, err := prober.New(prober.Config{
		Interval: f.interval, Timeout: f.timeout, Mode: mode,
		SpikeThreshold: f.spikeThreshold, SpikeFactor: f.spikeFactor,
		Observer: metrics, Sink: env.spikes, Logger: logger,
	})
	if err != nil {
		return nil, usageError{fmt.Errorf("--probe.*: %w", err)}
	}
	if err := p.SetTargets(ts); err != nil {
		return nil, usageError{err}
	}
	metrics.SetSource(p)
	env.registry.MustRegister(metrics)
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
	logger.Info("probing", "targets", len(ts), "interval", f.interval, "timeout", f.timeout, "mode", mode, "file_sd", files)

	var mu sync.Mutex
	reload := func(why string) error {
		mu.Lock()
		defer mu.Unlock()
		ts, files, _, err := f.load()
		if err == nil {
			// SetTargets also has the prober re-check its device-bound
			// sockets, and a reload re-checks them even when it failed:
			// SIGHUP is what a user tries first when a vif came back.
			err = p.SetTargets(ts)
		}
		p.LinkChanged()
		if err != nil {
			st.failed()
			return fmt.Errorf("probe targets (%s): %w", why, err)
		}
		metrics.Retain(p.Targets())
		st.succeeded()
		logger.Info("probe targets reloaded", "why", why, "targets", len(ts), "file_sd", files)
		return nil
	}
	env.reloaders = append(env.reloaders, func() error { return reload("reload") })
	return func(ctx context.Context) error {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			f.watchFileSD(ctx, logger, reload)
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

// watchFileSD re-reads the targets when a file_sd file (or the set of
// files its patterns match) changes. It polls, so it works on any file
// system and across atomic renames.
func (f *probeFeature) watchFileSD(ctx context.Context, logger *slog.Logger, reload func(string) error) {
	t := time.NewTicker(fileSDPoll)
	defer t.Stop()
	last := f.fileSDState()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := f.fileSDState()
		if now == last {
			continue
		}
		last = now
		if err := reload("file_sd changed"); err != nil {
			logger.Error("reload after a file_sd change failed; keeping the previous targets", "err", err)
		}
	}
}

// fileSDState summarises the file_sd files: names, sizes, modification
// times.
func (f *probeFeature) fileSDState() string {
	patterns := append([]string(nil), f.fileSD...)
	if f.configFile != "" {
		if pc, _, err := readProbeConfig(f.configFile); err == nil {
			patterns = append(patterns, pc.FileSD...)
		}
	}
	var b strings.Builder
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		sort.Strings(m)
		for _, file := range m {
			fi, err := os.Stat(file)
			if err != nil {
				fmt.Fprintf(&b, "%s:err;", file)
				continue
			}
			fmt.Fprintf(&b, "%s:%d:%d;", file, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
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
