//go:build linux

package capture

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/packet"
	"github.com/netburst/netburst/spike"
)

// TestFilterKernelAccepts attaches compiled filters to a socket: the kernel
// checks what x/net/bpf's VM does not (scratch memory written before it is
// read on every path, ancillary loads, jump targets). Any socket takes a
// filter, without privileges.
func TestFilterKernelAccepts(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no socket: %v", err)
	}
	defer unix.Close(fd)
	for _, expr := range []string{
		"tcp", "icmp6", "port 53", "tcp and not port 22", "udp src port 7000 or tcp dst port 443", "host 2001:db8::1 and tcp",
		"vlan", "vlan 100 and tcp port 80", "vlan 100 and vlan 200 and tcp port 80", "not vlan and ip6", "ip and not vlan",
		"vlan and (udp src port 53 or not vlan 7)", "port 1 or port 2 or port 3 or port 4 or port 5 or port 6 or port 7 or port 8",
		worstFilter,
	} {
		f, err := ParseFilter(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, ipOnly := range []bool{false, true} {
			raw, err := f.Program(layers.LinkTypeEthernet, 128, ipOnly)
			if err != nil {
				t.Fatal(err)
			}
			if err := attachFilter(fd, raw); err != nil {
				t.Errorf("%q (ipOnly %v, %d instructions): the kernel refuses it: %v", expr, ipOnly, len(raw), err)
			}
		}
	}
}

func attachFilter(fd int, raw []bpf.RawInstruction) error {
	ins := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		ins[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]})
}

// TestLiveCaptureFilterVLAN captures a veth through "vlan 100 and (udp dst
// port 7000 or vlan 200 and udp dst port 7000)" in the kernel. Receiving,
// the kernel takes the outer 802.1Q or 802.1ad tag out of the frame before
// the filter runs, so the first "vlan" is the ancillary SKF_AD_VLAN_TAG
// path; a second tag, and a 0x9100 tag the kernel leaves alone, are read in
// the bytes; the IPv6 datagrams are behind extension headers. Frames are
// told apart by their UDP source port, in the pcap where the capture put
// the tags back.
func TestLiveCaptureFilterVLAN(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "nbv0", b, "nbv1")
	// Kernel-made VLAN traffic too, where the kernel has 802.1Q devices:
	// a VLAN 100 device on each end.
	vlanDev := true
	if out, err := a.Exec("ip", "link", "add", "link", "nbv0", "name", "nbv0.100", "type", "vlan", "id", "100"); err != nil {
		t.Logf("no VLAN devices here (%v: %s): raw tagged frames only", err, out)
		vlanDev = false
	} else {
		a.MustRun(t, "ip", "addr", "add", "198.18.250.1/30", "dev", "nbv0.100")
		a.MustRun(t, "ip", "link", "set", "nbv0.100", "up")
		b.MustRun(t, "ip", "link", "add", "link", "nbv1", "name", "nbv1.100", "type", "vlan", "id", "100")
		b.MustRun(t, "ip", "addr", "add", "198.18.250.2/30", "dev", "nbv1.100")
		b.MustRun(t, "ip", "link", "set", "nbv1.100", "up")
	}

	dev := openFiltered(t, b, "nbv1", 256, "vlan 100 and (udp dst port 7000 or vlan 200 and udp dst port 7000)")
	c, err := New(Config{Pre: 2 * time.Second, Post: 300 * time.Millisecond, Dir: t.TempDir(), Memory: 4 << 20, Snaplen: 256}, []Device{dev})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	send := rawSender(t, a, "nbv0")
	v4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 18, 251, 1}, DstIP: net.IP{198, 18, 251, 2}}
	v6 := func(next layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	}
	to := func(sport, dport uint16) *layers.UDP {
		return &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	}
	dot1q := func(id uint16, next layers.EthernetType) *layers.Dot1Q {
		return &layers.Dot1Q{VLANIdentifier: id, Type: next}
	}
	pad := make(gopacket.Payload, 32)
	probe := serialize(t, tagged(layers.EthernetTypeDot1Q, 100, layers.EthernetTypeIPv4)[0], dot1q(100, layers.EthernetTypeIPv4), v4, to(1000, 7000), pad)
	frames := map[uint16][]byte{ // by source port; the kept ones below
		1001: serialize(t, eth(layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv4), v4, to(1001, 7000), pad),
		1002: serialize(t, eth(layers.EthernetTypeDot1Q), dot1q(200, layers.EthernetTypeIPv4), v4, to(1002, 7000), pad),
		1003: serialize(t, eth(layers.EthernetTypeIPv4), v4, to(1003, 7000), pad),
		1004: serialize(t, eth(layers.EthernetTypeQinQ), dot1q(100, layers.EthernetTypeDot1Q), dot1q(200, layers.EthernetTypeIPv4), v4, to(1004, 7000), pad),
		1005: serialize(t, eth(layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv6), v6(layers.IPProtocolIPv6HopByHop), ext6(60, 1), ext6(17, 2), to(1005, 7000), pad),
		1006: serialize(t, eth(layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv6), v6(layers.IPProtocolIPv6Fragment),
			frag6(17, 64, false, 5), gopacket.Payload{0x03, 0xee, 0x1b, 0x58}, pad), // a later fragment: "ports" 1006 -> 7000 are payload
		1007: serialize(t, eth(layers.EthernetType(packet.EtherTypeQinQ2)), dot1q(100, layers.EthernetTypeIPv4), v4, to(1007, 7000), pad),
		1008: serialize(t, eth(layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv4), v4, to(1008, 7001), pad),
		1009: serialize(t, eth(layers.EthernetTypeQinQ), dot1q(100, layers.EthernetTypeDot1Q), dot1q(201, layers.EthernetTypeIPv4), v4, to(1009, 7000), pad),
	}
	keep := map[uint16]bool{1001: true, 1004: true, 1005: true, 1007: true, 1010: vlanDev}
	// The reader binds its socket when it starts: a probe at a time until
	// one is counted.
	awaitCapture(t, c, send, probe)
	const n = 20
	for i := 0; i < n; i++ {
		for _, f := range frames {
			if err := send(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 1010: datagrams the kernel sends through the VLAN device (the tag in
	// the skb's metadata from the start).
	if err := a.Do(func() error {
		if !vlanDev {
			return nil
		}
		conn, err := net.ListenPacket("udp", "198.18.250.1:1010")
		if err != nil {
			return err
		}
		defer conn.Close()
		dst := &net.UDPAddr{IP: net.IP{198, 18, 250, 2}, Port: 7000}
		for i := 0; i < n; i++ {
			if _, err := conn.WriteTo(pad, dst); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.Notify(spike.Event{Time: time.Now(), Trigger: spike.TriggerBurst, Device: "nbv1"})
	rep := waitReports(t, c, 1)[0]
	if rep.File == "" {
		t.Fatalf("no pcap: %s", rep.FileError)
	}
	r, err := packet.OpenFile(rep.File)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[uint16]int{}
	var p packet.Packet
	for r.Next(&p) == nil {
		if !p.HasPorts || p.NumVLANs == 0 || p.VLANs[0] != 100 {
			t.Errorf("kept a frame with %d tags %v, ports %v, protocol %d", p.NumVLANs, p.VLANs, p.HasPorts, p.Protocol)
			continue
		}
		got[p.SrcPort]++
	}
	for port := uint16(1001); port <= 1010; port++ {
		want := 0
		if keep[port] {
			want = n
		}
		if got[port] != want {
			t.Errorf("frames from port %d kept: %d, want %d", port, got[port], want)
		}
	}
	if got[1000] == 0 {
		t.Error("no probe kept")
	}
}
