// Package packettest builds frames for tests of the packages that decode
// them (packet, capture): layers serialized by gopacket with lengths and
// checksums fixed, between fixed test addresses (198.18.0.0/15, RFC 2544;
// 2001:db8::/32, RFC 3849).
package packettest
