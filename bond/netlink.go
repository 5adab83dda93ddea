package bond

import (
	"fmt"
	"sort"
	"time"

	"github.com/vishvananda/netlink"
)

// FromLinks builds the topology from a netlink link list: every
// netlink.Bond with the links whose master it is and whose slave data is
// bond slave data. speed gives a device's link speed in bytes per second
// (0 unknown), which netlink does not carry; nil means unknown.
func FromLinks(links []netlink.Link, speed func(dev string) float64) *Topology {
	t := &Topology{}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	for _, l := range links {
		nb, ok := l.(*netlink.Bond)
		if !ok {
			continue
		}
		b := Bond{Name: nb.Name, Mode: "unknown", XmitHashPolicy: "unknown", Source: "netlink"}
		if name := ModeName(int(nb.Mode)); name != "" {
			b.Mode = name
		} else {
			t.Problems = append(t.Problems, Problem{Bond: b.Name, Device: b.Name, Err: fmt.Errorf("%w %d", ErrUnknownMode, int(nb.Mode))})
		}
		if p := int(nb.XmitHashPolicy); p >= 0 && p < len(policyNames) {
			b.XmitHashPolicy = policyNames[p]
		} else if p >= 0 {
			t.Problems = append(t.Problems, Problem{Bond: b.Name, Device: b.Name, Err: fmt.Errorf("%w: xmit_hash_policy %d", ErrBadValue, p)})
		}
		if nb.Miimon > 0 {
			b.MIIMon = time.Duration(nb.Miimon) * time.Millisecond
		}
		if nb.ActiveSlave > 0 {
			b.ActiveSlave = names[nb.ActiveSlave]
		}
		for _, sl := range links {
			a := sl.Attrs()
			if a.MasterIndex != nb.Index || a.Index == nb.Index {
				continue
			}
			bs, ok := a.Slave.(*netlink.BondSlave)
			if !ok {
				t.Problems = append(t.Problems, Problem{Bond: b.Name, Device: a.Name, Err: fmt.Errorf("%w: enslaved device without bond slave data", ErrBadValue)})
				continue
			}
			s := Slave{Name: a.Name, State: "unknown", MIIStatus: "unknown", LinkFailureCount: uint64(bs.LinkFailureCount), QueueID: bs.QueueId}
			switch bs.State {
			case netlink.BondStateActive:
				s.State = "active"
			case netlink.BondStateBackup:
				s.State = "backup"
			default:
				t.Problems = append(t.Problems, Problem{Bond: b.Name, Device: a.Name, Err: fmt.Errorf("%w: slave state %d", ErrBadValue, bs.State)})
			}
			if int(bs.MiiStatus) < len(miiNames) {
				s.MIIStatus = miiNames[bs.MiiStatus]
			} else {
				t.Problems = append(t.Problems, Problem{Bond: b.Name, Device: a.Name, Err: fmt.Errorf("%w: mii status %d", ErrBadValue, bs.MiiStatus)})
			}
			if speed != nil {
				s.SpeedBytes = speed(a.Name)
			}
			b.Slaves = append(b.Slaves, s)
		}
		t.Bonds = append(t.Bonds, b)
	}
	sort.Slice(t.Bonds, func(i, j int) bool { return t.Bonds[i].Name < t.Bonds[j].Name })
	return t
}

// miiNames are the sysfs names of BOND_LINK_UP, _FAIL, _DOWN, _BACK.
var miiNames = [...]string{"up", "going down", "down", "going back"}
