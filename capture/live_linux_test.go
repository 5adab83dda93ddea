//go:build linux

package capture

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/spike"

	"github.com/netburst/netburst/packet"
)

// TestLiveCaptureVeth captures real traffic on a veth in a namespace with
// AF_PACKET: UDP to port 7000 before and after a spike, a little ping beside
// it. The report must show udp/7000 on top, packets from before the trigger,
// and (with tshark installed) equal tshark's counts of the pcap it wrote.
func TestLiveCaptureVeth(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	nbc := nstest.VethPair(t, a, "nbc0", b, "nbc1")

	var dev Device
	if err := b.Do(func() error {
		var err error
		dev, err = OpenDevice("nbc1", 128, false, 0, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if dev.LinkType != layers.LinkTypeEthernet {
		t.Errorf("link type %v", dev.LinkType)
	}
	dir := t.TempDir()
	c, err := New(Config{Pre: time.Second, Post: 500 * time.Millisecond, Dir: dir}, []Device{dev})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	send := func(d time.Duration) {
		t.Helper()
		err := a.Do(func() error {
			conn, err := net.Dial("udp", nbc.BPort(7000))
			if err != nil {
				return err
			}
			defer conn.Close()
			small, err := net.Dial("udp", nbc.BPort(53))
			if err != nil {
				return err
			}
			defer small.Close()
			buf := make([]byte, 1200)
			for end := time.Now().Add(d); time.Now().Before(end); {
				for i := 0; i < 20; i++ {
					_, _ = conn.Write(buf)
				}
				_, _ = small.Write(buf[:40])
				time.Sleep(5 * time.Millisecond)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("sender: %v", err)
		}
	}
	send(700 * time.Millisecond)
	trigger := time.Now()
	c.Notify(spike.Event{Time: trigger, Trigger: spike.TriggerBurst, Device: "nbc1", Value: 1e7, Threshold: 1e6})
	send(300 * time.Millisecond)

	rep := waitReports(t, c, 1)[0]
	if rep.File == "" {
		t.Fatalf("no pcap written: %s", rep.FileError)
	}
	if len(rep.Ports) == 0 || rep.Ports[0].Protocol != "udp" || rep.Ports[0].Port != 7000 {
		t.Fatalf("top ports %+v, want udp/7000 first", rep.Ports)
	}
	if !rep.Start.Before(trigger.Add(-500 * time.Millisecond)) {
		t.Errorf("first frame at %v, want frames from well before the trigger at %v", rep.Start, trigger)
	}
	if rep.End.After(rep.WindowEnd) || rep.Start.Before(rep.WindowStart) {
		t.Errorf("frames %v..%v outside the window %v..%v", rep.Start, rep.End, rep.WindowStart, rep.WindowEnd)
	}
	st := c.Stats().Devices[0]
	if st.Packets < rep.Packets || st.KernelDrops != 0 || st.RingDropped != 0 {
		t.Errorf("device stats %+v (report %d packets)", st, rep.Packets)
	}
	defer checkVanish(t, c, b)

	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not in PATH: skipping the comparison of the written pcap")
	}
	out, err := exec.Command("tshark", "-n", "-r", rep.File, "-T", "fields", "-E", "occurrence=f",
		"-e", "frame.len", "-e", "udp.dstport", "-e", "ip.proto").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var frames, bytes7000, frames7000, total uint64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		n, _ := strconv.ParseUint(f[0], 10, 64)
		frames++
		total += n
		if len(f) > 2 && f[1] == "7000" && f[2] == "17" {
			frames7000++
			bytes7000 += n
		}
	}
	if frames != rep.Packets || total != rep.Bytes || frames7000 != rep.Ports[0].Packets || bytes7000 != rep.Ports[0].Bytes {
		t.Errorf("report: %d frames %d bytes, udp/7000 %d frames %d bytes; tshark on %s: %d %d, %d %d",
			rep.Packets, rep.Bytes, rep.Ports[0].Packets, rep.Ports[0].Bytes, rep.File, frames, total, frames7000, bytes7000)
	}
	t.Logf("report: %d frames, udp/7000 %d bytes, window %v", rep.Packets, rep.Ports[0].Bytes, rep.WindowEnd.Sub(rep.WindowStart))
}

// checkVanish deletes the captured interface under the running capture: the
// reader must count the failure and keep running (the deferred cancel then
// stops it).
func checkVanish(t *testing.T, c *Capture, b *nstest.NS) {
	b.MustRun(t, "ip", "link", "del", "dev", "nbc1")
	if ok, _ := nstest.Poll(5*time.Second, func() (bool, string) { return c.Stats().Devices[0].ReadErrors > 0, "" }); !ok {
		t.Error("no read error counted 5 s after the interface vanished")
	}
}

// TestLiveFullDisk writes spike pcaps to a 16 KiB tmpfs: the pcap that does
// not fit is removed, the failure is in the report and the counters, and
// the capture goes on to write the next, smaller one.
func TestLiveFullDisk(t *testing.T) {
	nstest.RequireRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k,mode=0700", "nbtmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	rig := startLive(t, Config{Pre: 100 * time.Millisecond, Post: 100 * time.Millisecond, Dir: dir, MinInterval: time.Millisecond})
	now := time.Now()
	var big []fakeFrame
	for i := 0; i < 300; i++ { // 300 x (16 + 128) bytes: beyond 16 KiB
		big = append(big, fakeFrame{ts: now.Add(-time.Duration(300-i) * 100 * time.Microsecond), data: udpFrame(t, 7000, 200), wire: 1500})
	}
	rig.feed(big...)
	rig.c.Notify(spike.Event{Time: now, Trigger: spike.TriggerBurst})
	rep := rig.waitReports(1)[0]
	if rep.File != "" || !strings.Contains(rep.FileError, "no space") || rep.Packets != 300 {
		t.Errorf("report on a full disk: file %q, error %q, %d packets", rep.File, rep.FileError, rep.Packets)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("partial file left behind: %v", entries)
	}
	// A small spike still fits.
	later := time.Now().Add(time.Second)
	rig.feed(fakeFrame{ts: later.Add(-time.Millisecond), data: udpFrame(t, 53, 10), wire: 80})
	rig.c.Notify(spike.Event{Time: later, Trigger: spike.TriggerBurst})
	rep = rig.waitReports(2)[1]
	if rep.File == "" || rep.Packets != 1 {
		t.Errorf("second report: file %q (error %q), %d packets", rep.File, rep.FileError, rep.Packets)
	}
	if st := rig.c.Stats(); st.FileErrors != 1 || st.Files != 1 {
		t.Errorf("stats: %d file errors, %d files", st.FileErrors, st.Files)
	}
}

// TestLiveCaptureVLANOffload sends 802.1Q-tagged frames over a veth and
// captures its peer: the receiving kernel takes the tag out of the frame's
// bytes into its metadata before the packet sockets see it, and the
// capture must put it back, in the spike pcap and in the wire length, as
// libpcap does.
func TestLiveCaptureVLANOffload(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "nbq0", b, "nbq1")

	var dev Device
	if err := b.Do(func() error {
		var err error
		dev, err = OpenDevice("nbq1", 128, false, 0, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, err := New(Config{Pre: time.Second, Post: 300 * time.Millisecond, Dir: dir, Memory: 4 << 20}, []Device{dev})
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
	frame := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 5, Priority: 3, Type: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 18, 9, 1}, DstIP: net.IP{198, 18, 9, 2}},
		&layers.UDP{SrcPort: 40000, DstPort: 7000}, make(gopacket.Payload, 100))
	send := rawSender(t, a, "nbq0")
	// The reader binds its socket when it starts: send an untagged non-IP
	// frame until one is counted.
	probe := serialize(t, eth(layers.EthernetTypeARP), gopacket.Payload(make([]byte, 46)))
	awaitCapture(t, c, send, probe)
	const n = 50
	for i := 0; i < n; i++ {
		if err := send(frame); err != nil {
			t.Fatal(err)
		}
	}
	c.Notify(spike.Event{Time: time.Now(), Trigger: spike.TriggerBurst, Device: "nbq1"})
	rep := waitReports(t, c, 1)[0]
	if rep.File == "" || len(rep.Ports) == 0 || rep.Ports[0].Port != 7000 || rep.Ports[0].Packets != n {
		t.Fatalf("report: file %q (%s), ports %+v; want %d frames to udp/7000", rep.File, rep.FileError, rep.Ports, n)
	}
	if want := uint64(n * len(frame)); rep.Ports[0].Bytes != want {
		t.Errorf("udp/7000 bytes %d, want %d (tag counted)", rep.Ports[0].Bytes, want)
	}
	r, err := packet.OpenFile(rep.File)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var p packet.Packet
	tagged := 0
	for r.Next(&p) == nil {
		if p.HasPorts && p.DstPort == 7000 {
			if p.NumVLANs != 1 || p.VLANs[0] != 5 || p.WireLen != len(frame) {
				t.Fatalf("frame to udp/7000 in the pcap: %d tags %v, wire %d, want tag 5, %d bytes", p.NumVLANs, p.VLANs, p.WireLen, len(frame))
			}
			tagged++
		}
	}
	if tagged != n {
		t.Errorf("%d tagged frames to udp/7000 in the pcap, want %d", tagged, n)
	}
}

// TestLiveCaptureFilter captures a veth through a filter expression: of UDP
// to ports 7000 and 7001 and pings, only the datagrams to 7000 reach the
// ring, the report and the pcap.
func TestLiveCaptureFilter(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	nbf := nstest.VethPair(t, a, "nbf0", b, "nbf1")
	dev := openFiltered(t, b, "nbf1", 128, "udp and dst port 7000 and src net "+nbf.Net.String())
	dir := t.TempDir()
	c, err := New(Config{Pre: 2 * time.Second, Post: 300 * time.Millisecond, Dir: dir, Memory: 4 << 20}, []Device{dev})
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
	send := func(port string, n int) {
		t.Helper()
		if err := a.Do(func() error {
			// Unconnected: the port unreachable errors of the closed
			// ports do not fail the next write.
			conn, err := net.ListenPacket("udp", nbf.APort(0))
			if err != nil {
				return err
			}
			defer conn.Close()
			to, err := net.ResolveUDPAddr("udp", nbf.AddrB.String()+":"+port)
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				if _, err := conn.WriteTo(make([]byte, 64), to); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The reader binds its socket when it starts: one datagram to 7000 at a
	// time until it is counted.
	sent := 0
	nstest.Eventually(t, 5*time.Second, func() (bool, string) {
		if c.Stats().Devices[0].Packets > 0 {
			return true, ""
		}
		send("7000", 1)
		sent++
		return false, "the capture saw nothing since it started"
	})
	const n = 40
	send("7000", n)
	send("7001", n)
	a.MustRun(t, "ping", "-c", "3", "-i", "0.05", nbf.AddrB.String())
	c.Notify(spike.Event{Time: time.Now(), Trigger: spike.TriggerBurst, Device: "nbf1"})
	rep := waitReports(t, c, 1)[0]
	// Datagrams sent before the reader bound its socket were never seen.
	if len(rep.Ports) != 1 || rep.Ports[0].Port != 7000 || rep.Packets != rep.Ports[0].Packets || rep.Packets < n || rep.Packets > uint64(n+sent) {
		t.Errorf("report: %d frames, ports %+v; want %d..%d frames, all udp/7000", rep.Packets, rep.Ports, n, n+sent)
	}
	if st := c.Stats().Devices[0]; st.Packets != rep.Packets {
		t.Errorf("the capture read %d frames, the report has %d", st.Packets, rep.Packets)
	}
}

// rawSender returns a function that sends whole Ethernet frames out of
// ifname in ns through an AF_PACKET socket, closed when the test ends. The
// socket stays in ns: sending needs no thread there.
func rawSender(t *testing.T, ns *nstest.NS, ifname string) func(frame []byte) error {
	t.Helper()
	var send func(frame []byte) error
	if err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		t.Cleanup(func() { unix.Close(fd) })
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		send = func(frame []byte) error {
			return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return send
}

// openFiltered opens a capture of ifname in ns with the filter expression
// expr compiled by ParseFilter.
func openFiltered(t *testing.T, ns *nstest.NS, ifname string, snaplen int, expr string) Device {
	t.Helper()
	flt, err := ParseFilter(expr)
	if err != nil {
		t.Fatal(err)
	}
	var dev Device
	if err := ns.Do(func() error {
		var err error
		dev, err = OpenDeviceFiltered(ifname, snaplen, func(lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
			return flt.Program(lt, snaplen, false)
		}, 0, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return dev
}

// awaitCapture sends probe until the capture's first device has counted a
// frame: its reader binds the socket when it starts.
func awaitCapture(t *testing.T, c *Capture, send func([]byte) error, probe []byte) {
	t.Helper()
	nstest.Eventually(t, 5*time.Second, func() (bool, string) {
		if c.Stats().Devices[0].Packets > 0 {
			return true, ""
		}
		if err := send(probe); err != nil {
			t.Fatal(err)
		}
		return false, "the capture saw nothing since it started"
	})
}
