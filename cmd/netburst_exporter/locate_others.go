//go:build !linux

package main

import "github.com/netburst/netburst/capture"

// openEchoDevice is only available on Linux.
func openEchoDevice(name string, snaplen int) (capture.Device, error) {
	return capture.Device{}, capture.ErrNotSupported
}
