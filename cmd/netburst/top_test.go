package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/packet"
)

// runNetburst runs the command line and returns its exit status and output.
func runNetburst(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func topJSON(t *testing.T, args ...string) topOutput {
	t.Helper()
	code, out, errs := runNetburst(t, append([]string{"top", "--json", "-n", "0"}, args...)...)
	if code != 0 {
		t.Fatalf("netburst top %v: exit %d: %s", args, code, errs)
	}
	var res topOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode JSON: %v\n%s", err, out)
	}
	return res
}

// tally is per-key packets and bytes, the common form of both sides of an
// oracle comparison.
type tally struct {
	total packet.Counter
	ports map[string]packet.Counter // "tcp/7000"
	hosts map[string]packet.Counter // "src>dst"
	convs map[string]packet.Counter // "tcp a:p<->b:p" with the endpoints sorted
}

func newTally() *tally {
	return &tally{ports: map[string]packet.Counter{}, hosts: map[string]packet.Counter{}, convs: map[string]packet.Counter{}}
}

func add(m map[string]packet.Counter, k string, n uint64) {
	c := m[k]
	c.Packets++
	c.Bytes += n
	m[k] = c
}

func convKey(proto, a, ap, b, bp string) string {
	x, y := a+":"+ap, b+":"+bp
	if y < x {
		x, y = y, x
	}
	return proto + " " + x + "<->" + y
}

// tallyOf turns netburst's summary into a tally.
func tallyOf(s packet.Summary) *tally {
	t := newTally()
	t.total = s.Counter
	for _, p := range s.Ports {
		t.ports[fmt.Sprintf("%s/%d", p.Protocol, p.Port)] = p.Counter
	}
	for _, h := range s.Hosts {
		t.hosts[h.Src.String()+">"+h.Dst.String()] = h.Counter
	}
	for _, c := range s.Conversations {
		t.convs[convKey(c.Protocol, c.Src.String(), strconv.Itoa(int(c.SrcPort)), c.Dst.String(), strconv.Itoa(int(c.DstPort)))] = c.Counter
	}
	return t
}

// tsharkFieldArgs are the fields parseTsharkFields reads, first occurrence
// only (an ICMP error's quoted header is a second occurrence).
var tsharkFieldArgs = []string{"-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
	"-e", "frame.len", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
	"-e", "ip.proto", "-e", "ipv6.nxt", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport"}

// parseTsharkFields aggregates tshark's per-frame fields the way Wireshark's
// statistics would.
func parseTsharkFields(r io.Reader) (*tally, error) {
	t := newTally()
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 11 {
			return nil, fmt.Errorf("line %d: %d fields: %q", line, len(f), sc.Text())
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: frame.len %q", line, f[0])
		}
		t.total.Packets++
		t.total.Bytes += n
		src, dst, proto := f[1], f[2], f[5]
		if src == "" {
			src, dst, proto = f[3], f[4], f[6]
		}
		if src == "" {
			continue
		}
		add(t.hosts, src+">"+dst, n)
		if proto == "1" || proto == "58" { // the ports would be the quoted packet's
			continue
		}
		for _, l4 := range []struct {
			name   string
			sp, dp string
		}{{"tcp", f[7], f[8]}, {"udp", f[9], f[10]}} {
			if l4.sp == "" {
				continue
			}
			add(t.ports, l4.name+"/"+l4.dp, n)
			add(t.convs, convKey(l4.name, src, l4.sp, dst, l4.dp), n)
		}
	}
	return t, sc.Err()
}

func tsharkTally(t *testing.T, file string, extra ...string) *tally {
	t.Helper()
	args := append([]string{"-n", "-r", file}, extra...)
	out, err := exec.Command("tshark", append(args, tsharkFieldArgs...)...).Output()
	if err != nil {
		t.Fatalf("tshark -T fields %s: %v", file, err)
	}
	tl, err := parseTsharkFields(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("tshark output: %v", err)
	}
	return tl
}

func compareTallies(t *testing.T, got, want *tally) {
	t.Helper()
	if got.total != want.total {
		t.Errorf("totals: netburst %+v, tshark %+v", got.total, want.total)
	}
	for _, tbl := range []struct {
		name      string
		got, want map[string]packet.Counter
	}{{"port", got.ports, want.ports}, {"host pair", got.hosts, want.hosts}, {"conversation", got.convs, want.convs}} {
		for k, w := range tbl.want {
			if g := tbl.got[k]; g != w {
				t.Errorf("%s %s: netburst %+v, tshark %+v", tbl.name, k, g, w)
			}
		}
		for k, g := range tbl.got {
			if _, ok := tbl.want[k]; !ok {
				t.Errorf("%s %s: netburst %+v, absent from tshark", tbl.name, k, g)
			}
		}
	}
}

// tsharkConv is one row of `tshark -q -z conv,PROTO`: the frame counts are
// exact (the byte columns are rounded to kB, so the fields above give bytes).
type tsharkConv struct {
	a, b                 string
	fromB, fromA, frames uint64
}

func tsharkConvs(t *testing.T, file, proto string) map[string]tsharkConv {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-q", "-r", file, "-z", "conv,"+proto).Output()
	if err != nil {
		t.Fatalf("tshark -z conv,%s: %v", proto, err)
	}
	res := map[string]tsharkConv{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[1] != "<->" {
			continue
		}
		// A <-> B  framesB->A bytes unit  framesA->B bytes unit  frames bytes unit ...
		num := func(s string) uint64 {
			v, err := strconv.ParseUint(strings.ReplaceAll(s, ",", ""), 10, 64)
			if err != nil {
				t.Fatalf("conv line %q: %v", line, err)
			}
			return v
		}
		c := tsharkConv{a: f[0], b: f[2], fromB: num(f[3]), fromA: num(f[6]), frames: num(f[9])}
		// tshark writes addr:port without brackets, even for IPv6.
		split := func(s string) (string, string) {
			i := strings.LastIndexByte(s, ':')
			return s[:i], s[i+1:]
		}
		ah, ap := split(c.a)
		bh, bp := split(c.b)
		res[convKey(proto, ah, ap, bh, bp)] = c
	}
	return res
}

func compareConvTables(t *testing.T, s packet.Summary, file string) {
	t.Helper()
	for _, proto := range []string{"tcp", "udp"} {
		want := tsharkConvs(t, file, proto)
		n := 0
		for _, c := range s.Conversations {
			if c.Protocol != proto {
				continue
			}
			n++
			a := c.Src.String() + ":" + strconv.Itoa(int(c.SrcPort))
			b := c.Dst.String() + ":" + strconv.Itoa(int(c.DstPort))
			k := convKey(proto, c.Src.String(), strconv.Itoa(int(c.SrcPort)), c.Dst.String(), strconv.Itoa(int(c.DstPort)))
			w, ok := want[k]
			if !ok {
				t.Errorf("conv,%s: %s <-> %s missing from tshark", proto, a, b)
				continue
			}
			if w.a != a || w.b != b || w.frames != c.Packets || w.fromA != c.SrcToDst.Packets || w.fromB != c.DstToSrc.Packets {
				t.Errorf("conv,%s: netburst %s <-> %s frames %d (-> %d, <- %d); tshark %s <-> %s frames %d (-> %d, <- %d)", proto,
					a, b, c.Packets, c.SrcToDst.Packets, c.DstToSrc.Packets, w.a, w.b, w.frames, w.fromA, w.fromB)
			}
		}
		if n != len(want) {
			t.Errorf("conv,%s: netburst has %d conversations, tshark %d", proto, n, len(want))
		}
	}
}

// makeTraffic captures real traffic between two namespaces with tcpdump:
// ping, an iperf3 TCP stream, an iperf3 UDP stream and small UDP datagrams to
// closed ports (which draw ICMP port unreachables). It returns the file.
func makeTraffic(t *testing.T) string {
	nstest.RequireTool(t, "tcpdump")
	nstest.RequireTool(t, "iperf3")
	nstest.RequireTool(t, "ping")
	a, b := nstest.New(t), nstest.New(t)
	nb := nstest.VethPair(t, a, "nb0", b, "nb1")
	peer := nb.AddrB.String()
	file := filepath.Join(t.TempDir(), "traffic.pcap")

	stopDump := nstest.Tcpdump(t, b, "nb1", file, "-s", "128")

	b.Start(t, "iperf3", "-s", "-p", "5201")
	b.Start(t, "iperf3", "-s", "-p", "5202")
	time.Sleep(300 * time.Millisecond) // let the servers listen
	a.MustRun(t, "ping", "-c", "5", "-i", "0.05", peer)
	a.MustRun(t, "iperf3", "-c", peer, "-p", "5201", "-t", "1", "-b", "6M")
	err := a.Do(func() error {
		for i := 0; i < 30; i++ {
			c, err := net.Dial("udp", nb.BPort(7000+i%3))
			if err != nil {
				return err
			}
			_, _ = c.Write(make([]byte, 100+i*10))
			c.Close()
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("udp sender: %v", err)
	}
	a.MustRun(t, "iperf3", "-c", peer, "-p", "5202", "-u", "-t", "1", "-b", "2M", "-l", "1000")
	time.Sleep(200 * time.Millisecond)
	stopDump()
	return file
}

// TestTopOracle compares netburst top with tshark on real traffic captured by
// tcpdump: every port, host pair and conversation, the conversation tables'
// directions, the IPv4 endpoints, and a --from/--to slice against editcap.
func TestTopOracle(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.RequireTool(t, "tshark")
	nstest.RequireTool(t, "editcap")
	file := makeTraffic(t)
	res := topJSON(t, file)
	if res.Packets < 200 {
		t.Fatalf("only %d packets captured", res.Packets)
	}
	compareTallies(t, tallyOf(res.Summary), tsharkTally(t, file))
	compareConvTables(t, res.Summary, file)
	compareEndpoints(t, res.Summary, file)
	if top := res.Ports[0]; top.Protocol != "tcp" || top.Port != 5201 {
		t.Errorf("top port %s/%d, want tcp/5201 (the iperf3 TCP stream)", top.Protocol, top.Port)
	}

	// A slice in the middle, boundaries on exact packet timestamps to test
	// the half-open interval.
	times := frameTimes(t, file)
	from, to := times[len(times)/4], times[3*len(times)/4]
	fromS, toS := epoch(from), epoch(to)
	sliced := filepath.Join(t.TempDir(), "slice.pcap")
	if out, err := exec.Command("editcap", "-A", fromS, "-B", toS, file, sliced).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v: %s", err, out)
	}
	part := topJSON(t, "--from", fromS, "--to", toS, file)
	compareTallies(t, tallyOf(part.Summary), tsharkTally(t, sliced))
	// The same window in RFC 3339.
	part3339 := topJSON(t, "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano), file)
	if part3339.Counter != part.Counter {
		t.Errorf("RFC 3339 window %+v, epoch window %+v", part3339.Counter, part.Counter)
	}

	if os.Getenv("NETBURST_UPDATE_FIXTURES") != "" {
		saveFixture(t, file)
	}
}

func epoch(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

func frameTimes(t *testing.T, file string) []time.Time {
	r, err := packet.OpenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ts []time.Time
	var p packet.Packet
	for r.Next(&p) == nil {
		ts = append(ts, p.Time)
	}
	return ts
}

// compareEndpoints checks `tshark -z endpoints,ip` against sums of the host
// pairs.
func compareEndpoints(t *testing.T, s packet.Summary, file string) {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-q", "-r", file, "-z", "endpoints,ip").Output()
	if err != nil {
		t.Fatalf("tshark -z endpoints,ip: %v", err)
	}
	got := map[string]packet.Counter{}
	for _, h := range s.Hosts {
		if !h.Src.Is4() {
			continue // endpoints,ip is IPv4 only
		}
		for _, a := range []string{h.Src.String(), h.Dst.String()} {
			c := got[a]
			c.Packets += h.Packets
			c.Bytes += h.Bytes
			got[a] = c
		}
	}
	rows := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 7 || net.ParseIP(f[0]) == nil {
			continue
		}
		rows++
		p, _ := strconv.ParseUint(f[1], 10, 64)
		b, _ := strconv.ParseUint(f[2], 10, 64)
		if g := got[f[0]]; g.Packets != p || g.Bytes != b {
			t.Errorf("endpoint %s: netburst %+v, tshark %d packets %d bytes", f[0], g, p, b)
		}
	}
	if rows != len(got) {
		t.Errorf("endpoints: netburst %d, tshark %d", len(got), rows)
	}
}

// saveFixture commits the oracle's capture and tshark's fields of it to
// testdata, for TestTopFixtures on machines without root or tshark.
func saveFixture(t *testing.T, file string) {
	dir := filepath.Join("..", "..", "testdata", "pcap")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "veth-mix.pcap"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tshark", append([]string{"-n", "-r", file}, tsharkFieldArgs...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "veth-mix.tshark.tsv"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTopFixtures runs without root or tshark: committed captures against
// tshark's fields of them, recorded when they were made (see saveFixture).
func TestTopFixtures(t *testing.T) {
	for _, name := range []string{"veth-mix", "synthetic"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "testdata", "pcap")
			f, err := os.Open(filepath.Join(dir, name+".tshark.tsv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			want, err := parseTsharkFields(f)
			if err != nil {
				t.Fatal(err)
			}
			ext := ".pcap"
			if name == "synthetic" {
				ext = ".pcapng"
			}
			res := topJSON(t, filepath.Join(dir, name+ext))
			compareTallies(t, tallyOf(res.Summary), want)
		})
	}
}

// TestSyntheticFixtureMatchesTshark regenerates the synthetic fixture (VLAN
// tags, IPv6 with extension headers, fragments, cooked capture) and, with
// tshark present, checks it against tshark directly.
func TestSyntheticFixtureMatchesTshark(t *testing.T) {
	file := filepath.Join(t.TempDir(), "synthetic.pcapng")
	writeSynthetic(t, file)
	now, _ := os.ReadFile(file)
	committed, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pcap", "synthetic.pcapng"))
	if os.Getenv("NETBURST_UPDATE_FIXTURES") != "" {
		if err := os.WriteFile(filepath.Join("..", "..", "testdata", "pcap", "synthetic.pcapng"), now, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("tshark", append([]string{"-n", "-r", file}, tsharkFieldArgs...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "testdata", "pcap", "synthetic.tshark.tsv"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(committed, now) {
		t.Errorf("testdata/pcap/synthetic.pcapng differs from writeSynthetic's output; regenerate with NETBURST_UPDATE_FIXTURES=1")
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipping the live tshark comparison: tshark not in PATH")
	}
	res := topJSON(t, file)
	compareTallies(t, tallyOf(res.Summary), tsharkTally(t, file))
	compareConvTables(t, res.Summary, file)
}

// writeSynthetic writes a pcapng file with two interfaces (Ethernet and Linux
// cooked) holding what real veth captures lack: VLAN and QinQ tags, MPLS and
// PPPoE sessions, MACsec, an IPv4 header with a bogus total length, IPv6 with a
// hop-by-hop header, ICMP, ARP, and later (non-first) IPv4 fragments,
// which both tshark and netburst count in the host pairs only. (A first
// fragment is left out: tshark's default reassembly attributes the datagram's
// ports to the last fragment's frame; docs/capture.md explains.)
func writeSynthetic(t *testing.T, file string) {
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535,
		TimestampResolution: 9}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "netburst test"}})
	if err != nil {
		t.Fatal(err)
	}
	sll, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: layers.LinkTypeLinuxSLL, SnapLength: 65535, TimestampResolution: 9})
	if err != nil {
		t.Fatal(err)
	}
	mac1 := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	v4 := []net.IP{{198, 18, 5, 1}, {198, 18, 5, 2}, {198, 18, 5, 3}}
	v6 := []net.IP{net.ParseIP("2001:db8:5::1"), net.ParseIP("2001:db8:5::2")}
	base := time.Unix(1700000000, 0)
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		for _, l := range ls {
			if tl, ok := l.(interface {
				SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
			}); ok {
				for _, n := range ls {
					if nl, ok := n.(gopacket.NetworkLayer); ok {
						_ = tl.SetNetworkLayerForChecksum(nl)
					}
				}
			}
		}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	i := 0
	write := func(iface int, frame []byte) {
		i++
		ci := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * 7 * time.Millisecond), CaptureLength: len(frame), Length: len(frame), InterfaceIndex: iface}
		if err := w.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}
	pay := func(n int) gopacket.Payload { return make(gopacket.Payload, n) }
	for k := 0; k < 20; k++ {
		a, b := v4[k%3], v4[(k+1)%3]
		// Plain, tagged and double-tagged TCP and UDP.
		write(0, ser(&layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: a, DstIP: b},
			&layers.TCP{SrcPort: layers.TCPPort(40000 + k%4), DstPort: 7000, ACK: true, Window: 100}, pay(100*k)))
		write(0, ser(&layers.Ethernet{SrcMAC: mac2, DstMAC: mac1, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: b, DstIP: a},
			&layers.TCP{SrcPort: 7000, DstPort: layers.TCPPort(40000 + k%4), ACK: true, Window: 100}, pay(10)))
		write(0, ser(&layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeQinQ},
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 20, Type: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: a, DstIP: b},
			&layers.UDP{SrcPort: 5353, DstPort: layers.UDPPort(53 + k%2)}, pay(40+k)))
		// IPv6 UDP with a hop-by-hop header, over Linux cooked capture.
		hbh := gopacket.Payload{17, 0, 1, 4, 0, 0, 0, 0}
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: v6[k%2], DstIP: v6[(k+1)%2]}
		udp6 := &layers.UDP{SrcPort: 9000, DstPort: layers.UDPPort(4789 + k%3)}
		body := ser(ip6, hbh, udp6, pay(200))
		// The UDP checksum over a hop-by-hop header is gopacket's business;
		// tshark does not verify checksums by default.
		cooked := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x86, 0xdd}, body...)
		write(sll, cooked)
		// ICMP echo and a non-first IPv4 fragment: host pairs only.
		write(0, ser(&layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: a, DstIP: b},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: uint16(k)}, pay(56)))
		write(0, ser(&layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: b, DstIP: a, Id: uint16(k), FragOffset: 185}, pay(300)))
		// MPLS (two labels) and PPPoE sessions: their IP inside counts,
		// as in tshark.
		write(0, ser(&layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeMPLSUnicast},
			&layers.MPLS{Label: 100 + uint32(k), TTL: 64}, &layers.MPLS{Label: 16, StackBottom: true, TTL: 64},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: a, DstIP: b},
			&layers.TCP{SrcPort: 45000, DstPort: 3260, ACK: true, Window: 100}, pay(300)))
		write(0, ser(&layers.Ethernet{SrcMAC: mac2, DstMAC: mac1, EthernetType: layers.EthernetTypePPPoESession},
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 0x1234},
			&layers.PPP{PPPType: layers.PPPTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: b, DstIP: a},
			&layers.UDP{SrcPort: 1194, DstPort: 1194}, pay(120)))
		if k%5 == 0 {
			// A bogus IPv4 total length (shorter than the header): tshark
			// shows the addresses and decodes nothing above.
			bogus := ser(&layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeIPv4},
				&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: a, DstIP: b},
				&layers.UDP{SrcPort: 9, DstPort: 9}, pay(20))
			bogus[14+2], bogus[14+3] = 0, 12
			write(0, bogus)
		}
		if k%10 == 0 {
			// MACsec (SecTAG, then ciphertext): totals only, counted as such.
			write(0, ser(&layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetType(0x88E5)},
				gopacket.Payload{0x2c, 0, 0, 0, 0, byte(k + 1), 2, 0, 0, 0, 0, 1, 0, 1}, pay(80)))
		}
		// ARP: totals only.
		write(0, ser(&layers.Ethernet{SrcMAC: mac1, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
				SourceHwAddress: mac1, SourceProtAddress: a, DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: b}))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"1700000000", time.Unix(1700000000, 0), false},
		{"1700000000.25", time.Unix(1700000000, 250000000), false},
		{"1700000000.123456789", time.Unix(1700000000, 123456789), false},
		{"2023-11-14T22:13:20.5Z", time.Unix(1700000000, 500000000), false},
		{"2023-11-14T23:13:20+01:00", time.Unix(1700000000, 0), false},
		{"1700000000.", time.Time{}, true},
		{"1700000000.1234567891", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && !got.Equal(tt.want)) {
			t.Errorf("parseTime(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestTopUsage(t *testing.T) {
	fixture := filepath.Join("..", "..", "testdata", "pcap", "synthetic.pcapng")
	bad := filepath.Join(t.TempDir(), "bad.pcap")
	if err := os.WriteFile(bad, []byte("not a capture"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad from", []string{"top", "--from", "noon", fixture}, 2, "--from"},
		{"bad to", []string{"top", "--to", "1.x", fixture}, 2, "--to"},
		{"empty window", []string{"top", "--from", "1700000001", "--to", "1700000001", fixture}, 2, "not before"},
		{"bad by", []string{"top", "--by", "mac", fixture}, 2, "mac"},
		{"negative n", []string{"top", "-n", "-1", fixture}, 2, "-n"},
		{"no file", []string{"top"}, 2, "file"},
		{"missing file", []string{"top", filepath.Join(t.TempDir(), "none.pcap")}, 1, "no such file"},
		{"not a capture", []string{"top", bad}, 1, "bad.pcap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runNetburst(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.msg) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", code, errs, tt.code, tt.msg)
			}
		})
	}
}

func TestTopText(t *testing.T) {
	fixture := filepath.Join("..", "..", "testdata", "pcap", "synthetic.pcapng")
	res := topJSON(t, fixture)
	for _, tt := range []struct {
		by, header, first string
	}{
		{"port", "PROTO", fmt.Sprintf("%d", res.Ports[0].Port)},
		{"host", "SOURCE", res.Hosts[0].Src.String()},
		{"conversation", "B->A", res.Conversations[0].Src.String()},
	} {
		code, out, errs := runNetburst(t, "top", "--by", tt.by, "-n", "3", fixture)
		if code != 0 {
			t.Fatalf("--by %s: exit %d: %s", tt.by, code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		// The fixture has frames that do not decode (bogus IPv4 lengths)
		// and MACsec frames: their lines come after the summary.
		var notes []string
		lines = slices.DeleteFunc(lines, func(l string) bool {
			if strings.Contains(l, "could not be fully decoded") || strings.Contains(l, "encrypted by MACsec") {
				notes = append(notes, l)
				return true
			}
			return false
		})
		if want := fmt.Sprintf("%d frames, %d bytes encrypted by MACsec (counted in the totals only)", res.MACsec.Packets, res.MACsec.Bytes); res.MACsec.Packets == 0 || !slices.Contains(notes, want) {
			t.Errorf("--by %s: MACsec line %q missing from %q", tt.by, want, notes)
		}
		// Summary line, blank, header, three rows.
		if len(lines) != 6 || !strings.Contains(lines[2], tt.header) || !strings.Contains(lines[3], tt.first) {
			t.Errorf("--by %s output:\n%s", tt.by, out)
		}
		if !strings.Contains(lines[0], fmt.Sprintf("%d packets, %d bytes", res.Packets, res.Bytes)) {
			t.Errorf("--by %s summary line %q", tt.by, lines[0])
		}
	}
}

// TestTopJSONSchema checks the documented keys of `top --json` (docs/capture.md).
func TestTopJSONSchema(t *testing.T) {
	fixture := filepath.Join("..", "..", "testdata", "pcap", "synthetic.pcapng")
	code, out, errs := runNetburst(t, "top", "--json", "--from", "1700000000", "--to", "1700000001", fixture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"file", "from", "to", "start", "end", "packets", "bytes", "peak_bytes_per_second",
		"ports", "hosts", "conversations", "tunnels", "tunnelled", "overflow", "macsec", "undecoded_frames"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("output lacks %q", k)
		}
	}
	entries := map[string][]string{
		"ports":         {"protocol", "port", "packets", "bytes", "peak_bytes_per_second"},
		"hosts":         {"src", "dst", "packets", "bytes", "peak_bytes_per_second"},
		"conversations": {"protocol", "src", "src_port", "dst", "dst_port", "packets", "bytes", "src_to_dst", "dst_to_src", "peak_bytes_per_second"},
	}
	for table, keys := range entries {
		list, _ := raw[table].([]any)
		if len(list) == 0 {
			t.Errorf("%s is empty", table)
			continue
		}
		for _, k := range keys {
			if _, ok := list[0].(map[string]any)[k]; !ok {
				t.Errorf("%s entry lacks %q", table, k)
			}
		}
	}
}

// TestTopSVG: --svg writes the file's throughput over time as SVG, every
// byte of the summary in one of its bins, the top port in its legend.
func TestTopSVG(t *testing.T) {
	fixture := filepath.Join("..", "..", "testdata", "pcap", "synthetic.pcapng")
	tl := packet.NewTimelineBuilder(0, 0)
	res, err := topFile(context.Background(), fixture, nil, nil, 10, packet.DefaultMaxFlows, tl)
	if err != nil {
		t.Fatal(err)
	}
	timeline := tl.Timeline(svgPorts)
	var sum uint64
	for _, v := range timeline.Total {
		sum += v
	}
	if sum != res.Bytes || len(timeline.Series) == 0 {
		t.Fatalf("timeline holds %d bytes in %d series, the summary %d", sum, len(timeline.Series), res.Bytes)
	}
	svg := filepath.Join(t.TempDir(), "top.svg")
	code, _, errs := runNetburst(t, "top", "--svg", svg, fixture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("not XML: %v", err)
		}
	}
	if top := timeline.Series[0].Label(); !strings.Contains(string(b), top) || !strings.Contains(string(b), "synthetic.pcapng") {
		t.Errorf("the SVG names neither the top port %s nor the file", top)
	}
	if code, _, errs := runNetburst(t, "top", "--svg", filepath.Join(t.TempDir(), "no", "such", "dir.svg"), fixture); code != 1 || !strings.Contains(errs, "--svg") {
		t.Errorf("--svg into a missing directory: exit %d, %q", code, errs)
	}
}
