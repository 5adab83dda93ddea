package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/packet"
	pt "github.com/netburst/netburst/packet/packettest"
)

// tunnelTally is a tally of tunnelled traffic: hosts and ports inside,
// conversations keyed by their tunnel too, and the tunnels by outer pair.
type tunnelTally struct {
	*tally
	tunnels map[string]packet.Counter
}

// tunnelOf names a tunnel and its ID the way both sides of the comparison
// key it.
func tunnelOf(kind string, id *uint32) string {
	if id == nil {
		return kind
	}
	return fmt.Sprintf("%s/%d", kind, *id)
}

func tunnelTallyOf(s packet.Summary) *tunnelTally {
	t := &tunnelTally{tally: newTally(), tunnels: map[string]packet.Counter{}}
	t.total = s.Counter
	for _, p := range s.Ports {
		t.ports[fmt.Sprintf("%s/%d", p.Protocol, p.Port)] = p.Counter
	}
	for _, h := range s.Hosts {
		t.hosts[h.Src.String()+">"+h.Dst.String()] = h.Counter
	}
	for _, c := range s.Conversations {
		k := convKey(c.Protocol, c.Src.String(), fmt.Sprint(c.SrcPort), c.Dst.String(), fmt.Sprint(c.DstPort))
		if c.Tunnel != "" {
			k += " in " + tunnelOf(c.Tunnel, c.TunnelID)
		}
		t.convs[k] = c.Counter
	}
	for _, u := range s.Tunnels {
		t.tunnels[tunnelOf(u.Tunnel, u.TunnelID)+" "+u.Src.String()+">"+u.Dst.String()] = u.Counter
	}
	return t
}

// tsharkTunnelArgs are the fields parseTsharkTunnels reads: every
// occurrence, so that the innermost IP header, the transport after it and
// the outermost tunnel can be told apart by frame.protocols.
var tsharkTunnelArgs = []string{"-d", "udp.port==8472,vxlan", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
	"-e", "frame.len", "-e", "frame.protocols", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
	"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport",
	"-e", "vxlan.vni", "-e", "geneve.vni", "-e", "gre.key", "-e", "erspan.spanid", "-e", "gtp.teid"}

// parseTsharkTunnels aggregates tshark's fields as netburst attributes
// tunnelled frames: by the last IP header and the TCP or UDP header right
// after it, the conversation keyed by the outermost tunnel and its ID, the
// tunnel by the first IP header.
func parseTsharkTunnels(r io.Reader) (*tunnelTally, error) {
	t := &tunnelTally{tally: newTally(), tunnels: map[string]packet.Counter{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 15 {
			return nil, fmt.Errorf("line %d: %d fields", line, len(f))
		}
		var n uint64
		if _, err := fmt.Sscan(f[0], &n); err != nil {
			return nil, fmt.Errorf("line %d: frame.len %q", line, f[0])
		}
		t.total.Packets++
		t.total.Bytes += n
		list := func(i int) []string {
			if f[i] == "" {
				return nil
			}
			return strings.Split(f[i], ",")
		}
		ip4s, ip4d, ip6s, ip6d := list(2), list(3), list(4), list(5)
		tcps, tcpd, udps, udpd := list(6), list(7), list(8), list(9)
		var (
			i4, i6, it, iu     int
			ips                int
			src, dst           string
			outerSrc, outerDst string
			l4, sp, dp         string
			tunnel             string
			prev               string
		)
		protos := strings.Split(f[1], ":")
		if i := slices.IndexFunc(protos, func(p string) bool { return p == "icmp" || p == "icmpv6" }); i >= 0 {
			protos = protos[:i+1] // what an ICMP error quotes is not a tunnel's inside
		}
		for _, p := range protos {
			switch p {
			case "ip", "ipv6":
				if p == "ip" {
					src, dst, i4 = ip4s[i4], ip4d[i4], i4+1
				} else {
					src, dst, i6 = ip6s[i6], ip6d[i6], i6+1
				}
				if ips == 0 {
					outerSrc, outerDst = src, dst
				} else if ips == 1 && tunnel == "" && (prev == "ip" || prev == "ipv6") {
					tunnel = "ipip"
				}
				ips++
				l4 = ""
			case "tcp":
				if l4 == "" {
					l4, sp, dp = "tcp", tcps[it], tcpd[it]
				}
				it++
			case "udp":
				if l4 == "" {
					l4, sp, dp = "udp", udps[iu], udpd[iu]
				}
				iu++
			case "vxlan", "geneve", "gtp", "gre", "erspan":
				if tunnel == "" || (tunnel == "gre" && p == "erspan" && prev == "gre") {
					tunnel = p
				}
			}
			prev = p
		}
		if src == "" {
			continue
		}
		if ips < 2 {
			tunnel = "" // a tunnel header with no IP inside counts under it
		}
		first := func(i int) *uint32 {
			if v := list(i); len(v) > 0 {
				var id uint32
				if _, err := fmt.Sscan(v[0], &id); err == nil {
					return &id
				}
			}
			return nil
		}
		var id *uint32
		switch tunnel {
		case "vxlan":
			id = first(10)
		case "geneve":
			id = first(11)
		case "gre":
			id = first(12)
		case "erspan":
			id = first(13)
		case "gtp":
			tunnel, id = "gtpu", first(14)
		}
		// tshark shows the tunnel headers of a frame whose inside holds
		// no IP too: netburst counts those under the tunnel all the same.
		if tunnel == "" && ips == 1 {
			for _, p := range protos {
				if p == "vxlan" || p == "geneve" {
					tunnel, id = p, first(map[string]int{"vxlan": 10, "geneve": 11}[p])
				}
			}
		}
		if tunnel != "" {
			add(t.tunnels, tunnelOf(tunnel, id)+" "+outerSrc+">"+outerDst, n)
		}
		add(t.hosts, src+">"+dst, n)
		if l4 != "" {
			add(t.ports, l4+"/"+dp, n)
			k := convKey(l4, src, sp, dst, dp)
			if tunnel != "" && ips > 1 {
				k += " in " + tunnelOf(tunnel, id)
			}
			add(t.convs, k, n)
		}
	}
	return t, sc.Err()
}

func compareTunnelTallies(t *testing.T, got, want *tunnelTally) {
	t.Helper()
	compareTallies(t, got.tally, want.tally)
	for k, w := range want.tunnels {
		if g := got.tunnels[k]; g != w {
			t.Errorf("tunnel %s: netburst %+v, tshark %+v", k, g, w)
		}
	}
	for k, g := range got.tunnels {
		if _, ok := want.tunnels[k]; !ok {
			t.Errorf("tunnel %s: netburst %+v, absent from tshark", k, g)
		}
	}
}

// TestTunnelFixtureMatchesTshark regenerates the tunnel fixture (every
// encapsulation netburst opens, written with gopacket's serializer by
// writeTunnels below) and compares netburst top with tshark's reading of
// it: the one recorded when the fixture was made and, with tshark present,
// tshark itself.
func TestTunnelFixtureMatchesTshark(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "pcap")
	file := filepath.Join(t.TempDir(), "tunnels.pcapng")
	writeTunnels(t, file)
	now, _ := os.ReadFile(file)
	if os.Getenv("NETBURST_UPDATE_FIXTURES") != "" {
		if err := os.WriteFile(filepath.Join(dir, "tunnels.pcapng"), now, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("tshark", append([]string{"-n", "-r", file}, tsharkTunnelArgs...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tunnels.tshark.tsv"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(filepath.Join(dir, "tunnels.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, now) {
		t.Errorf("testdata/pcap/tunnels.pcapng differs from writeTunnels' output; regenerate with NETBURST_UPDATE_FIXTURES=1")
	}
	res := topJSON(t, filepath.Join(dir, "tunnels.pcapng"))
	got := tunnelTallyOf(res.Summary)
	recorded, err := os.ReadFile(filepath.Join(dir, "tunnels.tshark.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := parseTsharkTunnels(bytes.NewReader(recorded))
	if err != nil {
		t.Fatal(err)
	}
	compareTunnelTallies(t, got, want)
	if len(res.Tunnels) < 9 {
		t.Errorf("%d tunnels in the summary, want the fixture's 9 or more: %+v", len(res.Tunnels), res.Tunnels)
	}
	if res.Undecoded != 0 {
		t.Errorf("%d undecoded frames", res.Undecoded)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipping the live tshark comparison: tshark not in PATH")
	}
	out, err := exec.Command("tshark", append([]string{"-n", "-r", file}, tsharkTunnelArgs...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	live, err := parseTsharkTunnels(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	compareTunnelTallies(t, got, live)
}

// writeTunnels writes a pcapng file of tunnelled traffic: VXLAN on 4789
// (two VNIs carrying the same tenant addresses and ports) and on Linux's
// 8472, Geneve with options, GRE with a key, gretap, ERSPAN II and III, IPIP,
// 6in4, 4in6, GTP-U with an extension header, VXLAN inside GRE, ARP inside
// VXLAN, and plain traffic beside them.
func writeTunnels(t *testing.T, file string) {
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
	base := time.Unix(1700000000, 0)
	i := 0
	write := func(ls ...gopacket.SerializableLayer) {
		i++
		frame := pt.Serialize(t, ls...)
		ci := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * 3 * time.Millisecond), CaptureLength: len(frame), Length: len(frame)}
		if err := w.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}
	pay := func(n int) gopacket.Payload { return make(gopacket.Payload, n) }
	e4 := func() *layers.Ethernet { return pt.Eth(layers.EthernetTypeIPv4) }
	e6 := func() *layers.Ethernet { return pt.Eth(layers.EthernetTypeIPv6) }
	inner4 := func(k int) []gopacket.SerializableLayer {
		tcp := pt.InnerTCP()
		tcp.SrcPort += layers.TCPPort(k % 2)
		return []gopacket.SerializableLayer{pt.Eth(layers.EthernetTypeIPv4), pt.InnerIP4(layers.IPProtocolTCP), tcp, pay(100 + 10*k)}
	}
	cat := pt.Layers
	for k := 0; k < 12; k++ {
		write(cat(e4(), pt.IP4(layers.IPProtocolUDP), pt.OuterUDP(4789), pt.VXLAN(100), inner4(k))...)
		write(cat(e4(), pt.IP4(layers.IPProtocolUDP), pt.OuterUDP(4789), pt.VXLAN(200), inner4(k))...)
		write(cat(e6(), pt.IP6(layers.IPProtocolUDP), pt.OuterUDP(8472), pt.VXLAN(7), inner4(k))...)
		write(cat(e4(), pt.IP4(layers.IPProtocolUDP), pt.OuterUDP(6081), pt.Geneve(0x6558, 0x1234, 2),
			pt.Eth(layers.EthernetTypeIPv6), pt.InnerIP6(layers.IPProtocolTCP), pt.InnerTCP(), pay(300))...)
		write(e4(), pt.IP4(layers.IPProtocolGRE), pt.GRE(0x0800, true, 77, true), pt.InnerIP4(layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 5000, DstPort: 4791}, pay(200+k))
		write(cat(e6(), pt.IP6(layers.IPProtocolGRE), pt.GRE(0x6558, false, 0xabcd01, false), inner4(k))...)
		write(cat(e4(), pt.IP4(layers.IPProtocolGRE), pt.GRE(0x88BE, false, -1, true), pt.ERSPAN2(300), inner4(k))...)
		write(cat(e4(), pt.IP4(layers.IPProtocolGRE), pt.GRE(0x22EB, false, -1, true), pt.ERSPAN3(301, k%2 == 0), inner4(k))...)
		write(e4(), pt.IP4(layers.IPProtocolIPv4), pt.InnerIP4(layers.IPProtocolTCP), pt.InnerTCP(), pay(50))
		write(e4(), pt.IP4(layers.IPProtocolIPv6), pt.InnerIP6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 546, DstPort: 547}, pay(60))
		write(e6(), pt.IP6(layers.IPProtocolIPv4), pt.InnerIP4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 9999, DstPort: 53}, pay(70))
		gtpInner := pt.Serialize(t, pt.InnerIP4(layers.IPProtocolTCP), &layers.TCP{SrcPort: 50000, DstPort: 443, ACK: true, Window: 9}, pay(400))
		write(e4(), pt.IP4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 2152, DstPort: 2152}, pt.GTPU(0x10000+uint32(k%3), len(gtpInner), k%2 == 1),
			gopacket.Payload(gtpInner))
		write(e4(), pt.IP4(layers.IPProtocolGRE), pt.GRE(0x0800, false, 5, false), pt.InnerIP4(layers.IPProtocolUDP), pt.OuterUDP(4789), pt.VXLAN(42),
			pt.Eth(layers.EthernetTypeIPv6), pt.InnerIP6(layers.IPProtocolTCP), pt.InnerTCP(), pay(90))
		if k%4 == 0 {
			write(e4(), pt.IP4(layers.IPProtocolUDP), pt.OuterUDP(4789), pt.VXLAN(100), pt.Eth(layers.EthernetTypeARP),
				&layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
					SourceHwAddress: pt.MACA, SourceProtAddress: pt.InnerV4A, DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: pt.InnerV4B})
		}
		write(e4(), pt.IP4(layers.IPProtocolTCP), pt.TCP(), pay(500))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestTopByTunnel: the text tables show the tunnels by outer pair and the
// conversations' tunnel column; the JSON has the tunnel keys.
func TestTopByTunnel(t *testing.T) {
	fixture := filepath.Join("..", "..", "testdata", "pcap", "tunnels.pcapng")
	code, out, errs := runNetburst(t, "top", "--by", "tunnel", "-n", "0", fixture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"TUNNEL  OUTER SOURCE", "frames, ", "bytes in tunnels, counted by their inner headers",
		"vxlan 100", "vxlan 200", "vxlan 7", "geneve 4660", "gre 77", "gre 11259137", "erspan 300", "erspan 301", "ipip", "gtpu 65536", "gre 5"} {
		if !strings.Contains(out, want) {
			t.Errorf("--by tunnel output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "159 frames, 41892 bytes in tunnels") {
		t.Errorf("the tunnelled total is not the fixture's 159 frames, 41892 bytes (all but the 12 plain 554-byte TCP frames):\n%s", out)
	}
	code, out, errs = runNetburst(t, "top", "--by", "conversation", "-n", "0", fixture)
	if code != 0 || !strings.Contains(out, "TUNNEL") || !strings.Contains(out, "vxlan 100") {
		t.Errorf("--by conversation: exit %d, %s\n%s", code, errs, out)
	}
	res := topJSON(t, fixture)
	var vni100, vni200 bool
	for _, c := range res.Conversations {
		if c.Tunnel == "vxlan" && c.TunnelID != nil && c.Src.String() == "198.19.0.1" && c.SrcPort == 41000 {
			vni100 = vni100 || *c.TunnelID == 100
			vni200 = vni200 || *c.TunnelID == 200
		}
	}
	if !vni100 || !vni200 {
		t.Errorf("the same tenant conversation in VNIs 100 and 200 is not two conversations: %v %v", vni100, vni200)
	}
}

// makeVXLANTraffic captures real VXLAN traffic made by the kernel: two
// namespaces joined by a veth (the underlay), two VXLAN devices over it
// (VNI 100 on IANA's port 4789, VNI 200 on Linux's default 8472), an iperf3
// TCP stream through the first, UDP datagrams and pings through the
// second, captured by tcpdump on the underlay. It returns the file.
func makeVXLANTraffic(t *testing.T) string {
	nstest.RequireTool(t, "tcpdump")
	nstest.RequireTool(t, "iperf3")
	nstest.RequireTool(t, "ping")
	a, b := nstest.New(t), nstest.New(t)
	under := nstest.VethPair(t, a, "nb0", b, "nb1")
	vx := func(ns *nstest.NS, name, vni, port, local, remote, dev, addr string) {
		ns.MustRun(t, "ip", "link", "add", name, "type", "vxlan", "id", vni, "local", local, "remote", remote, "dstport", port, "dev", dev)
		ns.MustRun(t, "ip", "addr", "add", addr, "dev", name)
		ns.MustRun(t, "ip", "link", "set", name, "up")
	}
	ua, ub := under.AddrA.String(), under.AddrB.String()
	vx(a, "vx100", "100", "4789", ua, ub, "nb0", "198.19.0.1/30")
	vx(b, "vx100", "100", "4789", ub, ua, "nb1", "198.19.0.2/30")
	vx(a, "vx200", "200", "8472", ua, ub, "nb0", "198.19.1.1/30")
	vx(b, "vx200", "200", "8472", ub, ua, "nb1", "198.19.1.2/30")
	file := filepath.Join(t.TempDir(), "vxlan.pcap")
	stop := nstest.Tcpdump(t, b, "nb1", file, "-s", "160")
	b.Start(t, "iperf3", "-s", "-p", "5201")
	time.Sleep(300 * time.Millisecond)
	a.MustRun(t, "ping", "-c", "5", "-i", "0.05", "198.19.1.2")
	a.MustRun(t, "iperf3", "-c", "198.19.0.2", "-p", "5201", "-t", "1", "-b", "4M")
	err := a.Do(func() error {
		for i := 0; i < 40; i++ {
			c, err := net.Dial("udp", fmt.Sprintf("198.19.1.2:%d", 9000+i%2))
			if err != nil {
				return err
			}
			_, _ = c.Write(make([]byte, 200+i))
			c.Close()
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("udp sender: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	stop()
	return file
}

// TestTopKernelVXLAN compares netburst top with tshark on VXLAN traffic the
// kernel encapsulated: the inner iperf3 stream is the top port, the two
// VNIs are two tunnels between the underlay addresses, and every table
// matches tshark's innermost reading. With NETBURST_UPDATE_FIXTURES the
// capture and tshark's fields of it become testdata/pcap/vxlan-kernel.*,
// which TestTunnelFixtures checks without root or tshark.
func TestTopKernelVXLAN(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.RequireTool(t, "tshark")
	file := makeVXLANTraffic(t)
	res := topJSON(t, file)
	if res.Packets < 100 {
		t.Fatalf("only %d packets captured", res.Packets)
	}
	if top := res.Ports[0]; top.Protocol != "tcp" || top.Port != 5201 {
		t.Errorf("top port %s/%d, want tcp/5201 (the iperf3 stream inside VNI 100)", top.Protocol, top.Port)
	}
	vnis := map[uint32]bool{}
	for _, tu := range res.Tunnels {
		if tu.Tunnel == "vxlan" && tu.TunnelID != nil && tu.Src.String() == "198.18.0.1" && tu.Dst.String() == "198.18.0.2" {
			vnis[*tu.TunnelID] = true
		}
	}
	if !vnis[100] || !vnis[200] {
		t.Errorf("tunnels %+v: want VNIs 100 and 200 from 198.18.0.1 to 198.18.0.2", res.Tunnels)
	}
	out, err := exec.Command("tshark", append([]string{"-n", "-r", file}, tsharkTunnelArgs...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := parseTsharkTunnels(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	compareTunnelTallies(t, tunnelTallyOf(res.Summary), want)
	if os.Getenv("NETBURST_UPDATE_FIXTURES") != "" {
		dir := filepath.Join("..", "..", "testdata", "pcap")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "vxlan-kernel.pcap"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "vxlan-kernel.tshark.tsv"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTunnelFixtures runs without root or tshark: the kernel-made VXLAN
// capture against tshark's fields of it, recorded when it was made.
func TestTunnelFixtures(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "pcap")
	recorded, err := os.ReadFile(filepath.Join(dir, "vxlan-kernel.tshark.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := parseTsharkTunnels(bytes.NewReader(recorded))
	if err != nil {
		t.Fatal(err)
	}
	res := topJSON(t, filepath.Join(dir, "vxlan-kernel.pcap"))
	compareTunnelTallies(t, tunnelTallyOf(res.Summary), want)
	if len(res.Tunnels) < 2 || res.Ports[0].Port != 5201 {
		t.Errorf("tunnels %+v, top port %+v", res.Tunnels, res.Ports[0])
	}
}
