// Command netburst is netburst's offline and interactive tool: ping with
// kernel timestamps, locate the segment that added delay, top talkers of a
// capture, and the bond slave a flow hashes to.
//
// Its commands: ping (one target, iputils-style, with kernel timestamps and
// late replies, duplicates and jitter in the summary), top (packets and
// bytes per port, host pair and conversation of a pcap or pcapng file),
// locate (the path segment and direction that added delay to ICMP echoes
// captured at several points, from capture files or from exporters'
// /api/v1/echoes), bond-hash (the bond slave each flow leaves on, under the
// kernel's transmit hash policies), spikes (an exporter's spike reports).
// The command holds flags, file and HTTP reading, the JSON schemas and the
// text output; the analysis lives in packages packet, locate, bond and
// prober. Exit status: 0 done (warnings
// on stderr), 1 failed, 2 bad usage (docs/exit-status.md).
package main
