package deploy

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// TestSystemdSocket checks the socket unit with its service
// (systemd-analyze verify) and runs the exporter as systemd would under it:
// handed a listening socket (systemd-socket-activate, the same
// LISTEN_FDS protocol) with --web.systemd-socket, it serves /metrics on it.
func TestSystemdSocket(t *testing.T) {
	units := unit(t, "netburst_exporter.socket")
	if got := units["Socket"]["ListenStream"]; len(got) != 1 || got[0] != "9917" {
		t.Errorf("ListenStream %v, want the exporter's default port 9917", got)
	}
	if got := units["Socket"]["Service"]; len(got) != 1 || got[0] != "netburst_exporter.service" {
		t.Errorf("Service %v, want netburst_exporter.service", got)
	}
	sa := systemdAnalyze(t)
	service := unitCopy(t)
	socket := filepath.Join(filepath.Dir(service), "netburst_exporter.socket")
	b, err := os.ReadFile("netburst_exporter.socket")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(socket, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", socket, service).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("skipping the activation: no systemd-socket-activate (package systemd)")
	}
	bin := buildExporter(t)
	addr := freeAddr(t)
	// os/exec writes stderr from a goroutine of its own while the test
	// reads it: a LogBuffer, not a plain bytes.Buffer, which would race.
	stderr := &nstest.LogBuffer{}
	cmd := exec.Command(activate, "-l", addr, bin, "--web.systemd-socket", "--log.level=warn")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// systemd-socket-activate listens at once and starts the exporter at
	// the first connection; the deadline is for that start.
	var code int
	nstest.Poll(20*time.Second, func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		code = resp.StatusCode
		return code == http.StatusOK, resp.Status
	})
	if code != http.StatusOK {
		t.Fatalf("GET /metrics through the activated socket: %d\n%s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Errorf("exporter logged errors:\n%s", stderr.String())
	}
}

// TestVsockDropIn: the drop-in adds AF_VSOCK and nothing else (a second
// RestrictAddressFamilies= allow-list extends the unit's).
func TestVsockDropIn(t *testing.T) {
	d := unit(t, "vsock.conf")
	if len(d) != 1 || len(d["Service"]) != 1 || strings.Join(d["Service"]["RestrictAddressFamilies"], " ") != "AF_VSOCK" {
		t.Fatalf("vsock.conf: %v, want only [Service] RestrictAddressFamilies=AF_VSOCK", d)
	}
}
