package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tcpdump runs tcpdump -w file on dev inside ns, with args after its own
// (a snap length, a filter expression), and waits until it listens. stop
// interrupts it and waits for the file to be complete (killing it after
// 5 s); t.Cleanup calls stop too. It runs in immediate mode, packet
// buffered and as root (-Z root, so that it may write anywhere the test
// may): without immediate mode libpcap hands packets over a block at a
// time, and the block still open at the interrupt (up to a second) is
// never written.
func Tcpdump(t testing.TB, ns *NS, dev, file string, args ...string) (stop func()) {
	t.Helper()
	argv := append([]string{"netns", "exec", ns.Name, "tcpdump", "-n", "-Z", "root", "--immediate-mode", "-U", "-i", dev, "-w", file}, args...)
	cmd := exec.Command("ip", argv...)
	// os/exec copies stderr from a goroutine of its own while the wait
	// below reads it.
	logs := &LogBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("tcpdump on %s in %s: %v", dev, ns.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(stop)
	Eventually(t, 10*time.Second, func() (bool, string) {
		select {
		case <-done:
			t.Fatalf("tcpdump on %s in %s exited before it listened: %s", dev, ns.Name, logs.String())
		default:
		}
		out := logs.String()
		return strings.Contains(out, "listening on"), fmt.Sprintf("tcpdump on %s in %s not listening: %s", dev, ns.Name, out)
	})
	return stop
}
