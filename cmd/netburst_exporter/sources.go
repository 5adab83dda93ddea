package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/netburst/netburst/sampler"
)

// kernelSources are the sampler's readers of the kernel.
type kernelSources struct {
	stats  sampler.StatsSource
	links  sampler.LinkSource
	qdiscs sampler.QdiscSource
}

// openSources opens the counter, link and qdisc readers. With source
// "auto", counters come from RTM_GETSTATS unless the kernel refuses it (or
// the link table cannot be read to name its interfaces), and from
// /proc/net/dev then; the choice is logged and exported in
// netburst_sampler_source_info.
func openSources(o *options, logger *slog.Logger) (*kernelSources, error) {
	ks := &kernelSources{}
	links, linkErr := sampler.NewNetlinkLinks(o.sysfs, logger)
	if linkErr == nil {
		ks.links = links
	}
	if o.source != "procfs" {
		stats, err := sampler.NewNetlinkStats()
		switch {
		case err == nil && linkErr == nil:
			ks.stats = stats
		case o.source == "netlink":
			if err == nil {
				stats.Close()
				err = linkErr
			}
			ks.close()
			return nil, fmt.Errorf("--sampler.source=netlink: %w", err)
		default:
			if err == nil {
				stats.Close()
				err = linkErr
			}
			level := slog.LevelWarn
			if errors.Is(err, sampler.ErrUnsupported) {
				level = slog.LevelInfo
			}
			logger.Log(context.Background(), level, "netlink counters unavailable; falling back to /proc/net/dev", "err", err)
		}
	}
	if ks.stats == nil {
		stats, err := sampler.NewProcNetDev(o.procfs)
		if err != nil {
			ks.close()
			return nil, fmt.Errorf("no counter source: %w", err)
		}
		ks.stats = stats
	}
	if q, err := sampler.NewNetlinkQdiscs(); err == nil {
		ks.qdiscs = q
	} else {
		logger.Warn("qdisc statistics unavailable", "err", err)
	}
	logger.Info("sampler sources", "counters", ks.stats.Name(), "links", ks.links != nil, "qdiscs", ks.qdiscs != nil)
	return ks, nil
}

// watchLinks returns the link table's change signal, nil where the table
// follows no events.
func (ks *kernelSources) watchLinks() (<-chan struct{}, func()) {
	if w, ok := ks.links.(sampler.LinkWatcher); ok {
		return w.Watch()
	}
	return nil, func() {}
}

func (ks *kernelSources) close() {
	if ks.stats != nil {
		ks.stats.Close()
	}
	if ks.links != nil {
		ks.links.Close()
	}
	if ks.qdiscs != nil {
		ks.qdiscs.Close()
	}
}
