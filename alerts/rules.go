package alerts

import (
	"fmt"
	"os"
	"sort"

	"gopkg.in/yaml.v3"
)

// RuleFile is the structure of a Prometheus rules file, as far as the
// checks need it.
type RuleFile struct {
	Groups []RuleGroup `yaml:"groups" json:"groups"`
}

// RuleGroup is one group of rules.
type RuleGroup struct {
	Name     string `yaml:"name" json:"name"`
	Interval string `yaml:"interval,omitempty" json:"interval,omitempty"`
	Rules    []Rule `yaml:"rules" json:"rules"`
}

// Rule is a recording rule (Record set) or an alerting rule (Alert set).
type Rule struct {
	Record      string            `yaml:"record,omitempty" json:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty" json:"alert,omitempty"`
	Expr        string            `yaml:"expr" json:"expr"`
	For         string            `yaml:"for,omitempty" json:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty" json:"annotations,omitempty"`
}

// LoadRules reads and decodes a rules file.
func LoadRules(path string) (*RuleFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	var f RuleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("rules %s: %w", path, err)
	}
	return &f, nil
}

// RecordedNames returns the names the file's recording rules define.
func (f *RuleFile) RecordedNames() map[string]bool {
	names := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				names[r.Record] = true
			}
		}
	}
	return names
}

// Alerts returns the file's alerting rules in file order.
func (f *RuleFile) Alerts() []Rule {
	var out []Rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// Exprs returns every rule's expression keyed by "group/rule name".
func (f *RuleFile) Exprs() map[string]string {
	out := map[string]string{}
	for _, g := range f.Groups {
		for i, r := range g.Rules {
			name := r.Record + r.Alert
			if name == "" {
				name = fmt.Sprintf("rule %d", i)
			}
			out[g.Name+"/"+name] = r.Expr
		}
	}
	return out
}

// ExprRules builds a rules file with one recording rule per expression, so
// that `promtool check rules` parses expressions that live elsewhere (the
// dashboards' queries). Rule i is named expr_i and holds the expression of
// keys[i], the sorted keys returned alongside, so promtool's errors can be
// traced back to where the expression came from.
func ExprRules(exprs map[string]string) ([]byte, []string, error) {
	keys := make([]string, 0, len(exprs))
	for k := range exprs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	g := RuleGroup{Name: "expressions"}
	for i, k := range keys {
		g.Rules = append(g.Rules, Rule{Record: fmt.Sprintf("expr_%d", i), Expr: exprs[k]})
	}
	b, err := yaml.Marshal(RuleFile{Groups: []RuleGroup{g}})
	if err != nil {
		return nil, nil, fmt.Errorf("marshal expression rules: %w", err)
	}
	return b, keys, nil
}
