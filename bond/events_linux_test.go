package bond

import (
	"context"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// A link created in the namespace signals LinkEvents, and Refresh re-reads
// the topology on it (here a fixture naming the new link as a slave).
func TestLinkEventsRefresh(t *testing.T) {
	ns := nstest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events <-chan struct{}
	if err := ns.Do(func() error {
		var err error
		events, err = LinkEvents(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	m, _ := NewMonitor(MonitorConfig{})
	reads := make(chan struct{}, 16)
	read := func() (*Topology, error) {
		reads <- struct{}{}
		return ReadSysfs("../testdata/sysfs/balance-xor-l34")
	}
	done := make(chan error, 1)
	go func() { done <- m.Refresh(ctx, time.Hour, read, events) }()
	<-reads // the initial read
	ns.MustRun(t, "ip", "link", "add", "name", "nbd0", "type", "veth", "peer", "name", "nbd1")
	select {
	case <-reads:
	case <-time.After(5 * time.Second):
		t.Fatal("no re-read within 5 s of a link being added")
	}
	cancel()
	<-done
	if s := m.Snapshot(); len(s.Bonds) != 1 || s.Bonds[0].XmitHashPolicy != "layer3+4" {
		t.Errorf("topology %+v", s.Bonds)
	}
}

// Read in a namespace without bonds: netlink shows none, the fixture's
// bonds are added from sysfs.
func TestReadMergesSysfs(t *testing.T) {
	ns := nstest.New(t)
	var topo *Topology
	if err := ns.Do(func() error {
		var err error
		topo, err = Read("../testdata/sysfs/802.3ad")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(topo.Problems) != 0 || len(topo.Bonds) != 2 || topo.Bonds[0].Source != "sysfs" || len(topo.Bonds[0].Slaves) != 3 {
		t.Errorf("topology %+v", topo)
	}
}
