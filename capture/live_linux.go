//go:build linux

package capture

import (
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// pollTimeout bounds how long a reader waits for a frame before checking for
// cancellation.
const pollTimeout = 100 * time.Millisecond

// blockRetire is the kernel's tp_retire_blk_tov in milliseconds: a block
// that is not full is handed over at the latest this long after its first
// frame (finalizeGrace waits for it).
const blockRetire = 50

// linkTypeOf maps the interface's ARPHRD type to the link type of its
// frames on a SOCK_RAW packet socket. It asks the kernel (SIOCGIFHWADDR) in
// the calling thread's network namespace, where sysfs may show another.
func linkTypeOf(name string) (layers.LinkType, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("interface %s: socket: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	switch t := ifr.Uint16(); t { // sa_family of ifr_hwaddr
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK: // Linux gives loopback an Ethernet header
		return layers.LinkTypeEthernet, nil
	case unix.ARPHRD_NONE: // tun devices, WireGuard
		return layers.LinkTypeRaw, nil
	default:
		return 0, fmt.Errorf("interface %s: ARPHRD type %d: %w", name, t, ErrUnsupportedLinkType)
	}
}

// OpenDevice opens a TPACKET_V3 capture of the named interface, keeping
// snaplen bytes of each frame (enforced by a kernel BPF filter; with ipOnly,
// non-IP Ethernet frames are dropped in the kernel). blockSize*numBlocks is
// the kernel ring (memory the kernel fills while netburst is busy); 0 takes
// 1 MiB x 8. Call it on a thread in the interface's network namespace.
func OpenDevice(name string, snaplen int, ipOnly bool, blockSize, numBlocks int) (Device, error) {
	return OpenDeviceFiltered(name, snaplen, func(lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
		return FilterProgram(lt, snaplen, ipOnly)
	}, blockSize, numBlocks)
}

// FilterFunc builds the kernel BPF program for a device of link type lt
// that keeps snaplen bytes of the frames it accepts.
type FilterFunc func(lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error)

// OpenDeviceFiltered is OpenDevice with a kernel filter of the caller's
// choosing (live locate sees only ICMP echoes this way).
func OpenDeviceFiltered(name string, snaplen int, filter FilterFunc, blockSize, numBlocks int) (Device, error) {
	lt, err := linkTypeOf(name)
	if err != nil {
		return Device{}, err
	}
	prog, err := filter(lt, snaplen)
	if err != nil {
		return Device{}, fmt.Errorf("interface %s: %w", name, err)
	}
	if blockSize <= 0 {
		blockSize = 1 << 20
	}
	if numBlocks <= 0 {
		numBlocks = 8
	}
	// A frame slot must hold the TPACKET header and the snap length.
	frameSize := 1 << 11
	for frameSize < snaplen+256 {
		frameSize <<= 1
	}
	if blockSize < frameSize {
		blockSize = frameSize
	}
	tp, err := openTPacket(name, prog, frameSize, blockSize, numBlocks, blockRetire, pollTimeout)
	if err != nil {
		return Device{}, fmt.Errorf("capture %s: AF_PACKET TPACKET_V3: %w", name, err)
	}
	return Device{Name: name, LinkType: lt, Source: tp}, nil
}
