package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/netburst/netburst/alerts"
)

// unit parses a systemd unit file into section -> key -> values (a key may
// repeat).
func unit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: bad line %q", path, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSystemdUnitLockedDown pins the unit's privileges: only CAP_NET_RAW,
// and the sandboxing docs/deploy.md describes. Widening it must be a
// deliberate change of this test and of the docs.
func TestSystemdUnitLockedDown(t *testing.T) {
	u := unit(t, "netburst_exporter.service")
	svc := u["Service"]
	want := map[string]string{
		"CapabilityBoundingSet":   "CAP_NET_RAW",
		"AmbientCapabilities":     "CAP_NET_RAW",
		"NoNewPrivileges":         "yes",
		"DynamicUser":             "yes",
		"StateDirectory":          "netburst",
		"UMask":                   "0077",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictNamespaces":      "yes",
		"RestrictSUIDSGID":        "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"RestrictAddressFamilies": "AF_NETLINK AF_PACKET AF_INET AF_INET6 AF_UNIX",
	}
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s = %q, want %q", k, got, v)
		}
	}
	if !slices.Contains(svc["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter %q lacks @system-service", svc["SystemCallFilter"])
	}
	for _, k := range []string{"PrivateUsers", "PrivateNetwork", "User"} {
		if _, ok := svc[k]; ok {
			t.Errorf("[Service] %s is set: see docs/deploy.md for why it must not be", k)
		}
	}
	start := strings.Join(svc["ExecStart"], " ")
	if !strings.HasPrefix(start, "/usr/local/bin/netburst_exporter ") || !strings.Contains(start, "--capture.dir=/var/lib/netburst") {
		t.Errorf("ExecStart %q", start)
	}
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("skipping: systemd-analyze not found (package systemd)")
	}
	return p
}

// unitCopy writes the unit with ExecStart pointed at an existing binary:
// systemd-analyze verify insists that the executable exists.
func unitCopy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("netburst_exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("skipping: no true(1) to stand in for the exporter binary")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "netburst_exporter.service")
	b = bytes.ReplaceAll(b, []byte("/usr/local/bin/netburst_exporter"), []byte(bin))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	sa := systemdAnalyze(t)
	out, err := exec.Command(sa, "verify", unitCopy(t)).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// maxExposure is the highest `systemd-analyze security` exposure the unit
// may reach (it scores 1.6 with systemd 252; 0 is best, 10 worst).
const maxExposure = 2.0

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

func TestSystemdAnalyzeSecurity(t *testing.T) {
	sa := systemdAnalyze(t)
	out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", unitCopy(t)).CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("offline")) && bytes.Contains(out, []byte("nrecognized")) {
		t.Skipf("skipping: this systemd-analyze has no --offline (systemd < 250): %s", out)
	}
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security exposure: %.1f", score)
	if score > maxExposure {
		t.Fatalf("exposure %.1f > %.1f:\n%s", score, maxExposure, out)
	}
}

// TestDaemonSet pins the DaemonSet's host access and privileges.
func TestDaemonSet(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("kubernetes", "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds map[string]any
	kinds := map[string]bool{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		kind, _ := doc["kind"].(string)
		kinds[kind] = true
		if kind == "DaemonSet" {
			ds = doc
		}
	}
	if ds == nil || !kinds["ServiceAccount"] {
		t.Fatalf("want a DaemonSet and a ServiceAccount, got kinds %v", kinds)
	}
	get := func(v any, path ...any) any {
		for _, p := range path {
			switch k := p.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[k]
			case int:
				l, _ := v.([]any)
				if k >= len(l) {
					return nil
				}
				v = l[k]
			}
		}
		return v
	}
	pod := get(ds, "spec", "template", "spec")
	c := get(pod, "containers", 0)
	checks := []struct {
		what string
		got  any
		want any
	}{
		{"hostNetwork", get(pod, "hostNetwork"), true},
		{"automountServiceAccountToken", get(pod, "automountServiceAccountToken"), false},
		{"runAsNonRoot", get(pod, "securityContext", "runAsNonRoot"), true},
		{"seccomp", get(pod, "securityContext", "seccompProfile", "type"), "RuntimeDefault"},
		{"capabilities.drop", get(c, "securityContext", "capabilities", "drop"), []any{"ALL"}},
		{"capabilities.add", get(c, "securityContext", "capabilities", "add"), []any{"NET_RAW"}},
		{"privileged", get(c, "securityContext", "privileged"), false},
		{"readOnlyRootFilesystem", get(c, "securityContext", "readOnlyRootFilesystem"), true},
		{"requests.cpu", get(c, "resources", "requests", "cpu"), "50m"},
		{"requests.memory", get(c, "resources", "requests", "memory"), "64Mi"},
		{"port", get(c, "ports", 0, "containerPort"), 9917},
		{"readiness", get(c, "readinessProbe", "httpGet", "path"), "/-/ready"},
		{"liveness", get(c, "livenessProbe", "httpGet", "path"), "/-/healthy"},
	}
	for _, ck := range checks {
		if !equalYAML(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.what, ck.got, ck.want)
		}
	}
	args, _ := get(c, "args").([]any)
	if !slices.Contains(args, any("--web.listen-address=$(NODE_IP):9917")) {
		t.Errorf("args %v do not listen on the node's address, port 9917", args)
	}
}

func equalYAML(a, b any) bool {
	ab, _ := yaml.Marshal(a)
	bb, _ := yaml.Marshal(b)
	return bytes.Equal(ab, bb)
}

// rulesSelectorJob is the job the rules select by default (alerts/config.libsonnet).
func rulesSelectorJob(t *testing.T) string {
	t.Helper()
	c, err := alerts.LoadConfig(filepath.Join("..", "alerts", alerts.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`job="([^"]+)"`).FindStringSubmatch(c.Selector)
	if m == nil {
		t.Fatalf("alerts/%s: selector %q names no job", alerts.ConfigFile, c.Selector)
	}
	return m[1]
}

type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName                       string   `yaml:"job_name"`
		ScrapeInterval                string   `yaml:"scrape_interval"`
		ScrapeProtocols               []string `yaml:"scrape_protocols"`
		ScrapeNativeHistograms        *bool    `yaml:"scrape_native_histograms"`
		AlwaysScrapeClassicHistograms *bool    `yaml:"always_scrape_classic_histograms"`
	} `yaml:"scrape_configs"`
}

func loadPromConfig(t *testing.T, name string) promConfig {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var c promConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(c.ScrapeConfigs) != 1 {
		t.Fatalf("%s: want one scrape config", name)
	}
	return c
}

// promtoolMajor returns the local promtool's path and major version.
func promtoolMajor(t *testing.T) (string, int) {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found in PATH under CI: .ci/run must install the prometheus package")
		}
		t.Skip("skipping: promtool not found in PATH (apt-get install prometheus)")
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	m := regexp.MustCompile(`version (\d+)\.`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("promtool --version: %v %s", err, out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	return p, major
}

// checkConfig runs promtool check config on a copy of the file whose rule
// file points at the bundle's rules.
func checkConfig(t *testing.T, promtool, name string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs(filepath.Join("..", "alerts", "netburst-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("/etc/prometheus/rules/netburst-rules.yml"), []byte(rules))
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", p).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config %s: %v\n%s", name, err, out)
	}
}

func TestPrometheusConfigs(t *testing.T) {
	job := rulesSelectorJob(t)
	promtool, major := promtoolMajor(t)
	for _, name := range []string{"prometheus.yml", "prometheus-2.x.yml"} {
		c := loadPromConfig(t, name)
		sc := c.ScrapeConfigs[0]
		if sc.JobName != job {
			t.Errorf("%s: job_name %q, the rules select job %q", name, sc.JobName, job)
		}
		if sc.ScrapeInterval != "15s" || c.Global.ScrapeInterval != "15s" {
			t.Errorf("%s: scrape_interval %q/%q, want 15s", name, c.Global.ScrapeInterval, sc.ScrapeInterval)
		}
		if !slices.Contains(c.RuleFiles, "/etc/prometheus/rules/netburst-rules.yml") {
			t.Errorf("%s: rule_files %v", name, c.RuleFiles)
		}
	}
	v3 := loadPromConfig(t, "prometheus.yml").ScrapeConfigs[0]
	if len(v3.ScrapeProtocols) == 0 || v3.ScrapeProtocols[0] != "PrometheusProto" {
		t.Errorf("prometheus.yml: scrape_protocols %v must start with PrometheusProto (native histograms)", v3.ScrapeProtocols)
	}
	if v3.ScrapeNativeHistograms == nil || !*v3.ScrapeNativeHistograms || v3.AlwaysScrapeClassicHistograms == nil || !*v3.AlwaysScrapeClassicHistograms {
		t.Error("prometheus.yml: scrape_native_histograms and always_scrape_classic_histograms must be true")
	}
	checkConfig(t, promtool, "prometheus-2.x.yml")
	if major >= 3 {
		checkConfig(t, promtool, "prometheus.yml")
	} else {
		t.Logf("promtool %d.x cannot check prometheus.yml (Prometheus 3 fields); checked its structure only", major)
	}
}

// TestDockerfile checks what can be checked without a container runtime:
// the Go version matches go.mod, the packages it builds exist, the build is
// static and the image runs as non-root with a file capability.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if !strings.Contains(df, "FROM golang:"+string(m[1])+"-") {
		t.Errorf("Dockerfile's golang image is not Go %s (go.mod)", m[1])
	}
	for _, pkg := range regexp.MustCompile(`\./cmd/[a-z_]+`).FindAllString(df, -1) {
		if _, err := os.Stat(filepath.Join("..", pkg)); err != nil {
			t.Errorf("Dockerfile builds %s: %v", pkg, err)
		}
	}
	// The version ldflags come from the Makefile (one definition), with the
	// revision and branch as build arguments: .dockerignore leaves .git out.
	mk, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"VERSION", "REVISION", "BRANCH"} {
		if !regexp.MustCompile(`(?m)^` + v + `\s+\?=`).Match(mk) {
			t.Errorf("Makefile does not let %s be set from outside (%s ?= ...)", v, v)
		}
		if !strings.Contains(df, "ARG "+v) || !strings.Contains(df, v+`="${`+v+`}"`) {
			t.Errorf("Dockerfile does not pass build argument %s to make build", v)
		}
	}
	ignore, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "bin/", "*.test"} {
		if !slices.Contains(strings.Fields(string(ignore)), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "make build BIN=/out", "FROM gcr.io/distroless/static", "USER 65532:65532", "setcap cap_net_raw=ep /out/netburst_exporter", "EXPOSE 9917"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestFlagsExist builds netburst_exporter and checks that every flag the
// unit, the DaemonSet and the Dockerfile pass is one it accepts.
func TestFlagsExist(t *testing.T) {
	bin := buildExporter(t)
	help, _ := exec.Command(bin, "--help").CombinedOutput()
	flagRE := regexp.MustCompile(`--([a-z][a-z0-9.-]*)`)
	accepted := map[string]bool{}
	for _, m := range flagRE.FindAllStringSubmatch(string(help), -1) {
		accepted[m[1]] = true
	}
	if !accepted["web.listen-address"] {
		t.Fatalf("--help lists no --web.listen-address:\n%s", help)
	}
	used := map[string][]string{}
	for _, f := range []string{"netburst_exporter.service", filepath.Join("kubernetes", "daemonset.yaml"), filepath.Join("kubernetes", "basic-auth-patch.yaml"), "Dockerfile"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "#") {
				continue // examples in comments
			}
			for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
				if strings.Contains(line, "ExecStart") || strings.HasPrefix(line, "- --") || strings.HasPrefix(line, "CMD") {
					used[m[1]] = append(used[m[1]], f)
				}
			}
		}
	}
	if len(used) == 0 {
		t.Fatal("found no flags in the deploy files")
	}
	for flag, files := range used {
		if !accepted[flag] {
			t.Errorf("--%s (in %v) is not a flag of netburst_exporter", flag, files)
		}
	}
}
