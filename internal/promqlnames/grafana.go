package promqlnames

import "regexp"

// GrafanaVarRef finds Grafana's variable references in a query: $x, ${x},
// ${x:format} and [[x]]; the name is in one of the three groups.
var GrafanaVarRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z_][A-Za-z0-9_]*)(?::[^\]]*)?\]\]`)

// SubstituteGrafana replaces Grafana's variables in a dashboard query so
// that it parses as PromQL: the interval variables by a duration (5m, or
// 300000 for the _ms and _s ones), every other variable by a regular
// expression matching anything. A variable used where PromQL wants neither
// then fails to parse, as it would fail in Grafana.
func SubstituteGrafana(expr string) string {
	return GrafanaVarRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := GrafanaVarRef.FindStringSubmatch(ref)
		switch m[1] + m[2] + m[3] {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		case "__interval_ms", "__range_ms", "__range_s":
			return "300000"
		}
		return ".+"
	})
}
