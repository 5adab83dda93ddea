package nstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Prefix starts the name of every namespace this package creates, so that a
// leftover from a killed test run is easy to find and remove.
const Prefix = "nbt-"

// RequireRoot skips the test unless it runs as root with the ip and tc
// commands available: real kernel objects need both.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create network namespaces (run the suite as root, as CI does)")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not found in PATH (install iproute2)", tool)
		}
	}
}

// RequireTool skips the test when an external program it compares against is
// missing.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("skipping: %s not found in PATH (.ci/run installs it)", name)
	}
	return p
}

// SkipShort skips the test under go test -short, which make test's race
// run uses: why says what makes the test too slow there (a soak, a
// benchmark-sized test) and so what the plain run alone checks.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("skipping in -short mode (the race run; the plain run has it): %s", why)
	}
}

// NS is a network namespace created for one test.
type NS struct {
	// Name is the name under /run/netns, usable with "ip netns exec".
	Name string
	// Handle is an open file descriptor of the namespace.
	Handle netns.NsHandle
}

// New creates a namespace with a unique name, brings its loopback up and
// registers its deletion with t.Cleanup.
func New(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random namespace name: %v", err)
	}
	name := Prefix + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{Name: name, Handle: -1}
	t.Cleanup(func() {
		if ns.Handle >= 0 {
			ns.Handle.Close()
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open namespace %s: %v", name, err)
	}
	ns.Handle = h
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Exec runs a command inside the namespace and returns its combined output.
func (n *NS) Exec(args ...string) ([]byte, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("in %s: %s: %w: %s", n.Name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// MustRun runs a command inside the namespace and fails the test on error.
func (n *NS) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// Batch runs ip commands (one per line, without the leading "ip", as
// "ip -batch" reads them) inside the namespace in one process: a thousand
// links are created in a second this way.
func (n *NS) Batch(t testing.TB, lines []string) {
	t.Helper()
	cmd := exec.Command("ip", "-n", n.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("in %s: ip -batch: %v: %s", n.Name, err, out)
	}
}

// Start runs a command inside the namespace in the background. It is killed
// and reaped by t.Cleanup if it is still running then.
func (n *NS) Start(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", args, n.Name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// Do runs fn on an OS thread switched into the namespace. Sockets that fn
// opens belong to the namespace for their whole life, whichever goroutine
// uses them later. Goroutines that fn starts do not run in the namespace.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: if switching back fails it must die
		// with the goroutine rather than serve others in the wrong namespace.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(n.Handle); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("leave namespace %s: %w", n.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Veth creates a veth pair with one end in a (named aName) and the other in
// b (named bName), both up. Either namespace may be nil for the test's own
// namespace; the pair is deleted with its namespaces.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	tmpA, tmpB := "nbt"+randHex(t), "nbt"+randHex(t)
	run(t, "ip", "link", "add", "name", tmpA, "type", "veth", "peer", "name", tmpB)
	move := func(ns *NS, tmp, name string) {
		if ns == nil {
			run(t, "ip", "link", "set", "dev", tmp, "name", name)
			run(t, "ip", "link", "set", "dev", name, "up")
			t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "dev", name).Run() })
			return
		}
		run(t, "ip", "link", "set", "dev", tmp, "netns", ns.Name)
		ns.MustRun(t, "ip", "link", "set", "dev", tmp, "name", name)
		ns.MustRun(t, "ip", "link", "set", "dev", name, "up")
	}
	move(a, tmpA, aName)
	move(b, tmpB, bName)
}

// HTTPClient returns a client whose connections are opened inside the
// namespace, to reach a server listening on the namespace's loopback.
func (n *NS) HTTPClient() *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := n.Do(func() error {
			var d net.Dialer
			var err error
			conn, err = d.DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func randHex(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random name: %v", err)
	}
	return hex.EncodeToString(b[:])
}
