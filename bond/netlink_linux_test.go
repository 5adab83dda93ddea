package bond

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// RTM_NEWLINK bodies as an RTM_GETLINK dump returns them, written out by
// hand: struct ifinfomsg (16 bytes), then rtattrs {len u16, type u16, value,
// padding to 4}, little-endian.
var (
	nlBond0 = []byte{
		0x00, 0x00, 0x01, 0x00, // family, pad, type ARPHRD_ETHER
		0x05, 0x00, 0x00, 0x00, // ifindex 5
		0x03, 0x14, 0x00, 0x00, // flags UP|BROADCAST|MASTER|MULTICAST
		0x00, 0x00, 0x00, 0x00, // change
		0x0a, 0x00, 0x03, 0x00, 'b', 'o', 'n', 'd', '0', 0x00, 0x00, 0x00, // IFLA_IFNAME "bond0"
		0x5c, 0x00, 0x12, 0x00, // IFLA_LINKINFO, 92 bytes
		0x09, 0x00, 0x01, 0x00, 'b', 'o', 'n', 'd', 0x00, 0x00, 0x00, 0x00, // IFLA_INFO_KIND "bond"
		0x4c, 0x00, 0x02, 0x00, // IFLA_INFO_DATA, 76 bytes
		0x05, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, // IFLA_BOND_MODE 4 (802.3ad)
		0x08, 0x00, 0x03, 0x00, 0x64, 0x00, 0x00, 0x00, // IFLA_BOND_MIIMON 100
		0x05, 0x00, 0x0e, 0x00, 0x01, 0x00, 0x00, 0x00, // IFLA_BOND_XMIT_HASH_POLICY 1 (layer3+4)
		0x30, 0x00, 0x17, 0x00, // IFLA_BOND_AD_INFO, 48 bytes
		0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, // _AGGREGATOR 1
		0x06, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, // _NUM_PORTS 2
		0x06, 0x00, 0x03, 0x00, 0x0f, 0x00, 0x00, 0x00, // _ACTOR_KEY 15
		0x06, 0x00, 0x04, 0x00, 0x0d, 0x80, 0x00, 0x00, // _PARTNER_KEY 32781
		0x0a, 0x00, 0x05, 0x00, 0x52, 0x54, 0x00, 0x1c, 0xaa, 0x01, 0x00, 0x00, // _PARTNER_MAC
	}
	nlEth0 = []byte{
		0x00, 0x00, 0x01, 0x00,
		0x06, 0x00, 0x00, 0x00, // ifindex 6
		0x03, 0x18, 0x00, 0x00, // flags UP|BROADCAST|SLAVE|MULTICAST
		0x00, 0x00, 0x00, 0x00,
		0x09, 0x00, 0x03, 0x00, 'e', 't', 'h', '0', 0x00, 0x00, 0x00, 0x00, // IFLA_IFNAME "eth0"
		0x08, 0x00, 0x0a, 0x00, 0x05, 0x00, 0x00, 0x00, // IFLA_MASTER 5
		0x4c, 0x00, 0x12, 0x00, // IFLA_LINKINFO, 76 bytes
		0x09, 0x00, 0x04, 0x00, 'b', 'o', 'n', 'd', 0x00, 0x00, 0x00, 0x00, // IFLA_INFO_SLAVE_KIND "bond"
		0x3c, 0x00, 0x05, 0x00, // IFLA_INFO_SLAVE_DATA, 60 bytes
		0x05, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, // IFLA_BOND_SLAVE_STATE 1 (backup)
		0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // IFLA_BOND_SLAVE_MII_STATUS 0 (up)
		0x08, 0x00, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, // IFLA_BOND_SLAVE_LINK_FAILURE_COUNT 3
		0x06, 0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00, // IFLA_BOND_SLAVE_QUEUE_ID 2
		0x06, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, // IFLA_BOND_SLAVE_AD_AGGREGATOR_ID 1
		0x05, 0x00, 0x07, 0x00, 0x3d, 0x00, 0x00, 0x00, // _AD_ACTOR_OPER_PORT_STATE 61
		0x06, 0x00, 0x08, 0x00, 0x3f, 0x00, 0x00, 0x00, // _AD_PARTNER_OPER_PORT_STATE 63
	}
	nlLo = []byte{
		0x00, 0x00, 0x04, 0x03, // ARPHRD_LOOPBACK
		0x01, 0x00, 0x00, 0x00,
		0x49, 0x00, 0x01, 0x00,
		0x00, 0x00, 0x00, 0x00,
		0x07, 0x00, 0x03, 0x00, 'l', 'o', 0x00, 0x00, // IFLA_IFNAME "lo"
	}
)

func TestParseLinkMessages(t *testing.T) {
	topo, err := FromMessages([][]byte{nlLo, nlBond0, nlEth0}, func(dev string) float64 {
		if dev == "eth0" {
			return 1.25e9
		}
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Problems) != 0 {
		t.Errorf("problems: %v", topo.Problems)
	}
	if len(topo.Bonds) != 1 {
		t.Fatalf("bonds: %+v", topo.Bonds)
	}
	b := topo.Bonds[0]
	if b.Name != "bond0" || b.Mode != "802.3ad" || b.XmitHashPolicy != "layer3+4" || b.MIIMon != 100*time.Millisecond || b.Source != "netlink" {
		t.Errorf("bond: %+v", b)
	}
	if want := (Aggregator{ID: 1, Ports: 2, ActorKey: 15, PartnerKey: 32781, PartnerMAC: "52:54:00:1c:aa:01", KeysKnown: true}); b.Aggregator == nil || *b.Aggregator != want {
		t.Errorf("aggregator %+v, want %+v", b.Aggregator, want)
	}
	want := []Slave{{Name: "eth0", State: "backup", MIIStatus: "up", SpeedBytes: 1.25e9, LinkFailureCount: 3, QueueID: 2,
		LACP: &SlaveLACP{AggregatorID: 1, ActorState: 61, PartnerState: 63, StateKnown: true}}}
	if !reflect.DeepEqual(b.Slaves, want) {
		t.Errorf("slaves: %s, want %s", dumpBonds([]Bond{{Slaves: b.Slaves}}), dumpBonds([]Bond{{Slaves: want}}))
	}

	// The netlink library alone drops IFLA_BOND_AD_INFO: no aggregator.
	links, err := ParseLinkMessages([][]byte{nlLo, nlBond0, nlEth0})
	if err != nil {
		t.Fatal(err)
	}
	if b := FromLinks(links, nil).Bonds[0]; b.Aggregator != nil || b.Slaves[0].LACP == nil {
		t.Errorf("FromLinks: aggregator %+v, slave %+v", b.Aggregator, b.Slaves[0].LACP)
	}
}

// The attribute numbers ParseADInfo uses are the kernel's.
func TestADInfoConstants(t *testing.T) {
	for _, c := range [][2]int{
		{iflaLinkInfo, unix.IFLA_LINKINFO}, {iflaInfoKind, nl.IFLA_INFO_KIND}, {iflaInfoData, nl.IFLA_INFO_DATA},
		{iflaBondADInfo, nl.IFLA_BOND_AD_INFO}, {iflaBondADInfoAgg, nl.IFLA_BOND_AD_INFO_AGGREGATOR},
		{iflaBondADInfoPorts, nl.IFLA_BOND_AD_INFO_NUM_PORTS}, {iflaBondADInfoActor, nl.IFLA_BOND_AD_INFO_ACTOR_KEY},
		{iflaBondADInfoPartner, nl.IFLA_BOND_AD_INFO_PARTNER_KEY}, {iflaBondADInfoMAC, nl.IFLA_BOND_AD_INFO_PARTNER_MAC},
	} {
		if c[0] != c[1] {
			t.Errorf("attribute %d, the kernel's is %d", c[0], c[1])
		}
	}
}

// An 802.3ad bond without IFLA_BOND_AD_INFO has no active aggregator: ID
// 0, and so every slave is outside it.
func TestFromMessagesNoAggregator(t *testing.T) {
	m := append([]byte(nil), nlBond0[:len(nlBond0)-48]...)
	m[28], m[44] = 0x2c, 0x1c // IFLA_LINKINFO and IFLA_INFO_DATA without it
	topo, err := FromMessages([][]byte{m, nlEth0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := topo.Bonds[0]
	if b.Aggregator == nil || *b.Aggregator != (Aggregator{}) {
		t.Fatalf("aggregator %+v, want ID 0", b.Aggregator)
	}
	if mis, known := AggregatorMismatch(&b, &b.Slaves[0]); !mis || !known {
		t.Errorf("mismatch %v known %v, want both", mis, known)
	}
}

func TestParseLinkMessagesMalformed(t *testing.T) {
	for _, m := range [][]byte{nlBond0[:10], nlBond0[:40], nlEth0[:len(nlEth0)-3]} {
		if _, err := ParseLinkMessages([][]byte{m}); !errors.Is(err, ErrBadValue) {
			t.Errorf("%d bytes: error %v, want ErrBadValue", len(m), err)
		}
	}
}

func FuzzParseLinkMessages(f *testing.F) {
	f.Add(nlBond0)
	f.Add(nlEth0)
	f.Add(nlLo)
	f.Fuzz(func(t *testing.T, m []byte) {
		links, err := ParseLinkMessages([][]byte{m})
		if err == nil {
			FromLinks(links, nil)
		}
		_, _ = FromMessages([][]byte{m}, nil)
	})
}

func TestParseADInfo(t *testing.T) {
	short := append([]byte(nil), nlBond0...)
	short[len(short)-48+4] = 0x05 // _AGGREGATOR of 1 byte
	cases := []struct {
		name string
		m    []byte
		ok   bool
		err  bool
	}{
		{"bond", nlBond0, true, false},
		{"slave", nlEth0, false, false},
		{"loopback", nlLo, false, false},
		{"short attribute", short, false, true},
		{"short message", nlBond0[:12], false, true},
		{"truncated", nlBond0[:len(nlBond0)-3], false, true},
	}
	for _, c := range cases {
		a, ok, err := ParseADInfo(c.m)
		if ok != c.ok || (err != nil) != c.err || (err != nil && !errors.Is(err, ErrBadValue)) {
			t.Errorf("%s: %+v ok %v err %v, want ok %v error %v", c.name, a, ok, err, c.ok, c.err)
		}
	}
}
