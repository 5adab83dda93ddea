package main

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spikesJSON is a report list as docs/capture.md documents it.
const spikesJSON = `[
  {"id": "20261125T201502.100000Z-burst-nbe1", "time": "2026-11-25T20:15:02.1Z", "trigger": "burst", "triggers": ["burst", "rtt"],
   "target": "", "value": 11250000, "threshold": 500000, "device": "nbe1",
   "window_start": "2026-11-25T20:15:01.1Z", "window_end": "2026-11-25T20:15:02.6Z",
   "file": "/var/lib/netburst/netburst-20261125T201502.100000Z-burst-nbe1.pcap", "dropped": 0,
   "start": "2026-11-25T20:15:01.13Z", "end": "2026-11-25T20:15:02.59Z", "packets": 1840, "bytes": 2520332, "peak_bytes_per_second": 7200000,
   "ports": [{"protocol": "udp", "port": 7000, "packets": 1800, "bytes": 2516400, "peak_bytes_per_second": 7180000},
             {"protocol": "tcp", "port": 22, "packets": 40, "bytes": 3932, "peak_bytes_per_second": 4000}],
   "hosts": [{"src": "198.18.9.1", "dst": "198.18.9.2", "packets": 1820, "bytes": 2517480, "peak_bytes_per_second": 7180000}],
   "conversations": [{"protocol": "udp", "src": "198.18.9.1", "src_port": 40000, "dst": "198.18.9.2", "dst_port": 7000, "packets": 1800, "bytes": 2516400,
     "src_to_dst": {"packets": 1800, "bytes": 2516400}, "dst_to_src": {"packets": 0, "bytes": 0}, "peak_bytes_per_second": 7180000, "tunnel": "vxlan", "tunnel_id": 100}],
   "tunnels": [{"tunnel": "vxlan", "tunnel_id": 100, "src": "198.18.8.1", "dst": "198.18.8.2", "packets": 1800, "bytes": 2606400, "peak_bytes_per_second": 7300000}],
   "tunnelled": {"packets": 1800, "bytes": 2606400},
   "overflow": {"ports": {"packets": 0, "bytes": 0}, "hosts": {"packets": 0, "bytes": 0}, "conversations": {"packets": 0, "bytes": 0}}},
  {"id": "20261125T201400.000000Z-rtt-eth0", "time": "2026-11-25T20:14:00Z", "trigger": "rtt", "triggers": ["rtt"],
   "target": "vm-b", "value": 0.1204, "threshold": 0.01, "device": "eth0",
   "window_start": "2026-11-25T20:13:58Z", "window_end": "2026-11-25T20:14:01Z", "file": "", "file_error": "disk full", "dropped": 3,
   "packets": 0, "bytes": 0, "peak_bytes_per_second": 0, "ports": [], "hosts": [], "conversations": [],
   "overflow": {"ports": {"packets": 0, "bytes": 0}, "hosts": {"packets": 0, "bytes": 0}, "conversations": {"packets": 0, "bytes": 0}}}
]`

func TestSpikesCommand(t *testing.T) {
	const auth = "Basic " + "cHJvbWV0aGV1czpzM2NyZXQ=" // prometheus:s3cret
	if base64.StdEncoding.EncodeToString([]byte("prometheus:s3cret")) != auth[6:] {
		t.Fatal("test's credentials")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/spikes" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != auth {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(spikesJSON))
	}))
	defer srv.Close()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"spikes", "--exporter", srv.URL, "--user", "prometheus", "--password-file", pw}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // contained, in order
		stderr string   // contained
	}{
		{"table", base, 0, []string{"TIME (UTC)", "TOP PORT", "2026-11-25 20:15:02.100", "burst", "nbe1", "90.0 Mb/s", "udp/7000", "20261125T201502.100000Z-burst-nbe1",
			"2026-11-25 20:14:00.000", "rtt", "vm-b", "120.400 ms", "10.000 ms"}, ""},
		{"one in detail", append(base, "20261125T201502.100000Z-burst-nbe1"), 0, []string{"trigger  burst at 2026-11-25T20:15:02.1Z: 90.0 Mb/s (threshold 4.0 Mb/s); merged: burst, rtt",
			"window   20:15:01.100 to 20:15:02.600 (1.5s)", "1840 packets", "pcap     /var/lib/netburst/", "PROTO  PORT", "udp  7000", "tcp    22", "SOURCE", "198.18.9.1",
			"TUNNEL", "vxlan 100", "TUNNEL  OUTER SOURCE", "198.18.8.1"}, ""},
		{"top 1", append(base, "-n", "1", "20261125T201502.100000Z-burst-nbe1"), 0, []string{"udp  7000"}, ""},
		{"file error", append(base, "20261125T201400.000000Z-rtt-eth0"), 0, []string{"target vm-b", "3 frames lost to --capture.memory", "not written: disk full"}, ""},
		{"json", append(base, "--json"), 0, []string{`"id": "20261125T201502.100000Z-burst-nbe1"`}, ""},
		{"unknown id", append(base, "nope"), 1, nil, `no spike report "nope" at ` + srv.URL + " (it holds 2"},
		{"no credentials", []string{"spikes", "--exporter", srv.URL}, 1, nil, "401 Unauthorized: give --user and --password-file"},
		{"bad exporter", []string{"spikes", "--exporter", "127.0.0.1:9917"}, 2, nil, "--exporter=127.0.0.1:9917: want http://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runNetburst(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d containing %q", code, errs, tt.code, tt.stderr)
			}
			containsInOrder(t, out, tt.stdout)
			if tt.name == "top 1" && strings.Contains(out, "tcp    22") {
				t.Errorf("-n 1 printed the second port:\n%s", out)
			}
		})
	}
}
