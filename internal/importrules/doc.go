// Package importrules holds the tests that keep the tree's import rules:
// domain packages know nothing of Prometheus and import no sibling but
// spike and the decoded-frame leaf (packet), which imports no other
// netburst package; only the exporter imports the live capture; the
// collectors know nothing of sockets.
package importrules
