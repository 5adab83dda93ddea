// Package prober sends ICMP echo requests to targets continuously and
// accounts for their replies: RTT from kernel timestamps, loss, late
// replies, duplicates, reordering, RFC 3550 jitter, peak RTT per trailing
// window and RTT spikes.
//
// One socket per address family (and bound interface) carries the probes
// of every target. Replies are matched by (target address, echo id,
// sequence) and by a random per-run token and a target key carried in the
// payload, so replies to an earlier run or to another process are never
// taken for ours. Observations go to an Observer; counters are read with
// Snapshot. The package knows nothing of Prometheus.
//
// Targets are given as Target values, or read with Sources from the probe
// section of a YAML configuration file and from Prometheus file_sd files,
// so that any command can use the same configuration as the exporter.
//
// The code follows the two paths of a probe: schedule.go is the sender
// (one goroutine: the deadline schedule, sends, and the batched reads of
// the sockets), receive.go what is done with each packet read (matching,
// accounting, spike events); sockets.go keeps the socket table, target.go
// a target's probe ring and accounting (stats.go its jitter, peaks and
// median), sources.go the configuration.
package prober
