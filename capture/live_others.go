//go:build !linux

package capture

// OpenDevice is only available on Linux.
func OpenDevice(name string, snaplen int, ipOnly bool, blockSize, numBlocks int) (Device, error) {
	return Device{}, ErrNotSupported
}

// OpenDeviceFiltered is only available on Linux.
func OpenDeviceFiltered(name string, snaplen int, filter FilterFunc, blockSize, numBlocks int) (Device, error) {
	return Device{}, ErrNotSupported
}

// Open is only available on Linux.
func Open(cfg DeviceConfig) (Device, error) {
	return Device{}, ErrNotSupported
}
