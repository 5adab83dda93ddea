//go:build linux

package prober

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netburst/netburst/internal/nstest"
)

// Addresses of the two-namespace path: A (the prober) -- veth -- B (the
// target). 198.18.9.0/24 and 2001:2:0:9::/64 are routed to B, which
// answers them with ICMP unreachable.
const (
	addrA4, addrB4, unreach4 = "198.18.0.1", "198.18.0.2", "198.18.9.1"
	addrA6, addrB6, unreach6 = "2001:2::1", "2001:2::2", "2001:2:0:9::1"
)

type path struct{ a, b *nstest.NS }

func newPath(t *testing.T) path {
	t.Helper()
	a, b := nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "a0", b, "b0")
	a.MustRun(t, "ip", "addr", "add", addrA4+"/24", "dev", "a0")
	b.MustRun(t, "ip", "addr", "add", addrB4+"/24", "dev", "b0")
	a.MustRun(t, "ip", "-6", "addr", "add", addrA6+"/64", "dev", "a0", "nodad")
	b.MustRun(t, "ip", "-6", "addr", "add", addrB6+"/64", "dev", "b0", "nodad")
	a.MustRun(t, "ip", "route", "add", "198.18.9.0/24", "via", addrB4)
	a.MustRun(t, "ip", "-6", "route", "add", "2001:2:0:9::/64", "via", addrB6)
	for _, s := range []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"} {
		b.MustRun(t, "sysctl", "-qw", s)
	}
	b.MustRun(t, "ip", "route", "add", "unreachable", "198.18.9.0/24")
	b.MustRun(t, "ip", "-6", "route", "add", "unreachable", "2001:2:0:9::/64")
	return path{a, b}
}

func setPingGroups(t *testing.T, ns *nstest.NS, allow bool) {
	t.Helper()
	r := "1 0"
	if allow {
		r = "0 2147483647"
	}
	ns.MustRun(t, "sysctl", "-qw", "net.ipv4.ping_group_range="+r)
}

// runIn runs a prober inside ns until ctx ends or its count is done; the
// sockets are opened there because Run opens them on its own goroutine.
func runIn(t *testing.T, ns *nstest.NS, ctx context.Context, p *Prober) {
	t.Helper()
	if err := ns.Do(func() error { return p.Run(ctx) }); err != nil {
		t.Error(err)
	}
}

func TestNamespaceModes(t *testing.T) {
	nstest.RequireRoot(t)
	for _, tc := range []struct {
		name     string
		mode     Mode
		groups   bool
		wantMode Mode
	}{
		{"raw", ModeRaw, true, ModeRaw},
		{"datagram", ModeDatagram, true, ModeDatagram},
		{"auto picks datagram", ModeAuto, true, ModeDatagram},
		{"auto falls back to raw", ModeAuto, false, ModeRaw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh path each time: IPv4 route errors are rate limited
			// per peer (5 at once, then 1/s) and that is not per-namespace.
			pa := newPath(t)
			setPingGroups(t, pa.a, tc.groups)
			const n = 10
			rec := newRecorder()
			p, err := New(Config{Interval: 10 * time.Millisecond, Timeout: 500 * time.Millisecond, Count: n, Mode: tc.mode, Observer: rec})
			if err != nil {
				t.Fatal(err)
			}
			err = p.SetTargets([]Target{
				{Name: "b4", Host: addrB4}, {Name: "b6", Host: addrB6},
				{Name: "u4", Host: unreach4}, {Name: "u6", Host: unreach6},
				{Name: "b4-opts", Host: addrB4, Source: mustAddr(addrA4), TOS: 0xb8, TTL: 3, Size: 1000},
				{Name: "b6-opts", Host: addrB6, Source: mustAddr(addrA6), TOS: 0xb8, TTL: 3, Size: 1000},
				{Name: "b4-dev", Host: addrB4, Interface: "a0"},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			runIn(t, pa.a, ctx, p)
			for _, ts := range p.Snapshot().Targets {
				if ts.Sent != n || ts.Mode != tc.wantMode {
					t.Errorf("%s: sent %d in mode %q, want %d in %q", ts.Name, ts.Sent, ts.Mode, n, tc.wantMode)
				}
				if strings.HasPrefix(ts.Name, "u") {
					minErr := uint64(n)
					if ts.Name == "u4" {
						minErr = 1
					}
					if ts.Replies != 0 || ts.Lost != n || ts.ICMPErrors < minErr || ts.ICMPErrors > n || int(ts.ICMPErrors) != rec.kinds(ts.Name)[ResultICMPError] {
						t.Errorf("%s: replies %d lost %d ICMP errors %d (%d results), want 0, %d, %d..%d", ts.Name, ts.Replies, ts.Lost, ts.ICMPErrors, rec.kinds(ts.Name)[ResultICMPError], n, minErr, n)
					}
					continue
				}
				if ts.Replies != n || ts.Lost != 0 || ts.Source != SourceKernel {
					t.Errorf("%s: replies %d lost %d source %s, want %d, 0, kernel", ts.Name, ts.Replies, ts.Lost, ts.Source, n)
					for _, r := range rec.allResults() {
						if r.Target == ts.Name && r.Kind != ResultReply {
							t.Logf("%s: %+v", ts.Name, r)
						}
					}
				}
			}
			for _, r := range rec.allResults() {
				switch {
				case r.Kind == ResultICMPError && r.From != mustAddr(addrB4) && r.From != mustAddr(addrB6):
					t.Errorf("%s: ICMP error from %s, want from B", r.Target, r.From)
				case r.Kind == ResultReply && strings.HasSuffix(r.Target, "-opts") && (r.Size != 1008):
					t.Errorf("%s: reply of %d bytes, want 1008", r.Target, r.Size)
				}
			}
		})
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// blast sends UDP from ns to dst at about rate bits/s until stop is called.
func blast(t *testing.T, ns *nstest.NS, dst string, rate int) (stop func()) {
	t.Helper()
	// Several sockets: one socket's send buffer holds fewer bytes than the
	// queue, and would throttle the sender before the queue overflows.
	pcs := make([]net.PacketConn, 4)
	if err := ns.Do(func() error {
		for i := range pcs {
			var err error
			if pcs[i], err = net.ListenPacket("udp", ":0"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	to, err := net.ResolveUDPAddr("udp", net.JoinHostPort(dst, "9"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 1000
	perMS := rate / 8 / 1000 / size
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, size)
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
			}
			for i := 0; i < perMS; i++ {
				_, _ = pcs[i%len(pcs)].WriteTo(buf, to) // drops on a full queue are the point
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			for _, pc := range pcs {
				pc.Close()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestBottleneck fills a tbf queue on B's egress (the replies' direction,
// as in the seed) with real UDP traffic: RTT spikes are detected and
// counted, replies dropped by the full queue are lost, and with a short
// timeout (30ms, behind a 50ms queue) the delayed replies are late.
func TestBottleneck(t *testing.T) {
	pa := newPath(t)
	setPingGroups(t, pa.a, true)
	pa.b.MustRun(t, "tc", "qdisc", "add", "dev", "b0", "root", "tbf", "rate", "8mbit", "burst", "8kb", "latency", "50ms")
	for _, fam := range []struct{ name, target, from string }{{"ipv4", addrB4, addrA4}, {"ipv6", addrB6, addrA6}} {
		t.Run(fam.name, func(t *testing.T) {
			rec := newRecorder()
			long, err := New(Config{Interval: 20 * time.Millisecond, Timeout: time.Second, SpikeThreshold: 10 * time.Millisecond, Mode: ModeRaw, Observer: rec, Spikes: rec})
			if err != nil {
				t.Fatal(err)
			}
			short, err := New(Config{Interval: 20 * time.Millisecond, Timeout: 30 * time.Millisecond, Mode: ModeDatagram})
			if err != nil {
				t.Fatal(err)
			}
			// tbf's byte limit leaves room for a small packet when a
			// 1000-byte one no longer fits: 1400-byte probes are dropped
			// by a full queue as the blaster's packets are.
			for _, p := range []*Prober{long, short} {
				if err := p.SetTargets([]Target{{Name: "b", Host: fam.target, Size: 1400}}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for _, p := range []*Prober{long, short} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					runIn(t, pa.a, ctx, p)
				}()
			}
			time.Sleep(time.Second)
			before := long.Snapshot().Targets[0]
			stop := blast(t, pa.b, fam.from, 16_000_000)
			time.Sleep(3 * time.Second)
			stop()
			time.Sleep(1500 * time.Millisecond)
			cancel()
			wg.Wait()
			l, s := long.Snapshot().Targets[0], short.Snapshot().Targets[0]
			t.Logf("idle: %+v", before)
			t.Logf("timeout 1s: %+v", l)
			t.Logf("timeout 30ms: %+v", s)
			if before.Spikes != 0 || before.Lost != 0 {
				t.Errorf("spikes %d, lost %d before the traffic started, want 0", before.Spikes, before.Lost)
			}
			if l.Spikes == 0 || len(rec.spikeEvents()) == 0 {
				t.Errorf("no RTT spike detected behind a full 50ms tbf queue (peaks %v)", l.Peaks)
			}
			if l.Peaks[2] < 20*time.Millisecond {
				t.Errorf("60s peak RTT %v, want the queueing delay (>= 20ms)", l.Peaks[2])
			}
			if l.Lost == 0 {
				t.Errorf("no loss counted while the queue overflowed")
			}
			if l.Replies == 0 || l.Replies+l.Lost+uint64(l.InFlight) != l.Sent {
				t.Errorf("sent %d != replies %d + lost %d + in flight %d", l.Sent, l.Replies, l.Lost, l.InFlight)
			}
			if s.Late == 0 {
				t.Errorf("no late reply counted with a 30ms timeout behind a 50ms queue")
			}
			for _, e := range rec.spikeEvents() {
				if e.Trigger != "rtt" || e.Target != "b" || e.Value < e.Threshold {
					t.Errorf("bad spike event %+v", e)
				}
			}
		})
	}
}

// TestUnprivileged runs the prober as nobody without any capability: a
// datagram socket works where ping_group_range allows it, and nothing does
// where it does not: then each send fails with cause permission and
// CannotProbe says the prober cannot work at all.
func TestUnprivileged(t *testing.T) {
	pa := newPath(t)
	setpriv := nstest.RequireTool(t, "setpriv")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "nbt-prober-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "prober.test")
	if err := copyFile(self, bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		allow  bool
		target string
		want   string
	}{
		{"datagram ipv4", true, addrB4, "raw=denied mode=datagram replies=5 source=kernel senderr=0 cause= cannot=<nil>"},
		{"datagram ipv6", true, addrB6, "raw=denied mode=datagram replies=5 source=kernel senderr=0 cause= cannot=<nil>"},
		{"not allowed", false, addrB4, "raw=denied mode= replies=0 source=none senderr=5 cause=permission cannot=no permission to open ICMP sockets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setPingGroups(t, pa.a, tc.allow)
			cmd := exec.Command("ip", "netns", "exec", pa.a.Name, "env", "NBT_PROBER_CHILD="+tc.target,
				setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
				bin, "-test.run=^TestUnprivilegedChild$", "-test.v")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "RESULT "+tc.want+"\n") {
				t.Fatalf("child output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestUnprivilegedChild is the child of TestUnprivileged.
func TestUnprivilegedChild(t *testing.T) {
	target := os.Getenv("NBT_PROBER_CHILD")
	if target == "" {
		t.Skip("helper process of TestUnprivileged")
	}
	raw := "allowed"
	if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP); err == nil {
		unix.Close(fd)
	} else if errors.Is(err, unix.EPERM) {
		raw = "denied"
	}
	p, err := New(Config{Interval: 10 * time.Millisecond, Timeout: 500 * time.Millisecond, Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTargets([]Target{{Host: target}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	ts := p.Snapshot().Targets[0]
	cannot := "<nil>"
	if err := p.CannotProbe(); errors.Is(err, ErrNoPermission) {
		cannot = ErrNoPermission.Error()
	} else if err != nil {
		cannot = err.Error()
	}
	fmt.Printf("RESULT raw=%s mode=%s replies=%d source=%s senderr=%d cause=%s cannot=%s\n", raw, ts.Mode, ts.Replies, ts.Source, ts.SendErrors, ts.Failure.Cause, cannot)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestForeignEchoes runs iputils ping beside a raw-socket prober: the raw
// socket sees ping's replies too, and must count them as foreign rather
// than take them for its own.
func TestForeignEchoes(t *testing.T) {
	pa := newPath(t)
	pingBin := nstest.RequireTool(t, "ping")
	const n = 30
	p, err := New(Config{Interval: 10 * time.Millisecond, Timeout: 500 * time.Millisecond, Count: n, Mode: ModeRaw})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTargets([]Target{{Name: "b", Host: addrB4}}); err != nil {
		t.Fatal(err)
	}
	cmd := pa.a.Start(t, pingBin, "-q", "-c", "40", "-i", "0.005", addrB4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	runIn(t, pa.a, ctx, p)
	_ = cmd.Wait()
	s := p.Snapshot()
	ts := s.Targets[0]
	if ts.Replies != n || ts.Duplicates != 0 || ts.Late != 0 || s.Unmatched != 0 {
		t.Errorf("replies %d dups %d late %d unmatched %d, want %d, 0, 0, 0", ts.Replies, ts.Duplicates, ts.Late, s.Unmatched, n)
	}
	if s.Foreign == 0 {
		t.Errorf("no foreign echo reply counted while iputils ping ran beside the prober")
	}
}

// TestPacketOptionsOnWire checks on B's side of the wire that the
// per-packet options reach the packets: source address, TOS / traffic
// class, TTL / hop limit and payload size, in both socket modes.
func TestPacketOptionsOnWire(t *testing.T) {
	pa := newPath(t)
	tcpdump := nstest.RequireTool(t, "tcpdump")
	tshark := nstest.RequireTool(t, "tshark")
	setPingGroups(t, pa.a, true)
	pa.a.MustRun(t, "ip", "addr", "add", "198.18.0.11/24", "dev", "a0")
	pa.a.MustRun(t, "ip", "-6", "addr", "add", "2001:2::11/64", "dev", "a0", "nodad")
	for _, mode := range []Mode{ModeRaw, ModeDatagram} {
		t.Run(string(mode), func(t *testing.T) {
			pcap := filepath.Join(t.TempDir(), "b0.pcap")
			// Exactly the 6 requests: tcpdump exits by itself once it has them.
			td := pa.b.Start(t, tcpdump, "-i", "b0", "-n", "-U", "-c", "6", "-w", pcap, "icmp[0] == 8 or icmp6[0] == 128")
			// tcpdump writes the file header once it captures.
			nstest.Poll(10*time.Second, func() (bool, string) {
				fi, err := os.Stat(pcap)
				return err == nil && fi.Size() >= 24, ""
			})
			time.Sleep(200 * time.Millisecond)
			p, err := New(Config{Interval: 10 * time.Millisecond, Timeout: 300 * time.Millisecond, Count: 3, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.SetTargets([]Target{
				{Name: "v4", Host: addrB4, Source: mustAddr("198.18.0.11"), TOS: 0xb8, TTL: 7, Size: 300},
				{Name: "v6", Host: addrB6, Source: mustAddr("2001:2::11"), TOS: 0xb8, TTL: 7, Size: 300},
			}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			runIn(t, pa.a, ctx, p)
			waited := make(chan error, 1)
			go func() { waited <- td.Wait() }()
			select {
			case <-waited:
			case <-time.After(5 * time.Second):
				_ = td.Process.Signal(os.Interrupt)
				<-waited
			}
			out, err := exec.Command(tshark, "-r", pcap, "-Y", "icmp.type == 8 or icmpv6.type == 128", "-T", "fields",
				"-e", "ip.src", "-e", "ip.dsfield", "-e", "ip.ttl", "-e", "ipv6.src", "-e", "ipv6.tclass", "-e", "ipv6.hlim", "-e", "frame.len").Output()
			if err != nil {
				t.Fatalf("tshark: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			want := map[string]int{
				"198.18.0.11\t0xb8\t7\t\t\t\t342":      0,
				"\t\t\t2001:2::11\t0x000000b8\t7\t362": 0,
			}
			for _, l := range lines {
				if _, ok := want[l]; ok {
					want[l]++
				} else {
					t.Errorf("request on the wire with unexpected fields %q", l)
				}
			}
			for k, n := range want {
				if n != 3 {
					t.Errorf("%d requests %q on the wire, want 3", n, k)
				}
			}
		})
	}
}

// TestLocalQueue fills a tbf queue on the prober's own egress (A's a0),
// as a saturated local bond slave would: the probes wait in that queue, and
// their RTT must say so. A transmit stamp taken in the driver, after the
// qdisc, would report the idle wire's sub-millisecond RTT instead.
func TestLocalQueue(t *testing.T) {
	pa := newPath(t)
	setPingGroups(t, pa.a, true)
	pa.a.MustRun(t, "tc", "qdisc", "add", "dev", "a0", "root", "tbf", "rate", "8mbit", "burst", "8kb", "latency", "50ms")
	p, err := New(Config{Interval: 20 * time.Millisecond, Timeout: time.Second, Mode: ModeDatagram})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTargets([]Target{{Name: "b", Host: addrB4, Size: 56}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runIn(t, pa.a, ctx, p)
	}()
	time.Sleep(time.Second)
	idle := p.Snapshot().Targets[0]
	stop := blast(t, pa.a, addrB4, 16_000_000)
	time.Sleep(2 * time.Second)
	snap := p.Snapshot()
	busy := snap.Targets[0]
	stop()
	cancel()
	wg.Wait()
	t.Logf("idle peaks %v, behind the local queue %v, sockets %+v", idle.Peaks, busy.Peaks, snap.Sockets)
	if len(snap.Sockets) == 0 || !snap.Sockets[0].TxStamps {
		t.Logf("note: no kernel transmit stamps on this kernel (before 6.13): the send time is userspace's")
	}
	if idle.Peaks[1] > 10*time.Millisecond {
		t.Errorf("idle 10s peak %v, want sub-millisecond", idle.Peaks[1])
	}
	if busy.Peaks[0] < 20*time.Millisecond {
		t.Errorf("1s peak RTT behind a full 50ms local queue = %v, want the queueing delay (>= 20ms)", busy.Peaks[0])
	}
}
