package main

import (
	"bytes"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// The exporter over a sysfs fixture that describes bond0 (balance-xor,
// layer3+4) over two real veths, s0 and s1, of 40 Mbit/s each: traffic out
// of s0 only, shaped by tbf to that speed, shows as s0's share of the bond
// and as single-slave saturation.
func TestBondMetrics(t *testing.T) {
	host, peer := nstest.New(t), nstest.New(t)
	nstest.Veth(t, host, "s0", peer, "p0")
	nstest.Veth(t, host, "s1", peer, "p1")
	host.MustRun(t, "ip", "addr", "add", "198.18.0.1/30", "dev", "s0")
	peer.MustRun(t, "ip", "addr", "add", "198.18.0.2/30", "dev", "p0")
	host.MustRun(t, "ip", "addr", "add", "198.18.0.5/30", "dev", "s1")
	peer.MustRun(t, "ip", "addr", "add", "198.18.0.6/30", "dev", "p1")
	host.MustRun(t, "tc", "qdisc", "add", "dev", "s0", "root", "tbf", "rate", "40mbit", "burst", "10kb", "latency", "20ms")
	// The fixture lists a slave that does not exist: logged and counted.
	fixture := nstest.BondFixture(t, []string{"s0", "s1"}, "40", "s0", "s1", "ghost0")
	_, client, logs := startExporter(t, host, "--path.sysfs="+fixture)

	var conn net.Conn
	if err := host.Do(func() error {
		var err error
		conn, err = net.Dial("udp4", "198.18.0.2:9")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1400)
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); {
		_, _ = conn.Write(payload)
	}
	conn.Close()
	code, scrape := get(t, client, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`netburst_bond_info{bond="bond0",mode="balance-xor",xmit_hash_policy="layer3+4"} 1`,
		`netburst_bond_slave_info{bond="bond0",device="s0",mii_status="up",state="active"} 1`,
		`netburst_bond_slave_info{bond="bond0",device="s1",mii_status="up",state="active"} 1`,
		// ghost0 is listed but does not exist: counted, not fatal.
		`netburst_bond_topology_problems{kind="missing_slave"} 1`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	value := func(series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
		if m == nil {
			t.Errorf("scrape lacks %s", series)
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	if v := value(`netburst_bond_slave_share_ratio{bond="bond0",device="s0",direction="transmit",window="1s"}`); v < 0.95 {
		t.Errorf("s0 transmit share %v, want >= 0.95", v)
	}
	if v := value(`netburst_bond_slave_share_ratio{bond="bond0",device="s1",direction="transmit",window="1s"}`); v > 0.05 {
		t.Errorf("s1 transmit share %v, want ~0", v)
	}
	if v := value(`netburst_bond_slave_saturated_intervals_total{bond="bond0",device="s0",direction="transmit"}`); v < 1 {
		t.Errorf("s0 saturated intervals %v, want >= 1", v)
	}
	if v := value(`netburst_bond_slave_saturated_intervals_total{bond="bond0",device="s1",direction="transmit"}`); v != 0 {
		t.Errorf("s1 saturated intervals %v, want 0", v)
	}
	if !strings.Contains(logs.String(), "ghost0") {
		t.Errorf("the missing slave is not logged:\n%s", logs.String())
	}
}

func TestBondFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"--bond.saturation-threshold=1.5"}, {"--bond.idle-threshold=0"}, {"--bond.refresh-interval=0s"}} {
		var stdout, stderr bytes.Buffer
		if code := run(append(args, "--web.listen-address=127.0.0.1:0"), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--bond.") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}
