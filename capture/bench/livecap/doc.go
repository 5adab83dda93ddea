//go:build linux

// Command livecap runs netburst's always-on spike capture on one interface
// for a while, with no spike, and prints what it cost: frames read, kernel and
// ring drops, and CPU time (user+system, from getrusage) per frame. It is the
// netburst side of capture/bench/live_vs_tcpdump.sh. It builds on Linux
// only, as the AF_PACKET capture it measures does.
package main
