package alerts

//go:generate go run ./gen

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// Files of the bundle, relative to this package's directory.
const (
	ConfigFile   = "config.yml"
	TemplateFile = "netburst-rules.yml.tmpl"
	RulesFile    = "netburst-rules.yml"
)

//go:embed netburst-rules.yml.tmpl
var templateFS embed.FS

// ErrConfig is wrapped by every error about the contents of config.yml.
var ErrConfig = errors.New("invalid rules config")

// Config is the contents of config.yml: the knobs of the rules.
type Config struct {
	// Selector holds the label matchers (without braces) added to every
	// netburst series the rules read, e.g. `job="netburst"`.
	Selector string `yaml:"selector"`
	// RunbookURL is the runbook's address; alerts link to RunbookURL#anchor.
	RunbookURL string `yaml:"runbook_url"`
	// Alerts maps an alert's name to its settings.
	Alerts map[string]AlertConfig `yaml:"alerts"`
}

// AlertConfig holds the settings of one alert.
type AlertConfig struct {
	// For is how long the condition must hold, a Prometheus duration.
	For string `yaml:"for"`
	// Severity is the severity label: critical, warning or info.
	Severity string `yaml:"severity"`
	// Threshold is the number the alert's value is compared with.
	Threshold float64 `yaml:"threshold"`
	// Selector holds extra label matchers (without braces) for this alert
	// only, e.g. `device=~"eth.*"`; empty for none.
	Selector string `yaml:"selector"`
	// Params holds extra numbers some alerts need, by name.
	Params map[string]float64 `yaml:"params"`
}

// durationRE matches Prometheus' duration syntax (units from largest to
// smallest, each at most once), without pulling in prometheus/common.
var durationRE = regexp.MustCompile(`^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$`)

// severities are the accepted values of the severity label.
var severities = map[string]bool{"critical": true, "warning": true, "info": true}

// LoadConfig reads and validates a config file.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rules config: %w", err)
	}
	defer f.Close()
	return ParseConfig(f)
}

// ParseConfig decodes and validates a config; unknown keys are errors so
// that a misspelt knob is not silently ignored.
func ParseConfig(r io.Reader) (*Config, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks the values that the template cannot check itself.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Selector) == "" {
		return fmt.Errorf("%w: selector must not be empty (use 'job!=\"\"' to match every job)", ErrConfig)
	}
	if c.RunbookURL == "" {
		return fmt.Errorf("%w: runbook_url must not be empty", ErrConfig)
	}
	if len(c.Alerts) == 0 {
		return fmt.Errorf("%w: no alerts", ErrConfig)
	}
	for name, a := range c.Alerts {
		if a.For == "" || !durationRE.MatchString(a.For) {
			return fmt.Errorf("%w: alert %s: for %q is not a Prometheus duration like 30s, 5m or 1h30m", ErrConfig, name, a.For)
		}
		if !severities[a.Severity] {
			return fmt.Errorf("%w: alert %s: severity %q is not critical, warning or info", ErrConfig, name, a.Severity)
		}
	}
	return nil
}

// alertView is what the template sees inside `with alert "Name"`.
type alertView struct {
	name string
	cfg  AlertConfig
	base string
	used map[string]bool
}

// For returns the alert's `for` duration.
func (a alertView) For() string { return a.cfg.For }

// Severity returns the alert's severity label.
func (a alertView) Severity() string { return a.cfg.Severity }

// Threshold returns the threshold as a PromQL number literal.
func (a alertView) Threshold() string { return formatNumber(a.cfg.Threshold) }

// Sel returns the alert's own matchers in braces, or "" when it has none,
// for appending to a recorded series' name.
func (a alertView) Sel() string {
	if a.cfg.Selector == "" {
		return ""
	}
	return "{" + a.cfg.Selector + "}"
}

// AndSel returns ", " and the alert's own matchers, or "" when it has none,
// for appending inside an existing selector's braces.
func (a alertView) AndSel() string {
	if a.cfg.Selector == "" {
		return ""
	}
	return ", " + a.cfg.Selector
}

// RunbookURL returns the address of the alert's runbook entry.
func (a alertView) RunbookURL() string { return a.base + "#" + RunbookAnchor(a.name) }

// Param returns a named extra parameter; a missing one fails the rendering.
func (a alertView) Param(name string) (string, error) {
	v, ok := a.cfg.Params[name]
	if !ok {
		return "", fmt.Errorf("%w: alert %s: missing params.%s", ErrConfig, a.name, name)
	}
	a.used[a.name+"."+name] = true
	return formatNumber(v), nil
}

// RunbookAnchor returns the anchor of an alert's entry in docs/runbook.md:
// the heading "## NetburstX" gets the anchor "netburstx" on common Markdown
// renderers.
func RunbookAnchor(alertName string) string { return strings.ToLower(alertName) }

// formatNumber prints f as the shortest PromQL literal that reads back as f.
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Render renders the embedded template with c. Every alert the template
// names must be configured, and every configured alert and parameter used.
func Render(c *Config) ([]byte, error) {
	src, err := templateFS.ReadFile(TemplateFile)
	if err != nil {
		return nil, fmt.Errorf("read embedded template: %w", err)
	}
	return RenderTemplate(string(src), c)
}

// RenderTemplate is Render with the template's text given.
func RenderTemplate(src string, c *Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	funcs := template.FuncMap{
		"alert": func(name string) (alertView, error) {
			a, ok := c.Alerts[name]
			if !ok {
				return alertView{}, fmt.Errorf("%w: the template uses alert %s, not in the config", ErrConfig, name)
			}
			used[name] = true
			return alertView{name: name, cfg: a, base: c.RunbookURL, used: used}, nil
		},
	}
	// [[ ]] delimiters: the rules themselves contain Prometheus' {{ }} templates.
	t, err := template.New(TemplateFile).Delims("[[", "]]").Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("parse rules template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, c); err != nil {
		return nil, fmt.Errorf("render rules template: %w", err)
	}
	var unused []string
	for name, a := range c.Alerts {
		if !used[name] {
			unused = append(unused, name)
		}
		for p := range a.Params {
			if !used[name+"."+p] {
				unused = append(unused, name+".params."+p)
			}
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, fmt.Errorf("%w: configured but not used by the template: %s", ErrConfig, strings.Join(unused, ", "))
	}
	return buf.Bytes(), nil
}
