// Package dashboards holds netburst's Grafana dashboards as hand-kept JSON
// (Grafana schema 39): Overview, Bonds, Latency and Spikes. They are
// embedded so that tools can provision or serve them; the tests check
// their structure, variables, datasources and every PromQL expression.
package dashboards
