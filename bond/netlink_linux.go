package bond

import (
	"fmt"
	"path/filepath"

	"github.com/vishvananda/netlink"
)

// ReadNetlink lists the links over rtnetlink and returns their bonds, with
// slave speeds read from sysfsRoot (netlink does not carry them).
func ReadNetlink(sysfsRoot string) (*Topology, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("bond: list links: %w", err)
	}
	net := filepath.Join(sysfsRoot, "class", "net")
	return FromLinks(links, func(dev string) float64 { return readSpeed(net, dev) }), nil
}

// ParseLinkMessages decodes RTM_NEWLINK message bodies (struct ifinfomsg
// and its attributes, as an RTM_GETLINK dump returns them) into links. A
// malformed message is an error wrapping ErrBadValue, never a panic, even
// where the netlink library would index past a short attribute.
func ParseLinkMessages(msgs [][]byte) (links []netlink.Link, err error) {
	for i, m := range msgs {
		l, err := deserializeLink(m)
		if err != nil {
			return links, fmt.Errorf("%w: link message %d: %w", ErrBadValue, i, err)
		}
		links = append(links, l)
	}
	return links, nil
}

func deserializeLink(m []byte) (l netlink.Link, err error) {
	defer func() {
		if r := recover(); r != nil {
			l, err = nil, fmt.Errorf("malformed attributes: %v", r)
		}
	}()
	if len(m) < 16 {
		return nil, fmt.Errorf("%d bytes, shorter than ifinfomsg", len(m))
	}
	return netlink.LinkDeserialize(nil, m)
}

// Read returns the host's bonds: netlink's view, completed with the bonds
// that only sysfs under sysfsRoot shows (fixture trees standing in for a
// kernel without bonding). A netlink failure becomes a Problem and sysfs
// is used alone.
func Read(sysfsRoot string) (*Topology, error) {
	t, nlErr := ReadNetlink(sysfsRoot)
	if nlErr != nil {
		t = &Topology{Problems: []Problem{{Bond: "", Err: nlErr}}}
	}
	s, err := ReadSysfs(sysfsRoot)
	if err != nil {
		return t, err
	}
	t.Merge(s)
	return t, nil
}
