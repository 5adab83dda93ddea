package alerts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"

	"github.com/netburst/netburst/dashboards"
)

// evalMixin evaluates the mixin as a kube-prometheus or mixtool user does
// (the module root on the import path), with overrides merged into it.
func evalMixin(t *testing.T, overrides string) (rules, alerts RuleFile, dash map[string]any) {
	t.Helper()
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{".."}})
	out, err := vm.EvaluateAnonymousSnippet("test.jsonnet", `local m = (import 'mixin.libsonnet') + `+overrides+`;
{ rules: m.prometheusRules, alerts: m.prometheusAlerts, dashboards: m.grafanaDashboards }`)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rules, Alerts RuleFile
		Dashboards    map[string]any
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Rules, doc.Alerts, doc.Dashboards
}

// TestMixinIsTheShippedBundle: with the default _config the mixin's
// prometheusRules and prometheusAlerts are netburst-rules.yml's groups and
// its grafanaDashboards the files of dashboards/, so that a mixin user and a
// user of the files run the same thing.
func TestMixinIsTheShippedBundle(t *testing.T) {
	rules, alerts, dash := evalMixin(t, "{}")
	shipped, err := LoadRules(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	got := append(rules.Groups, alerts.Groups...)
	if !reflect.DeepEqual(got, shipped.Groups) {
		t.Errorf("the mixin's rules differ from %s: run `go generate ./alerts`", RulesFile)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				t.Errorf("prometheusRules group %s holds alert %s", g.Name, r.Alert)
			}
		}
	}
	for _, g := range alerts.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				t.Errorf("prometheusAlerts group %s holds recording rule %s", g.Name, r.Record)
			}
		}
	}
	files := dashboards.UIDs()
	if len(dash) != len(files) {
		t.Errorf("the mixin has %d dashboards, dashboards/ %d", len(dash), len(files))
	}
	for name := range files {
		b, err := os.ReadFile(filepath.Join("..", "dashboards", name))
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if got := dash["netburst-"+name]; !reflect.DeepEqual(got, want) {
			t.Errorf("grafanaDashboards[%q] is not dashboards/%s", "netburst-"+name, name)
		}
	}
}

// TestMixinConfigOverrides: a user's _config changes every rule that reads
// it: the selector everywhere, one alert's threshold and for in that alert.
func TestMixinConfigOverrides(t *testing.T) {
	rules, alerts, _ := evalMixin(t, `{ _config+:: {
  selector: 'job="nb-exporter"',
  alerts+: { NetburstHighJitter+: { threshold: 0.01, 'for': '15m' } },
} }`)
	n := 0
	for _, g := range append(rules.Groups, alerts.Groups...) {
		for _, r := range g.Rules {
			if strings.Contains(r.Expr, `job="netburst"`) {
				t.Errorf("%s%s still reads the default selector: %s", r.Record, r.Alert, r.Expr)
			}
			if strings.Contains(r.Expr, `job="nb-exporter"`) {
				n++
			}
			if r.Alert == "NetburstHighJitter" && (!strings.HasSuffix(r.Expr, "> 0.01") || r.For != "15m" || !strings.Contains(r.Annotations["description"], "threshold 0.01s")) {
				t.Errorf("NetburstHighJitter with threshold 0.01 for 15m: expr %q for %q description %q", r.Expr, r.For, r.Annotations["description"])
			}
		}
	}
	if n < 20 {
		t.Errorf("%d rules read the overridden selector, want every rule that reads a netburst series", n)
	}
}

// TestMixinReadmeExample evaluates the jsonnet of alerts/README.md as a
// user vendoring the module with jb would (import path
// github.com/netburst/netburst/), and checks what it writes.
func TestMixinReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```jsonnet\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no jsonnet example")
	}
	vendor := t.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(vendor, "github.com", "netburst"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(vendor, "github.com", "netburst", "netburst")); err != nil {
		t.Fatal(err)
	}
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{vendor}})
	out, err := vm.EvaluateAnonymousSnippet("example.jsonnet", example)
	if err != nil {
		t.Fatalf("README's example: %v", err)
	}
	var files map[string]string
	if err := json.Unmarshal([]byte(out), &files); err != nil {
		t.Fatalf("README's example does not give file contents: %v", err)
	}
	for _, name := range []string{"netburst-rules.yaml", "netburst-alerts.yaml", "netburst-overview.json", "netburst-bonds.json"} {
		if files[name] == "" {
			t.Errorf("README's example writes no %s (it writes %d files)", name, len(files))
		}
	}
	if !strings.Contains(files["netburst-rules.yaml"], `job=\"netburst-exporter\"`) && !strings.Contains(files["netburst-rules.yaml"], `job="netburst-exporter"`) {
		t.Errorf("the example's selector is not in its rules:\n%.400s", files["netburst-rules.yaml"])
	}
	if !strings.Contains(files["netburst-alerts.yaml"], "> 0.002") {
		t.Errorf("the example's jitter threshold is not in its alerts")
	}
}

// TestMixinProbeSelector: probe_selector widens the probe rules alone (to
// take in a /probe scrape job), never up or the sampler's rules.
func TestMixinProbeSelector(t *testing.T) {
	rules, alerts, _ := evalMixin(t, `{ _config+:: { probe_selector: 'job=~"netburst|netburst-probe"' } }`)
	for _, g := range append(rules.Groups, alerts.Groups...) {
		for _, r := range g.Rules {
			probe := strings.Contains(r.Expr, "netburst_probe_") || strings.Contains(r.Expr, ":netburst_probe_")
			wide := strings.Contains(r.Expr, `job=~"netburst|netburst-probe"`)
			reads := strings.Contains(r.Expr, "{")
			switch {
			case wide && !probe:
				t.Errorf("%s%s reads the probe selector but no probe series: %s", r.Record, r.Alert, r.Expr)
			case probe && reads && strings.Contains(r.Expr, `job="netburst"`):
				t.Errorf("%s%s reads probe series with the exporter's selector: %s", r.Record, r.Alert, r.Expr)
			}
		}
	}
}
