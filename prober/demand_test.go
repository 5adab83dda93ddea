package prober

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDemand(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	d := NewDemand(2, time.Minute)
	a := Target{Name: "198.18.0.2", Host: "198.18.0.2"}
	b := Target{Name: "198.18.0.3", Host: "198.18.0.3"}
	steps := []struct {
		what    string
		do      func() (bool, error)
		changed bool
		err     error
		held    []string
	}{
		{"a first asked", func() (bool, error) { return d.Ask(a, t0) }, true, nil, []string{"198.18.0.2"}},
		{"a again: no change", func() (bool, error) { return d.Ask(a, t0.Add(30*time.Second)) }, false, nil, []string{"198.18.0.2"}},
		{"b", func() (bool, error) { return d.Ask(b, t0.Add(40*time.Second)) }, true, nil, []string{"198.18.0.2", "198.18.0.3"}},
		{"a third one beyond max 2", func() (bool, error) {
			return d.Ask(Target{Name: "198.18.0.4", Host: "198.18.0.4"}, t0.Add(41*time.Second))
		}, false, ErrDemandFull, []string{"198.18.0.2", "198.18.0.3"}},
		{"a with another size: changed", func() (bool, error) {
			a2 := a
			a2.Size = 100
			return d.Ask(a2, t0.Add(50*time.Second))
		}, true, nil, []string{"198.18.0.2", "198.18.0.3"}},
	}
	for _, s := range steps {
		changed, err := s.do()
		if changed != s.changed || !errors.Is(err, s.err) {
			t.Fatalf("%s: changed %v, err %v; want %v, %v", s.what, changed, err, s.changed, s.err)
		}
		var held []string
		for _, tt := range d.Targets() {
			held = append(held, tt.Name)
		}
		if !slices.Equal(held, s.held) {
			t.Fatalf("%s: held %v, want %v", s.what, held, s.held)
		}
	}
	// a was last asked at +50s, b at +40s: at +100s (TTL 1m) b is gone.
	if gone := d.Expire(t0.Add(100 * time.Second)); !slices.Equal(gone, []string{"198.18.0.3"}) || d.Len() != 1 || !d.Has("198.18.0.2") {
		t.Fatalf("Expire at +100s: gone %v, held %d, has a %v", gone, d.Len(), d.Has("198.18.0.2"))
	}
	if d.Targets()[0].Size != 100 {
		t.Errorf("a kept its first definition: %+v", d.Targets()[0])
	}
	d.Drop("198.18.0.2")
	if d.Len() != 0 {
		t.Errorf("Drop left %d", d.Len())
	}
}

func TestModules(t *testing.T) {
	ms := Modules{"big": {Size: 1400, TOS: 184}, "v6": {Network: "ip6"}}
	tests := []struct {
		host, module string
		name         string
		size         int
		err          string
	}{
		{"198.18.0.2", "", "198.18.0.2", 56, ""}, // the prober's default size
		{"198.18.0.2", "default", "198.18.0.2", 56, ""},
		{"198.18.0.2", "big", "198.18.0.2/big", 1400, ""},
		{"198.18.0.2", "huge", "", 0, `unknown probe module "huge" (known: big, default, v6)`},
		{"", "big", "", 0, "no target given"},
	}
	for _, tt := range tests {
		got, err := ms.Target(tt.host, tt.module)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Target(%q, %q) = %+v, %v; want error %q", tt.host, tt.module, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.Name != tt.name || got.Host != tt.host || got.Size != tt.size {
			t.Errorf("Target(%q, %q) = %+v, %v; want name %q size %d", tt.host, tt.module, got, err, tt.name, tt.size)
		}
	}
	for name, bad := range map[string]Modules{
		`module "x": name and host come from the scrape`:       {"x": {Host: "198.18.0.9"}},
		`module "x": labels come from Prometheus' relabelling`: {"x": {Labels: map[string]string{"rack": "a"}}},
		`module "a/b": want a name without spaces or /`:        {"a/b": {}},
		`module "x": `: {"x": {Size: 3}},
	} {
		if err := checkModules(bad); err == nil || !strings.Contains(err.Error(), name) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("checkModules(%v) = %v, want an ErrInvalidConfig saying %q", bad, err, name)
		}
	}
}
