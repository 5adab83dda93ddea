package nstest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// built is the exporter binary, built once per test process into a
// directory every user may read, so that tests can run it unprivileged.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Main runs the tests and removes what they built (the exporter binary):
// a package that starts the exporter calls it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// BuildExporter returns the netburst_exporter binary (CGO_ENABLED=0, as
// shipped), building it on first use. Under go test -race it is built with
// -race too, so that the race run covers the exporter's own goroutines in
// the end-to-end tests. It skips the test when there is no go command to
// build it with.
func BuildExporter(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping: no go command to build netburst_exporter")
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "netburst-exporter-test-"); built.err != nil {
			return
		}
		if built.err = os.Chmod(built.dir, 0o755); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "netburst_exporter")
		args, cgo := []string{"build", "-o", built.bin}, "CGO_ENABLED=0"
		if raceBuild {
			args, cgo = append(args, "-race"), "CGO_ENABLED=1"
		}
		cmd := exec.Command(goBin, append(args, "github.com/netburst/netburst/cmd/netburst_exporter")...)
		cmd.Env = append(os.Environ(), cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build netburst_exporter: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// Privilege is who the exporter under test runs as.
type Privilege int

const (
	// AsRoot runs it as the test does (root, every capability).
	AsRoot Privilege = iota
	// AsNetRaw runs it as deploy/ does: uid 65534 with CAP_NET_RAW only.
	AsNetRaw
	// AsNobody runs it as uid 65534 with no capability at all.
	AsNobody
)

func (p Privilege) String() string {
	return [...]string{"root", "uid 65534 with CAP_NET_RAW", "uid 65534 without capabilities"}[p]
}

// Launch says how StartExporter starts the exporter.
type Launch struct {
	// Port on 127.0.0.1: in a namespace 9917 by default; in the test's own
	// namespace a port that was free a moment ago.
	Port int
	As   Privilege
	// NoWait returns at once instead of waiting for /-/ready to answer 200.
	NoWait bool
}

// Exporter is a running exporter under test.
type Exporter struct {
	// Cmd is the exporter's own process (see StartExporter).
	Cmd *exec.Cmd
	// Client reaches Addr from the test, inside the exporter's namespace.
	Client *http.Client
	// Addr is the listen address, 127.0.0.1:Port.
	Addr string
	// Logs is everything the exporter wrote to stdout and stderr.
	Logs *LogBuffer
}

// Get fetches path from the exporter and returns the status and the body.
func (e *Exporter) Get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := e.Client.Get("http://" + e.Addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// StartExporter runs the exporter binary with args as l says, inside ns
// (nil: the test's own namespace), and waits until it is ready unless
// l.NoWait. It is killed when the test ends; a data race it reported (a
// -race build) fails the test then, and the tail of its logs is printed if
// the test failed. In a namespace, ip netns exec enters it
// as root and execs setpriv, which drops to the unprivileged user before it
// execs the exporter: the exporter itself never switches namespaces, as in
// production. The process is the exporter's own (exec, no fork), so
// Cmd.Process.Pid is its PID.
func StartExporter(t testing.TB, ns *NS, l Launch, args ...string) *Exporter {
	t.Helper()
	bin := BuildExporter(t)
	e := &Exporter{Logs: &LogBuffer{}}
	var argv []string
	if ns != nil {
		if l.Port == 0 {
			l.Port = 9917
		}
		e.Client = ns.HTTPClient()
		argv = append(argv, "ip", "netns", "exec", ns.Name)
	} else {
		if l.Port == 0 {
			l.Port = freePort(t)
		}
		e.Client = &http.Client{Timeout: 10 * time.Second}
	}
	e.Addr = fmt.Sprintf("127.0.0.1:%d", l.Port)
	switch l.As {
	case AsNetRaw:
		argv = append(argv, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all,+net_raw", "--ambient-caps=+net_raw", "--bounding-set=-all,+net_raw")
	case AsNobody:
		argv = append(argv, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all")
	}
	argv = append(argv, bin, "--web.listen-address="+e.Addr)
	argv = append(argv, args...)
	e.Cmd = exec.Command(argv[0], argv[1:]...)
	e.Cmd.Stdout, e.Cmd.Stderr = e.Logs, e.Logs
	if err := e.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.Cmd.Process.Kill()
		_ = e.Cmd.Wait()
		if logs := e.Logs.String(); strings.Contains(logs, "WARNING: DATA RACE") {
			t.Errorf("the exporter (%v, %s) reported a data race:\n%s", l.As, e.Addr, logs)
			return
		}
		if t.Failed() {
			logs := e.Logs.String()
			if len(logs) > 4000 {
				logs = logs[len(logs)-4000:]
			}
			t.Logf("exporter (%v, %s) log (tail):\n%s", l.As, e.Addr, logs)
		}
	})
	if l.NoWait {
		return e
	}
	Eventually(t, 30*time.Second, func() (bool, string) {
		resp, err := e.Client.Get("http://" + e.Addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, ""
			}
			err = errors.New(resp.Status)
		}
		return false, fmt.Sprintf("exporter (%v) not ready (last error %v); logs:\n%s", l.As, err, e.Logs.String())
	})
	return e
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
