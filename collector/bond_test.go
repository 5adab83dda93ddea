package collector

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/netburst/netburst/bond"
)

type fakeBondSource bond.Snapshot

func (f fakeBondSource) Snapshot() bond.Snapshot { return bond.Snapshot(f) }

func TestBondCollector(t *testing.T) {
	src := fakeBondSource{
		Bonds: []bond.Bond{{Name: "bond0", Mode: "balance-xor", XmitHashPolicy: "layer3+4", Slaves: []bond.Slave{
			{Name: "eth0", State: "active", MIIStatus: "up", LinkFailureCount: 2},
			{Name: "eth1", State: "active", MIIStatus: "down"},
		}}},
		Shares: []bond.Share{
			{Bond: "bond0", Device: "eth0", Direction: "transmit", Window: "1s", Ratio: 0.97},
			{Bond: "bond0", Device: "eth1", Direction: "transmit", Window: "1s", Ratio: 0.03},
		},
		Saturations: []bond.Saturation{
			{Bond: "bond0", Device: "eth0", Direction: "transmit", Intervals: 3},
			{Bond: "bond0", Device: "eth1", Direction: "transmit"},
		},
		ProblemsTotal: map[string]uint64{"missing_slave": 4},
		Problems:      map[string]int{"missing_slave": 1},
	}
	want := `
# HELP netburst_bond_info A bond: its mode and transmit hash policy (1 per bond).
# TYPE netburst_bond_info gauge
netburst_bond_info{bond="bond0",mode="balance-xor",xmit_hash_policy="layer3+4"} 1
# HELP netburst_bond_slave_info A bond slave: its state (active/backup) and MII status (1 per slave).
# TYPE netburst_bond_slave_info gauge
netburst_bond_slave_info{bond="bond0",device="eth0",mii_status="up",state="active"} 1
netburst_bond_slave_info{bond="bond0",device="eth1",mii_status="down",state="active"} 1
# HELP netburst_bond_slave_link_failures_total The slave's link failure count, as the bonding driver reports it.
# TYPE netburst_bond_slave_link_failures_total counter
netburst_bond_slave_link_failures_total{bond="bond0",device="eth0"} 2
netburst_bond_slave_link_failures_total{bond="bond0",device="eth1"} 0
# HELP netburst_bond_slave_saturated_intervals_total One-second intervals in which the slave's 1 s peak utilisation was at or above the saturation threshold while the bond's was at or below the idle threshold.
# TYPE netburst_bond_slave_saturated_intervals_total counter
netburst_bond_slave_saturated_intervals_total{bond="bond0",device="eth0",direction="transmit"} 3
netburst_bond_slave_saturated_intervals_total{bond="bond0",device="eth1",direction="transmit"} 0
# HELP netburst_bond_slave_share_ratio The slave's share of the bytes its bond moved over the trailing window (absent when the bond moved none).
# TYPE netburst_bond_slave_share_ratio gauge
netburst_bond_slave_share_ratio{bond="bond0",device="eth0",direction="transmit",window="1s"} 0.97
netburst_bond_slave_share_ratio{bond="bond0",device="eth1",direction="transmit",window="1s"} 0.03
# HELP netburst_bond_topology_errors_total Problems met while reading bond topology (missing or malformed sysfs files, unknown modes, listed slaves that do not exist, failed reads), by kind, summed over refreshes; a kind appears once it has occurred.
# TYPE netburst_bond_topology_errors_total counter
netburst_bond_topology_errors_total{kind="missing_slave"} 4
# HELP netburst_bond_topology_problems Problems in the current bond topology, by kind; a kind appears once it has occurred.
# TYPE netburst_bond_topology_problems gauge
netburst_bond_topology_problems{kind="missing_slave"} 1
`
	if got := gatherText(t, NewBond(src)); got != strings.TrimPrefix(want, "\n") {
		t.Errorf("scrape:\n%s\nwant:\n%s", got, want)
	}
	// No bonds, no problems: no series at all.
	if got := gatherText(t, NewBond(fakeBondSource{})); got != "" {
		t.Errorf("series without bonds:\n%s", got)
	}
}

// gatherText registers c on a pedantic registry (which checks descriptors
// and label consistency) and returns the text exposition of what it
// collects.
func gatherText(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}
