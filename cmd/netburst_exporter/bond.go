package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/netburst/netburst/bond"
	"github.com/netburst/netburst/collector"
	"github.com/netburst/netburst/sampler"
)

// bondFeature watches the host's bonds: topology from netlink and
// --path.sysfs, slave shares and single-slave saturation from the
// sampler's rates.
type bondFeature struct {
	saturation float64
	idle       float64
	refresh    time.Duration
}

func newBondFeature(app *kingpin.Application) feature {
	f := &bondFeature{}
	app.Flag("bond.saturation-threshold", "Slave utilisation (1 s peak rate / link speed) at or above which a bond slave counts as saturated.").Default("0.9").SetValue(&floatValue{"bond.saturation-threshold", &f.saturation})
	app.Flag("bond.idle-threshold", "Bond utilisation (1 s peak / bond speed) at or below which a saturated slave counts as single-slave saturation.").Default("0.6").SetValue(&floatValue{"bond.idle-threshold", &f.idle})
	app.Flag("bond.refresh-interval", "How often bond topology is re-read besides on link events.").Default("30s").SetValue(&durationValue{"bond.refresh-interval", &f.refresh})
	return f
}

func (f *bondFeature) start(env *exporterEnv) (func(context.Context) error, error) {
	// Zero would mean "default" to bond.MonitorConfig: reject it here.
	for _, fl := range []struct {
		name string
		v    float64
	}{{"bond.saturation-threshold", f.saturation}, {"bond.idle-threshold", f.idle}} {
		if !(fl.v > 0 && fl.v <= 1) {
			return nil, usageError{fmt.Errorf("--%s=%v must be in (0, 1]", fl.name, fl.v)}
		}
	}
	if f.refresh <= 0 {
		return nil, usageError{fmt.Errorf("--bond.refresh-interval=%v must be above 0", f.refresh)}
	}
	m, err := bond.NewMonitor(bond.MonitorConfig{SaturationThreshold: f.saturation, IdleThreshold: f.idle, Spikes: env.spikes})
	if err != nil {
		return nil, usageError{fmt.Errorf("--bond.saturation-threshold=%v, --bond.idle-threshold=%v: %w", f.saturation, f.idle, err)}
	}
	env.sampler.AddHook(func(v sampler.View) { m.Update(v.Time(), samplerRates{v}) })
	env.registry.MustRegister(collector.NewBond(m))
	logger := env.logger.With("feature", "bond")
	seen := map[string]bool{}
	read := func() (*bond.Topology, error) {
		t, err := bond.Read(env.sysfs, env.procfs)
		if err != nil {
			logger.Warn("reading bond topology failed", "err", err)
			return nil, err
		}
		// Log each problem once while it lasts.
		now := map[string]bool{}
		for _, p := range t.Problems {
			msg := p.Error()
			now[msg] = true
			if !seen[msg] {
				logger.Warn("bond topology problem", "kind", p.Kind(), "err", msg)
			}
		}
		seen = now
		return t, nil
	}
	return func(ctx context.Context) error {
		// The sampler's link-event subscription is the process's only one.
		events, release := env.watchLinks()
		defer release()
		if events == nil {
			logger.Warn("no link events (the link table is not read from netlink): bond topology refreshed periodically only", "interval", f.refresh)
		}
		if err := m.Refresh(ctx, f.refresh, read, events); !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}, nil
}

// samplerRates adapts the view a sampler hook receives to bond.Rates, so
// that the bond monitor is updated after every sample. It lives here, with
// the wiring, so that bond imports no sibling.
type samplerRates struct{ view sampler.View }

// Lookup implements bond.Rates.
func (r samplerRates) Lookup(dev string) (bond.DeviceRates, bool) {
	d, ok := r.view.Lookup(dev)
	if !ok {
		return bond.DeviceRates{}, false
	}
	out := bond.DeviceRates{SpeedBytes: d.SpeedBytes}
	// In the order of bond.Directions, which is the sampler's.
	for dir, dr := range [...]*bond.DirRates{&out.Receive, &out.Transmit} {
		dr.Rate = d.Rate[dir]
		for w := range bond.Windows {
			dr.Peak[w] = d.Peak[dir][w]
			dr.Bytes[w] = float64(d.WindowBytes[dir][w])
		}
	}
	return out, true
}
