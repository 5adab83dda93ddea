//go:build !linux

package bond

import "github.com/vishvananda/netlink"

// ParseLinkMessages needs the netlink library's Linux-only decoder:
// elsewhere it returns ErrNotSupported (and so does FromMessages).
func ParseLinkMessages(msgs [][]byte) ([]netlink.Link, error) {
	return nil, ErrNotSupported
}

// ReadNetlink needs Linux's rtnetlink: elsewhere it returns
// ErrNotSupported.
func ReadNetlink(sysfsRoot string) (*Topology, error) {
	return nil, ErrNotSupported
}

// Read returns the bonds sysfs under sysfsRoot shows; netlink is Linux-only.
func Read(sysfsRoot, procfsRoot string) (*Topology, error) {
	t, err := ReadSysfs(sysfsRoot)
	if err == nil && procfsRoot != "" {
		ReadProcBonding(t, procfsRoot)
	}
	return t, err
}
