package promqlnames

import (
	"errors"
	"strings"
	"testing"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up == 0`, []string{"up"}},
		{`rate(netburst_interface_bytes_total{device=~"eth.*", job="a{b}"}[5m])`, []string{"netburst_interface_bytes_total"}},
		{`sum by (device, le) (rate(x_bucket[1m])) / ignoring(direction) group_left() (y > 0)`, []string{"x_bucket", "y"}},
		{`sum(rate(a[5m])) by (instance) and on(instance, job) b unless c offset 5m`, []string{"a", "b", "c"}},
		{`histogram_quantile(0.99, rate(netburst_probe_rtt_seconds[5m])) or histogram_quantile(0.99, rate(netburst_probe_rtt_seconds_bucket[5m]))`, []string{"netburst_probe_rtt_seconds", "netburst_probe_rtt_seconds_bucket"}},
		{`label_replace(rate(a[5m]), "bond", "$1", "device", "(.+)")`, []string{"a"}},
		{`topk by (bond) (1, netburst:share:max) * 1e+06 > 1.5e6`, []string{"netburst:share:max"}},
		{`{__name__="from_matcher", job="x"} + Inf - NaN`, []string{"from_matcher"}},
		{`count_values("version", build_info) # a comment naming fake_metric`, []string{"build_info"}},
		{`vector(1) + time()`, []string{}},
		{`max_over_time(a[1h30m:1m])`, []string{"a"}},
		{`{__name__=~"netburst_.*"}`, []string{}},
	}
	for _, tt := range tests {
		got, err := MetricNames(tt.expr)
		if err != nil {
			t.Errorf("MetricNames(%q): %v", tt.expr, err)
			continue
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("MetricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
	for _, bad := range []string{`rate(a{job="x}[5m])`, `a{job="x"`, `rate(a[5m)`, `rate(a[$__rate_interval])`, `sum(a) by`} {
		if _, err := MetricNames(bad); !errors.Is(err, ErrPromQL) {
			t.Errorf("MetricNames(%q) = %v, want ErrPromQL", bad, err)
		}
	}
}

func FuzzMetricNames(f *testing.F) {
	for _, s := range []string{`up == 0`, `sum by (a) (rate(b{c="d"}[5m]))`, `"unterminated`, `{`, `x[`, `0x1f + 1e+06`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := MetricNames(s)
		if err != nil && !errors.Is(err, ErrPromQL) {
			t.Fatalf("error %v does not wrap ErrPromQL", err)
		}
		for _, n := range names {
			if n == "" {
				t.Fatalf("odd name %q from %q", n, s)
			}
		}
	})
}

func TestCheck(t *testing.T) {
	err := Check(map[string]string{
		"rule A":  `rate(known_total[5m]) / other`,
		"panel B": `sum(rate(known_total[5m]))`,
		"panel C": `rate(x[5m]`,
	}, map[string]bool{"known_total": true})
	if !errors.Is(err, ErrUnknownMetric) || !errors.Is(err, ErrPromQL) {
		t.Fatalf("Check = %v, want ErrUnknownMetric and ErrPromQL", err)
	}
	for _, want := range []string{"rule A: unknown metric other", "panel C: invalid PromQL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check's error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "panel B") {
		t.Errorf("Check names panel B, which reads only known metrics:\n%v", err)
	}
	if err := Check(map[string]string{"ok": "known_total"}, map[string]bool{"known_total": true}); err != nil {
		t.Errorf("Check of known names = %v", err)
	}
}

func TestSubstituteGrafana(t *testing.T) {
	in := `sum by (le) (rate(x_bucket{job=~"$job", instance=~"${instance:regex}", d=~"[[device]]"}[$__rate_interval])) * $__interval_ms`
	want := `sum by (le) (rate(x_bucket{job=~".+", instance=~".+", d=~".+"}[5m])) * 300000`
	if got := SubstituteGrafana(in); got != want {
		t.Errorf("SubstituteGrafana:\n got %s\nwant %s", got, want)
	}
	if names, err := MetricNames(SubstituteGrafana(in)); err != nil || len(names) != 1 || names[0] != "x_bucket" {
		t.Errorf("MetricNames of the substituted query = %v, %v", names, err)
	}
}
