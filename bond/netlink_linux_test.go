package bond

import (
	"errors"
	"testing"
	"time"
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
		0x2c, 0x00, 0x12, 0x00, // IFLA_LINKINFO, 44 bytes
		0x09, 0x00, 0x01, 0x00, 'b', 'o', 'n', 'd', 0x00, 0x00, 0x00, 0x00, // IFLA_INFO_KIND "bond"
		0x1c, 0x00, 0x02, 0x00, // IFLA_INFO_DATA, 28 bytes
		0x05, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, // IFLA_BOND_MODE 4 (802.3ad)
		0x08, 0x00, 0x03, 0x00, 0x64, 0x00, 0x00, 0x00, // IFLA_BOND_MIIMON 100
		0x05, 0x00, 0x0e, 0x00, 0x01, 0x00, 0x00, 0x00, // IFLA_BOND_XMIT_HASH_POLICY 1 (layer3+4)
	}
	nlEth0 = []byte{
		0x00, 0x00, 0x01, 0x00,
		0x06, 0x00, 0x00, 0x00, // ifindex 6
		0x03, 0x18, 0x00, 0x00, // flags UP|BROADCAST|SLAVE|MULTICAST
		0x00, 0x00, 0x00, 0x00,
		0x09, 0x00, 0x03, 0x00, 'e', 't', 'h', '0', 0x00, 0x00, 0x00, 0x00, // IFLA_IFNAME "eth0"
		0x08, 0x00, 0x0a, 0x00, 0x05, 0x00, 0x00, 0x00, // IFLA_MASTER 5
		0x34, 0x00, 0x12, 0x00, // IFLA_LINKINFO, 52 bytes
		0x09, 0x00, 0x04, 0x00, 'b', 'o', 'n', 'd', 0x00, 0x00, 0x00, 0x00, // IFLA_INFO_SLAVE_KIND "bond"
		0x24, 0x00, 0x05, 0x00, // IFLA_INFO_SLAVE_DATA, 36 bytes
		0x05, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, // IFLA_BOND_SLAVE_STATE 1 (backup)
		0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // IFLA_BOND_SLAVE_MII_STATUS 0 (up)
		0x08, 0x00, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, // IFLA_BOND_SLAVE_LINK_FAILURE_COUNT 3
		0x06, 0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00, // IFLA_BOND_SLAVE_QUEUE_ID 2
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
	links, err := ParseLinkMessages([][]byte{nlLo, nlBond0, nlEth0})
	if err != nil {
		t.Fatal(err)
	}
	topo := FromLinks(links, func(dev string) float64 {
		if dev == "eth0" {
			return 1.25e9
		}
		return 0
	})
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
	want := Slave{Name: "eth0", State: "backup", MIIStatus: "up", SpeedBytes: 1.25e9, LinkFailureCount: 3, QueueID: 2}
	if len(b.Slaves) != 1 || b.Slaves[0] != want {
		t.Errorf("slaves: %+v, want %+v", b.Slaves, want)
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
	})
}
