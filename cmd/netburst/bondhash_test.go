package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func runBondHashCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"bond-hash"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// Slaves below follow the hand-computed hashes of bond/hash_test.go:
// tcp/udp 198.18.0.1:40000 -> 198.18.0.2:7000 under layer3+4 (current)
// hashes to 0x2da0004e (slave 0 of 2, 1 of 3); udp [2001:db8::1]:1000 ->
// [2001:db8::2]:2000 to 0x69ea1e1f (slave 1 of 2).
func TestBondHashFlowsJSON(t *testing.T) {
	code, out, errs := runBondHashCmd(t, "--policy", "layer3+4", "--slaves", "2", "--json",
		"udp:198.18.0.1:40000-198.18.0.2:7000,bytes=9000,packets=6",
		"udp:[2001:db8::1]:1000-[2001:db8::2]:2000,bytes=1000,packets=1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res bondHashResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(res.Flows) != 2 || res.Flows[0].Slave != 0 || res.Flows[1].Slave != 1 {
		t.Fatalf("flows = %+v", res.Flows)
	}
	f := res.Flows[0]
	if f.Protocol != "udp" || f.Src != "198.18.0.1" || f.SrcPort != 40000 || f.Dst != "198.18.0.2" || f.DstPort != 7000 || f.Packets != 6 || f.Bytes != 9000 || f.Hash != 0x2da0004e {
		t.Errorf("flow 0 = %+v", f)
	}
	if res.Slaves[0].Bytes != 9000 || res.Slaves[1].Bytes != 1000 || res.Slaves[0].Packets != 6 {
		t.Errorf("slaves = %+v", res.Slaves)
	}
	// 9000 of 10000 bytes on slave 0: share 0.9, busiest/mean = 9000/5000 = 1.8.
	if res.Slaves[0].Share != 0.9 || res.Imbalance != 1.8 || res.Weight != "bytes" {
		t.Errorf("share %v imbalance %v weight %s", res.Slaves[0].Share, res.Imbalance, res.Weight)
	}
	// The only flow on slave 0 weighs 9000 >= the 8000 difference: moving it
	// would not help, so no move.
	if len(res.Moves) != 0 {
		t.Errorf("moves = %+v", res.Moves)
	}

	// With three slaves the IPv4 flow lands on slave 1 (765460558 mod 3 = 1).
	code, out, errs = runBondHashCmd(t, "--policy", "layer3+4", "--slaves", "3", "--json", "tcp:198.18.0.1:40000-198.18.0.2:7000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	res = bondHashResult{}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Flows[0].Slave != 1 || res.Weight != "packets" {
		t.Fatalf("3 slaves: %v %+v", err, res.Flows)
	}
}

func TestBondHashMoves(t *testing.T) {
	// Four flows 198.18.0.1:4000k -> 198.18.0.2:7000, 1000 bytes each. By
	// hand (layer3+4, current): the port word 9c (40+k) 1b 58 read LE and
	// XORed with 0x03000000 has bytes b3..b0 = 5b 1b (40+k) 9c; after
	// ^>>16 byte0 = 9c^1b = 87, byte1 = (40+k)^5b; after ^>>8 byte0 =
	// 87 ^ (40+k)^5b = 9c, 9d, 9e, 9f for k = 0..3. After >>1 the parity is
	// bit 1 of that byte: 0, 0, 1, 1. So the load is even, 2000/2000.
	args := []string{"--policy", "layer3+4", "--slaves", "2", "--json"}
	for p := 40000; p < 40004; p++ {
		args = append(args, "udp:198.18.0.1:"+strconv.Itoa(p)+"-198.18.0.2:7000,bytes=1000")
	}
	code, out, errs := runBondHashCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res bondHashResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	want := []int{0, 0, 1, 1}
	for i, f := range res.Flows {
		if f.Slave != want[i] {
			t.Errorf("flow %d (port %d) on slave %d, want %d", i, f.SrcPort, f.Slave, want[i])
		}
	}
	if res.Imbalance != 1 || len(res.Moves) != 0 {
		t.Errorf("imbalance %v moves %+v", res.Imbalance, res.Moves)
	}

	// layer2+3 puts every flow between the same hosts and MACs on one slave:
	// with the test MACs the hash is 0x03030b08 (bond/hash_test.go), even:
	// 4000 bytes on slave 0. The greedy suggestion moves
	// one 1000-byte flow (4000-0 > 1000), then another (3000-1000 > 1000),
	// then stops (2000-2000 = 0).
	args[1] = "layer2+3"
	for i := 5; i < len(args); i++ {
		args[i] += ",smac=02:00:00:00:00:01,dmac=02:00:00:00:00:02"
	}
	code, out, errs = runBondHashCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	res = bondHashResult{}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Slaves[0].Bytes != 4000 || res.Imbalance != 2 || len(res.Moves) != 2 {
		t.Fatalf("layer2+3: slaves %+v imbalance %v moves %+v", res.Slaves, res.Imbalance, res.Moves)
	}
	for _, m := range res.Moves {
		if m.From != 0 || m.To != 1 || m.SrcPort != nil {
			t.Errorf("move %+v", m)
		}
	}
}

func TestBondHashPcap(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	frame := func(src, dst string, sp, dp uint16, size int) []byte {
		b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0}
		s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0}
		binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
		b = append(append(append(b, ip...), s[:]...), d[:]...)
		b = binary.BigEndian.AppendUint16(b, sp)
		b = binary.BigEndian.AppendUint16(b, dp)
		b = binary.BigEndian.AppendUint16(b, uint16(size-34))
		b = append(b, 0, 0)
		return append(b, make([]byte, size-len(b))...)
	}
	write := func(b []byte) {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		write(frame("198.18.0.1", "198.18.0.2", 40000, 7000, 1000)) // slave 0
	}
	write(frame("198.18.0.1", "198.18.0.2", 40002, 7000, 100)) // slave 1
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runBondHashCmd(t, "--policy", "layer3+4", "--slaves", "2", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res bondHashResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Flows) != 2 || res.Flows[0].Packets != 3 || res.Flows[0].Bytes != 3000 || res.Flows[0].Slave != 0 ||
		res.Flows[1].SrcPort != 40002 || res.Flows[1].Slave != 1 {
		t.Fatalf("flows = %+v", res.Flows)
	}
	if res.Slaves[0].Bytes != 3000 || res.Slaves[1].Bytes != 100 {
		t.Errorf("slaves = %+v", res.Slaves)
	}
	// Text output names the flows and the slaves.
	code, out, errs = runBondHashCmd(t, "--policy", "layer3+4", "--slaves", "2", path)
	if code != 0 || !strings.Contains(out, "198.18.0.1:40000") || !strings.Contains(out, "imbalance") {
		t.Fatalf("text: exit %d\n%s%s", code, out, errs)
	}
}

func TestBondHashBadUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--policy", "layer5", "--slaves", "2", "tcp:198.18.0.1:1-198.18.0.2:2"}, "valid: layer2, layer3+4, layer2+3, encap2+3, encap3+4, vlan+srcmac"},
		{[]string{"--policy", "layer2", "--slaves", "0", "tcp:198.18.0.1:1-198.18.0.2:2"}, "--slaves"},
		{[]string{"--policy", "layer2", "--slaves", "2", "--kernel", "2.4", "tcp:198.18.0.1:1-198.18.0.2:2"}, "unknown kernel variant"},
		{[]string{"--policy", "vlan+srcmac", "--slaves", "2", "--kernel", "4.15", "tcp:198.18.0.1:1-198.18.0.2:2"}, "needs kernel 5.12"},
		{[]string{"--policy", "layer2", "--slaves", "2", "tcp:198.18.0.1-198.18.0.2:2"}, "port missing"},
		{[]string{"--policy", "layer2", "--slaves", "2", "icmp:198.18.0.1:5-198.18.0.2"}, "no ports"},
		{[]string{"--policy", "layer2", "--slaves", "2", "bogus:198.18.0.1:1-198.18.0.2:2"}, "unknown protocol"},
		{[]string{"--policy", "layer2", "--slaves", "2", "tcp:198.18.0.1:1-[2001:db8::1]:2"}, "address families"},
		{[]string{"--policy", "layer2", "--slaves", "2", "tcp:198.18.0.1:1-198.18.0.2:2,color=red"}, "unknown option"},
		{[]string{"--slaves", "2", "tcp:198.18.0.1:1-198.18.0.2:2"}, "policy"},
	}
	for _, c := range cases {
		code, _, errs := runBondHashCmd(t, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, errs, c.want)
		}
	}
	// A missing capture file is a failure, not a usage error.
	if code, _, errs := runBondHashCmd(t, "--policy", "layer2", "--slaves", "2", filepath.Join(t.TempDir(), "none.pcap")); code != 1 {
		t.Errorf("missing file: exit %d (%s)", code, errs)
	}
}
