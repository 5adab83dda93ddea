//go:build !linux

package sampler

import (
	"errors"
	"log/slog"
)

// ErrNotLinux is returned by the netlink sources on other systems.
var ErrNotLinux = errors.New("netlink sources need Linux")

// NewNetlinkStats is available on Linux only.
func NewNetlinkStats() (StatsSource, error) { return nil, ErrNotLinux }

// NewNetlinkQdiscs is available on Linux only.
func NewNetlinkQdiscs() (QdiscSource, error) { return nil, ErrNotLinux }

// NewNetlinkLinks is available on Linux only.
func NewNetlinkLinks(string, *slog.Logger) (LinkSource, error) { return nil, ErrNotLinux }
