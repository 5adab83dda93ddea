package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// readableByAll opens dir and the directories above it (up to the system's
// temporary directory) to every user: t.TempDir makes its top directory
// 0700, and the unprivileged exporter must read the fixtures below it.
func readableByAll(t *testing.T, dir string) {
	t.Helper()
	top := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); d != top && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// families returns the metric families of a text scrape, by name.
func families(scrape string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(scrape))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "netburst_") {
			out = append(out, f[2])
		}
	}
	sort.Strings(out)
	return out
}

// series returns the lines of a scrape whose metric name matches re,
// without their values.
func series(scrape string, re *regexp.Regexp) []string {
	var out []string
	for _, line := range strings.Split(scrape, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		if re.MatchString(name) {
			out = append(out, line[:strings.LastIndexByte(line, ' ')])
		}
	}
	sort.Strings(out)
	return out
}

// diffSets says what is in want and not in got, and the reverse.
func diffSets(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	return missing, extra
}

// attributes are the series whose labels and values come from what the
// kernel says of the links and qdiscs: what a non-root exporter used to lose.
var attributes = regexp.MustCompile(`^netburst_(interface_info|interface_speed_bytes|sampler_source_info|qdisc_drops_total|qdisc_backlog_bytes|bond_info|bond_slave_info)$`)

// The exporter as deploy/ runs it (uid 65534, CAP_NET_RAW only) exports
// the same metric families as root on the same testbed: a tbf qdisc, veths
// with a speed, a sysfs-fixture bond over them, a probe target and a
// capture; and the same link attributes and qdisc series. Without any
// capability (no probe, no capture: those need CAP_NET_RAW) it still has
// the whole sampler and the bonds.
func TestProductionNonRootMatchesRoot(t *testing.T) {
	host, peer := nstest.New(t), nstest.New(t)
	s0 := nstest.VethPair(t, host, "s0", peer, "p0")
	s1 := nstest.VethPair(t, host, "s1", peer, "p1")
	host.MustRun(t, "tc", "qdisc", "add", "dev", "s0", "root", "tbf", "rate", "40mbit", "burst", "10kb", "latency", "20ms")
	host.MustRun(t, "tc", "qdisc", "add", "dev", "s1", "root", "htb", "default", "1")
	fixture := nstest.BondFixture(t, []string{"s0", "s1"}, "40")
	readableByAll(t, fixture)
	full := []string{"--path.sysfs=" + fixture, "--probe.target=peer=" + s0.AddrB.String(), "--probe.interval=200ms",
		"--capture.device=s1", "--sampler.burst-threshold=0.5"}
	root := nstest.StartExporter(t, host, nstest.Launch{Port: 9917}, full...)
	netRaw := nstest.StartExporter(t, host, nstest.Launch{Port: 9918, As: nstest.AsNetRaw}, full...)
	bare := []string{"--path.sysfs=" + fixture}
	rootBare := nstest.StartExporter(t, host, nstest.Launch{Port: 9919}, bare...)
	nobody := nstest.StartExporter(t, host, nstest.Launch{Port: 9920, As: nstest.AsNobody}, bare...)

	// Traffic on both slaves, so that histograms, qdisc counters and the
	// capture have something to show in every exporter.
	var conns []net.Conn
	if err := host.Do(func() error {
		for _, dst := range []string{s0.BPort(9), s1.BPort(9)} {
			c, err := net.Dial("udp4", dst)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1000)
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		for _, c := range conns {
			_, _ = c.Write(payload)
		}
		time.Sleep(time.Millisecond)
	}
	for _, c := range conns {
		c.Close()
	}
	time.Sleep(time.Second) // a reply to the prober, a qdisc reading after the traffic

	scrape := func(e *nstest.Exporter) string {
		code, body := e.Get(t, "/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		return body
	}
	for _, pair := range []struct {
		name      string
		want, got *nstest.Exporter
	}{
		{"CAP_NET_RAW only, everything configured", root, netRaw},
		{"no capability, sampler and bonds", rootBare, nobody},
	} {
		t.Run(pair.name, func(t *testing.T) {
			want, got := scrape(pair.want), scrape(pair.got)
			if missing, extra := diffSets(families(want), families(got)); len(missing)+len(extra) > 0 {
				t.Errorf("metric families differ from root's:\n missing %v\n extra %v\nlogs:\n%s", missing, extra, pair.got.Logs.String())
			}
			if missing, extra := diffSets(series(want, attributes), series(got, attributes)); len(missing)+len(extra) > 0 {
				t.Errorf("link, qdisc and bond series differ from root's:\n missing %v\n extra %v", missing, extra)
			}
			for _, must := range []string{`netburst_sampler_source_info{source="netlink"}`, `netburst_interface_speed_bytes{device="s0"}`,
				`netburst_interface_info{device="s0",kind="veth",master="",operstate="up"}`, `netburst_qdisc_drops_total{device="s0",kind="tbf"}`} {
				if !slices.Contains(series(got, attributes), must) {
					t.Errorf("%s lacks %s", pair.name, must)
				}
			}
			if strings.Contains(pair.got.Logs.String(), "level=WARN") {
				t.Errorf("warnings in the unprivileged exporter's log:\n%s", pair.got.Logs.String())
			}
		})
	}
}

// Without CAP_NET_RAW a capture cannot start: the exporter says why in one
// line and exits 1 instead of running without it.
func TestProductionCaptureWithoutCapabilityRefused(t *testing.T) {
	ns := nstest.New(t)
	e := nstest.StartExporter(t, ns, nstest.Launch{As: nstest.AsNobody, NoWait: true}, "--capture.device=lo")
	err := e.Cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; logs:\n%s", err, e.Logs.String())
	}
	var errLines []string
	for _, line := range strings.Split(strings.TrimSpace(e.Logs.String()), "\n") {
		if !strings.HasPrefix(line, "time=") {
			errLines = append(errLines, line)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], "--capture.device=lo") || !strings.Contains(errLines[0], "CAP_NET_RAW") {
		t.Errorf("want one error line naming the device and CAP_NET_RAW, got %q", errLines)
	}
}
