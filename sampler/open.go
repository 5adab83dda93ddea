package sampler

import (
	"errors"
	"log/slog"
)

// NetlinkSources are the three netlink readers of one network namespace.
type NetlinkSources struct {
	Stats  StatsSource
	Links  LinkSource
	Qdiscs QdiscSource
}

// OpenNetlinkSources opens the stats, link and qdisc sources in the calling
// thread's network namespace (link speeds from sysfsRoot), or none of them.
func OpenNetlinkSources(sysfsRoot string, logger *slog.Logger) (*NetlinkSources, error) {
	var n NetlinkSources
	var err error
	if n.Stats, err = NewNetlinkStats(); err != nil {
		return nil, err
	}
	if n.Links, err = NewNetlinkLinks(sysfsRoot, logger); err != nil {
		n.Close()
		return nil, err
	}
	if n.Qdiscs, err = NewNetlinkQdiscs(); err != nil {
		n.Close()
		return nil, err
	}
	return &n, nil
}

// Close closes whichever sources are open.
func (n *NetlinkSources) Close() error {
	var errs []error
	for _, c := range []interface{ Close() error }{n.Stats, n.Links, n.Qdiscs} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
