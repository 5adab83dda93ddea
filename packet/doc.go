// Package packet is the ground floor under capture, locate, bond and
// netburst top: it decodes frame headers into a flat Packet summary
// (through VLAN tags, MPLS, PPPoE, and the tunnels of tunnel.go, whose
// innermost IP packet the summary describes, the outermost tunnel kept
// beside it), reads
// pcap and pcapng files frame by frame, and aggregates packets into
// per-port, per-host-pair and per-conversation statistics (Summary).
//
// It opens no socket and imports no other netburst package, so every
// package that works on decoded frames can share it without importing the
// live capture. Decoding and reading allocate nothing per frame.
package packet
