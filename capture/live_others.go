//go:build !linux

package capture

import (
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// OpenDevice is only available on Linux.
func OpenDevice(name string, snaplen int, ipOnly bool, blockSize, numBlocks int) (Device, error) {
	return Device{}, ErrNotSupported
}

// FilterFunc builds the kernel BPF program for a device of link type lt.
type FilterFunc func(lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error)

// OpenDeviceFiltered is only available on Linux.
func OpenDeviceFiltered(name string, snaplen int, filter FilterFunc, blockSize, numBlocks int) (Device, error) {
	return Device{}, ErrNotSupported
}
