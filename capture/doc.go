// Package capture keeps an always-on capture ring of each device's recent
// frames (AF_PACKET TPACKET_V3 on Linux, a kernel BPF filter in front of
// it) and, on a spike event, freezes the seconds around it into a report
// (a packet.Summary) and a pcap file. It also builds the classic BPF
// programs the sockets run: the capture's own (FilterProgram, a filter
// expression's Program) and live locate's (EchoFilter).
//
// Frames are decoded by package packet as they enter the ring.
package capture
