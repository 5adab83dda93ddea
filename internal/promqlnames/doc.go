// Package promqlnames lists the metric names a PromQL expression reads,
// with Prometheus' own parser (github.com/prometheus/prometheus/promql/parser),
// and checks them against a set of known names: how the tests of alerts/
// and dashboards/ make sure every rule and panel reads a metric the exporter
// exports or a rule records. Only tests import it (internal/importrules
// holds that), so the Prometheus server's module never enters a netburst
// binary.
package promqlnames
