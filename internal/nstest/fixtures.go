package nstest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BlastUDP sends 1400-byte datagrams from inside ns to dst ("addr:port")
// as fast as it can for d. A full queue on the way drops them; the send
// errors that follow are expected and ignored.
func BlastUDP(t testing.TB, ns *NS, dst string, d time.Duration) {
	t.Helper()
	var conn net.Conn
	if err := ns.Do(func() error {
		var err error
		conn, err = net.Dial("udp4", dst)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payload := make([]byte, 1400)
	for end := time.Now().Add(d); time.Now().Before(end); {
		_, _ = conn.Write(payload)
	}
}

// WriteFiles writes each name (a path below root) with its content and a
// newline, as sysfs shows its attributes.
func WriteFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// BondFixture writes a sysfs tree in a new temporary directory describing
// bond0 (balance-xor, layer3+4) over the given slaves, each active, MII
// up and speedMbps fast, and returns the tree's root for --path.sysfs.
// This kernel has no bonding module: the fixture stands in for the bond
// over real veths. listed, when given, replaces the bond's slaves file
// (to list a slave that does not exist, say).
func BondFixture(t testing.TB, slaves []string, speedMbps string, listed ...string) string {
	t.Helper()
	if len(listed) == 0 {
		listed = slaves
	}
	files := map[string]string{
		"class/net/bonding_masters":                "bond0",
		"class/net/bond0/bonding/mode":             "balance-xor 2",
		"class/net/bond0/bonding/xmit_hash_policy": "layer3+4 1",
		"class/net/bond0/bonding/slaves":           strings.Join(listed, " "),
		"class/net/bond0/bonding/miimon":           "100",
	}
	for _, s := range slaves {
		files["class/net/"+s+"/speed"] = speedMbps
		files["class/net/"+s+"/bonding_slave/state"] = "active"
		files["class/net/"+s+"/bonding_slave/mii_status"] = "up"
		files["class/net/"+s+"/bonding_slave/link_failure_count"] = "0"
		files["class/net/"+s+"/bonding_slave/queue_id"] = "0"
	}
	root := t.TempDir()
	WriteFiles(t, root, files)
	return root
}
