package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/internal/ratelog"
	"github.com/netburst/netburst/prober"
)

// probeTargets is the prober's target set: the configured targets (flags,
// --config.file, file_sd) and the scrape-driven ones of /probe, which
// /metrics hides (Prometheus scrapes those from /probe, each as its own
// target). Its methods serialise every change of the set.
type probeTargets struct {
	p       *prober.Prober
	metrics *collector.Prober
	demand  *prober.Demand // nil: /probe is off

	mu         sync.Mutex
	configured []prober.Target
	byName     map[string]prober.Target
	modules    prober.Modules
}

// setConfigured replaces the configured targets and modules (start and
// reloads) and sets the prober's targets: the configured ones, and the
// scrape-driven ones whose name no configured target took.
func (s *probeTargets) setConfigured(loaded prober.Loaded) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	byName := make(map[string]prober.Target, len(loaded.Targets))
	for _, t := range loaded.Targets {
		byName[t.DisplayName()] = t
	}
	if err := s.apply(loaded.Targets, byName); err != nil {
		return err
	}
	s.configured, s.byName, s.modules = loaded.Targets, byName, loaded.Modules
	return nil
}

// apply sets the prober's targets; the caller holds s.mu.
func (s *probeTargets) apply(configured []prober.Target, byName map[string]prober.Target) error {
	ts := append([]prober.Target(nil), configured...)
	if s.demand != nil {
		for _, t := range s.demand.Targets() {
			if _, ok := byName[t.Name]; ok {
				s.demand.Drop(t.Name) // now configured: probed as such
				continue
			}
			ts = append(ts, t)
		}
	}
	if err := s.p.SetTargets(ts); err != nil {
		return err
	}
	s.metrics.Retain(s.p.Targets())
	return nil
}

// errConflict is a /probe target whose name a configured target has, with
// other options.
var errConflict = errors.New("a configured target has this name")

// ask records a scrape of /probe for host and module, adding the target if
// it is new, and returns its name.
func (s *probeTargets) ask(host, module string, now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.modules.Target(host, module)
	if err != nil {
		return "", err
	}
	if c, ok := s.byName[t.Name]; ok {
		if !c.Same(t) {
			return "", fmt.Errorf("target %q: %w, with other options (%s)", t.Name, errConflict, "configured targets are served by /metrics")
		}
		return t.Name, nil // a configured target: already probed
	}
	changed, err := s.demand.Ask(t, now)
	if err != nil || !changed {
		return t.Name, err
	}
	if err := s.apply(s.configured, s.byName); err != nil {
		s.demand.Drop(t.Name)
		return "", err
	}
	return t.Name, nil
}

// expire drops the scrape-driven targets not scraped for the TTL.
func (s *probeTargets) expire(now time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := s.demand.Expire(now)
	if len(gone) == 0 {
		return nil, nil
	}
	return gone, s.apply(s.configured, s.byName)
}

// visible is the prober's snapshot without the scrape-driven targets: what
// /metrics serves.
type visible struct{ s *probeTargets }

func (v visible) Snapshot() prober.Snapshot {
	snap := v.s.p.Snapshot()
	if v.s.demand == nil || v.s.demand.Len() == 0 {
		return snap
	}
	kept := snap.Targets[:0:0]
	for _, t := range snap.Targets {
		if !v.s.demand.Has(t.Name) {
			kept = append(kept, t)
		}
	}
	snap.Targets = kept
	return snap
}

// only is the prober's snapshot of one target: what /probe serves.
type only struct {
	p    *prober.Prober
	name string
}

func (o only) Snapshot() prober.Snapshot {
	snap := o.p.Snapshot()
	var ts []prober.TargetStats
	for _, t := range snap.Targets {
		if t.Name == o.name {
			ts = append(ts, t)
		}
	}
	return prober.Snapshot{Targets: ts, LabelNames: snap.LabelNames}
}

// scrapeStatus counts what /probe did.
type scrapeStatus struct {
	refused *prometheus.CounterVec
}

func newScrapeStatus(reg prometheus.Registerer, demand *prober.Demand) *scrapeStatus {
	s := &scrapeStatus{refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netburst_probe_scrape_refused_total",
		Help: "Scrapes of /probe refused, by reason: full (--probe.scrape-targets held), conflict (a configured target has the name, with other options), invalid (no or bad target, unknown module)."}, []string{"reason"})}
	for _, r := range []string{"full", "conflict", "invalid"} {
		s.refused.WithLabelValues(r)
	}
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "netburst_probe_scrape_targets",
		Help: "Targets probed because a scrape of /probe asked for them (each kept for --probe.scrape-target-ttl after its last scrape)."},
		func() float64 { return float64(demand.Len()) })
	reg.MustRegister(s.refused, held)
	return s
}

// probeHandler serves /probe?target=HOST[&module=NAME]: it adds the target
// (probed continuously from then on, every --probe.interval, until no
// scrape asks for it for --probe.scrape-target-ttl) and answers with its
// series, as /metrics would show a configured target's. The first scrape
// of a new target shows it just started.
func probeHandler(s *probeTargets, st *scrapeStatus, logger *slog.Logger) http.Handler {
	limited := ratelog.New(logger, time.Minute)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		name, err := s.ask(q.Get("target"), q.Get("module"), time.Now())
		if err != nil {
			code, reason := http.StatusBadRequest, "invalid"
			switch {
			case errors.Is(err, prober.ErrDemandFull):
				code, reason = http.StatusServiceUnavailable, "full"
			case errors.Is(err, errConflict):
				code, reason = http.StatusConflict, "conflict"
			}
			st.refused.WithLabelValues(reason).Inc()
			limited.Log(slog.LevelWarn, reason, "refused a /probe scrape", "target", q.Get("target"), "module", q.Get("module"), "reason", reason, "err", err)
			http.Error(w, fmt.Sprintf("/probe: %v", err), code)
			return
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(s.metrics.ForSource(only{s.p, name}))
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError), EnableOpenMetrics: true}).ServeHTTP(w, r)
	})
}
