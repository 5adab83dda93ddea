package collector

import (
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netburst/netburst/bond"
)

// BondSource is what the bond collector reads at scrape time;
// *bond.Monitor implements it.
type BondSource interface {
	Snapshot() bond.Snapshot
}

// Bond exports bond topology, slave shares, single-slave saturation and
// topology problems from a snapshot taken at scrape time.
type Bond struct {
	src BondSource
}

// NewBond returns the bond collector over src.
func NewBond(src BondSource) *Bond { return &Bond{src: src} }

var (
	bondInfoDesc = prometheus.NewDesc(namespace+"_bond_info",
		"A bond: its mode and transmit hash policy (1 per bond).",
		[]string{"bond", "mode", "xmit_hash_policy"}, nil)
	bondSlaveInfoDesc = prometheus.NewDesc(namespace+"_bond_slave_info",
		"A bond slave: its state (active/backup) and MII status (1 per slave).",
		[]string{"bond", "device", "state", "mii_status"}, nil)
	bondShareDesc = prometheus.NewDesc(namespace+"_bond_slave_share_ratio",
		"The slave's share of the bytes its bond moved over the trailing window (absent when the bond moved none).",
		[]string{"bond", "device", "direction", "window"}, nil)
	bondSaturatedDesc = prometheus.NewDesc(namespace+"_bond_slave_saturated_intervals_total",
		"One-second intervals in which the slave's 1 s peak utilisation was at or above the saturation threshold while the bond's was at or below the idle threshold.",
		[]string{"bond", "device", "direction"}, nil)
	bondLinkFailuresDesc = prometheus.NewDesc(namespace+"_bond_slave_link_failures_total",
		"The slave's link failure count, as the bonding driver reports it.",
		[]string{"bond", "device"}, nil)
	bondTopologyErrorsDesc = prometheus.NewDesc(namespace+"_bond_topology_errors_total",
		"Problems met while reading bond topology (missing or malformed sysfs files, unknown modes, listed slaves that do not exist, failed reads), by kind, summed over refreshes; a kind appears once it has occurred.",
		[]string{"kind"}, nil)
	bondTopologyProblemsDesc = prometheus.NewDesc(namespace+"_bond_topology_problems",
		"Problems in the current bond topology, by kind; a kind appears once it has occurred.",
		[]string{"kind"}, nil)
	bondADInfoDesc = prometheus.NewDesc(namespace+"_bond_ad_info",
		"An 802.3ad bond's active aggregator: its id, actor and partner keys and the partner's system MAC (00:00:00:00:00:00: no partner answers LACP; keys and MAC \"unknown\" where only CAP_NET_ADMIN may read them); 1, absent while the bond has no active aggregator.",
		[]string{"bond", "aggregator_id", "actor_key", "partner_key", "partner_mac"}, nil)
	bondADPortsDesc = prometheus.NewDesc(namespace+"_bond_ad_aggregator_ports",
		"Ports (slaves) in an 802.3ad bond's active aggregator (0: none active).",
		[]string{"bond"}, nil)
	bondSlaveADAggDesc = prometheus.NewDesc(namespace+"_bond_slave_ad_aggregator_id",
		"The 802.3ad aggregator the slave's port is attached to (0: none).",
		[]string{"bond", "device"}, nil)
	bondSlaveADMismatchDesc = prometheus.NewDesc(namespace+"_bond_slave_ad_aggregator_mismatch",
		"1 when the 802.3ad slave is outside its bond's active aggregator (in another aggregator, in none, or the bond has none) and so carries no traffic, else 0.",
		[]string{"bond", "device"}, nil)
	bondSlaveADStateDesc = prometheus.NewDesc(namespace+"_bond_slave_ad_port_state",
		"The 802.3ad slave's LACP port state octet, its own (side actor) and as its partner last sent it (side partner): 1 activity, 2 short timeout, 4 aggregation, 8 synchronization, 16 collecting, 32 distributing, 64 defaulted, 128 expired.",
		[]string{"bond", "device", "side"}, nil)
	bondSlaveADChurnedDesc = prometheus.NewDesc(namespace+"_bond_slave_ad_churned",
		"1 while the 802.3ad slave's churn detection machine (side actor or partner) is in the churned state (out of synchronisation for longer than 60 s), else 0; from /proc/net/bonding.",
		[]string{"bond", "device", "side"}, nil)
	bondSlaveADChurnsDesc = prometheus.NewDesc(namespace+"_bond_slave_ad_churns_total",
		"Times the 802.3ad slave's churn detection machine (side actor or partner) entered the churned state; from /proc/net/bonding.",
		[]string{"bond", "device", "side"}, nil)
)

// Values of the side label of the per-slave LACP families.
var lacpSides = [2]string{"actor", "partner"}

// Describe implements prometheus.Collector.
func (c *Bond) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bondInfoDesc, bondSlaveInfoDesc, bondShareDesc, bondSaturatedDesc, bondLinkFailuresDesc, bondTopologyErrorsDesc, bondTopologyProblemsDesc,
		bondADInfoDesc, bondADPortsDesc, bondSlaveADAggDesc, bondSlaveADMismatchDesc, bondSlaveADStateDesc, bondSlaveADChurnedDesc, bondSlaveADChurnsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It only reads a snapshot.
func (c *Bond) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	for i := range s.Bonds {
		b := &s.Bonds[i]
		ch <- prometheus.MustNewConstMetric(bondInfoDesc, prometheus.GaugeValue, 1, b.Name, b.Mode, b.XmitHashPolicy)
		if a := b.Aggregator; a != nil {
			ch <- prometheus.MustNewConstMetric(bondADPortsDesc, prometheus.GaugeValue, float64(a.Ports), b.Name)
			if a.ID != 0 {
				actor, partner, mac := "unknown", "unknown", "unknown"
				if a.KeysKnown {
					actor, partner, mac = strconv.Itoa(int(a.ActorKey)), strconv.Itoa(int(a.PartnerKey)), a.PartnerMAC
				}
				ch <- prometheus.MustNewConstMetric(bondADInfoDesc, prometheus.GaugeValue, 1, b.Name, strconv.Itoa(int(a.ID)), actor, partner, mac)
			}
		}
		for j := range b.Slaves {
			sl := &b.Slaves[j]
			ch <- prometheus.MustNewConstMetric(bondSlaveInfoDesc, prometheus.GaugeValue, 1, b.Name, sl.Name, sl.State, sl.MIIStatus)
			ch <- prometheus.MustNewConstMetric(bondLinkFailuresDesc, prometheus.CounterValue, float64(sl.LinkFailureCount), b.Name, sl.Name)
			collectSlaveLACP(ch, b, sl)
		}
	}
	for _, sh := range s.Shares {
		ch <- prometheus.MustNewConstMetric(bondShareDesc, prometheus.GaugeValue, sh.Ratio, sh.Bond, sh.Device, sh.Direction, sh.Window)
	}
	for _, st := range s.Saturations {
		ch <- prometheus.MustNewConstMetric(bondSaturatedDesc, prometheus.CounterValue, float64(st.Intervals), st.Bond, st.Device, st.Direction)
	}
	for _, k := range sortedKeys(s.ProblemsTotal) {
		ch <- prometheus.MustNewConstMetric(bondTopologyErrorsDesc, prometheus.CounterValue, float64(s.ProblemsTotal[k]), k)
		ch <- prometheus.MustNewConstMetric(bondTopologyProblemsDesc, prometheus.GaugeValue, float64(s.Problems[k]), k)
	}
}

// collectSlaveLACP exports what is known of an 802.3ad slave's LACP state.
func collectSlaveLACP(ch chan<- prometheus.Metric, b *bond.Bond, sl *bond.Slave) {
	l := sl.LACP
	if l == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(bondSlaveADAggDesc, prometheus.GaugeValue, float64(l.AggregatorID), b.Name, sl.Name)
	if mis, known := bond.AggregatorMismatch(b, sl); known {
		v := 0.0
		if mis {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(bondSlaveADMismatchDesc, prometheus.GaugeValue, v, b.Name, sl.Name)
	}
	if l.StateKnown {
		ch <- prometheus.MustNewConstMetric(bondSlaveADStateDesc, prometheus.GaugeValue, float64(l.ActorState), b.Name, sl.Name, lacpSides[0])
		ch <- prometheus.MustNewConstMetric(bondSlaveADStateDesc, prometheus.GaugeValue, float64(l.PartnerState), b.Name, sl.Name, lacpSides[1])
	}
	// The churn machines are read from /proc/net/bonding only.
	for side, st := range [2]string{l.ActorChurn, l.PartnerChurn} {
		if st == "" {
			continue
		}
		v := 0.0
		if st == "churned" {
			v = 1
		}
		n := l.ActorChurns
		if side == 1 {
			n = l.PartnerChurns
		}
		ch <- prometheus.MustNewConstMetric(bondSlaveADChurnedDesc, prometheus.GaugeValue, v, b.Name, sl.Name, lacpSides[side])
		ch <- prometheus.MustNewConstMetric(bondSlaveADChurnsDesc, prometheus.CounterValue, float64(n), b.Name, sl.Name, lacpSides[side])
	}
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
