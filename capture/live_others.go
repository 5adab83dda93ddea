//go:build !linux

package capture

// OpenDevice needs Linux's AF_PACKET sockets: elsewhere it returns
// ErrNotSupported.
func OpenDevice(name string, snaplen int, ipOnly bool, blockSize, numBlocks int) (Device, error) {
	return Device{}, ErrNotSupported
}

// OpenDeviceFiltered needs Linux's AF_PACKET sockets: elsewhere it
// returns ErrNotSupported.
func OpenDeviceFiltered(name string, snaplen int, filter FilterFunc, blockSize, numBlocks int) (Device, error) {
	return Device{}, ErrNotSupported
}

// Open needs Linux's AF_PACKET sockets: elsewhere it returns
// ErrNotSupported.
func Open(cfg DeviceConfig) (Device, error) {
	return Device{}, ErrNotSupported
}
