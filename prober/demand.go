package prober

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrDemandFull is returned by Demand.Ask when the demand holds as many
// targets as it may.
var ErrDemandFull = errors.New("too many scrape-driven probe targets")

// ErrUnknownModule is returned by Modules.Target for a module the
// configuration does not define.
var ErrUnknownModule = errors.New("unknown probe module")

// Demand is the set of targets Prometheus asks for by scraping
// /probe?target=... (blackbox_exporter's multi-target pattern, with a
// continuous prober behind it): a target stays while it is asked for at
// least once every TTL, and at most Max are held, so that the scrape
// configuration, not the exporter's, decides what is probed, and a target
// that left Prometheus' service discovery stops being probed on its own.
// It is safe for concurrent use.
type Demand struct {
	max int
	ttl time.Duration

	mu sync.Mutex
	m  map[string]*demanded // by target name
}

type demanded struct {
	t    Target
	last time.Time
}

// NewDemand returns an empty demand of at most max targets, each kept for
// ttl after the last time it was asked for.
func NewDemand(max int, ttl time.Duration) *Demand {
	return &Demand{max: max, ttl: ttl, m: map[string]*demanded{}}
}

// Ask records that a scrape asked for t at now. It reports whether the set
// of targets changed (t is new, or its definition did), in which case the
// prober's targets must be set again. A new target beyond Max fails with
// ErrDemandFull.
func (d *Demand) Ask(t Target, now time.Time) (changed bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.m[t.Name]; ok {
		e.last = now
		if e.t.equal(t) {
			return false, nil
		}
		e.t = t
		return true, nil
	}
	if len(d.m) >= d.max {
		return false, fmt.Errorf("%w: %d held (--probe.scrape-targets), none idle for %v yet", ErrDemandFull, len(d.m), d.ttl)
	}
	d.m[t.Name] = &demanded{t: t, last: now}
	return true, nil
}

// Drop forgets the target named name (a definition the prober refused).
func (d *Demand) Drop(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, name)
}

// Expire forgets the targets not asked for since now-TTL and returns their
// names, sorted.
func (d *Demand) Expire(now time.Time) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var gone []string
	for name, e := range d.m {
		if now.Sub(e.last) >= d.ttl {
			gone = append(gone, name)
			delete(d.m, name)
		}
	}
	slices.Sort(gone)
	return gone
}

// Targets returns the targets held, sorted by name.
func (d *Demand) Targets() []Target {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Target, 0, len(d.m))
	for _, e := range d.m {
		out = append(out, e.t)
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Has reports whether a target named name is held.
func (d *Demand) Has(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.m[name]
	return ok
}

// Len is the number of targets held.
func (d *Demand) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

// DefaultModule is the module a /probe scrape gets without module=: every
// option at the prober's defaults.
const DefaultModule = "default"

// Modules are the named option sets a /probe scrape picks with module=
// (the probe section's modules: in the configuration file), as
// blackbox_exporter's modules: a target's options but its name, host and
// labels.
type Modules map[string]TargetConfig

// Target returns the target a scrape of /probe?target=host&module=name
// asks for: host with the module's options, named host (host/module for a
// module other than the default one, so that two modules of one host are
// two targets).
func (ms Modules) Target(host, module string) (Target, error) {
	if host == "" {
		return Target{}, invalid("no target given")
	}
	if module == "" {
		module = DefaultModule
	}
	tc, ok := ms[module]
	if !ok && module != DefaultModule {
		names := make([]string, 0, len(ms)+1)
		for n := range ms {
			names = append(names, n)
		}
		if _, ok := ms[DefaultModule]; !ok {
			names = append(names, DefaultModule)
		}
		slices.Sort(names)
		return Target{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownModule, module, strings.Join(names, ", "))
	}
	tc.Host, tc.Name = host, host
	if module != DefaultModule {
		tc.Name = host + "/" + module
	}
	t, err := tc.Target()
	if err != nil {
		return Target{}, err
	}
	return t.normalize()
}

// checkModules validates the modules of a configuration file: no name,
// host or labels (the scrape gives the host; its labels come from
// Prometheus' relabelling), options that make a target.
func checkModules(ms Modules) error {
	for _, name := range slices.Sorted(maps.Keys(ms)) {
		tc := ms[name]
		switch {
		case name == "" || strings.ContainsAny(name, "/ \t"):
			return invalid("module %q: want a name without spaces or /", name)
		case tc.Name != "" || tc.Host != "":
			return invalid("module %q: name and host come from the scrape (target=), not the module", name)
		case len(tc.Labels) > 0:
			return invalid("module %q: labels come from Prometheus' relabelling, not the module", name)
		}
		if _, err := ms.Target("198.18.0.1", name); err != nil {
			return fmt.Errorf("module %q: %w", name, err)
		}
	}
	return nil
}
