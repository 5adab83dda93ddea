package prober

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultWatchInterval is how often Sources.Watch looks at the files: a
// poll, because it works on every file system and across the atomic
// renames configuration tools write with.
const DefaultWatchInterval = 5 * time.Second

// FileConfig is the probe section of netburst's YAML configuration file.
// Other top-level sections belong to their own readers.
type FileConfig struct {
	// Targets are probed as listed.
	Targets []TargetConfig `yaml:"targets"`
	// FileSD are glob patterns of Prometheus file_sd files.
	FileSD []string `yaml:"file_sd"`
	// Modules are the option sets /probe?module= picks.
	Modules Modules `yaml:"modules"`
}

// TargetConfig is one target as the configuration file spells it: the
// fields of Target, with the source address and the interval as text.
type TargetConfig struct {
	Name      string `yaml:"name"`
	Host      string `yaml:"host"`
	Network   string `yaml:"network"`
	Source    string `yaml:"source"`
	Interface string `yaml:"interface"`
	TOS       int    `yaml:"tos"`
	TTL       int    `yaml:"ttl"`
	Size      int    `yaml:"size"`
	Interval  string `yaml:"interval"`
	// Labels are custom labels on the target's series.
	Labels map[string]string `yaml:"labels"`
}

// Target converts tc. It checks only what the text form can get wrong
// (the source address, the interval) and the label names; SetTargets
// validates the rest.
func (tc TargetConfig) Target() (Target, error) {
	t := Target{Name: tc.Name, Host: tc.Host, Network: tc.Network, Interface: tc.Interface, TOS: tc.TOS, TTL: tc.TTL, Size: tc.Size,
		Labels: maps.Clone(tc.Labels)}
	if tc.Source != "" {
		a, err := netip.ParseAddr(tc.Source)
		if err != nil {
			return t, invalid("target %q: source %q: %w", tc.Host, tc.Source, err)
		}
		t.Source = a
	}
	if tc.Interval != "" {
		d, err := time.ParseDuration(tc.Interval)
		if err != nil || d <= 0 {
			return t, invalid("target %q: interval %q: want a positive duration", tc.Host, tc.Interval)
		}
		t.Interval = d
	}
	// Checked here too, so that a bad label name is reported with its file.
	name := tc.Name
	if name == "" {
		name = tc.Host
	}
	if err := checkLabels(name, t.Labels); err != nil {
		return t, err
	}
	return t, nil
}

// SourceError is a source of targets that could not be used: the file or
// pattern, and why. A file that cannot be read matches its fs error
// (fs.ErrNotExist, ...) with errors.Is; one whose content is wrong matches
// ErrInvalidConfig.
type SourceError struct {
	// Kind names the source: "config file", "file_sd" or "file_sd pattern".
	Kind string
	// Path is the file or the pattern.
	Path string
	// Err is what went wrong.
	Err error
}

func (e *SourceError) Error() string {
	// A read error names the path itself.
	if pe := (*fs.PathError)(nil); errors.As(e.Err, &pe) && pe.Path == e.Path {
		return e.Kind + ": " + e.Err.Error()
	}
	return e.Kind + " " + e.Path + ": " + e.Err.Error()
}

func (e *SourceError) Unwrap() error { return e.Err }

// LoadFile reads the probe section of the YAML configuration file at
// path; ok is false when the file has none.
func LoadFile(path string) (cfg FileConfig, ok bool, err error) {
	var doc configDocument
	b, err := os.ReadFile(path)
	if err != nil {
		return FileConfig{}, false, &SourceError{Kind: "config file", Path: path, Err: err}
	}
	if err := decodeYAML(b, &doc); err != nil {
		return FileConfig{}, false, &SourceError{Kind: "config file", Path: path, Err: invalid("%w", err)}
	}
	if doc.Probe == nil {
		return FileConfig{}, false, nil
	}
	return *doc.Probe, true, nil
}

// fileSDGroup is one target group of a Prometheus file_sd file.
type fileSDGroup struct {
	Targets []string          `json:"targets" yaml:"targets"`
	Labels  map[string]string `json:"labels" yaml:"labels"`
}

// ReadFileSD reads a Prometheus file_sd file, JSON or YAML by its
// extension. Each target is an address or a name, optionally with a port,
// which is ignored so that lists made for other jobs can be reused; it is
// also the target's name, unless a single-target group sets the label
// name. Labels network, source, interface, tos, ttl, size and interval set
// those options for every target of their group; labels beginning with
// "__" are dropped, as Prometheus drops them after relabelling; the others
// are the targets' custom labels.
func ReadFileSD(path string) ([]Target, error) {
	ts, err := readFileSD(path)
	if err != nil {
		return nil, &SourceError{Kind: "file_sd", Path: path, Err: err}
	}
	return ts, nil
}

// fileSDOptions are the file_sd labels that set target options.
var fileSDOptions = map[string]bool{"name": true, "network": true, "source": true, "interface": true, "tos": true, "ttl": true, "size": true, "interval": true}

func readFileSD(path string) ([]Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var groups []fileSDGroup
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		err = decodeJSON(b, &groups)
	case ".yml", ".yaml":
		err = decodeYAML(b, &groups)
	default:
		return nil, invalid("want a .json, .yml or .yaml file")
	}
	if err != nil {
		return nil, invalid("%w", err)
	}
	var out []Target
	for gi, g := range groups {
		tc := TargetConfig{Network: g.Labels["network"], Source: g.Labels["source"], Interface: g.Labels["interface"], Interval: g.Labels["interval"]}
		for k, v := range g.Labels {
			if !fileSDOptions[k] && !strings.HasPrefix(k, "__") {
				if tc.Labels == nil {
					tc.Labels = map[string]string{}
				}
				tc.Labels[k] = v
			}
		}
		for _, k := range []struct {
			key string
			v   *int
		}{{"tos", &tc.TOS}, {"ttl", &tc.TTL}, {"size", &tc.Size}} {
			if s, ok := g.Labels[k.key]; ok {
				n, err := strconv.Atoi(s)
				if err != nil {
					return nil, invalid("group %d: label %s=%q: want an integer", gi, k.key, s)
				}
				*k.v = n
			}
		}
		for _, addr := range g.Targets {
			host := addr
			if h, _, err := net.SplitHostPort(addr); err == nil {
				host = h
			}
			tc.Host, tc.Name = host, addr
			if n := g.Labels["name"]; n != "" && len(g.Targets) == 1 {
				tc.Name = n
			}
			t, err := tc.Target()
			if err != nil {
				return nil, fmt.Errorf("group %d: %w", gi, err)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// Sources says where a prober's targets come from: a list (the command
// line's), Prometheus file_sd files and the probe section of a YAML
// configuration file, which may name more file_sd files.
type Sources struct {
	// Targets are probed as given.
	Targets []Target
	// FileSD are glob patterns of file_sd files.
	FileSD []string
	// ConfigFile is the YAML file ("" for none).
	ConfigFile string
}

// Loaded is what Sources.Load found.
type Loaded struct {
	// Targets is every source's targets, exact repeats dropped.
	Targets []Target
	// Files are the file_sd files read, sorted.
	Files []string
	// Configured says whether any source names targets at all: a target,
	// a file_sd pattern (even one that matches nothing yet) or a probe
	// section. Without one there is nothing to probe, ever.
	Configured bool
	// Modules are the configuration file's modules, for /probe.
	Modules Modules
}

// Load reads every source, now: it is both the load at start and every
// reload. It fails as a whole (the caller keeps its previous targets) if
// any file cannot be read or parsed, or if two different targets share a
// name; the same target listed by two sources is kept once.
func (s Sources) Load() (Loaded, error) {
	ts := append([]Target(nil), s.Targets...)
	patterns := append([]string(nil), s.FileSD...)
	configured := len(ts) > 0 || len(patterns) > 0
	var modules Modules
	if s.ConfigFile != "" {
		fc, ok, err := LoadFile(s.ConfigFile)
		if err != nil {
			return Loaded{}, err
		}
		configured = configured || ok
		for _, tc := range fc.Targets {
			t, err := tc.Target()
			if err != nil {
				return Loaded{}, &SourceError{Kind: "config file", Path: s.ConfigFile, Err: fmt.Errorf("probe: %w", err)}
			}
			ts = append(ts, t)
		}
		patterns = append(patterns, fc.FileSD...)
		if err := checkModules(fc.Modules); err != nil {
			return Loaded{}, &SourceError{Kind: "config file", Path: s.ConfigFile, Err: fmt.Errorf("probe: %w", err)}
		}
		modules = fc.Modules
	}
	var files []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return Loaded{}, &SourceError{Kind: "file_sd pattern", Path: p, Err: invalid("%w", err)}
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	for _, file := range files {
		more, err := ReadFileSD(file)
		if err != nil {
			return Loaded{}, err
		}
		ts = append(ts, more...)
	}
	ts, err := dedupe(ts)
	if err != nil {
		return Loaded{}, err
	}
	return Loaded{Targets: ts, Files: files, Configured: configured, Modules: modules}, nil
}

// dedupe drops exact repeats (the same target listed by two sources) and
// rejects two different targets under one name.
func dedupe(ts []Target) ([]Target, error) {
	seen := map[string]Target{}
	out := ts[:0]
	for _, t := range ts {
		name := t.Name
		if name == "" {
			name = t.Host
		}
		if prev, ok := seen[name]; ok {
			if !prev.equal(t) {
				return nil, invalid("probe target name %q defined twice, differently", name)
			}
			continue
		}
		seen[name] = t
		out = append(out, t)
	}
	return out, nil
}

// Watch calls changed each time the file_sd files change (one is added,
// removed, rewritten or renamed over), looking every interval (at most
// DefaultWatchInterval when interval <= 0), until ctx ends. The patterns
// of the configuration file are looked up afresh each time, so a reload
// that names other files is followed.
func (s Sources) Watch(ctx context.Context, interval time.Duration, changed func()) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	last := s.fingerprint()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.fingerprint()
		if now == last {
			continue
		}
		last = now
		changed()
	}
}

// fingerprint summarises the file_sd files: names, sizes, modification
// times.
func (s Sources) fingerprint() string {
	patterns := append([]string(nil), s.FileSD...)
	if s.ConfigFile != "" {
		if fc, _, err := LoadFile(s.ConfigFile); err == nil {
			patterns = append(patterns, fc.FileSD...)
		}
	}
	var b strings.Builder
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		sort.Strings(m)
		for _, file := range m {
			fi, err := os.Stat(file)
			if err != nil {
				fmt.Fprintf(&b, "%s:err;", file)
				continue
			}
			fmt.Fprintf(&b, "%s:%d:%d;", file, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}
