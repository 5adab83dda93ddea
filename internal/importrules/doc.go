// Package importrules holds the test that keeps DESIGN §3's import rules:
// domain packages know nothing of Prometheus, and the collectors nothing of
// sockets.
package importrules
