// Package sampler reads every interface's counters of a network namespace
// at a fixed sub-second interval and turns them into what minute averages
// hide: per-interval rates, trailing-window peaks, burst counts, qdisc
// backlog peaks and, for drivers that refresh their counters lazily, the
// refresh period that keeps their rates honest.
//
// Devices fall in two tiers. The fast set (NICs, bonds and their slaves,
// everything not per-VM or per-container) is sampled every Interval with
// per-device requests; the rest every SlowInterval with one dump. Each
// device's arithmetic runs at its own tier's interval.
//
// The kernel I/O lives behind StatsSource, LinkSource and QdiscSource; the
// Sampler's arithmetic is plain Go driven by Step, which tests call with
// fake readings. Observations leave through Observer (histograms) and
// Snapshot (everything else); the package knows nothing of Prometheus.
package sampler
