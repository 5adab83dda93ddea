package bond

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Refresh re-reads the topology on a change signal (the exporter passes
// the sampler's link-event signal; sampler's tests hold that a link event
// signals), here a fixture naming the new link as a slave.
func TestRefreshOnChangeSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan struct{}, 1)
	m, _ := NewMonitor(MonitorConfig{})
	reads := make(chan struct{}, 16)
	read := func() (*Topology, error) {
		reads <- struct{}{}
		return ReadSysfs("../testdata/sysfs/balance-xor-l34")
	}
	done := make(chan error, 1)
	go func() { done <- m.Refresh(ctx, time.Hour, read, events) }()
	<-reads // the initial read
	events <- struct{}{}
	select {
	case <-reads:
	case <-time.After(5 * time.Second):
		t.Fatal("no re-read within 5 s of a change signal")
	}
	cancel()
	<-done
	if s := m.Snapshot(); len(s.Bonds) != 1 || s.Bonds[0].XmitHashPolicy != "layer3+4" {
		t.Errorf("topology %+v", s.Bonds)
	}
}

// Read in a namespace without bonds: netlink shows none, the fixture's
// bonds are added from sysfs, their churn states from the procfs fixture.
// A procfs tree without net/bonding makes each 802.3ad bond a problem.
func TestReadMergesSysfs(t *testing.T) {
	ns := nstest.New(t)
	read := func(procfs string) *Topology {
		t.Helper()
		var topo *Topology
		if err := ns.Do(func() error {
			var err error
			topo, err = Read("../testdata/sysfs/802.3ad", procfs)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return topo
	}
	topo := read("../testdata/procfs/802.3ad")
	if len(topo.Problems) != 0 || len(topo.Bonds) != 2 || topo.Bonds[0].Source != "sysfs" || len(topo.Bonds[0].Slaves) != 3 {
		t.Fatalf("topology %+v", topo)
	}
	churn := func(b, s int) SlaveLACP {
		if l := topo.Bonds[b].Slaves[s].LACP; l != nil {
			return *l
		}
		return SlaveLACP{}
	}
	// sysfs's aggregator and port states, procfs's churn.
	for _, c := range []struct {
		b, s int
		want SlaveLACP
	}{
		{0, 1, SlaveLACP{AggregatorID: 1, ActorState: 61, PartnerState: 61, StateKnown: true, ActorChurn: "none", PartnerChurn: "none", ActorChurns: 1, PartnerChurns: 1}},
		{0, 2, SlaveLACP{AggregatorID: 3, ActorState: 69, PartnerState: 1, StateKnown: true, ActorChurn: "churned", PartnerChurn: "churned", ActorChurns: 2, PartnerChurns: 2}},
		{1, 0, SlaveLACP{AggregatorID: 2, ActorState: 69, PartnerState: 65, StateKnown: true, ActorChurn: "none", PartnerChurn: "churned", PartnerChurns: 1}},
	} {
		if got := churn(c.b, c.s); got != c.want {
			t.Errorf("%s: %+v, want %+v", topo.Bonds[c.b].Slaves[c.s].Name, got, c.want)
		}
	}

	topo = read(t.TempDir())
	if len(topo.Problems) != 2 || topo.Problems[0].Kind() != "missing_file" || topo.Bonds[0].Slaves[0].LACP.ActorChurn != "" {
		t.Errorf("without net/bonding: problems %v, slave %+v", topo.Problems, topo.Bonds[0].Slaves[0].LACP)
	}
}

// The filtered dumps bondLinks sends, checked with kinds this kernel has
// (it has no bonding driver): a kind filter returns only links of that
// kind, a master filter only that master's ports.
func TestFilteredLinkDumps(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "ip", "link", "add", "name", "nbbr0", "type", "bridge")
	for i := range 20 {
		ns.MustRun(t, "ip", "link", "add", "name", fmt.Sprintf("nbv%da", i), "type", "veth", "peer", "name", fmt.Sprintf("nbv%db", i))
	}
	ns.MustRun(t, "ip", "link", "set", "nbv0a", "master", "nbbr0")
	ns.MustRun(t, "ip", "link", "set", "nbv1a", "master", "nbbr0")
	var bridges, ports []netlink.Link
	if err := ns.Do(func() error {
		info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
		info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
		var err error
		if bridges, err = dumpLinks(info); err != nil {
			return fmt.Errorf("kind filter: %w", err)
		}
		if len(bridges) != 1 {
			return fmt.Errorf("kind filter: %d links, want 1", len(bridges))
		}
		ports, err = dumpLinks(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(bridges[0].Attrs().Index))))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if bridges[0].Attrs().Name != "nbbr0" || bridges[0].Type() != "bridge" {
		t.Errorf("kind filter gave %s (%s), want nbbr0 (bridge)", bridges[0].Attrs().Name, bridges[0].Type())
	}
	var names []string
	for _, l := range ports {
		names = append(names, l.Attrs().Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "nbv0a,nbv1a" {
		t.Errorf("master filter gave %v, want [nbv0a nbv1a]", names)
	}
}

// Without the bonding driver ReadNetlink asks the kernel nothing and finds
// no bond.
func TestReadNetlinkWithoutDriver(t *testing.T) {
	topo, err := ReadNetlink(t.TempDir())
	if err != nil || len(topo.Bonds) != 0 || len(topo.Problems) != 0 {
		t.Errorf("topology %+v, err %v", topo, err)
	}
}
