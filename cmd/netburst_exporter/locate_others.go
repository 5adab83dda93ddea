//go:build !linux

package main

import (
	"log/slog"

	"github.com/netburst/netburst/capture"
)

// openEchoDevice is only available on Linux.
func openEchoDevice(name string, snaplen int, changes <-chan struct{}, logger *slog.Logger) (capture.Device, error) {
	return capture.Device{}, capture.ErrNotSupported
}
