package bond

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReadSysfsFixtures(t *testing.T) {
	cases := []struct {
		dir  string
		want []Bond
	}{
		{"active-backup", []Bond{{
			Name: "bond0", Mode: "active-backup", XmitHashPolicy: "layer2", MIIMon: 100 * time.Millisecond, ActiveSlave: "eth0", Source: "sysfs",
			Slaves: []Slave{
				{Name: "eth0", State: "active", MIIStatus: "up", SpeedBytes: 1.25e9},
				{Name: "eth1", State: "backup", MIIStatus: "up", SpeedBytes: 1.25e9, LinkFailureCount: 2},
			},
		}}},
		{"balance-xor-l34", []Bond{{
			Name: "bond0", Mode: "balance-xor", XmitHashPolicy: "layer3+4", MIIMon: 100 * time.Millisecond, Source: "sysfs",
			Slaves: []Slave{
				{Name: "eth0", State: "active", MIIStatus: "up", SpeedBytes: 125e6},
				{Name: "eth1", State: "active", MIIStatus: "up", SpeedBytes: 125e6},
			},
		}}},
		{"802.3ad", []Bond{
			{
				Name: "bond0", Mode: "802.3ad", XmitHashPolicy: "layer2+3", MIIMon: 100 * time.Millisecond, Source: "sysfs",
				Aggregator: &Aggregator{ID: 1, Ports: 2, ActorKey: 15, PartnerKey: 32781, PartnerMAC: "52:54:00:1c:aa:01", KeysKnown: true},
				Slaves: []Slave{
					{Name: "ens1f0", State: "active", MIIStatus: "up", SpeedBytes: 3.125e9, LACP: &SlaveLACP{AggregatorID: 1, ActorState: 61, PartnerState: 61, StateKnown: true}},
					{Name: "ens1f1", State: "active", MIIStatus: "up", SpeedBytes: 3.125e9, QueueID: 2, LACP: &SlaveLACP{AggregatorID: 1, ActorState: 61, PartnerState: 61, StateKnown: true}},
					// speed -1: unknown while the link is down; its port
					// sits in an aggregator of its own.
					{Name: "ens2f0", State: "active", MIIStatus: "down", LinkFailureCount: 7, LACP: &SlaveLACP{AggregatorID: 3, ActorState: 69, PartnerState: 1, StateKnown: true}},
				},
			},
			{
				// As an unprivileged reader sees it: no keys, no partner MAC.
				Name: "bond1", Mode: "802.3ad", XmitHashPolicy: "layer2+3", MIIMon: 100 * time.Millisecond, Source: "sysfs",
				Aggregator: &Aggregator{ID: 2, Ports: 1},
				Slaves:     []Slave{{Name: "ens3", State: "active", MIIStatus: "up", SpeedBytes: 3.125e9, LACP: &SlaveLACP{AggregatorID: 2, ActorState: 69, PartnerState: 65, StateKnown: true}}},
			},
		}},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			topo, err := ReadSysfs(filepath.Join("..", "testdata", "sysfs", c.dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(topo.Problems) != 0 {
				t.Errorf("problems: %v", topo.Problems)
			}
			if !reflect.DeepEqual(topo.Bonds, c.want) {
				t.Errorf("bonds:\n got %s\nwant %s", dumpBonds(topo.Bonds), dumpBonds(c.want))
			}
		})
	}
}

func TestReadSysfsBroken(t *testing.T) {
	topo, err := ReadSysfs(filepath.Join("..", "testdata", "sysfs", "broken"))
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Bonds) != 1 {
		t.Fatalf("bonds: %+v", topo.Bonds)
	}
	b := topo.Bonds[0]
	if b.Mode != "unknown" || b.XmitHashPolicy != "unknown" || b.MIIMon != 0 || len(b.Slaves) != 1 || b.Slaves[0].Name != "eth0" {
		t.Errorf("bond: %+v", b)
	}
	kinds := map[string]int{}
	for _, p := range topo.Problems {
		kinds[p.Kind()]++
	}
	// Unknown mode; missing xmit_hash_policy, eth0's queue_id; ghost0 missing;
	// miimon "abc" and link_failure_count "many" malformed.
	want := map[string]int{"unknown_mode": 1, "missing_file": 2, "missing_slave": 1, "bad_value": 2}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("problem kinds %v, want %v; problems: %v", kinds, want, topo.Problems)
	}
	var p Problem
	for _, pr := range topo.Problems {
		if errors.Is(pr, ErrMissingSlave) {
			p = pr
		}
	}
	if p.Device != "ghost0" || p.Error() != "bond bond0 slave ghost0: listed slave does not exist: ghost0" {
		t.Errorf("missing slave problem: %+v %q", p, p.Error())
	}
}

func TestReadSysfsNoBonding(t *testing.T) {
	topo, err := ReadSysfs(t.TempDir())
	if err != nil || len(topo.Bonds) != 0 || len(topo.Problems) != 0 {
		t.Fatalf("%+v %v", topo, err)
	}
	// bonding_masters present but unreadable as a file: an error.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "class", "net", "bonding_masters"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSysfs(root); err == nil {
		t.Error("want an error for a bonding_masters directory")
	}
}

func TestMerge(t *testing.T) {
	nl := &Topology{Bonds: []Bond{{Name: "bond1", Source: "netlink"}}}
	fs := &Topology{
		Bonds:    []Bond{{Name: "bond0", Source: "sysfs"}, {Name: "bond1", Source: "sysfs"}},
		Problems: []Problem{{Bond: "bond1", Err: ErrBadValue}, {Bond: "bond0", Err: ErrMissingFile}},
	}
	nl.Merge(fs)
	if len(nl.Bonds) != 2 || nl.Bonds[0].Name != "bond0" || nl.Bonds[1].Source != "netlink" {
		t.Errorf("bonds %+v", nl.Bonds)
	}
	if len(nl.Problems) != 1 || nl.Problems[0].Bond != "bond0" {
		t.Errorf("problems %+v", nl.Problems)
	}
}

// Names listed twice would give duplicate series: each is reported once.
func TestReadSysfsDuplicates(t *testing.T) {
	root := t.TempDir()
	for name, content := range map[string]string{
		"bonding_masters":          "bond0 bond0",
		"bond0/bonding/mode":       "balance-xor 2",
		"bond0/bonding/slaves":     "eth0 eth0",
		"eth0/bonding_slave/state": "active",
	} {
		p := filepath.Join(root, "class", "net", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	topo, err := ReadSysfs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Bonds) != 1 || len(topo.Bonds[0].Slaves) != 1 {
		t.Errorf("bonds %+v", topo.Bonds)
	}
	dups := 0
	for _, p := range topo.Problems {
		if strings.Contains(p.Error(), "twice") {
			dups++
		}
	}
	if dups != 2 {
		t.Errorf("problems %v", topo.Problems)
	}
}

// dumpBonds prints bonds with what their pointers point to.
func dumpBonds(bonds []Bond) string {
	var b strings.Builder
	for _, bd := range bonds {
		fmt.Fprintf(&b, "\n  %s %s %s aggregator %+v", bd.Name, bd.Mode, bd.XmitHashPolicy, bd.Aggregator)
		for _, s := range bd.Slaves {
			l := s.LACP
			s.LACP = nil
			fmt.Fprintf(&b, "\n    %+v lacp %+v", s, l)
		}
	}
	return b.String()
}
