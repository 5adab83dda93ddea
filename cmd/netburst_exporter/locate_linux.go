//go:build linux

package main

import (
	"github.com/netburst/netburst/capture"
	"github.com/netburst/netburst/locate"
)

// openEchoDevice opens a TPACKET_V3 capture of the named interface that
// only ever sees ICMP echoes: locate.EchoFilter runs in the kernel, so a
// NIC's storage traffic costs nothing here. The ring is small (64 KiB x 8):
// echoes are few.
func openEchoDevice(name string, snaplen int) (capture.Device, error) {
	return capture.OpenDeviceFiltered(name, snaplen, locate.EchoFilter, 1<<16, 8)
}
