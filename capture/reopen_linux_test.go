//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/netburst/netburst/internal/nstest"
	"github.com/netburst/netburst/spike"

	"github.com/netburst/netburst/packet"
)

// churnRig is a capture of interface name in namespace b, fed from its
// veth peer in a, with a goroutine that samples the device's Stats all along
// (as scrapes do) and records every state it saw.
type churnRig struct {
	t       *testing.T
	a, b    *nstest.NS
	dev     Device
	c       *Capture
	logs    *nstest.LogBuffer
	dir     string
	aAddr   string
	bAddr   string
	mu      sync.Mutex
	seen    []DeviceStats
	regress string // the first kernel counter seen going backwards
}

func startChurn(t *testing.T, peer, name, subnet string, pre time.Duration, changes <-chan struct{}, filter FilterFunc) *churnRig {
	t.Helper()
	r := &churnRig{t: t, a: nstest.New(t), b: nstest.New(t), logs: &nstest.LogBuffer{}, dir: t.TempDir(),
		aAddr: subnet + ".1", bAddr: subnet + ".2"}
	r.veth(peer, name)
	logger := slog.New(slog.NewTextHandler(r.logs, nil))
	if err := r.b.Do(func() error {
		var err error
		r.dev, err = Open(DeviceConfig{Name: name, Snaplen: 128, Filter: filter, Changes: changes, Logger: logger})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Pre: pre, Post: 300 * time.Millisecond, Dir: r.dir, MinInterval: time.Millisecond, Logger: logger}, []Device{r.dev})
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = c.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		var last DeviceStats
		for ctx.Err() == nil {
			st := c.Stats().Devices[0]
			r.mu.Lock()
			if r.regress == "" && (st.KernelPackets < last.KernelPackets || st.KernelDrops < last.KernelDrops || st.Packets < last.Packets) {
				r.regress = fmt.Sprintf("kernel packets %d -> %d, drops %d -> %d, read %d -> %d",
					last.KernelPackets, st.KernelPackets, last.KernelDrops, st.KernelDrops, last.Packets, st.Packets)
			}
			if len(r.seen) == 0 || r.seen[len(r.seen)-1].Up != st.Up || r.seen[len(r.seen)-1].Reopens != st.Reopens {
				r.seen = append(r.seen, st)
			}
			r.mu.Unlock()
			last = st
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return r
}

// veth (re-)creates the pair with its addresses.
func (r *churnRig) veth(peer, name string) {
	r.t.Helper()
	nstest.Veth(r.t, r.a, peer, r.b, name)
	r.a.MustRun(r.t, "ip", "addr", "add", r.aAddr+"/24", "dev", peer)
	r.b.MustRun(r.t, "ip", "addr", "add", r.bAddr+"/24", "dev", name)
}

func (r *churnRig) stats() DeviceStats { return r.c.Stats().Devices[0] }

// index returns the interface's current index in b.
func (r *churnRig) index(name string) int {
	r.t.Helper()
	var idx int
	if err := r.b.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		idx = ifi.Index
		return nil
	}); err != nil {
		r.t.Fatal(err)
	}
	return idx
}

// sendUntil sends UDP datagrams from a to b's port until cond holds (the
// capture has counted them), and fails the test after 10 s.
func (r *churnRig) sendUntil(port string, what string, cond func(DeviceStats) bool) {
	r.t.Helper()
	var conn net.PacketConn
	if err := r.a.Do(func() error {
		var err error
		conn, err = net.ListenPacket("udp4", r.aAddr+":0")
		return err
	}); err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp4", r.bAddr+":"+port)
	if err != nil {
		r.t.Fatal(err)
	}
	nstest.Eventually(r.t, 10*time.Second, func() (bool, string) {
		if st := r.stats(); cond(st) {
			return true, ""
		}
		for i := 0; i < 5; i++ {
			_, _ = conn.WriteTo(make([]byte, 200), to)
		}
		return false, fmt.Sprintf("%s: not seen (stats %+v); logs:\n%s", what, r.stats(), r.logs.String())
	})
}

// waitState waits until cond holds of the device's stats.
func (r *churnRig) waitState(what string, cond func(DeviceStats) bool) DeviceStats {
	r.t.Helper()
	var st DeviceStats
	nstest.Eventually(r.t, 10*time.Second, func() (bool, string) {
		st = r.stats()
		return cond(st), fmt.Sprintf("%s: not so (stats %+v); logs:\n%s", what, st, r.logs.String())
	})
	return st
}

// TestLiveReopenConcurrent deletes the captured veth under a running
// capture (scraped all along from another goroutine) and creates one of the
// same name: the device must go down and say why, come back on the new
// interface (one re-open), count its frames with kernel counters that never
// went backwards, and freeze a spike after the re-creation into a report and
// pcap of the new frames.
func TestLiveReopenConcurrent(t *testing.T) {
	changes := make(chan struct{}, 1)
	r := startChurn(t, "nbr0", "nbr1", "198.18.12", 500*time.Millisecond, changes, nil)
	oldIndex := r.index("nbr1")
	r.sendUntil("7000", "frames before the deletion", func(st DeviceStats) bool { return st.Packets > 0 && st.KernelPackets > 0 })
	if st := r.stats(); !st.Up || st.Reopens != 0 {
		t.Fatalf("before the deletion: %+v", st)
	}
	before := r.stats()

	r.b.MustRun(t, "ip", "link", "del", "dev", "nbr1")
	down := r.waitState("device down after the deletion", func(st DeviceStats) bool { return !st.Up })
	if !strings.Contains(down.Cause, "nbr1") || down.ReadErrors == 0 || down.Since.IsZero() {
		t.Errorf("down: cause %q, %d read errors, since %v", down.Cause, down.ReadErrors, down.Since)
	}

	r.veth("nbr0", "nbr1")
	if newIndex := r.index("nbr1"); newIndex == oldIndex {
		t.Fatalf("the re-created nbr1 has the old index %d", oldIndex)
	}
	// What the sampler's link watcher would send.
	select {
	case changes <- struct{}{}:
	default:
	}
	up := r.waitState("device up on the new interface", func(st DeviceStats) bool { return st.Up })
	if up.Reopens != 1 {
		t.Errorf("after the re-creation: %d re-opens, want 1", up.Reopens)
	}
	r.sendUntil("7001", "frames after the re-creation", func(st DeviceStats) bool {
		return st.Packets > up.Packets && st.KernelPackets > before.KernelPackets
	})

	// A spike now: its window holds the new interface's frames.
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		_ = r.a.Do(func() error {
			conn, err := net.Dial("udp4", r.bAddr+":7002")
			if err != nil {
				return err
			}
			defer conn.Close()
			for {
				select {
				case <-stop:
					return nil
				case <-time.After(5 * time.Millisecond):
					_, _ = conn.Write(make([]byte, 300))
				}
			}
		})
	}()
	r.waitState("frames to 7002", func(st DeviceStats) bool { return st.Packets > up.Packets+20 })
	rep, inFile := r.spike("nbr1")
	close(stop)
	<-sent
	if inFile[7002] == 0 || inFile[7002] != portPackets(rep, 7002) {
		t.Errorf("report after the re-creation: ports %+v; %d frames to udp/7002 in %s", rep.Ports, inFile[7002], rep.File)
	}

	r.mu.Lock()
	seen, regress := r.seen, r.regress
	r.mu.Unlock()
	if regress != "" {
		t.Errorf("counters went backwards: %s", regress)
	}
	// Up, down, up again: what a scrape saw.
	var states []bool
	for _, st := range seen {
		states = append(states, st.Up)
	}
	if len(states) < 3 || !states[0] || states[1] || !states[len(states)-1] {
		t.Errorf("states seen %v, want up, down, ..., up", states)
	}
	logs := r.logs.String()
	for _, want := range []string{"capture device down", "device=nbr1", "capture device captures again", "reopens=1"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	t.Logf("re-opened after %v; %d frames read, kernel %d; report %d frames", up.Since.Sub(down.Since), r.stats().Packets, r.stats().KernelPackets, rep.Packets)
}

// spike freezes the window around now on dev and returns its report and
// the frames per UDP destination port in its pcap.
func (r *churnRig) spike(dev string) (Report, map[uint16]int) {
	r.t.Helper()
	n := len(r.c.Reports())
	r.c.Notify(spike.Event{Time: time.Now(), Trigger: spike.TriggerBurst, Device: dev})
	rep := waitReports(r.t, r.c, n+1)[n]
	if rep.File == "" {
		r.t.Fatalf("no pcap: %s", rep.FileError)
	}
	f, err := packet.OpenFile(rep.File)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	ports := map[uint16]int{}
	var p packet.Packet
	for {
		err := f.Next(&p)
		if errors.Is(err, io.EOF) {
			return rep, ports
		}
		if err != nil {
			r.t.Fatal(err)
		}
		if p.HasPorts && p.Protocol == 17 {
			ports[p.DstPort]++
		}
	}
}

// portPackets returns the report's frames to a UDP port.
func portPackets(rep Report, port uint16) int {
	for _, p := range rep.Ports {
		if p.Protocol == "udp" && p.Port == port {
			return int(p.Packets)
		}
	}
	return 0
}

// TestLiveRenameConcurrent renames the captured veth away (the kernel keeps
// the socket hooked to it: same index) and later creates a new one of the
// name: the device must go down at the rename and capture none of the
// renamed interface's frames while down, then capture the new interface.
// The spike window spans the whole test, so a frame of the renamed
// interface in the ring would be in the report. The device has no filter of
// its own.
func TestLiveRenameConcurrent(t *testing.T) {
	// No kernel filter at all: the one that drops everything while the
	// device is down must go at the re-open too.
	noFilter := func(layers.LinkType, int) ([]bpf.RawInstruction, error) { return nil, nil }
	r := startChurn(t, "nbn0", "nbn1", "198.18.18", 30*time.Second, nil, noFilter)
	r.sendUntil("7000", "frames before the rename", func(st DeviceStats) bool { return st.Packets > 0 })
	r.b.MustRun(t, "ip", "link", "set", "dev", "nbn1", "down")
	r.b.MustRun(t, "ip", "link", "set", "dev", "nbn1", "name", "nbn9")
	r.b.MustRun(t, "ip", "link", "set", "dev", "nbn9", "up")
	down := r.waitState("device down after the rename", func(st DeviceStats) bool { return !st.Up })
	if !strings.Contains(down.Cause, "nbn1 is gone") {
		t.Errorf("cause %q", down.Cause)
	}
	// Datagrams over the renamed interface, each received by b: they
	// crossed it, and the packet socket still hooked to it.
	var ln net.PacketConn
	if err := r.b.Do(func() error {
		var err error
		ln, err = net.ListenPacket("udp4", r.bAddr+":7009")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 20
	if err := r.a.Do(func() error {
		conn, err := net.Dial("udp4", r.bAddr+":7009")
		if err != nil {
			return err
		}
		defer conn.Close()
		buf := make([]byte, 100)
		for i := 0; i < n; i++ {
			if _, err := conn.Write(buf); err != nil {
				return err
			}
			_ = ln.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := ln.ReadFrom(buf); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("traffic over the renamed interface: %v", err)
	}
	// A new interface takes the name (the pair's other end keeps its own).
	nstest.Veth(t, r.a, "nbn2", r.b, "nbn1")
	r.a.MustRun(t, "ip", "addr", "add", "198.18.19.1/24", "dev", "nbn2")
	r.b.MustRun(t, "ip", "addr", "add", "198.18.19.2/24", "dev", "nbn1")
	up := r.waitState("device up on the new nbn1", func(st DeviceStats) bool { return st.Up && st.Reopens == 1 })
	r.aAddr, r.bAddr = "198.18.19.1", "198.18.19.2"
	r.sendUntil("7001", "frames of the new nbn1", func(st DeviceStats) bool { return st.Packets > up.Packets })
	rep, inFile := r.spike("nbn1")
	if inFile[7009] != 0 || portPackets(rep, 7009) != 0 || inFile[7001] == 0 || inFile[7000] == 0 {
		t.Errorf("frames in the window by port %v (want none to 7009, from the renamed interface); report ports %+v", inFile, rep.Ports)
	}
}

// TestLiveDownUpConcurrent takes the captured veth down and up again: the
// kernel keeps the socket hooked to the interface, so the device stays up
// with no re-open and captures the frames after it came up.
func TestLiveDownUpConcurrent(t *testing.T) {
	r := startChurn(t, "nbd0", "nbd1", "198.18.13", 500*time.Millisecond, nil, nil)
	r.sendUntil("7000", "frames before the down", func(st DeviceStats) bool { return st.Packets > 0 })
	r.b.MustRun(t, "ip", "link", "set", "dev", "nbd1", "down")
	// The socket reports the interface going down once.
	r.waitState("the down reported", func(st DeviceStats) bool { return st.ReadErrors > 0 })
	mid := r.stats()
	r.b.MustRun(t, "ip", "link", "set", "dev", "nbd1", "up")
	r.sendUntil("7001", "frames after the up", func(st DeviceStats) bool { return st.Packets > mid.Packets })
	st := r.stats()
	r.mu.Lock()
	seen, regress := r.seen, r.regress
	r.mu.Unlock()
	if !st.Up || st.Reopens != 0 || len(seen) != 1 || regress != "" {
		t.Errorf("after down and up: %+v; states seen %+v; counters %q", st, seen, regress)
	}
	if logs := r.logs.String(); strings.Contains(logs, "capture device down") {
		t.Errorf("a down interface logged as a lost device:\n%s", logs)
	}
}

// TestLiveReopenLinkTypeConcurrent replaces the captured veth with a tun device of
// the same name: its frames have no Ethernet header, so the device must
// refuse it and stay down, saying why, and come back when a veth of that
// name returns.
func TestLiveReopenLinkTypeConcurrent(t *testing.T) {
	r := startChurn(t, "nbl0", "nbl1", "198.18.14", 500*time.Millisecond, nil, nil)
	r.sendUntil("7000", "frames before the deletion", func(st DeviceStats) bool { return st.Packets > 0 })
	r.b.MustRun(t, "ip", "link", "del", "dev", "nbl1")
	r.waitState("device down after the deletion", func(st DeviceStats) bool { return !st.Up })
	if _, err := r.b.Exec("ip", "tuntap", "add", "dev", "nbl1", "mode", "tun"); err != nil {
		t.Skipf("skipping: no tun device: %v", err)
	}
	r.b.MustRun(t, "ip", "link", "set", "dev", "nbl1", "up")
	st := r.waitState("the link type refused", func(st DeviceStats) bool { return strings.Contains(st.Cause, "link type") })
	if st.Up || st.Reopens != 0 {
		t.Errorf("on a tun device: %+v", st)
	}
	nstest.Eventually(t, 10*time.Second, func() (bool, string) {
		logs := r.logs.String()
		return strings.Contains(logs, "another link type"), "no log line about the link type:\n" + logs
	})
	r.b.MustRun(t, "ip", "link", "del", "dev", "nbl1")
	r.veth("nbl0", "nbl1")
	r.waitState("device up on the veth again", func(st DeviceStats) bool { return st.Up && st.Reopens == 1 })
	before := r.stats().Packets
	r.sendUntil("7001", "frames after the veth returned", func(st DeviceStats) bool { return st.Packets > before })
}
