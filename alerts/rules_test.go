package alerts

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/netburst/netburst/internal/promqlnames"
)

func loadShipped(t *testing.T) (*Config, *RuleFile) {
	t.Helper()
	cfg, err := LoadConfig(ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := LoadRules(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, rules
}

// TestRulesUpToDate fails when netburst-rules.yml is not what the mixin
// renders with config.libsonnet: run `go generate ./alerts`.
func TestRulesUpToDate(t *testing.T) {
	cfg, _ := loadShipped(t)
	want, err := Render(cfg, "..")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `go generate ./alerts` and commit the result", RulesFile)
	}
	want, err = RenderPrometheusRule(cfg, "..")
	if err != nil {
		t.Fatal(err)
	}
	got, err = os.ReadFile(PrometheusRuleFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `go generate ./alerts` and commit the result", PrometheusRuleFile)
	}
	// The resource holds exactly the rules file's groups.
	var pr struct {
		Kind string   `yaml:"kind"`
		Spec RuleFile `yaml:"spec"`
	}
	if err := yaml.Unmarshal(got, &pr); err != nil {
		t.Fatal(err)
	}
	shipped, err := LoadRules(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Kind != "PrometheusRule" || !reflect.DeepEqual(pr.Spec.Groups, shipped.Groups) {
		t.Errorf("%s: kind %q, or its groups differ from %s", PrometheusRuleFile, pr.Kind, RulesFile)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	forEachPromtool(t, func(t *testing.T, promtool string) {
		out := runPromtool(t, promtool, ".", "check", "rules", RulesFile)
		if !strings.Contains(out, "SUCCESS") {
			t.Fatalf("promtool check rules: %s", out)
		}
	})
}

func testFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("tests", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule unit tests in tests/: %v", err)
	}
	sort.Strings(files)
	return files
}

// TestPromtoolTestRules runs every unit test file in tests/ with both
// promtool majors. Their numbers must agree on both: Prometheus 3 leaves a
// range's first sample out, so a rate's last bits differ from 2.x, and the
// tests compare values that come from rate() rounded (round(x * 1e6) / 1e6).
func TestPromtoolTestRules(t *testing.T) {
	files := testFiles(t)
	forEachPromtool(t, func(t *testing.T, promtool string) {
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				runPromtool(t, promtool, "tests", "test", "rules", filepath.Base(f))
			})
		}
	})
}

// unitTests is the part of promtool's unit test format the coverage check reads.
type unitTests struct {
	Tests []struct {
		Name           string `yaml:"name"`
		AlertRuleTests []struct {
			EvalTime  string           `yaml:"eval_time"`
			AlertName string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTests []struct {
			Expr       string           `yaml:"expr"`
			EvalTime   string           `yaml:"eval_time"`
			ExpSamples []map[string]any `yaml:"exp_samples"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

var pendingRE = regexp.MustCompile(`^ALERTS\{alertname="([A-Za-z0-9_]+)", alertstate="pending"\}$`)

// TestEveryAlertTested checks the unit tests' coverage: every alert of the
// rules file has (a) a test where it fires, (b) in the same input, an
// earlier time where it is pending (its condition holds) but not firing:
// not before its for, and (c) an input where it never fires: the one just
// below its threshold.
func TestEveryAlertTested(t *testing.T) {
	_, rules := loadShipped(t)
	type cover struct{ fires, beforeFor, quiet bool }
	got := map[string]*cover{}
	for _, a := range rules.Alerts() {
		got[a.Alert] = &cover{}
	}
	for _, f := range testFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ut unitTests
		if err := yaml.Unmarshal(b, &ut); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range ut.Tests {
			firesAt := map[string]time.Duration{}
			quietAt := map[string][]time.Duration{}
			for _, a := range g.AlertRuleTests {
				c, ok := got[a.AlertName]
				if !ok {
					t.Errorf("%s %q: test of unknown alert %s", f, g.Name, a.AlertName)
					continue
				}
				at := mustDuration(t, a.EvalTime)
				if len(a.ExpAlerts) > 0 {
					c.fires = true
					if old, ok := firesAt[a.AlertName]; !ok || at < old {
						firesAt[a.AlertName] = at
					}
				} else {
					quietAt[a.AlertName] = append(quietAt[a.AlertName], at)
				}
			}
			for name := range quietAt {
				if _, fires := firesAt[name]; !fires {
					got[name].quiet = true
				}
			}
			for _, p := range g.PromQLExprTests {
				m := pendingRE.FindStringSubmatch(p.Expr)
				if m == nil || len(p.ExpSamples) == 0 {
					continue
				}
				name, at := m[1], mustDuration(t, p.EvalTime)
				fire, ok := firesAt[name]
				if !ok || at >= fire {
					continue
				}
				for _, q := range quietAt[name] {
					if q == at {
						got[name].beforeFor = true
					}
				}
			}
		}
	}
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := got[n]
		if !c.fires {
			t.Errorf("%s: no unit test where it fires", n)
		}
		if !c.beforeFor {
			t.Errorf("%s: no unit test where it is pending but not yet firing (same input, earlier time, ALERTS{alertstate=\"pending\"} checked)", n)
		}
		if !c.quiet {
			t.Errorf("%s: no unit test input where it never fires (just below its threshold)", n)
		}
	}
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("eval_time %q: %v", s, err)
	}
	return d
}

// TestAlertsAnnotated checks the labels and annotations every alert must
// carry, and that each runbook_url's anchor is a heading of docs/runbook.md.
func TestAlertsAnnotated(t *testing.T) {
	cfg, rules := loadShipped(t)
	runbook, err := os.ReadFile(filepath.Join("..", "docs", "runbook.md"))
	if err != nil {
		t.Fatalf("the runbook the alerts link to: %v", err)
	}
	anchors := markdownAnchors(string(runbook))
	alerts := rules.Alerts()
	if len(alerts) != len(cfg.Alerts) {
		t.Errorf("%d alerts in %s, %d in %s", len(alerts), RulesFile, len(cfg.Alerts), ConfigFile)
	}
	for _, a := range alerts {
		if !severities[a.Labels["severity"]] {
			t.Errorf("%s: severity %q", a.Alert, a.Labels["severity"])
		}
		if a.For == "" {
			t.Errorf("%s: no for", a.Alert)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(a.Annotations[k]) == "" {
				t.Errorf("%s: no %s annotation", a.Alert, k)
			}
		}
		if !strings.Contains(a.Annotations["description"], "{{") {
			t.Errorf("%s: description is not templated with the alert's values", a.Alert)
		}
		url := a.Annotations["runbook_url"]
		want := cfg.RunbookURL + "#" + RunbookAnchor(a.Alert)
		if url != want {
			t.Errorf("%s: runbook_url %q, want %q", a.Alert, url, want)
		}
		if !anchors[RunbookAnchor(a.Alert)] {
			t.Errorf("%s: docs/runbook.md has no heading with anchor #%s", a.Alert, RunbookAnchor(a.Alert))
		}
	}
}

// markdownAnchors returns the anchors GitHub-style renderers give the
// headings of a Markdown document: lower case, punctuation dropped, spaces
// turned into hyphens.
func markdownAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		out[a] = true
	}
	return out
}

// TestRuleMetricsKnown checks that every metric the rules read is in the
// contract (metrics.go) or recorded by the rules themselves.
func TestRuleMetricsKnown(t *testing.T) {
	_, rules := loadShipped(t)
	known := ContractMetrics()
	for n := range rules.RecordedNames() {
		known[n] = true
	}
	if err := promqlnames.Check(rules.Exprs(), known); err != nil {
		t.Fatal(err)
	}
	// And the check can fail: a contract without the bond metrics rejects
	// the bond rules.
	partial := map[string]MetricType{}
	for n, typ := range contract {
		if !strings.HasPrefix(n, "netburst_bond_") {
			partial[n] = typ
		}
	}
	known = ExpandNames(partial)
	for n := range rules.RecordedNames() {
		known[n] = true
	}
	err := promqlnames.Check(rules.Exprs(), known)
	if !errors.Is(err, promqlnames.ErrUnknownMetric) || !strings.Contains(err.Error(), "netburst_bond_slave_share_ratio") {
		t.Fatalf("promqlnames.Check without the bond metrics: %v", err)
	}
}

func TestRecordingRuleNames(t *testing.T) {
	_, rules := loadShipped(t)
	// level:metric:operations, as Prometheus' naming practice and the
	// mixins write them: the level is the labels that identify a series
	// (instance, then the device, target or bond), the metric the
	// exporter's own name without _total, the operations the functions.
	re := regexp.MustCompile(`^(instance|instance_device|instance_target|instance_target_quantile|instance_bond):(netburst_[a-z0-9_]+):([a-z0-9_]+)$`)
	for n := range rules.RecordedNames() {
		m := re.FindStringSubmatch(n)
		if m == nil {
			t.Errorf("recording rule %q is not named level:metric:operations (instance_device:netburst_x:rate5m)", n)
			continue
		}
		if strings.HasSuffix(m[2], "_total") {
			t.Errorf("recording rule %q: the metric part keeps _total (drop it once rate() is applied)", n)
		}
	}
}

// TestConfigErrors renders the shipped rules with a config broken in each
// way a user can break it: Validate refuses what the rules cannot check,
// the rules themselves (jsonnet asserts and lookups) the rest.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"empty selector", func(c *Config) { c.Selector = " " }, "selector must not be empty"},
		{"no runbook", func(c *Config) { c.RunbookURL = "" }, "runbook_url must not be empty"},
		{"bad for", func(c *Config) {
			a := c.Alerts["NetburstHighJitter"]
			a.For = "5 minutes"
			c.Alerts["NetburstHighJitter"] = a
		}, "is not a Prometheus duration"},
		{"empty for", func(c *Config) { a := c.Alerts["NetburstHighJitter"]; a.For = ""; c.Alerts["NetburstHighJitter"] = a }, "is not a Prometheus duration"},
		{"bad severity", func(c *Config) {
			a := c.Alerts["NetburstHighJitter"]
			a.Severity = "page"
			c.Alerts["NetburstHighJitter"] = a
		}, "is not critical, warning or info"},
		{"alert the rules do not define", func(c *Config) { c.Alerts["NetburstNope"] = AlertConfig{For: "1m", Severity: "info"} }, `configured but not defined: ["NetburstNope"]`},
		{"alert not configured", func(c *Config) { delete(c.Alerts, "NetburstExporterDown") }, "NetburstExporterDown"},
		{"missing param", func(c *Config) {
			a := c.Alerts["NetburstBondImbalance"]
			a.Params = nil
			c.Alerts["NetburstBondImbalance"] = a
		}, "min_bytes_per_second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := loadShipped(t)
			tt.mutate(c)
			_, err := Render(c, "..")
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrConfig saying %q", err, tt.want)
			}
		})
	}
	if _, err := ParseConfig([]byte(`{"selector": "x", "threshold": 1}`)); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "threshold") {
		t.Fatalf("unknown key: err = %v, want ErrConfig naming it", err)
	}
}

func TestParseExposition(t *testing.T) {
	const scrape = `# HELP netburst_interface_bytes_total Bytes.
# TYPE netburst_interface_bytes_total counter
netburst_interface_bytes_total{device="lo",direction="receive"} 42
# TYPE netburst_probe_rtt_seconds histogram
netburst_probe_rtt_seconds_bucket{target="a",le="+Inf"} 1
# TYPE go_gc_duration_seconds summary
# TYPE netburst_interface_speed_bytes gauge
`
	types, err := ParseExposition(strings.NewReader(scrape))
	if err != nil {
		t.Fatal(err)
	}
	known := ExpandNames(types)
	for _, n := range []string{"netburst_interface_bytes_total", "netburst_probe_rtt_seconds", "netburst_probe_rtt_seconds_bucket",
		"netburst_probe_rtt_seconds_count", "go_gc_duration_seconds_sum", "netburst_interface_speed_bytes", "up"} {
		if !known[n] {
			t.Errorf("%s not known from the scrape", n)
		}
	}
	if known["netburst_bond_info"] {
		t.Error("netburst_bond_info known though not scraped")
	}
	for _, bad := range []string{"# TYPE x\n", "# TYPE x countr\n"} {
		if _, err := ParseExposition(strings.NewReader(bad)); !errors.Is(err, ErrExposition) {
			t.Errorf("ParseExposition(%q) = %v, want ErrExposition", bad, err)
		}
	}
}

// TestRuleGroups holds the layout of the shipped groups: each holds either
// recording rules or alerts, all recording groups come first, a recording
// rule that reads another reads one defined earlier in its own group (so it
// never sees a value an interval old), and every unit test file evaluates
// the groups in the file's order (group_eval_order), as Prometheus 2.x and
// 3.x promtool would otherwise order them differently.
func TestRuleGroups(t *testing.T) {
	_, rules := loadShipped(t)
	var names []string
	seenAlerts := false
	recordedIn := map[string]string{}
	for _, g := range rules.Groups {
		names = append(names, g.Name)
		var records, alerts int
		defined := map[string]bool{}
		for _, r := range g.Rules {
			if r.Record == "" {
				alerts++
				continue
			}
			records++
			read, err := promqlnames.MetricNames(r.Expr)
			if err != nil {
				t.Fatalf("%s: %v", r.Record, err)
			}
			for _, n := range read {
				if in, ok := recordedIn[n]; ok && in != g.Name {
					t.Errorf("group %s: %s reads %s of group %s", g.Name, r.Record, n, in)
				}
				if recordedIn[n] == g.Name && !defined[n] {
					t.Errorf("group %s: %s reads %s, defined after it", g.Name, r.Record, n)
				}
			}
			defined[r.Record] = true
			recordedIn[r.Record] = g.Name
		}
		switch {
		case records > 0 && alerts > 0:
			t.Errorf("group %s mixes %d recording rules and %d alerts", g.Name, records, alerts)
		case records > 0 && seenAlerts:
			t.Errorf("recording group %s after an alert group", g.Name)
		case alerts > 0:
			seenAlerts = true
		}
	}
	files, err := filepath.Glob(filepath.Join("tests", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ut struct {
			Order []string `yaml:"group_eval_order"`
		}
		if err := yaml.Unmarshal(b, &ut); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.Equal(ut.Order, names) {
			t.Errorf("%s: group_eval_order %v, want the rule file's groups in order %v", f, ut.Order, names)
		}
	}
}
