//go:build linux

package prober

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// addVeth makes the path's veth pair a0 -- b0 with its IPv4 and IPv6
// addresses; made again after a0 is deleted, the devices get new indexes,
// as a vif does when its VM restarts.
func addVeth(t *testing.T, pa path) {
	t.Helper()
	nstest.Veth(t, pa.a, "a0", pa.b, "b0")
	pa.a.MustRun(t, "ip", "addr", "add", addrA4+"/24", "dev", "a0")
	pa.b.MustRun(t, "ip", "addr", "add", addrB4+"/24", "dev", "b0")
	pa.a.MustRun(t, "ip", "-6", "addr", "add", addrA6+"/64", "dev", "a0", "nodad")
	pa.b.MustRun(t, "ip", "-6", "addr", "add", addrB6+"/64", "dev", "b0", "nodad")
}

// TestBoundSocketRecreated records what the kernel does to a socket bound
// to a device (SO_BINDTODEVICE) that goes down, is deleted and is
// re-created under the same name: the socket keeps the old index, IPv4
// sends fail with ENODEV and IPv6 ones with ENETUNREACH (the reason link
// asks the kernel rather than trusting the errno), and only a new socket
// sends again.
func TestBoundSocketRecreated(t *testing.T) {
	for _, mode := range []Mode{ModeDatagram, ModeRaw} {
		t.Run(string(mode), func(t *testing.T) {
			pa := newPath(t)
			setPingGroups(t, pa.a, true)
			var c4, c6 conn
			open := func() {
				t.Helper()
				if err := pa.a.Do(func() error {
					var err error
					if c4, err = openConn(false, mode, "a0", 1); err != nil {
						return err
					}
					c6, err = openConn(true, mode, "a0", 1)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				a, b := c4, c6
				t.Cleanup(func() { a.close(); b.close() })
			}
			open()
			var token [tokenLen]byte
			pkt4, pkt6 := make([]byte, icmpHeaderLen+defaultPayload), make([]byte, icmpHeaderLen+defaultPayload)
			marshalEcho(pkt4, false, 1, 1, token, 1)
			marshalEcho(pkt6, true, 1, 1, token, 1)
			check := func(stage string, want4, want6 syscall.Errno, cause4, cause6 Cause, link linkStatus) {
				t.Helper()
				for _, f := range []struct {
					c     conn
					pkt   []byte
					dst   string
					want  syscall.Errno
					cause Cause
				}{{c4, pkt4, addrB4, want4, cause4}, {c6, pkt6, addrB6, want6, cause6}} {
					err := f.c.send(f.pkt, mustAddr(f.dst), &sendOptions{})
					var errno syscall.Errno
					if err != nil && !errors.As(err, &errno) {
						t.Errorf("%s: send to %s: %v, not an errno", stage, f.dst, err)
					}
					if errno != f.want || ClassifyError(err) != f.cause {
						t.Errorf("%s: send to %s: %v (errno %d, cause %q), want errno %d, cause %q", stage, f.dst, err, errno, ClassifyError(err), f.want, f.cause)
					}
					if got := f.c.link(true); got != link {
						t.Errorf("%s: link of the socket sending to %s = %d, want %d", stage, f.dst, got, link)
					}
				}
			}
			check("bound", 0, 0, "", "", linkOK)
			pa.a.MustRun(t, "ip", "link", "set", "a0", "down")
			check("down", syscall.ENETUNREACH, syscall.ENETUNREACH, CauseNoRoute, CauseNoRoute, linkDown)
			pa.a.MustRun(t, "ip", "link", "del", "a0")
			check("deleted", syscall.ENODEV, syscall.ENETUNREACH, CauseNoDevice, CauseNoRoute, linkGone)
			if err := pa.a.Do(func() error { _, err := openConn(false, mode, "a0", 1); return err }); ClassifyError(err) != CauseNoDevice {
				t.Errorf("opening a socket bound to a deleted device: %v (cause %q), want cause no_device", err, ClassifyError(err))
			}
			addVeth(t, pa)
			check("re-created", syscall.ENODEV, syscall.ENETUNREACH, CauseNoDevice, CauseNoRoute, linkGone)
			open()
			check("re-opened", 0, 0, "", "", linkOK)
		})
	}
}

// TestRebindRecreatedInterface probes B through a device-bound socket,
// deletes the veth pair and re-creates it with the same names and
// addresses (new indexes): while it is gone each target says no_device,
// and replies resume afterwards with the failure cleared. "link changed"
// recovers only by LinkChanged (the open retry is set beyond the test's
// length); "send errors" has no LinkChanged at all: the failed sends drop
// the stale socket and the open retry brings it back.
func TestRebindRecreatedInterface(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mode        Mode
		linkChanged bool
	}{
		{"link changed", ModeDatagram, true},
		{"send errors", ModeRaw, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pa := newPath(t)
			setPingGroups(t, pa.a, true)
			logs := &nstest.LogBuffer{}
			rec := newRecorder()
			p, err := New(Config{Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond, Mode: tc.mode, Observer: rec,
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if tc.linkChanged {
				p.openRetry = time.Hour
			}
			if err := p.SetTargets([]Target{{Name: "b4", Host: addrB4, Interface: "a0"}, {Name: "b6", Host: addrB6, Interface: "a0"}}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				runIn(t, pa.a, ctx, p)
			}()
			defer wg.Wait()
			defer cancel()
			stats := func() map[string]TargetStats {
				m := map[string]TargetStats{}
				for _, ts := range p.Snapshot().Targets {
					m[ts.Name] = ts
				}
				return m
			}
			all := func(f func(TargetStats) bool) func() bool {
				return func() bool {
					for _, ts := range stats() {
						if !f(ts) {
							return false
						}
					}
					return true
				}
			}
			waitFor(t, 10*time.Second, "replies through a0", all(func(ts TargetStats) bool { return ts.Replies > 0 }))

			pa.a.MustRun(t, "ip", "link", "del", "a0")
			if tc.linkChanged {
				p.LinkChanged()
			}
			waitFor(t, 10*time.Second, "failure cause no_device while a0 is gone", all(func(ts TargetStats) bool { return ts.Failure.Cause == CauseNoDevice }))
			for name, ts := range stats() {
				if !strings.Contains(ts.Failure.Error, "no such device") && !strings.Contains(ts.Failure.Error, "network is unreachable") {
					t.Errorf("%s: failure text %q, want the kernel's error", name, ts.Failure.Error)
				}
			}
			before := stats()
			addVeth(t, pa)
			if tc.linkChanged {
				p.LinkChanged()
			}
			waitFor(t, 30*time.Second, "replies after a0 was re-created", all(func(ts TargetStats) bool {
				return ts.Replies > before[ts.Name].Replies && ts.Failure.Cause == ""
			}))
			waitFor(t, 30*time.Second, "a probing again line per target", func() bool {
				return len(logs.Lines(`msg="probing again"`, "target=b4")) == 1 && len(logs.Lines(`msg="probing again"`, "target=b6")) == 1
			})
			cancel()
			wg.Wait()
			for name, ts := range stats() {
				if ts.Sent != ts.Replies+ts.Lost+uint64(ts.InFlight) || ts.SendErrors == 0 {
					t.Errorf("%s: sent %d != replies %d + lost %d + in flight %d, or no send error (%d)", name, ts.Sent, ts.Replies, ts.Lost, ts.InFlight, ts.SendErrors)
				}
				if n := len(logs.Lines(`msg="probe target cannot send"`, "target="+name, "cause=no_device", "interface=a0", "reason=\"interface a0 is gone")); n != 1 {
					t.Errorf("%s: %d no_device lines, want 1 (one per target and cause, not per probe)", name, n)
				}
			}
			seen := map[string]bool{}
			for _, r := range rec.allResults() {
				if r.Kind == ResultSendError && r.Cause == CauseNoDevice {
					seen[r.Target] = true
				}
			}
			if !seen["b4"] || !seen["b6"] {
				t.Errorf("send error results with cause no_device for %v, want b4 and b6", seen)
			}
			t.Logf("logs:\n%s", logs)
		})
	}
}

// BenchmarkLinkCheck is what a link change costs per device-bound socket:
// the sender's ioctl asking which index the bound device's name has now.
// Run as root (or with ping_group_range) on any host: it binds to lo.
func BenchmarkLinkCheck(b *testing.B) {
	skipUnlessICMP(b, false, ModeAuto)
	c, err := openConn(false, ModeAuto, "lo", 1)
	if err != nil {
		b.Skipf("skipping: cannot bind an ICMP socket to lo: %v", err)
	}
	defer c.close()
	b.ReportAllocs()
	for b.Loop() {
		if c.link(false) != linkOK {
			b.Fatal("lo reported gone")
		}
	}
}
