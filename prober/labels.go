package prober

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxLabels bounds the custom label names of the whole target set (and so
// of each target): every name is one more label on every probe series of
// every target.
const MaxLabels = 8

// ReservedLabels are the label names a target's custom labels may not use:
// netburst's own labels of the probe families (and the histogram's le),
// the names Prometheus sets on every scraped series (an exported one
// would be renamed exported_*), and the file_sd labels that are target
// options rather than labels. Names beginning with "__" are Prometheus'
// internal ones and are refused too.
var ReservedLabels = []string{
	"target", "host", "address", "mode", "source", "cause", "window", "le",
	"job", "instance",
	"name", "network", "interface", "tos", "ttl", "size", "interval",
}

// checkLabels validates a target's custom labels: legacy Prometheus label
// names (what both 2.x and 3.x accept without escaping), none reserved,
// at most MaxLabels, values valid UTF-8.
func checkLabels(target string, labels map[string]string) error {
	if len(labels) > MaxLabels {
		return invalid("target %q: %d custom labels, at most %d", target, len(labels), MaxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		switch {
		case !validLabelName(k):
			return invalid("target %q: label name %q: want letters, digits and _, not starting with a digit", target, k)
		case strings.HasPrefix(k, "__"):
			return invalid("target %q: label name %q: names beginning with __ are reserved to Prometheus", target, k)
		case slices.Contains(ReservedLabels, k):
			return invalid("target %q: label name %q is netburst's or Prometheus' own (reserved: %s)", target, k, strings.Join(ReservedLabels, ", "))
		case !utf8.ValidString(labels[k]):
			return invalid("target %q: label %s: value is not UTF-8", target, k)
		}
	}
	return nil
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// labelNames is the sorted union of the targets' custom label names: the
// label set every target's series carry (a target without one of them has
// it empty, which Prometheus reads as absent).
func labelNames(ts []Target) ([]string, error) {
	set := map[string]bool{}
	for _, t := range ts {
		for k := range t.Labels {
			set[k] = true
		}
	}
	names := slices.Sorted(maps.Keys(set))
	if len(names) > MaxLabels {
		return nil, invalid("custom label names %s: %d across the targets, at most %d (every target carries every name)",
			strings.Join(names, ", "), len(names), MaxLabels)
	}
	return names, nil
}

// equal says whether two targets are the same definition, labels included.
func (t Target) equal(u Target) bool {
	return t.Name == u.Name && t.Host == u.Host && t.Network == u.Network && t.Source == u.Source &&
		t.Interface == u.Interface && t.TOS == u.TOS && t.TTL == u.TTL && t.Size == u.Size &&
		t.Interval == u.Interval && maps.Equal(t.Labels, u.Labels)
}

// LabelNames returns the sorted custom label names of the current targets.
func (p *Prober) LabelNames() []string {
	return slices.Clone(*p.labelNames.Load())
}

// Same reports whether t and u define the same target once defaults are
// filled in (the size, the network), labels included.
func (t Target) Same(u Target) bool {
	nt, err1 := t.normalize()
	nu, err2 := u.normalize()
	if err1 != nil || err2 != nil {
		return t.equal(u)
	}
	return nt.equal(nu)
}

// DisplayName is the name the target's series carry: its Name, or its
// Host when it has none.
func (t Target) DisplayName() string {
	if t.Name == "" {
		return t.Host
	}
	return t.Name
}
