// Package collector turns the domain packages' snapshots and observation
// streams into Prometheus metrics. It does no kernel I/O: a scrape copies a
// snapshot and never waits for a sample.
//
// One collector per domain: Sampler (interfaces, qdiscs, the sampler's own
// health), Prober (probe targets), Bond, Capture (spike captures) and
// Locate (live segment delays). Histograms are client_golang's own types,
// fed as observations arrive; the per-device and per-target counters and
// gauges are read from the latest snapshot at scrape time. Handler serves
// them: the families with many series are encoded straight from the
// snapshots into the negotiated format (text, OpenMetrics, protobuf),
// byte for byte what promhttp would write for the same collectors, without
// holding the families between scrapes. Reference lists every metric, for
// docs/metrics.md.
package collector
