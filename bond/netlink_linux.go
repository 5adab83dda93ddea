package bond

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ReadNetlink asks rtnetlink for the namespace's bonds and their slaves and
// returns them, with slave speeds read from sysfsRoot (netlink does not
// carry them). Without the bonding driver (no sysfsRoot/module/bonding)
// there can be no bond and the kernel is not asked at all.
func ReadNetlink(sysfsRoot string) (*Topology, error) {
	if _, err := os.Stat(filepath.Join(sysfsRoot, "module", "bonding")); errors.Is(err, fs.ErrNotExist) {
		return &Topology{}, nil
	}
	msgs, err := bondLinks()
	if err != nil {
		return nil, fmt.Errorf("bond: list links: %w", err)
	}
	net := filepath.Join(sysfsRoot, "class", "net")
	t, err := FromMessages(msgs, func(dev string) float64 { return readSpeed(net, dev) })
	if err != nil {
		return nil, fmt.Errorf("bond: %w", err)
	}
	return t, nil
}

// bondLinks lists the bonds with one RTM_GETLINK dump filtered by kind and
// each bond's slaves with one filtered by master (Linux 4.19 and later),
// rather than every link: on a hypervisor with a thousand vifs that is a
// few messages instead of a thousand parsed links at every refresh. A
// kernel that does not filter sends every link, which FromMessages sorts
// out. It returns the raw messages: the netlink library drops
// IFLA_BOND_AD_INFO.
func bondLinks() ([][]byte, error) {
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bond"))
	msgs, bonds, err := dumpMessages(info)
	if err != nil {
		return nil, err
	}
	for _, l := range bonds {
		if _, ok := l.(*netlink.Bond); !ok {
			return msgs, nil // not filtered: these are all the links
		}
	}
	for _, b := range bonds {
		smsgs, slaves, err := dumpMessages(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(b.Attrs().Index))))
		if err != nil {
			return nil, err
		}
		for i, l := range slaves {
			if l.Attrs().MasterIndex == b.Attrs().Index {
				msgs = append(msgs, smsgs[i])
			}
		}
	}
	return msgs, nil
}

// dumpLinks is an RTM_GETLINK dump with one filter attribute.
func dumpLinks(filter *nl.RtAttr) ([]netlink.Link, error) {
	_, links, err := dumpMessages(filter)
	return links, err
}

// dumpMessages is dumpLinks with the raw messages beside their links.
func dumpMessages(filter *nl.RtAttr) ([][]byte, []netlink.Link, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(filter)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		// An interrupted dump is retried at the next refresh.
		return nil, nil, err
	}
	links, err := ParseLinkMessages(msgs)
	return msgs, links, err
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
// kernel without bonding), and for 802.3ad bonds with
// procfsRoot/net/bonding/<bond> (ReadProcBonding; skipped when procfsRoot
// is ""). A netlink failure becomes a Problem and sysfs is used alone.
func Read(sysfsRoot, procfsRoot string) (*Topology, error) {
	t, nlErr := ReadNetlink(sysfsRoot)
	if nlErr != nil {
		t = &Topology{Problems: []Problem{{Bond: "", Err: nlErr}}}
	}
	s, err := ReadSysfs(sysfsRoot)
	if err != nil {
		return t, err
	}
	t.Merge(s)
	if procfsRoot != "" {
		ReadProcBonding(t, procfsRoot)
	}
	return t, nil
}
