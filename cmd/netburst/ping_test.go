package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requirePing skips unless this process may open an ICMP socket: root, or
// a group inside net.ipv4.ping_group_range.
func requirePing(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, _ := strconv.Atoi(f[0])
			hi, _ := strconv.Atoi(f[1])
			if g := os.Getgid(); g >= lo && g <= hi {
				return
			}
		}
	}
	t.Skip("skipping: needs root or a group in net.ipv4.ping_group_range to open ICMP sockets")
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPingLoopback(t *testing.T) {
	requirePing(t)
	for _, tc := range []struct {
		name string
		args []string
		re   []string
	}{
		{"ipv4 text", []string{"ping", "-c", "3", "-i", "0.01", "127.0.0.1"}, []string{
			`^PING 127\.0\.0\.1 \(127\.0\.0\.1\) 56\(84\) bytes of data\.$`,
			`^64 bytes from 127\.0\.0\.1: icmp_seq=1 ttl=64 time=\d+\.\d+ ms$`,
			`^64 bytes from 127\.0\.0\.1: icmp_seq=3 ttl=64 time=\d+\.\d+ ms$`,
			`^--- 127\.0\.0\.1 ping statistics ---$`,
			`^3 packets transmitted, 3 received, 0% packet loss, time \d+ms$`,
			`^rtt min/avg/max/mdev = \d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms$`,
			`^late 0, duplicates 0, reordered 0, jitter \d+\.\d{3} ms, timestamps kernel$`,
		}},
		{"ipv6 size duration", []string{"ping", "-c", "2", "-i", "10ms", "-W", "500ms", "-s", "100", "::1"}, []string{
			`^PING ::1 \(::1\) 100 data bytes$`,
			`^108 bytes from ::1: icmp_seq=2 ttl=64 time=\d+\.\d+ ms$`,
			`^2 packets transmitted, 2 received, 0% packet loss`,
		}},
		{"csv", []string{"ping", "--csv", "-c", "3", "-i", "0.01", "127.0.0.1"}, []string{
			`^1,0\.\d{9}$`, `^2,0\.\d{9}$`, `^3,0\.\d{9}$`,
			`^# 3 packets transmitted, 3 received, 0% packet loss`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q, stdout %q", code, errs, out)
			}
			for _, re := range tc.re {
				if !regexp.MustCompile(`(?m)` + re).MatchString(out) {
					t.Errorf("no line matches %s in:\n%s", re, out)
				}
			}
			if tc.name == "csv" {
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					if !strings.HasPrefix(l, "#") && !regexp.MustCompile(`^\d+,\d+\.\d{9}$`).MatchString(l) {
						t.Errorf("CSV line %q is neither seq,rtt_seconds nor a # comment", l)
					}
				}
			}
		})
	}
}

func TestPingBadUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"ping"}, "required argument"},
		{"bad interval", []string{"ping", "-i", "soon", "127.0.0.1"}, "-i"},
		{"interval too small", []string{"ping", "-i", "0.0001", "127.0.0.1"}, "at least 1ms"},
		{"negative count", []string{"ping", "--count=-1", "127.0.0.1"}, "count"},
		{"zero timeout", []string{"ping", "-W", "0", "127.0.0.1"}, "timeout"},
		{"payload too small", []string{"ping", "-s", "8", "127.0.0.1"}, "payload size 8"},
		{"payload too large", []string{"ping", "-s", "70000", "127.0.0.1"}, "payload size 70000"},
		{"bad mode", []string{"ping", "--mode", "tcp", "127.0.0.1"}, "--mode=tcp: must be one of auto, datagram, raw"},
		{"both families", []string{"ping", "-4", "-6", "127.0.0.1"}, "exclude"},
		{"family mismatch", []string{"ping", "-6", "127.0.0.1"}, "not an IPv6 address"},
		{"bad ttl", []string{"ping", "-t", "300", "127.0.0.1"}, "TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(t, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q stdout %q", code, errs, out)
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q does not mention %q", errs, tc.want)
			}
		})
	}
}

func TestParseSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true},
		{"0.01", 10 * time.Millisecond, true},
		{"0.2", 200 * time.Millisecond, true},
		{"10ms", 10 * time.Millisecond, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"-1", 0, false},
		{"-5ms", 0, false},
		{"NaN", 0, false},
		{"fast", 0, false},
		{"", 0, false},
	} {
		got, err := parseSeconds(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseSeconds(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFmtMS(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Microsecond, "0.045"},
		{1234 * time.Microsecond, "1.23"},
		{12345 * time.Microsecond, "12.3"},
		{120400 * time.Microsecond, "120"},
	} {
		if got := fmtMS(tc.d); got != tc.want {
			t.Errorf("fmtMS(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// A socket that cannot be opened fails at once, in the exporter's words:
// an -I interface that does not exist is gone (nothing is sent: binding
// the socket fails).
func TestPingSocketErrors(t *testing.T) {
	requirePing(t)
	code, out, errs := runCmd(t, "ping", "-c", "1", "-I", "nbtnope0", "127.0.0.1")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q stdout %q", code, errs, out)
	}
	if !strings.Contains(errs, "ping 127.0.0.1: interface nbtnope0 is gone (bind ICMP socket to device \"nbtnope0\": no such device)") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("stderr %q, want one line saying the interface is gone", errs)
	}
}
