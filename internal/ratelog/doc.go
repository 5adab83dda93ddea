// Package ratelog logs failures that repeat (a probe that cannot be sent
// every second, a pcap write on a full disk) at most once per key and
// interval, saying how many were held back in between. The first failure of
// a key is always logged at once, so nothing a user must act on is silent.
package ratelog
