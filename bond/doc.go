// Package bond reads Linux bonding topology (netlink and sysfs), follows
// each slave's share of its bond's traffic, detects one slave saturated
// while the bond as a whole idles, and reproduces the kernel's transmit hash
// policies so that a flow can be mapped to the slave it leaves on: a
// FlowTable sums a capture's (or a FLOW list's) flows per slave, with the
// imbalance and the moves that would even it out.
package bond
