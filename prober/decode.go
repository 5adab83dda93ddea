package prober

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// configDocument is the top level of --config.file: the probe section is
// the only one today, so any other key is a mistake.
type configDocument struct {
	Probe *FileConfig `yaml:"probe"`
}

// What the configuration's types are called in messages: the user wrote
// YAML, not Go. Keys are the types' names as yaml.v3 prints them.
var configTypes = map[string]struct {
	what string
	typ  reflect.Type // whose yaml keys are listed, when a mapping
}{
	"prober.configDocument":  {"the top level", reflect.TypeFor[configDocument]()},
	"prober.FileConfig":      {"the probe section", reflect.TypeFor[FileConfig]()},
	"prober.TargetConfig":    {"a target", reflect.TypeFor[TargetConfig]()},
	"[]prober.TargetConfig":  {"a list of targets", nil},
	"prober.fileSDGroup":     {"a target group", reflect.TypeFor[fileSDGroup]()},
	"[]prober.fileSDGroup":   {"a list of target groups", nil},
	"prober.Modules":         {"the modules (a mapping of module names to target options)", nil},
	"[]string":               {"a list of strings", nil},
	"map[string]string":      {"a mapping of strings", nil},
	"string":                 {"a string", nil},
	"int":                    {"a whole number", nil},
	"*prober.FileConfig":     {"the probe section", reflect.TypeFor[FileConfig]()},
	"*prober.configDocument": {"the top level", reflect.TypeFor[configDocument]()},
}

// yamlKinds names the YAML node tags of yaml.v3's messages.
var yamlKinds = map[string]string{
	"!!int": "the number", "!!float": "the number", "!!str": "the string", "!!bool": "the boolean",
	"!!map": "a mapping", "!!seq": "a list", "!!null": "nothing", "!!timestamp": "the timestamp",
}

var (
	yamlUnknownKey = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)
	yamlWrongType  = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
)

// decodeYAML decodes b into v, refusing keys v does not have, and words
// errors in the file's terms on one line: "line 2: unknown key
// "intervall" in the probe section (known: targets, file_sd, modules; did you mean
// "interval"?)". An empty document leaves v as it is.
func decodeYAML(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = rewordYAML(m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

func rewordYAML(m string) string {
	if g := yamlUnknownKey.FindStringSubmatch(m); g != nil {
		t, ok := configTypes[g[3]]
		if !ok {
			return m
		}
		keys := yamlKeys(t.typ)
		msg := fmt.Sprintf("line %s: unknown key %q in %s (known: %s", g[1], g[2], t.what, strings.Join(keys, ", "))
		if near := nearest(g[2], keys); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		return msg + ")"
	}
	if g := yamlWrongType.FindStringSubmatch(m); g != nil {
		t, ok := configTypes[g[4]]
		if !ok {
			return m
		}
		want := t.what
		if t.typ != nil {
			want += " (a mapping of " + strings.Join(yamlKeys(t.typ), ", ") + ")"
		}
		got := yamlKinds[g[2]]
		if got == "" {
			got = g[2]
		}
		if g[3] != "" {
			got += " " + g[3]
		}
		return fmt.Sprintf("line %s: want %s, not %s", g[1], want, got)
	}
	return m
}

// decodeJSON is json.Unmarshal with decodeYAML's wording of type errors.
func decodeJSON(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := te.Type.String()
		if t, ok := configTypes[want]; ok {
			want = t.what
		}
		line := 1 + bytes.Count(b[:min(int(te.Offset), len(b))], []byte("\n"))
		where := ""
		if te.Field != "" {
			where = " at " + te.Field
		}
		return fmt.Errorf("line %d%s: want %s, not a JSON %s", line, where, want, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
		return fmt.Errorf("line %d: %s", line, strings.TrimPrefix(se.Error(), "json: "))
	}
	return err
}

// yamlKeys lists t's yaml keys in field order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

// nearest is the key within two edits of s, if one is.
func nearest(s string, keys []string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := editDistance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
