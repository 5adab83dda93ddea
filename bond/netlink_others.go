//go:build !linux

package bond

import (
	"errors"
	"fmt"
)

// ReadNetlink is only implemented on Linux.
func ReadNetlink(sysfsRoot string) (*Topology, error) {
	return nil, fmt.Errorf("bond: netlink: %w", errors.ErrUnsupported)
}

// Read returns the bonds sysfs under sysfsRoot shows; netlink is Linux-only.
func Read(sysfsRoot, procfsRoot string) (*Topology, error) {
	t, err := ReadSysfs(sysfsRoot)
	if err == nil && procfsRoot != "" {
		ReadProcBonding(t, procfsRoot)
	}
	return t, err
}
