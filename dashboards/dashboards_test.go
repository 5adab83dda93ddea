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

	"github.com/netburst/netburst/alerts"
)

// dashboard is the part of Grafana's dashboard model the checks read; the
// whole document is also kept as generic JSON to find every string in it.
type dashboard struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	SchemaVersion int      `json:"schemaVersion"`
	Tags          []string `json:"tags"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string     `json:"name"`
			BuiltIn    int        `json:"builtIn"`
			Datasource datasource `json:"datasource"`
			Expr       string     `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasource     `json:"datasource"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

// builtinVars are Grafana's own variables.
var builtinVars = map[string]bool{
	"__rate_interval": true, "__interval": true, "__interval_ms": true, "__range": true, "__range_s": true,
	"__range_ms": true, "__from": true, "__to": true, "__all": true, "__dashboard": true, "__user": true,
	"__org": true, "__name": true, "__timeFilter": true, "__auto": true, "timeFilter": true,
}

// varRefRE finds $x, ${x}, ${x:format} and [[x]] references.
var varRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z_][A-Za-z0-9_]*)(?::[^\]]*)?\]\]`)

func isDatasourceVar(ds *datasource) bool {
	return ds != nil && ds.Type == "prometheus" && (ds.UID == "${datasource}" || ds.UID == "$datasource")
}

// exprs returns the dashboard's PromQL expressions by where they are:
// panel targets, annotation queries and the selectors inside query
// variables' label_values(...).
func (d *dashboard) exprs() (map[string]string, error) {
	out := map[string]string{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr != "" {
					out[fmt.Sprintf("%s panel %d %q target %s", d.UID, p.ID, p.Title, t.RefID)] = t.Expr
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out[fmt.Sprintf("%s annotation %q", d.UID, a.Name)] = a.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := variableQuery(v)
		if err != nil {
			return nil, fmt.Errorf("%s variable %s: %w", d.UID, v.Name, err)
		}
		out[fmt.Sprintf("%s variable %s", d.UID, v.Name)] = q
	}
	return out, nil
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)

// variableQuery returns the PromQL inside a query variable: the selector of
// label_values(SELECTOR, label) or a query_result(EXPR).
func variableQuery(v variable) (string, error) {
	var q struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &q); err != nil {
		var s string
		if err2 := json.Unmarshal(v.Query, &s); err2 != nil {
			return "", fmt.Errorf("query is neither an object nor a string: %w", err)
		}
		q.Query = s
	}
	if q.Query != v.Definition {
		return "", fmt.Errorf("query %q and definition %q differ", q.Query, v.Definition)
	}
	if m := labelValuesRE.FindStringSubmatch(q.Query); m != nil {
		return m[1], nil
	}
	if strings.HasPrefix(q.Query, "query_result(") && strings.HasSuffix(q.Query, ")") {
		return strings.TrimSuffix(strings.TrimPrefix(q.Query, "query_result("), ")"), nil
	}
	return "", fmt.Errorf("unsupported variable query %q", q.Query)
}

// substitute replaces Grafana variables in an expression: interval
// variables by a duration, every other variable by a regexp that matches
// anything. A variable used where PromQL wants neither then fails to parse.
func substitute(expr string) string {
	return varRefRE.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRefRE.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		switch name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		case "__interval_ms", "__range_ms", "__range_s":
			return "300000"
		}
		return ".+"
	})
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

// check returns every structural problem of one dashboard document.
func check(raw []byte) (*dashboard, []error) {
	var errs []error
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, []error{fmt.Errorf("invalid JSON: %w", err)}
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, []error{fmt.Errorf("invalid JSON: %w", err)}
	}
	if d.UID == "" || d.Title == "" {
		errs = append(errs, errors.New("uid and title must be set"))
	}
	if !slices.Contains(d.Tags, "netburst") {
		errs = append(errs, errors.New("no netburst tag (the dashboards' links list dashboards by that tag)"))
	}
	if d.SchemaVersion < 39 {
		errs = append(errs, fmt.Errorf("schemaVersion %d < 39", d.SchemaVersion))
	}
	defined := map[string]bool{}
	hasDS := false
	for _, v := range d.Templating.List {
		if defined[v.Name] {
			errs = append(errs, fmt.Errorf("variable %s defined twice", v.Name))
		}
		defined[v.Name] = true
		switch v.Type {
		case "datasource":
			if v.Name == "datasource" {
				var q string
				if err := json.Unmarshal(v.Query, &q); err != nil || q != "prometheus" {
					errs = append(errs, fmt.Errorf("variable datasource: query must be \"prometheus\""))
				}
				hasDS = true
			}
		case "query":
			if !isDatasourceVar(v.Datasource) {
				errs = append(errs, fmt.Errorf("variable %s: datasource %+v is not ${datasource}", v.Name, v.Datasource))
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
	ids := map[int]bool{}
	type rect struct{ x, y, w, h int }
	var rects []rect
	var titles []string
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if p.ID == 0 || ids[p.ID] {
				errs = append(errs, fmt.Errorf("%s: id missing or not unique", name))
			}
			ids[p.ID] = true
			if p.Type != "row" {
				if !isDatasourceVar(p.Datasource) {
					errs = append(errs, fmt.Errorf("%s: datasource %+v is not ${datasource}", name, p.Datasource))
				}
				if p.Type != "text" && len(p.Targets) == 0 {
					errs = append(errs, fmt.Errorf("%s: no query", name))
				}
			}
			for _, t := range p.Targets {
				if t.Datasource != nil && !isDatasourceVar(t.Datasource) {
					errs = append(errs, fmt.Errorf("%s target %s: datasource %+v is not ${datasource}", name, t.RefID, t.Datasource))
				}
			}
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				errs = append(errs, fmt.Errorf("%s: gridPos %+v outside the 24-column grid", name, g))
			}
			r := rect{g.X, g.Y, g.W, g.H}
			for i, o := range rects {
				if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
					errs = append(errs, fmt.Errorf("%s overlaps %s", name, titles[i]))
				}
			}
			rects = append(rects, r)
			titles = append(titles, name)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 0 && !isDatasourceVar(&a.Datasource) {
			errs = append(errs, fmt.Errorf("annotation %q: datasource %+v is not ${datasource}", a.Name, a.Datasource))
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
	return &d, errs
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
		if want, ok := uids[name]; !ok || d.UID != want {
			t.Errorf("%s: uid %q, want the stable %q", name, d.UID, want)
		}
		if other, dup := seen[d.UID]; dup {
			t.Errorf("%s: uid %q already used by %s", name, d.UID, other)
		}
		seen[d.UID] = name
	}
}

// TestCheckCatchesMistakes proves each structural check can fail.
func TestCheckCatchesMistakes(t *testing.T) {
	good := string(loadAll(t)["overview.json"])
	tests := []struct {
		name, old, new, want string
	}{
		{"undefined variable", `device=~\"$device\"`, `device=~\"$nodevice\"`, "$nodevice is used but not defined"},
		{"hard-coded datasource", `"uid": "${datasource}"`, `"uid": "P1809F7CD0C75ACF3"`, "is not ${datasource}"},
		{"old schema", `"schemaVersion": 39`, `"schemaVersion": 27`, "schemaVersion 27 < 39"},
		{"broken JSON", `"panels": [`, `"panels": [[`, "invalid JSON"},
		{"overlapping panels", `"x": 12,`, `"x": 6,`, "overlaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("fixture lacks %q", tt.old)
			}
			_, errs := check([]byte(strings.Replace(good, tt.old, tt.new, 1)))
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
		ex, err := d.exprs()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range ex {
			all[k] = substitute(v)
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
	return fmt.Errorf("promtool check rules: %v\n%s", err, msg)
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
	if err := alerts.CheckMetricNames(dashboardExprs(t), knownMetrics(t)); err != nil {
		t.Fatal(err)
	}
}

// TestEveryContractMetricShown lists contract metrics no dashboard shows;
// it only logs, as some metrics (e.g. build info) need no panel.
func TestEveryContractMetricShown(t *testing.T) {
	shown := map[string]bool{}
	for _, e := range dashboardExprs(t) {
		names, err := alerts.MetricNames(e)
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
		dash := strings.TrimPrefix(d.Title, "netburst / ")
		for _, p := range d.Panels {
			titles[dash] = append(titles[dash], p.Title)
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
