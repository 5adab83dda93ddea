package collector

import (
	"sort"

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
)

// Describe implements prometheus.Collector.
func (c *Bond) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bondInfoDesc, bondSlaveInfoDesc, bondShareDesc, bondSaturatedDesc, bondLinkFailuresDesc, bondTopologyErrorsDesc, bondTopologyProblemsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It only reads a snapshot.
func (c *Bond) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	for _, b := range s.Bonds {
		ch <- prometheus.MustNewConstMetric(bondInfoDesc, prometheus.GaugeValue, 1, b.Name, b.Mode, b.XmitHashPolicy)
		for _, sl := range b.Slaves {
			ch <- prometheus.MustNewConstMetric(bondSlaveInfoDesc, prometheus.GaugeValue, 1, b.Name, sl.Name, sl.State, sl.MIIStatus)
			ch <- prometheus.MustNewConstMetric(bondLinkFailuresDesc, prometheus.CounterValue, float64(sl.LinkFailureCount), b.Name, sl.Name)
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

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
