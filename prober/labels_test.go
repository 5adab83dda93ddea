package prober

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// equal compares field by field (a map is not comparable): a field added
// to Target and forgotten there would make a changed target look the same
// and keep its old state across a reload.
func TestTargetEqualCoversFields(t *testing.T) {
	base := Target{Name: "a", Host: "198.18.0.1"}
	values := map[string]any{
		"Source":   netip.MustParseAddr("198.18.0.9"),
		"Interval": time.Second,
		"Labels":   map[string]string{"rack": "r1"},
	}
	typ := reflect.TypeFor[Target]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		u := base
		v := reflect.ValueOf(&u).Elem().Field(i)
		switch {
		case values[f.Name] != nil:
			v.Set(reflect.ValueOf(values[f.Name]))
		case v.Kind() == reflect.String:
			v.SetString(v.String() + "x")
		case v.Kind() == reflect.Int:
			v.SetInt(7)
		default:
			t.Fatalf("field %s of kind %s: give the test a value for it", f.Name, v.Kind())
		}
		if base.equal(u) || u.equal(base) {
			t.Errorf("targets differing in %s are equal", f.Name)
		}
	}
	if !base.equal(base) {
		t.Error("a target differs from itself")
	}
}

func TestSetTargetsLabels(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Snapshot().LabelNames; n == nil || len(n) != 0 {
		t.Errorf("no targets: label names %#v, want empty", n)
	}
	set := func(ts ...Target) error { t.Helper(); return p.SetTargets(ts) }
	state := func(name string) *targetState {
		for _, st := range *p.targets.Load() {
			if st.cfg.Name == name {
				return st
			}
		}
		return nil
	}
	if err := set(Target{Name: "a", Host: "198.18.0.1", Labels: map[string]string{"rack": "r1", "dc": "x"}},
		Target{Name: "b", Host: "198.18.0.2", Labels: map[string]string{"row": "7"}},
		Target{Name: "c", Host: "198.18.0.3", Labels: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	s := p.Snapshot()
	if want := []string{"dc", "rack", "row"}; !slices.Equal(s.LabelNames, want) {
		t.Errorf("label names %v, want the union %v", s.LabelNames, want)
	}
	got := map[string]string{}
	for _, ts := range s.Targets {
		got[ts.Name] = fmt.Sprint(ts.Labels)
	}
	if want := map[string]string{"a": "map[dc:x rack:r1]", "b": "map[row:7]", "c": "map[]"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("snapshot labels %v, want %v", got, want)
	}
	a, b := state("a"), state("b")

	// Unchanged targets keep their state; one whose labels changed starts
	// afresh (its series are others).
	if err := set(Target{Name: "a", Host: "198.18.0.1", Labels: map[string]string{"rack": "r1", "dc": "x"}},
		Target{Name: "b", Host: "198.18.0.2", Labels: map[string]string{"row": "8"}}); err != nil {
		t.Fatal(err)
	}
	if state("a") != a {
		t.Error("an unchanged target lost its state")
	}
	if state("b") == b {
		t.Error("a target whose labels changed kept its state")
	}

	// A set that is refused changes nothing, label names included.
	many := map[string]string{}
	for i := range MaxLabels {
		many[fmt.Sprintf("l%d", i)] = "v"
	}
	for _, tc := range []struct {
		name string
		ts   []Target
		want string
	}{
		{"union above the bound", []Target{{Name: "a", Host: "198.18.0.1", Labels: many}, {Name: "b", Host: "198.18.0.2", Labels: map[string]string{"rack": "r"}}},
			fmt.Sprintf("%d across the targets, at most %d", MaxLabels+1, MaxLabels)},
		{"reserved", []Target{{Name: "a", Host: "198.18.0.1", Labels: map[string]string{"target": "t"}}}, `label name "target"`},
		{"invalid name", []Target{{Name: "a", Host: "198.18.0.1", Labels: map[string]string{"1rack": "t"}}}, `label name "1rack"`},
		{"not UTF-8", []Target{{Name: "a", Host: "198.18.0.1", Labels: map[string]string{"rack": "\xff"}}}, "not UTF-8"},
	} {
		err := p.SetTargets(tc.ts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig mentioning %q", tc.name, err, tc.want)
		}
	}
	if n := p.LabelNames(); !slices.Equal(n, []string{"dc", "rack", "row"}) || state("a") != a {
		t.Errorf("after refused sets: label names %v, want the previous ones", n)
	}
}
