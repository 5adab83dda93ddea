package sampler

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netburst/netburst/internal/nstest"
)

func linkNames(src LinkSource) map[string]Link {
	links, _ := src.Links()
	out := map[string]Link{}
	for _, l := range links {
		out[l.Name] = l
	}
	return out
}

// waitFor waits up to 10 s for cond to hold.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	nstest.Eventually(t, 10*time.Second, func() (bool, string) { return cond(), what })
}

// The link source opened inside a namespace follows that namespace's
// devices (add, rename, master, delete), signals its watchers, and counts
// the events; it never enters the namespace again after it is opened.
func TestNetlinkLinksFollowEventsInTheirNamespace(t *testing.T) {
	ns := nstest.New(t)
	var src LinkSource
	if err := ns.Do(func() error {
		var err error
		src, err = NewNetlinkLinks(t.TempDir(), nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	changes, release := src.(LinkWatcher).Watch()
	defer release()
	if _, ok := linkNames(src)["lo"]; !ok {
		t.Fatalf("table of the namespace lacks lo: %v", linkNames(src))
	}

	ns.MustRun(t, "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb")
	ns.MustRun(t, "ip", "link", "add", "br0", "type", "bridge")
	ns.MustRun(t, "ip", "link", "set", "va", "master", "br0")
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("no change signal after devices were added")
	}
	waitFor(t, "va enslaved to br0 in the table", func() bool {
		l, ok := linkNames(src)["va"]
		return ok && l.Kind == "veth" && l.Master == "br0"
	})
	// Leaving the bridge is an AF_BRIDGE "delete" of the port: the
	// device stays.
	ns.MustRun(t, "ip", "link", "set", "va", "nomaster")
	waitFor(t, "va still in the table, no master", func() bool {
		l, ok := linkNames(src)["va"]
		return ok && l.Kind == "veth" && l.Master == ""
	})
	ns.MustRun(t, "ip", "link", "set", "vb", "name", "vc")
	waitFor(t, "vb renamed vc", func() bool {
		names := linkNames(src)
		_, old := names["vb"]
		_, renamed := names["vc"]
		return renamed && !old
	})
	ns.MustRun(t, "ip", "link", "del", "va") // takes its peer vc along
	waitFor(t, "va and vc gone", func() bool {
		names := linkNames(src)
		_, a := names["va"]
		_, c := names["vc"]
		return !a && !c
	})
	// The host's own devices never appear: the source stayed in its
	// namespace.
	if n := len(linkNames(src)); n != 2 {
		t.Errorf("table has %d devices (%v), want lo and br0", n, linkNames(src))
	}
	st := src.(LinkEventCounter).LinkEventStats()
	if st.Events == 0 || st.Relists == 0 || st.Errors != 0 {
		t.Errorf("stats %+v: want events and the first relist counted, no errors", st)
	}
}

// When more notifications come than the socket's buffer holds, the kernel
// drops them and says so with ENOBUFS on the next read; the socket keeps
// delivering what comes after (so nothing needs re-opening).
func TestLinkEventSocketReportsOverflow(t *testing.T) {
	ns := nstest.New(t)
	var s *linkEventSocket
	if err := ns.Do(func() error {
		var err error
		s, err = openLinkEvents()
		if err != nil {
			return err
		}
		// As small as the kernel allows (it doubles and floors the value).
		return s.rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 0)
		})
	}); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("link add name o%da type veth peer name o%db", i, i))
	}
	ipBatch(t, ns, lines)
	var overflowed bool
	applied := 0
	for range 200 {
		err := s.read(func(uint16, netlink.Link, []byte) { applied++ })
		if errors.Is(err, unix.ENOBUFS) {
			overflowed = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !overflowed {
		t.Fatalf("no ENOBUFS after 100 devices into a minimal buffer (%d applied)", applied)
	}
	// Drain what was queued before the overflow, give the socket room,
	// and see a later change arrive on the same socket.
	if err := s.file.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	for {
		err := s.read(func(uint16, netlink.Link, []byte) {})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil && !errors.Is(err, unix.ENOBUFS) {
			t.Fatal(err)
		}
	}
	if err := s.rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.file.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	ns.MustRun(t, "ip", "link", "add", "after", "type", "veth", "peer", "name", "after2")
	got := map[string]bool{}
	for !got["after"] {
		err := s.read(func(_ uint16, l netlink.Link, _ []byte) { got[l.Attrs().Name] = true })
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !got["after"] {
		t.Error("the socket delivered nothing after the overflow")
	}
}

// A veth's carrier follows its peer: each down and up of the peer is a
// carrier change of the veth, which the link source learns from the link
// events (and a full re-read agrees), equal to the kernel's own count in
// sysfs. The source opens its sockets without any privilege.
func TestNetlinkLinksCarrierChanges(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "ip", "link", "add", "ca", "type", "veth", "peer", "name", "cb")
	ns.MustRun(t, "ip", "link", "set", "ca", "up")
	ns.MustRun(t, "ip", "link", "set", "cb", "up")
	var src LinkSource
	if err := ns.Do(func() error {
		var err error
		src, err = NewNetlinkLinks(t.TempDir(), nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	kernel := func() uint32 {
		t.Helper()
		// ip netns exec mounts the namespace's own sysfs.
		out := strings.TrimSpace(ns.MustRun(t, "cat", "/sys/class/net/ca/carrier_changes"))
		n, err := strconv.ParseUint(out, 10, 32)
		if err != nil {
			t.Fatalf("carrier_changes %q: %v", out, err)
		}
		return uint32(n)
	}
	equal := func(what string) uint32 {
		t.Helper()
		var want uint32
		nstest.Eventually(t, 10*time.Second, func() (bool, string) {
			want = kernel()
			l := linkNames(src)["ca"]
			return l.CarrierKnown && l.CarrierChanges == want, fmt.Sprintf("%s: ca %+v, kernel %d", what, l, want)
		})
		return want
	}
	before := equal("first read")
	if before == 0 {
		t.Errorf("ca's carrier came up once at least, the kernel says %d changes", before)
	}
	for range 3 {
		ns.MustRun(t, "ip", "link", "set", "cb", "down")
		ns.MustRun(t, "ip", "link", "set", "cb", "up")
	}
	after := equal("after three flaps of the peer")
	if after != before+6 {
		t.Errorf("carrier changes %d -> %d, want 6 more (three downs, three ups)", before, after)
	}
	relists := src.(LinkEventCounter).LinkEventStats().Relists
	src.Refresh()
	nstest.Eventually(t, 10*time.Second, func() (bool, string) {
		return src.(LinkEventCounter).LinkEventStats().Relists > relists, "no re-read after Refresh"
	})
	if l := linkNames(src)["ca"]; !l.CarrierKnown || l.CarrierChanges != after {
		t.Errorf("after a re-read: %+v, want %d carrier changes", l, after)
	}
}
