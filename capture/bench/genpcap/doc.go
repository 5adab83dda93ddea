// Command genpcap writes a synthetic pcap for benchmarks: well-formed UDP
// and TCP (every fourth flow) frames between 198.18.0.0/15 hosts on
// unassigned ports (so tshark spends no time in port-specific dissectors),
// many flows, cut at a 128-byte snap length like netburst's capture.
package main
