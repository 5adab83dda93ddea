// Command netburst_exporter is netburst's daemon: it samples NIC and bond
// counters every 100 ms (per-VM interfaces every second), and, as
// configured, probes targets, watches bonds and captures the seconds around
// spikes, exporting all of it to Prometheus.
//
// The command holds flags and their checks (bad input is one line and exit
// status 2 before anything is served), the wiring of the domain packages to
// the collectors and to each other, and the HTTP server (metrics, the live
// page and its stream, the spike pages and /api/v1/spikes, /api/v1/echoes,
// /probe, health, reload, pprof); the sampling, probing, capture, analysis
// and page rendering live in those packages (and live, webui). It is the only
// importer of package capture. docs/exporter.md lists its flags.
package main
