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
// (0 unknown), which netlink does not carry; nil means unknown. The
// netlink library does not decode IFLA_BOND_AD_INFO, so 802.3ad bonds get
// no Aggregator here: FromMessages reads it from the raw messages.
func FromLinks(links []netlink.Link, speed func(dev string) float64) *Topology {
	return fromLinks(links, speed, nil)
}

// FromMessages builds the topology from RTM_NEWLINK message bodies, as
// ParseLinkMessages and FromLinks do, with each 802.3ad bond's active
// aggregator from its IFLA_BOND_AD_INFO (ID 0 where the kernel sent none:
// the bond has no active aggregator). A malformed message is an error
// wrapping ErrBadValue.
func FromMessages(msgs [][]byte, speed func(dev string) float64) (*Topology, error) {
	links, err := ParseLinkMessages(msgs)
	if err != nil {
		return nil, err
	}
	ad := map[int]Aggregator{}
	for i, m := range msgs {
		a, ok, err := ParseADInfo(m)
		if err != nil {
			return nil, fmt.Errorf("link message %d: %w", i, err)
		}
		if ok {
			ad[links[i].Attrs().Index] = a
		}
	}
	return fromLinks(links, speed, ad), nil
}

func fromLinks(links []netlink.Link, speed func(dev string) float64, ad map[int]Aggregator) *Topology {
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
		lacp := b.Mode == "802.3ad"
		if lacp && ad != nil {
			a := ad[nb.Index] // the zero Aggregator: none active
			b.Aggregator = &a
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
			if lacp {
				// The kernel sends the three IFLA_BOND_SLAVE_AD_* only for
				// a port attached to an aggregator.
				s.LACP = &SlaveLACP{AggregatorID: bs.AggregatorId}
				if bs.AggregatorId != 0 {
					s.LACP.ActorState, s.LACP.PartnerState, s.LACP.StateKnown = bs.AdActorOperPortState, uint8(bs.AdPartnerOperPortState), true
				}
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
