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

// 802.3ad bonds: bond0 with its active aggregator known in full (netlink,
// or CAP_NET_ADMIN), eth0 in it, eth1 stuck in an aggregator of its own
// and churned on the partner side; bond1 as sysfs alone shows it to an
// unprivileged reader (no keys, no port states of eth2, no churn); bond2
// with no active aggregator.
func TestBondCollectorLACP(t *testing.T) {
	src := fakeBondSource{Bonds: []bond.Bond{
		{Name: "bond0", Mode: "802.3ad", XmitHashPolicy: "layer3+4",
			Aggregator: &bond.Aggregator{ID: 1, Ports: 1, ActorKey: 15, PartnerKey: 32781, PartnerMAC: "52:54:00:1c:aa:01", KeysKnown: true},
			Slaves: []bond.Slave{
				{Name: "eth0", State: "active", MIIStatus: "up", LACP: &bond.SlaveLACP{AggregatorID: 1, ActorState: 61, PartnerState: 63, StateKnown: true, ActorChurn: "none", PartnerChurn: "none", ActorChurns: 1}},
				{Name: "eth1", State: "active", MIIStatus: "up", LACP: &bond.SlaveLACP{AggregatorID: 2, ActorState: 69, PartnerState: 1, StateKnown: true, ActorChurn: "monitoring", PartnerChurn: "churned", PartnerChurns: 4}},
			}},
		{Name: "bond1", Mode: "802.3ad", XmitHashPolicy: "layer2", Aggregator: &bond.Aggregator{ID: 3, Ports: 1},
			Slaves: []bond.Slave{{Name: "eth2", State: "active", MIIStatus: "up", LACP: &bond.SlaveLACP{AggregatorID: 3}}}},
		{Name: "bond2", Mode: "802.3ad", XmitHashPolicy: "layer2", Aggregator: &bond.Aggregator{},
			Slaves: []bond.Slave{{Name: "eth3", State: "active", MIIStatus: "down", LACP: &bond.SlaveLACP{}}}},
	}}
	got := gatherText(t, NewBond(src))
	for _, want := range []string{
		`netburst_bond_ad_info{actor_key="15",aggregator_id="1",bond="bond0",partner_key="32781",partner_mac="52:54:00:1c:aa:01"} 1`,
		`netburst_bond_ad_info{actor_key="unknown",aggregator_id="3",bond="bond1",partner_key="unknown",partner_mac="unknown"} 1`,
		`netburst_bond_ad_aggregator_ports{bond="bond0"} 1`,
		`netburst_bond_ad_aggregator_ports{bond="bond2"} 0`,
		`netburst_bond_slave_ad_aggregator_id{bond="bond0",device="eth1"} 2`,
		`netburst_bond_slave_ad_aggregator_mismatch{bond="bond0",device="eth0"} 0`,
		`netburst_bond_slave_ad_aggregator_mismatch{bond="bond0",device="eth1"} 1`,
		`netburst_bond_slave_ad_aggregator_mismatch{bond="bond1",device="eth2"} 0`,
		`netburst_bond_slave_ad_aggregator_mismatch{bond="bond2",device="eth3"} 1`,
		`netburst_bond_slave_ad_port_state{bond="bond0",device="eth0",side="actor"} 61`,
		`netburst_bond_slave_ad_port_state{bond="bond0",device="eth0",side="partner"} 63`,
		`netburst_bond_slave_ad_churned{bond="bond0",device="eth0",side="partner"} 0`,
		`netburst_bond_slave_ad_churned{bond="bond0",device="eth1",side="actor"} 0`,
		`netburst_bond_slave_ad_churned{bond="bond0",device="eth1",side="partner"} 1`,
		`netburst_bond_slave_ad_churns_total{bond="bond0",device="eth0",side="actor"} 1`,
		`netburst_bond_slave_ad_churns_total{bond="bond0",device="eth1",side="partner"} 4`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	for _, absent := range []string{
		`netburst_bond_ad_info{actor_key="0"`,                          // bond2 has no active aggregator
		`netburst_bond_slave_ad_port_state{bond="bond1"`,               // unknown
		`netburst_bond_slave_ad_churned{bond="bond1"`,                  // no /proc/net/bonding
		`netburst_bond_slave_ad_churns_total{bond="bond2"`,             // idem
		`netburst_bond_ad_info{actor_key="unknown",aggregator_id="0"`,  // idem
		`netburst_bond_slave_ad_port_state{bond="bond2",device="eth3"`, // no aggregator: no state
	} {
		if strings.Contains(got, absent) {
			t.Errorf("scrape has %s...", absent)
		}
	}
	// Other modes have none of these.
	if got := gatherText(t, NewBond(fakeBondSource{Bonds: []bond.Bond{{Name: "bond0", Mode: "balance-xor", Slaves: []bond.Slave{{Name: "eth0"}}}}})); strings.Contains(got, "_ad_") {
		t.Errorf("a balance-xor bond has LACP series:\n%s", got)
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
