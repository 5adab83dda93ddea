// Package alerts holds netburst's Prometheus recording and alerting rules
// (netburst-rules.yml), the generator that renders them from config.yml and
// the template netburst-rules.yml.tmpl, and the checks shared with the
// dashboards: the metric names the bundles may use and a small PromQL
// scanner that lists the metric names an expression reads.
//
// The rules file is committed; a test fails when it differs from what
// config.yml and the template produce, so the two never drift apart.
package alerts
