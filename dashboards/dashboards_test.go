//lint:file-ignore SA1019 the SDK marks dashboard.Dashboard deprecated for dashboardv2.Dashboard, a different JSON model (elements and layouts, no panels or schemaVersion): these files are schema 39 dashboards, which only dashboard.Dashboard decodes.

package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/text"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/netburst/netburst/alerts"
	"github.com/netburst/netburst/internal/promqlnames"
)

// schemaVersion is Grafana 10.4's dashboard schema, the oldest Grafana the
// dashboards support. The SDK's builders stamp their own (42, Grafana 12),
// so the files are decoded into its model, not built with it.
const schemaVersion = 39

// The panel plugins the dashboards may use (Grafana 10.4 core panels) and
// the Prometheus query: registered, the SDK strict-decodes their options,
// field config and targets too; any other panel type is reported.
func init() {
	rt := cog.NewRuntime()
	rt.RegisterPanelcfgVariant(timeseries.VariantConfig())
	rt.RegisterPanelcfgVariant(heatmap.VariantConfig())
	rt.RegisterPanelcfgVariant(stat.VariantConfig())
	rt.RegisterPanelcfgVariant(bargauge.VariantConfig())
	rt.RegisterPanelcfgVariant(table.VariantConfig())
	rt.RegisterPanelcfgVariant(text.VariantConfig())
	rt.RegisterDataqueryVariant(prometheus.VariantConfig())
}

// decode strict-decodes one dashboard with the SDK: invalid JSON, unknown
// fields, wrong types and missing required fields are errors. The model is
// then decoded again, leniently: in v0.0.22 a strict decode that succeeds
// drops every panel, target and panel option (a union's or plugin's strict
// decoder returns its empty error list as a non-nil error, which the caller
// takes for a failure), so only its errors are used. Validate checks the
// model's constraints (gridPos inside the 24-column grid, ...).
func decode(raw []byte) (*dashboard.Dashboard, []error) {
	if !json.Valid(raw) {
		var v any
		return nil, []error{fmt.Errorf("invalid JSON: %w", json.Unmarshal(raw, &v))}
	}
	var strict dashboard.Dashboard
	if errs := buildErrors(strict.UnmarshalJSONStrict(raw)); len(errs) > 0 {
		return nil, errs
	}
	var d dashboard.Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, []error{fmt.Errorf("decode: %w", err)}
	}
	if errs := buildErrors(d.Validate()); len(errs) > 0 {
		return nil, errs
	}
	return &d, nil
}

// buildErrors flattens the SDK's error list, one error a field; the SDK
// returns the list as a non-nil error even when it is empty.
func buildErrors(err error) []error {
	var be cog.BuildErrors
	if !errors.As(err, &be) {
		if err != nil {
			return []error{err}
		}
		return nil
	}
	out := make([]error, 0, len(be))
	for _, e := range be {
		out = append(out, e)
	}
	return out
}

// builtinVars are Grafana's own variables.
var builtinVars = map[string]bool{
	"__rate_interval": true, "__interval": true, "__interval_ms": true, "__range": true, "__range_s": true,
	"__range_ms": true, "__from": true, "__to": true, "__all": true, "__dashboard": true, "__user": true,
	"__org": true, "__name": true, "__timeFilter": true, "__auto": true, "timeFilter": true,
}

// varRefRE finds $x, ${x}, ${x:format} and [[x]] references.
var varRefRE = promqlnames.GrafanaVarRef

func isDatasourceVar(ds *common.DataSourceRef) bool {
	return ds != nil && ds.Type != nil && *ds.Type == "prometheus" && ds.Uid != nil &&
		(*ds.Uid == "${datasource}" || *ds.Uid == "$datasource")
}

func dsString(ds *common.DataSourceRef) string {
	if ds == nil {
		return "none"
	}
	return fmt.Sprintf("{type %q uid %q}", deref(ds.Type), deref(ds.Uid))
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// panels returns every panel: rows, then the panels inside collapsed rows.
func panels(d *dashboard.Dashboard) []dashboard.Panel {
	var out []dashboard.Panel
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			out = append(out, *p.Panel)
		case p.RowPanel != nil:
			r := p.RowPanel
			out = append(out, dashboard.Panel{Type: "row", Id: &r.Id, Title: r.Title, GridPos: r.GridPos})
			out = append(out, r.Panels...)
		}
	}
	return out
}

func panelName(p dashboard.Panel) string {
	return fmt.Sprintf("panel %d %q", deref(p.Id), deref(p.Title))
}

// queries returns a panel's targets as Prometheus queries; a target of
// another data source type decodes as something else and is an error.
func queries(p dashboard.Panel) ([]*prometheus.Dataquery, []error) {
	var qs []*prometheus.Dataquery
	var errs []error
	for i, t := range p.Targets {
		q, ok := t.(*prometheus.Dataquery)
		if !ok {
			errs = append(errs, fmt.Errorf("%s target %d: a %T, not a Prometheus query", panelName(p), i, t))
			continue
		}
		qs = append(qs, q)
	}
	return qs, errs
}

// exprs returns the dashboard's PromQL expressions by where they are:
// panel targets, annotation queries and the selectors inside query
// variables' label_values(...).
func exprs(d *dashboard.Dashboard) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range panels(d) {
		qs, errs := queries(p)
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		for _, q := range qs {
			if q.Expr != "" {
				out[fmt.Sprintf("%s %s target %s", deref(d.Uid), panelName(p), deref(q.RefId))] = q.Expr
			}
		}
	}
	for _, a := range d.Annotations.List {
		if e := deref(a.Expr); e != "" {
			out[fmt.Sprintf("%s annotation %q", deref(d.Uid), a.Name)] = e
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != dashboard.VariableTypeQuery {
			continue
		}
		q, err := variableQuery(v)
		if err != nil {
			return nil, fmt.Errorf("%s variable %s: %w", deref(d.Uid), v.Name, err)
		}
		out[fmt.Sprintf("%s variable %s", deref(d.Uid), v.Name)] = q
	}
	return out, nil
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)

// variableQuery returns the PromQL inside a query variable: the selector of
// label_values(SELECTOR, label) or a query_result(EXPR).
func variableQuery(v dashboard.VariableModel) (string, error) {
	var q string
	switch {
	case v.Query == nil:
	case v.Query.String != nil:
		q = *v.Query.String
	default:
		q, _ = v.Query.Map["query"].(string)
	}
	if def := deref(v.Definition); q != def {
		return "", fmt.Errorf("query %q and definition %q differ", q, def)
	}
	if m := labelValuesRE.FindStringSubmatch(q); m != nil {
		return m[1], nil
	}
	if strings.HasPrefix(q, "query_result(") && strings.HasSuffix(q, ")") {
		return strings.TrimSuffix(strings.TrimPrefix(q, "query_result("), ")"), nil
	}
	return "", fmt.Errorf("unsupported variable query %q", q)
}

// allStrings appends every string of a JSON document to out.
func allStrings(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case []any:
		for _, e := range x {
			allStrings(e, out)
		}
	case map[string]any:
		for _, e := range x {
			allStrings(e, out)
		}
	}
}

// countPanels counts the panels of a dashboard read as plain JSON (rows'
// panels included) and their targets.
func countPanels(generic any) (panels, targets int) {
	var walk func(v any)
	walk = func(v any) {
		ps, _ := v.([]any)
		for _, p := range ps {
			m, _ := p.(map[string]any)
			panels++
			ts, _ := m["targets"].([]any)
			targets += len(ts)
			walk(m["panels"])
		}
	}
	d, _ := generic.(map[string]any)
	walk(d["panels"])
	return panels, targets
}

func countTargets(d *dashboard.Dashboard) int {
	n := 0
	for _, p := range panels(d) {
		n += len(p.Targets)
	}
	return n
}

// check decodes one dashboard document with the SDK and returns every
// problem of it: the SDK's, then what the SDK's model cannot know (stable
// uids, the datasource variable, panel ids and overlaps, variables used but
// not defined, native twins of classic heatmaps).
func check(raw []byte) (*dashboard.Dashboard, []error) {
	d, errs := decode(raw)
	if d == nil {
		return nil, errs
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, []error{err}
	}
	// The model must hold what the file holds (see decode): else every
	// check below would pass over an empty dashboard.
	if np, nt := countPanels(generic); np != len(panels(d)) || nt != countTargets(d) {
		errs = append(errs, fmt.Errorf("the SDK's model holds %d panels and %d targets, the file %d and %d", len(panels(d)), countTargets(d), np, nt))
	}
	if deref(d.Uid) == "" || deref(d.Title) == "" {
		errs = append(errs, errors.New("uid and title must be set"))
	}
	if !slices.Contains(d.Tags, "netburst") {
		errs = append(errs, errors.New("no netburst tag (the dashboards' links list dashboards by that tag)"))
	}
	if d.SchemaVersion != schemaVersion {
		errs = append(errs, fmt.Errorf("schemaVersion %d, want %d (Grafana 10.4)", d.SchemaVersion, schemaVersion))
	}
	defined := map[string]bool{}
	hasDS := false
	for _, v := range d.Templating.List {
		if defined[v.Name] {
			errs = append(errs, fmt.Errorf("variable %s defined twice", v.Name))
		}
		defined[v.Name] = true
		switch v.Type {
		case dashboard.VariableTypeDatasource:
			if v.Name == "datasource" {
				if v.Query == nil || deref(v.Query.String) != "prometheus" {
					errs = append(errs, fmt.Errorf("variable datasource: query must be \"prometheus\""))
				}
				hasDS = true
			}
		case dashboard.VariableTypeQuery:
			if !isDatasourceVar(v.Datasource) {
				errs = append(errs, fmt.Errorf("variable %s: datasource %s is not ${datasource}", v.Name, dsString(v.Datasource)))
			}
		}
	}
	if !hasDS {
		errs = append(errs, errors.New("no datasource variable named datasource"))
	}
	for _, want := range []string{"instance", "job"} {
		if !defined[want] {
			errs = append(errs, fmt.Errorf("no %s variable", want))
		}
	}
	ids := map[uint32]bool{}
	type rect struct{ x, y, w, h uint32 }
	var rects []rect
	var names []string
	classic, native := map[string]string{}, map[string]bool{}
	for _, p := range panels(d) {
		name := panelName(p)
		if p.Id == nil || *p.Id == 0 || ids[*p.Id] {
			errs = append(errs, fmt.Errorf("%s: id missing or not unique", name))
		} else {
			ids[*p.Id] = true
		}
		qs, qerrs := queries(p)
		errs = append(errs, qerrs...)
		if p.Type != "row" {
			if _, typed := cog.ConfigForPanelcfgVariant(p.Type); !typed {
				errs = append(errs, fmt.Errorf("%s: panel type %q is not one the tests decode (%s)", name, p.Type, "timeseries, heatmap, stat, bargauge, table, text"))
			}
			if !isDatasourceVar(p.Datasource) {
				errs = append(errs, fmt.Errorf("%s: datasource %s is not ${datasource}", name, dsString(p.Datasource)))
			}
			if p.Type != "text" && len(p.Targets) == 0 {
				errs = append(errs, fmt.Errorf("%s: no query", name))
			}
		}
		for _, q := range qs {
			if q.Datasource != nil && !isDatasourceVar(q.Datasource) {
				errs = append(errs, fmt.Errorf("%s target %s: datasource %s is not ${datasource}", name, deref(q.RefId), dsString(q.Datasource)))
			}
			if p.Type != "heatmap" {
				continue
			}
			ms, _ := promqlnames.MetricNames(promqlnames.SubstituteGrafana(q.Expr)) // a broken expression is TestExpressionsParse's
			for _, m := range ms {
				if base, ok := strings.CutSuffix(m, "_bucket"); ok {
					classic[base] = name
				} else {
					native[m] = true
				}
			}
		}
		if p.GridPos == nil {
			errs = append(errs, fmt.Errorf("%s: no gridPos", name))
			continue
		}
		g := p.GridPos
		if g.X+g.W > 24 {
			errs = append(errs, fmt.Errorf("%s: gridPos %+v outside the 24-column grid", name, *g))
		}
		r := rect{g.X, g.Y, g.W, g.H}
		for i, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				errs = append(errs, fmt.Errorf("%s overlaps %s", name, names[i]))
			}
		}
		rects = append(rects, r)
		names = append(names, name)
	}
	// Prometheus 2.40-2.44 with native histograms on keeps only their
	// native form: a classic-bucket heatmap alone would stay empty there.
	for base, name := range classic {
		if !native[base] {
			errs = append(errs, fmt.Errorf("%s reads %s_bucket: no heatmap reads the native histogram %s", name, base, base))
		}
	}
	for _, a := range d.Annotations.List {
		if deref(a.BuiltIn) == 0 && !isDatasourceVar(a.Datasource) {
			errs = append(errs, fmt.Errorf("annotation %q: datasource %s is not ${datasource}", a.Name, dsString(a.Datasource)))
		}
	}
	var strs []string
	allStrings(generic, &strs)
	used := map[string]bool{}
	for _, s := range strs {
		for _, m := range varRefRE.FindAllStringSubmatch(s, -1) {
			used[m[1]+m[2]+m[3]] = true
		}
	}
	for name := range used {
		if !defined[name] && !builtinVars[name] {
			errs = append(errs, fmt.Errorf("variable $%s is used but not defined", name))
		}
	}
	return d, errs
}

func loadAll(t *testing.T) map[string][]byte {
	t.Helper()
	names, err := fs.Glob(Files, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		b, err := fs.ReadFile(Files, n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func TestDashboards(t *testing.T) {
	files := loadAll(t)
	uids := UIDs()
	if len(files) != len(uids) {
		t.Errorf("%d dashboard files, UIDs lists %d", len(files), len(uids))
	}
	seen := map[string]string{}
	for name, raw := range files {
		d, errs := check(raw)
		for _, err := range errs {
			t.Errorf("%s: %v", name, err)
		}
		if d == nil {
			continue
		}
		uid := deref(d.Uid)
		if want, ok := uids[name]; !ok || uid != want {
			t.Errorf("%s: uid %q, want the stable %q", name, uid, want)
		}
		if other, dup := seen[uid]; dup {
			t.Errorf("%s: uid %q already used by %s", name, uid, other)
		}
		seen[uid] = name
	}
}

// TestCheckCatchesMistakes proves each check can fail: the SDK's strict
// decoding and model constraints, and the checks beside it.
func TestCheckCatchesMistakes(t *testing.T) {
	good := string(loadAll(t)["overview.json"])
	const nativeExpr = `sum(rate(netburst_interface_throughput_bytes_per_second{`
	tests := []struct {
		name, old, new, want string
	}{
		{"broken JSON", `"panels": [`, `"panels": [[`, "invalid JSON"},
		{"unknown dashboard field", `"graphTooltip"`, `"graphTooltips"`, "unexpected field 'graphTooltips'"},
		{"unknown panel field", `"gridPos": {`, `"gridpos": {`, "unexpected field 'gridpos'"},
		{"unknown heatmap option", `"cellGap": 1,`, `"cellgap": 1,`, "unexpected field 'cellgap'"},
		{"unknown query field", `"legendFormat": "`, `"legendformat": "`, "unexpected field 'legendformat'"},
		{"wrong type", `"id": 1,`, `"id": "1",`, "cannot unmarshal string"},
		{"panel wider than the grid", `"w": 24,`, `"w": 25,`, "must be <= 24"},
		{"untyped panel type", `"type": "timeseries"`, `"type": "graph"`, `panel type "graph"`},
		{"query of another data source", `"type": "prometheus"`, `"type": "loki"`, "not a Prometheus query"},
		{"old schema", `"schemaVersion": 39`, `"schemaVersion": 27`, "schemaVersion 27, want 39"},
		{"SDK's schema", `"schemaVersion": 39`, `"schemaVersion": 42`, "schemaVersion 42, want 39"},
		{"undefined variable", `device=~\"$device\"`, `device=~\"$nodevice\"`, "$nodevice is used but not defined"},
		{"hard-coded datasource", `"uid": "${datasource}"`, `"uid": "P1809F7CD0C75ACF3"`, "is not ${datasource}"},
		{"overlapping panels", `"x": 12,`, `"x": 6,`, "overlaps"},
		{"classic heatmap without a native twin", nativeExpr, `sum by (le) (rate(netburst_interface_throughput_bytes_per_second_bucket{`, "no heatmap reads the native histogram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("fixture lacks %q", tt.old)
			}
			// Every occurrence: a mistake must not hide behind a correct copy
			// (a target's own datasource behind its panel's).
			_, errs := check([]byte(strings.ReplaceAll(good, tt.old, tt.new)))
			if !strings.Contains(fmt.Sprint(errs), tt.want) {
				t.Fatalf("errors %v, want one containing %q", errs, tt.want)
			}
		})
	}
}

func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	all := map[string]string{}
	for name, raw := range loadAll(t) {
		d, errs := check(raw)
		if d == nil {
			t.Fatalf("%s: %v", name, errs)
		}
		ex, err := exprs(d)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range ex {
			all[k] = promqlnames.SubstituteGrafana(v)
		}
	}
	if len(all) == 0 {
		t.Fatal("no expressions found")
	}
	return all
}

// TestExpressionsParse writes every dashboard expression, variables
// substituted, into a rules file and has promtool parse it.
func TestExpressionsParse(t *testing.T) {
	promtool := requirePromtool(t)
	exprs := dashboardExprs(t)
	if err := promtoolParse(t, promtool, exprs); err != nil {
		t.Fatal(err)
	}
	// The check can fail: a bad expression is reported with where it came from.
	err := promtoolParse(t, promtool, map[string]string{"fixture panel": `rate(x[5m]`})
	if err == nil || !strings.Contains(err.Error(), "fixture panel") {
		t.Fatalf("promtool accepted a broken expression: %v", err)
	}
}

var exprRuleRE = regexp.MustCompile(`"expr_([0-9]+)"`)

func promtoolParse(t *testing.T, promtool string, exprs map[string]string) error {
	t.Helper()
	b, keys, err := alerts.ExprRules(exprs)
	if err != nil {
		return err
	}
	path := filepath.Join(t.TempDir(), "dashboard-exprs.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err == nil {
		return nil
	}
	// Name the panels behind promtool's "expr_N" rule names.
	msg := exprRuleRE.ReplaceAllStringFunc(string(out), func(s string) string {
		i, _ := strconv.Atoi(exprRuleRE.FindStringSubmatch(s)[1])
		if i < len(keys) {
			return fmt.Sprintf("%s (%s)", s, keys[i])
		}
		return s
	})
	return fmt.Errorf("promtool check rules: %w\n%s", err, msg)
}

// knownMetrics is the set the dashboards may read: the contract plus the
// recording rules of alerts/. The lead can swap ContractMetrics for the
// names of a live scrape (alerts.ExpandNames).
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := alerts.ContractMetrics()
	rules, err := alerts.LoadRules(filepath.Join("..", "alerts", alerts.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	for n := range rules.RecordedNames() {
		known[n] = true
	}
	return known
}

func TestMetricNamesKnown(t *testing.T) {
	if err := promqlnames.Check(dashboardExprs(t), knownMetrics(t)); err != nil {
		t.Fatal(err)
	}
}

// TestEveryContractMetricShown lists contract metrics no dashboard shows;
// it only logs, as some metrics (e.g. build info) need no panel.
func TestEveryContractMetricShown(t *testing.T) {
	shown := map[string]bool{}
	for _, e := range dashboardExprs(t) {
		names, err := promqlnames.MetricNames(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			shown[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")] = true
		}
	}
	var missing []string
	for _, n := range alerts.ContractNames() {
		if !shown[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	t.Logf("contract metrics on no dashboard: %v", missing)
}

func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("promtool not found in PATH under CI: .ci/run must install the prometheus package")
		}
		t.Skip("skipping: promtool not found in PATH (apt-get install prometheus; .ci/run installs it)")
	}
	return p
}

// panelRefRE finds "**Dashboard → Panel**" references in the runbook.
var panelRefRE = regexp.MustCompile(`\*\*(Overview|Bonds|Latency|Spikes) → ([^*]+)\*\*`)

// TestRunbookPanelsExist checks that every panel docs/runbook.md sends the
// reader to exists: the reference is a prefix of a panel's title in the
// named dashboard.
func TestRunbookPanelsExist(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	titles := map[string][]string{}
	for name, raw := range loadAll(t) {
		d, errs := check(raw)
		if d == nil {
			t.Fatalf("%s: %v", name, errs)
		}
		dash := strings.TrimPrefix(deref(d.Title), "netburst / ")
		for _, p := range panels(d) {
			titles[dash] = append(titles[dash], deref(p.Title))
		}
	}
	refs := panelRefRE.FindAllStringSubmatch(string(b), -1)
	if len(refs) == 0 {
		t.Fatal("the runbook names no panel")
	}
	for _, m := range refs {
		dash, panel := m[1], strings.Join(strings.Fields(m[2]), " ")
		found := false
		for _, title := range titles[dash] {
			if strings.HasPrefix(title, panel) {
				found = true
			}
		}
		if !found {
			t.Errorf("runbook refers to %s → %s: no such panel (panels: %q)", dash, panel, titles[dash])
		}
	}
}
