//go:build linux

package capture

import (
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/netburst/netburst/packet"
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
	return linkTypeFD(fd, name)
}

// linkTypeFD is linkTypeOf in the network namespace of socket fd (a packet
// socket re-opening asks in its own namespace, whichever thread runs it).
func linkTypeFD(fd int, name string) (layers.LinkType, error) {
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
		return 0, fmt.Errorf("interface %s: ARPHRD type %d: %w", name, t, packet.ErrUnsupportedLinkType)
	}
}

// OpenDevice opens a TPACKET_V3 capture of the named interface, keeping
// snaplen bytes of each frame (enforced by a kernel BPF filter; with ipOnly,
// non-IP Ethernet frames are dropped in the kernel). blockSize*numBlocks is
// the kernel ring (memory the kernel fills while netburst is busy); 0 takes
// 1 MiB x 8. Call it on a thread in the interface's network namespace. It is
// Open without a link-change signal or logger.
func OpenDevice(name string, snaplen int, ipOnly bool, blockSize, numBlocks int) (Device, error) {
	return Open(DeviceConfig{Name: name, Snaplen: snaplen, IPOnly: ipOnly, BlockSize: blockSize, NumBlocks: numBlocks})
}

// OpenDeviceFiltered is OpenDevice with a kernel filter of the caller's
// choosing (live locate sees only ICMP echoes this way).
func OpenDeviceFiltered(name string, snaplen int, filter FilterFunc, blockSize, numBlocks int) (Device, error) {
	return Open(DeviceConfig{Name: name, Snaplen: snaplen, Filter: filter, BlockSize: blockSize, NumBlocks: numBlocks})
}

// Open opens a TPACKET_V3 capture of the interface cfg names, on a thread
// in its network namespace. The interface must exist (its link type decides
// the filter and the decoder). From then on the device follows the name: if
// the interface vanishes, the device is down (DeviceState, one log line) and
// its socket is bound again, with the filter rebuilt, as soon as an
// interface of that name and link type exists; the reader meanwhile sees
// ErrInterfaceDown once, then ErrTimeout. The socket stays the same, so it
// stays in the namespace it was opened in and its kernel counters continue.
func Open(cfg DeviceConfig) (Device, error) {
	name := cfg.Name
	if cfg.Snaplen <= 0 {
		cfg.Snaplen = 128
	}
	if cfg.Filter == nil {
		ipOnly := cfg.IPOnly
		cfg.Filter = func(lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
			return FilterProgram(lt, snaplen, ipOnly)
		}
	}
	lt, err := linkTypeOf(name)
	if err != nil {
		return Device{}, err
	}
	prog, err := cfg.Filter(lt, cfg.Snaplen)
	if err != nil {
		return Device{}, fmt.Errorf("interface %s: %w", name, err)
	}
	blockSize, numBlocks := cfg.BlockSize, cfg.NumBlocks
	if blockSize <= 0 {
		blockSize = 1 << 20
	}
	if numBlocks <= 0 {
		numBlocks = 8
	}
	// A frame slot must hold the TPACKET header and the snap length.
	frameSize := 1 << 11
	for frameSize < cfg.Snaplen+256 {
		frameSize <<= 1
	}
	if blockSize < frameSize {
		blockSize = frameSize
	}
	tp, err := openTPacket(name, prog, frameSize, blockSize, numBlocks, blockRetire, pollTimeout)
	if err != nil {
		return Device{}, fmt.Errorf("capture %s: AF_PACKET TPACKET_V3: %w", name, err)
	}
	if err := tp.follow(cfg, lt); err != nil {
		tp.Close()
		return Device{}, fmt.Errorf("capture %s: %w", name, err)
	}
	return Device{Name: name, LinkType: lt, Source: tp}, nil
}
