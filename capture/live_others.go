//go:build !linux

package capture

// OpenDevice is only available on Linux.
func OpenDevice(name string, snaplen int, ipOnly bool, blockSize, numBlocks int) (Device, error) {
	return Device{}, ErrNotSupported
}
