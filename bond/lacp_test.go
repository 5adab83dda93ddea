package bond

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// /proc/net/bonding texts as bond_procfs.c writes them; "\t" in the active
// aggregator's lines is the kernel's.
const (
	procPrivileged = `Ethernet Channel Bonding Driver: v6.1.0

Bonding Mode: IEEE 802.3ad Dynamic link aggregation
Transmit Hash Policy: layer3+4 (1)
MII Status: up

802.3ad info
LACP active: on
LACP rate: fast
Min links: 0
Aggregator selection policy (ad_select): stable
System priority: 65535
System MAC address: 3c:fd:fe:9e:10:40
Active Aggregator Info:
	Aggregator ID: 2
	Number of ports: 1
	Actor Key: 15
	Partner Key: 1
	Partner Mac Address: 00:00:00:00:00:00

Slave Interface: eth0
MII Status: up
Speed: 10000 Mbps
Aggregator ID: 2
Actor Churn State: none
Partner Churn State: churned
Actor Churned Count: 0
Partner Churned Count: 3
details actor lacp pdu:
    system priority: 65535
    system mac address: 3c:fd:fe:9e:10:40
    port key: 15
    port state: 69
details partner lacp pdu:
    system mac address: 00:00:00:00:00:00
    oper key: 1
    port state: 1

Slave Interface: eth1
MII Status: down
Aggregator ID: N/A
`
	// The same bond read without CAP_NET_ADMIN: no aggregator section, no
	// details.
	procUnprivileged = `Ethernet Channel Bonding Driver: v6.1.0

Bonding Mode: IEEE 802.3ad Dynamic link aggregation
MII Status: up

802.3ad info
LACP active: on
LACP rate: fast
Min links: 0
Aggregator selection policy (ad_select): stable

Slave Interface: eth0
MII Status: up
Aggregator ID: 2
Actor Churn State: monitoring
Partner Churn State: monitoring
Actor Churned Count: 0
Partner Churned Count: 0
`
)

func TestParseProcBonding(t *testing.T) {
	cases := []struct {
		name, text string
		want       ProcBond
	}{
		{"privileged", procPrivileged, ProcBond{
			Mode:       "IEEE 802.3ad Dynamic link aggregation",
			Aggregator: &Aggregator{ID: 2, Ports: 1, ActorKey: 15, PartnerKey: 1, PartnerMAC: "00:00:00:00:00:00", KeysKnown: true},
			Slaves: []ProcSlave{
				{Name: "eth0", LACP: &SlaveLACP{AggregatorID: 2, ActorChurn: "none", PartnerChurn: "churned", PartnerChurns: 3}},
				{Name: "eth1", LACP: &SlaveLACP{}},
			},
		}},
		{"unprivileged", procUnprivileged, ProcBond{
			Mode:   "IEEE 802.3ad Dynamic link aggregation",
			Slaves: []ProcSlave{{Name: "eth0", LACP: &SlaveLACP{AggregatorID: 2, ActorChurn: "monitoring", PartnerChurn: "monitoring"}}},
		}},
		{"no active aggregator", "Bonding Mode: IEEE 802.3ad Dynamic link aggregation\n\n802.3ad info\nSystem priority: 65535\nbond bond0 has no active aggregator\n\nSlave Interface: eth0\nAggregator ID: N/A\n", ProcBond{
			Mode: "IEEE 802.3ad Dynamic link aggregation", Aggregator: &Aggregator{},
			Slaves: []ProcSlave{{Name: "eth0", LACP: &SlaveLACP{}}},
		}},
		// Kernels before the churn lines: the aggregator alone.
		{"no churn lines", "Bonding Mode: IEEE 802.3ad Dynamic link aggregation\n\nSlave Interface: eth0\nMII Status: up\nAggregator ID: 1\n", ProcBond{
			Mode: "IEEE 802.3ad Dynamic link aggregation", Slaves: []ProcSlave{{Name: "eth0", LACP: &SlaveLACP{AggregatorID: 1}}},
		}},
		{"another mode", "Bonding Mode: load balancing (xor)\nTransmit Hash Policy: layer3+4 (1)\n\nSlave Interface: eth0\nMII Status: up\nLink Failure Count: 0\n", ProcBond{
			Mode: "load balancing (xor)", Slaves: []ProcSlave{{Name: "eth0"}},
		}},
		{"empty", "", ProcBond{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseProcBonding(c.text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %s\nwant %s", dumpProc(got), dumpProc(c.want))
			}
		})
	}
}

func dumpProc(p ProcBond) string {
	s := fmt.Sprintf("mode %q aggregator %+v", p.Mode, p.Aggregator)
	if p.Aggregator != nil {
		s = fmt.Sprintf("mode %q aggregator %+v", p.Mode, *p.Aggregator)
	}
	for _, sl := range p.Slaves {
		s += fmt.Sprintf("\n  %s lacp %+v", sl.Name, sl.LACP)
		if sl.LACP != nil {
			s += fmt.Sprintf(" %+v", *sl.LACP)
		}
	}
	return s
}

func TestParseProcBondingMalformed(t *testing.T) {
	for _, text := range []string{
		"Active Aggregator Info:\n\tAggregator ID: many\n",
		"Active Aggregator Info:\n\tNumber of ports: -1\n",
		"Active Aggregator Info:\n\tPartner Mac Address: 00:00:zz:00:00:00\n",
		"Active Aggregator Info:\n\tActor Key: 70000\n",
		"Slave Interface: eth0\nAggregator ID: x\n",
		"Slave Interface: eth0\nActor Churn State: stirred\n",
		"Slave Interface: eth0\nPartner Churned Count: -2\n",
		"Slave Interface: ../../etc\n",
	} {
		if _, err := ParseProcBonding(text); !errors.Is(err, ErrBadValue) {
			t.Errorf("%q: error %v, want ErrBadValue", text, err)
		}
	}
}

func FuzzParseProcBonding(f *testing.F) {
	f.Add(procPrivileged)
	f.Add(procUnprivileged)
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParseProcBonding(text)
		if err != nil {
			return
		}
		b := Bond{Name: "bond0", Mode: "802.3ad"}
		for _, s := range p.Slaves {
			b.Slaves = append(b.Slaves, Slave{Name: s.Name})
		}
		mergeProc(&b, p)
	})
}

// What /proc/net/bonding adds to what netlink or sysfs read: churn always,
// the aggregator's keys only for the same aggregator and only where they
// were unknown.
func TestMergeProc(t *testing.T) {
	priv, err := ParseProcBonding(procPrivileged)
	if err != nil {
		t.Fatal(err)
	}
	unpriv, err := ParseProcBonding(procUnprivileged)
	if err != nil {
		t.Fatal(err)
	}
	sysfsBond := func(agg *Aggregator) Bond {
		return Bond{Name: "bond0", Mode: "802.3ad", Aggregator: agg, Slaves: []Slave{
			{Name: "eth0", LACP: &SlaveLACP{AggregatorID: 2, ActorState: 69, PartnerState: 1, StateKnown: true}},
			{Name: "eth1"},
		}}
	}
	cases := []struct {
		name string
		bond Bond
		proc ProcBond
		agg  *Aggregator
		eth0 SlaveLACP
		eth1 *SlaveLACP
	}{
		{"sysfs unprivileged, procfs privileged", sysfsBond(&Aggregator{ID: 2, Ports: 1}), priv,
			&Aggregator{ID: 2, Ports: 1, ActorKey: 15, PartnerKey: 1, PartnerMAC: "00:00:00:00:00:00", KeysKnown: true},
			SlaveLACP{AggregatorID: 2, ActorState: 69, PartnerState: 1, StateKnown: true, ActorChurn: "none", PartnerChurn: "churned", PartnerChurns: 3},
			&SlaveLACP{}},
		{"another aggregator: keys not taken", sysfsBond(&Aggregator{ID: 5, Ports: 1}), priv,
			&Aggregator{ID: 5, Ports: 1},
			SlaveLACP{AggregatorID: 2, ActorState: 69, PartnerState: 1, StateKnown: true, ActorChurn: "none", PartnerChurn: "churned", PartnerChurns: 3},
			&SlaveLACP{}},
		{"no aggregator read: procfs's", sysfsBond(nil), priv,
			&Aggregator{ID: 2, Ports: 1, ActorKey: 15, PartnerKey: 1, PartnerMAC: "00:00:00:00:00:00", KeysKnown: true},
			SlaveLACP{AggregatorID: 2, ActorState: 69, PartnerState: 1, StateKnown: true, ActorChurn: "none", PartnerChurn: "churned", PartnerChurns: 3},
			&SlaveLACP{}},
		{"both unprivileged", sysfsBond(&Aggregator{ID: 2, Ports: 1}), unpriv,
			&Aggregator{ID: 2, Ports: 1},
			SlaveLACP{AggregatorID: 2, ActorState: 69, PartnerState: 1, StateKnown: true, ActorChurn: "monitoring", PartnerChurn: "monitoring"},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.bond
			mergeProc(&b, c.proc)
			if !reflect.DeepEqual(b.Aggregator, c.agg) {
				t.Errorf("aggregator %+v, want %+v", b.Aggregator, c.agg)
			}
			if b.Slaves[0].LACP == nil || *b.Slaves[0].LACP != c.eth0 {
				t.Errorf("eth0 %+v, want %+v", b.Slaves[0].LACP, c.eth0)
			}
			if !reflect.DeepEqual(b.Slaves[1].LACP, c.eth1) {
				t.Errorf("eth1 %+v, want %+v", b.Slaves[1].LACP, c.eth1)
			}
		})
	}
}

func TestAggregatorMismatch(t *testing.T) {
	agg := func(id uint16) *Aggregator { return &Aggregator{ID: id} }
	in := func(id uint16) *SlaveLACP { return &SlaveLACP{AggregatorID: id} }
	cases := []struct {
		name            string
		mode            string
		bond            *Aggregator
		slave           *SlaveLACP
		mismatch, known bool
	}{
		{"in the active aggregator", "802.3ad", agg(1), in(1), false, true},
		{"in another aggregator", "802.3ad", agg(1), in(2), true, true},
		{"in none", "802.3ad", agg(1), in(0), true, true},
		{"the bond has none", "802.3ad", agg(0), in(0), true, true},
		{"bond unknown", "802.3ad", nil, in(1), false, false},
		{"slave unknown", "802.3ad", agg(1), nil, false, false},
		{"not 802.3ad", "balance-xor", agg(1), in(2), false, false},
	}
	for _, c := range cases {
		b := Bond{Mode: c.mode, Aggregator: c.bond}
		s := Slave{LACP: c.slave}
		if mis, known := AggregatorMismatch(&b, &s); mis != c.mismatch || known != c.known {
			t.Errorf("%s: mismatch %v known %v, want %v %v", c.name, mis, known, c.mismatch, c.known)
		}
	}
}
