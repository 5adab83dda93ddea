// Package deploy holds netburst's deployment files: a hardened systemd unit,
// a Kubernetes DaemonSet, Prometheus scrape configs and a Dockerfile. It has
// no code; its tests check the files (docs/deploy.md explains them).
package deploy
