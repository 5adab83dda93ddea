//go:build linux

package main

import (
	"log/slog"

	"github.com/netburst/netburst/capture"
)

// openEchoDevice opens a TPACKET_V3 capture of the named interface that
// only ever sees ICMP echoes: capture.EchoFilter runs in the kernel, so a
// NIC's storage traffic costs nothing here. The ring is small (64 KiB x 8):
// echoes are few. The device follows the interface's name (changes: the
// link-change signal, nil to look once a second).
func openEchoDevice(name string, snaplen int, changes <-chan struct{}, logger *slog.Logger) (capture.Device, error) {
	return capture.Open(capture.DeviceConfig{
		Name: name, Snaplen: snaplen, Filter: capture.EchoFilter,
		BlockSize: 1 << 16, NumBlocks: 8, Changes: changes, Logger: logger,
	})
}
