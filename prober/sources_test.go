package prober

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write and rename, as configuration tools do, so that a poll never
	// reads a half-written file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestSourcesLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), `[{"targets": ["198.18.0.1", "198.18.0.2:9100", "[2001:2::1]:80"], "labels": {"size": "100", "tos": "184"}},
		{"targets": ["198.18.0.3"], "labels": {"name": "three", "interface": "eth0", "interval": "1s", "rack": "r3", "__meta_dc": "x"}}]`)
	writeFile(t, filepath.Join(dir, "b.yml"), "- targets: [198.18.0.4]\n  labels: {ttl: \"9\", network: ip4}\n")
	writeFile(t, filepath.Join(dir, "config.yaml"), `
probe:
  file_sd: [`+filepath.Join(dir, "*.yml")+`]
  targets:
    - {name: gw, host: 198.18.0.254, source: 198.18.0.1, tos: 16, ttl: 3, size: 64, interval: 500ms, labels: {rack: r1, row: 7}}
    - {host: 198.18.0.1, size: 100, tos: 184, name: 198.18.0.1}
`)
	lo, err := ParseTarget("lo=127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	src := Sources{Targets: []Target{lo}, FileSD: []string{filepath.Join(dir, "*.json")}, ConfigFile: filepath.Join(dir, "config.yaml")}
	l, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	ts := l.Targets
	if !l.Configured || len(l.Files) != 2 {
		t.Fatalf("configured %v, files %v", l.Configured, l.Files)
	}
	got := map[string]Target{}
	for _, tg := range ts {
		got[tg.Name] = tg
	}
	want := map[string]Target{
		"lo": {Name: "lo", Host: "127.0.0.1"},
		"gw": {Name: "gw", Host: "198.18.0.254", Source: netip.MustParseAddr("198.18.0.1"), TOS: 16, TTL: 3, Size: 64, Interval: 500 * time.Millisecond,
			Labels: map[string]string{"rack": "r1", "row": "7"}},
		"198.18.0.1":      {Name: "198.18.0.1", Host: "198.18.0.1", Size: 100, TOS: 184},
		"198.18.0.2:9100": {Name: "198.18.0.2:9100", Host: "198.18.0.2", Size: 100, TOS: 184},
		"[2001:2::1]:80":  {Name: "[2001:2::1]:80", Host: "2001:2::1", Size: 100, TOS: 184},
		"three":           {Name: "three", Host: "198.18.0.3", Interface: "eth0", Interval: time.Second, Labels: map[string]string{"rack": "r3"}},
		"198.18.0.4":      {Name: "198.18.0.4", Host: "198.18.0.4", TTL: 9, Network: "ip4"},
	}
	if len(got) != len(want) || len(ts) != len(want) {
		t.Errorf("got %d targets (%d distinct), want %d: %+v", len(ts), len(got), len(want), ts)
	}
	for name, w := range want {
		if !got[name].equal(w) {
			t.Errorf("%s: got %+v, want %+v", name, got[name], w)
		}
	}
	// The caller's list is not reused for the result.
	if !src.Targets[0].equal(lo) || len(src.Targets) != 1 {
		t.Errorf("Load modified Sources.Targets: %+v", src.Targets)
	}
}

func TestSourcesLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, content, want string
	}{
		{"bad json", "x.json", `[{"targets": [1]}]`, "file_sd"},
		{"bad label", "x.json", `[{"targets": ["198.18.0.1"], "labels": {"ttl": "many"}}]`, "label ttl"},
		{"bad extension", "x.txt", `[]`, "want a .json"},
		{"bad yaml config", "config.yml", "probe: [", "config file"},
		{"bad source", "config.yml", "probe:\n  targets: [{host: 198.18.0.1, source: nowhere}]\n", "source"},
		{"bad interval", "config.yml", "probe:\n  targets: [{host: 198.18.0.1, interval: soon}]\n", "interval"},
		{"label name", "config.yml", "probe:\n  targets: [{host: 198.18.0.1, labels: {rack-id: a}}]\n", `label name "rack-id"`},
		{"reserved label", "x.json", `[{"targets": ["198.18.0.1"], "labels": {"job": "ping"}}]`, `label name "job" is netburst's or Prometheus' own`},
		{"reserved prefix", "config.yml", "probe:\n  targets: [{host: 198.18.0.1, labels: {__rack: a}}]\n", "reserved to Prometheus"},
		{"too many labels", "config.yml", "probe:\n  targets: [{host: 198.18.0.1, labels: {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}}]\n", "9 custom labels, at most 8"},
		{"labels not a mapping", "config.yml", "probe:\n  targets: [{host: 198.18.0.1, labels: [rack]}]\n", "want a mapping of strings"},
		{"same name, other labels", "config.yml", "probe:\n  targets: [{name: a, host: 198.18.0.1, labels: {rack: r1}}, {name: a, host: 198.18.0.1, labels: {rack: r2}}]\n", "defined twice"},
		{"conflicting names", "config.yml", "probe:\n  targets: [{name: a, host: 198.18.0.1}, {name: a, host: 198.18.0.2}]\n", "defined twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			writeFile(t, path, tc.content)
			defer os.Remove(path)
			var src Sources
			if tc.file == "config.yml" {
				src.ConfigFile = path
			} else {
				src.FileSD = []string{path}
			}
			_, err := src.Load()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load: %v, want an error mentioning %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("load: %v is not ErrInvalidConfig", err)
			}
			// Every error but the conflict (two sources) names its file.
			var se *SourceError
			twoSources := tc.name == "conflicting names" || tc.name == "same name, other labels"
			if errors.As(err, &se) != !twoSources || se != nil && se.Path != path {
				t.Errorf("load: %#v, want a SourceError for %s", err, path)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("load: %q is more than one line", err)
			}
		})
	}
	missing := filepath.Join(dir, "missing.yml")
	_, err := Sources{ConfigFile: missing}.Load()
	var se *SourceError
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrInvalidConfig) || !errors.As(err, &se) || se.Path != missing {
		t.Fatalf("missing config file: %v", err)
	}
	if strings.Count(err.Error(), missing) != 1 {
		t.Errorf("missing config file: %q names the path other than once", err)
	}
	if _, err := (Sources{FileSD: []string{"[x"}}).Load(); !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, filepath.ErrBadPattern) {
		t.Errorf("bad pattern: %v", err)
	}
	if l, err := (Sources{}).Load(); err != nil || l.Configured {
		t.Fatalf("no source: configured %v, err %v; want the prober off", l.Configured, err)
	}
	// A pattern that matches nothing yet, or a probe section without
	// targets, still configures the prober: files may come.
	writeFile(t, filepath.Join(dir, "empty.yml"), "probe: {}\n")
	for _, src := range []Sources{{FileSD: []string{filepath.Join(dir, "none-*.json")}}, {ConfigFile: filepath.Join(dir, "empty.yml")}} {
		if l, err := src.Load(); err != nil || !l.Configured || len(l.Targets) != 0 {
			t.Errorf("%+v: %+v, %v; want configured without targets", src, l, err)
		}
	}
	writeFile(t, filepath.Join(dir, "other.yml"), "# nothing configured yet\n")
	if l, err := (Sources{ConfigFile: filepath.Join(dir, "other.yml")}).Load(); err != nil || l.Configured {
		t.Errorf("config file without a probe section: %+v, %v; want the prober off", l, err)
	}
}

// TargetConfig and LoadFile serve a command without the exporter.
func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yml")
	writeFile(t, path, "probe:\n  targets: [{name: a, host: 198.18.0.1, interval: 2s, source: 198.18.0.9}]\n")
	fc, ok, err := LoadFile(path)
	if err != nil || !ok || len(fc.Targets) != 1 {
		t.Fatalf("LoadFile: %+v %v %v", fc, ok, err)
	}
	tg, err := fc.Targets[0].Target()
	if err != nil || !tg.equal(Target{Name: "a", Host: "198.18.0.1", Interval: 2 * time.Second, Source: netip.MustParseAddr("198.18.0.9")}) {
		t.Fatalf("Target: %+v %v", tg, err)
	}
	if _, err := (TargetConfig{Host: "h", Interval: "-1s"}).Target(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative interval: %v", err)
	}
	if _, err := ReadFileSD(filepath.Join(t.TempDir(), "x.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file_sd: %v", err)
	}
}

// Watch calls back when a file_sd file changes, appears or goes, also one
// named by the configuration file, and returns when its context ends.
func TestSourcesWatch(t *testing.T) {
	dir := t.TempDir()
	sd := filepath.Join(dir, "a.json")
	writeFile(t, sd, `[]`)
	config := filepath.Join(dir, "c.yml")
	writeFile(t, config, "probe:\n  file_sd: ["+filepath.Join(dir, "*.yml")+"]\n")
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Sources{FileSD: []string{filepath.Join(dir, "*.json")}, ConfigFile: config}.Watch(ctx, 5*time.Millisecond, func() { n.Add(1) })
	}()
	waitN := func(what string, want int32) {
		t.Helper()
		waitFor(t, 10*time.Second, what, func() bool { return n.Load() >= want })
	}
	time.Sleep(20 * time.Millisecond)
	if n.Load() != 0 {
		t.Fatalf("%d calls without a change", n.Load())
	}
	writeFile(t, sd, `[{"targets": ["198.18.0.1"]}]`)
	waitN("a rewritten file", 1)
	writeFile(t, filepath.Join(dir, "b.yml"), "[]\n")
	waitN("a file the configuration file's pattern matches", 2)
	if err := os.Remove(sd); err != nil {
		t.Fatal(err)
	}
	waitN("a removed file", 3)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return when its context ended")
	}
}

// TestConfigFileMistakes holds the messages of the mistakes a user makes in
// --config.file and file_sd files: one line, in the file's terms (keys,
// lines, what was written), never a Go type.
func TestConfigFileMistakes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, text, want string
	}{
		{"misspelt key in the probe section", "c.yml", "probe:\n  intervall: 5s\n",
			`config file DIR/c.yml: line 2: unknown key "intervall" in the probe section (known: targets, file_sd, modules)`},
		{"misspelt file_sd", "c.yml", "probe:\n  fiel_sd: [a.json]\n",
			`config file DIR/c.yml: line 2: unknown key "fiel_sd" in the probe section (known: targets, file_sd, modules; did you mean "file_sd"?)`},
		{"misspelt target key", "c.yml", "probe:\n  targets:\n    - host: 198.18.0.1\n      sise: 64\n",
			`config file DIR/c.yml: line 4: unknown key "sise" in a target (known: name, host, network, source, interface, tos, ttl, size, interval, labels; did you mean "size"?)`},
		{"misspelt section", "c.yml", "prob:\n  targets: []\n",
			`config file DIR/c.yml: line 1: unknown key "prob" in the top level (known: probe; did you mean "probe"?)`},
		{"section of the wrong kind", "c.yml", "probe: 5\n",
			`config file DIR/c.yml: line 1: want the probe section (a mapping of targets, file_sd, modules), not the number 5`},
		{"a word for a number", "c.yml", "probe:\n  targets:\n    - {host: 198.18.0.1, ttl: many}\n",
			`config file DIR/c.yml: line 3: want a whole number, not the string many`},
		{"targets not a list", "c.yml", "probe:\n  targets: {host: 198.18.0.1}\n",
			`config file DIR/c.yml: line 2: want a list of targets, not a mapping`},
		{"two mistakes, one line", "c.yml", "probe:\n  intervall: 5s\n  sise: 3\n",
			`config file DIR/c.yml: line 2: unknown key "intervall" in the probe section (known: targets, file_sd, modules); line 3: unknown key "sise" in the probe section (known: targets, file_sd, modules)`},
		{"not YAML", "c.yml", "probe: [\n",
			`config file DIR/c.yml: line 1: did not find expected node content`},
		{"file_sd YAML key", "sd.yml", "- targets: [198.18.0.1]\n  lables: {size: '64'}\n",
			`file_sd DIR/sd.yml: line 2: unknown key "lables" in a target group (known: targets, labels; did you mean "labels"?)`},
		{"file_sd JSON type", "sd.json", "[{\"targets\": \"198.18.0.1\"}]\n",
			`file_sd DIR/sd.json: line 1 at targets: want a list of strings, not a JSON string`},
		{"file_sd JSON syntax", "sd.json", "[{\"targets\": [\"198.18.0.1\"]},\n",
			`file_sd DIR/sd.json: line 2: unexpected end of JSON input`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			writeFile(t, path, tc.text)
			src := Sources{ConfigFile: path}
			if tc.file != "c.yml" {
				src = Sources{FileSD: []string{path}}
			}
			_, err := src.Load()
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			if got := strings.ReplaceAll(err.Error(), dir, "DIR"); got != tc.want {
				t.Errorf("error\n got %s\nwant %s", got, tc.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%v is not ErrInvalidConfig", err)
			}
		})
	}
}
