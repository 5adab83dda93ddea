//go:build linux

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/netburst/netburst/internal/ratelog"
)

// tpacket is a TPACKET_V3 AF_PACKET socket bound to one interface, with its
// receive ring mapped into memory. The reader takes a whole block of frames
// at a time (nextBlock, walk, releaseBlock): no lock, interface call,
// atomic or allocation per frame. It is not safe for concurrent use: one
// reader goroutine owns it.
type tpacket struct {
	fd        int
	ring      []byte
	blockSize int
	numBlocks int
	cur       int // the block the reader waits for or holds
	held      bool
	timeout   time.Duration
	// The socket is bound to ifindex by the first read, not when it is
	// opened: frames that arrived while the exporter allocated its rings
	// would fill the kernel's ring and be dropped before anyone reads.
	ifindex int
	bound   bool

	// The reader waits in Go's network poller, not in a blocking poll(2):
	// a thread blocked in a system call for tens of milliseconds has the
	// runtime's sysmon take its P back and then wake every 20 us, and
	// costs a thread per device.
	file  *os.File
	rc    syscall.RawConn
	ready func(fd uintptr) bool // t.checkReady, bound once
	woken bool
	err   error

	// packets and drops accumulate PACKET_STATISTICS, which the kernel
	// resets on every read.
	packets, drops uint64

	// zero-copy reading, for the Source interface
	walk  v3Walker
	frame v3Frame

	// Following the interface's name (reopen_linux.go). The reader owns
	// these fields; state alone is shared (with Stats).
	name     string
	snaplen  int
	linkType layers.LinkType
	filter   FilterFunc
	changes  <-chan struct{}
	ifr      *unix.Ifreq // the name, for SIOCGIFINDEX
	state    *linkState
	logger   *slog.Logger
	log      *ratelog.Logger
	down     bool
	// loggedDown says the down line was written (not rate-limited): the
	// line saying the device captures again follows it.
	loggedDown bool
	// lastCheck is the last comparison of the name's interface with the
	// bound one, lastTry the last re-open attempt; checkSec the opening
	// second of the block that triggered the last check.
	lastCheck, lastTry time.Time
	checkSec           uint32
	timer              *time.Timer
}

// openTPacket opens the socket on interface name (in the calling thread's
// network namespace), attaches prog, maps a ring of numBlocks blocks of
// blockSize bytes (the kernel retires a block at the latest retireMs after
// its first frame). The first read binds it, so that no frame reaches the
// ring unfiltered or before the reader runs.
func openTPacket(name string, prog []bpf.RawInstruction, frameSize, blockSize, numBlocks, retireMs int, timeout time.Duration) (*tpacket, error) {
	// Protocol 0: the socket receives nothing until bind names one.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("socket(AF_PACKET) needs CAP_NET_RAW: %w", err)
		}
		return nil, fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	t := &tpacket{fd: fd, blockSize: blockSize, numBlocks: numBlocks, timeout: timeout}
	t.ready = t.checkReady
	if err := t.setup(name, prog, frameSize, retireMs); err != nil {
		t.Close()
		return nil, err
	}
	// A non-blocking descriptor becomes a pollable os.File: the runtime's
	// epoll wakes the reader when the kernel retires a block (or the
	// socket reports an error), and the file owns the descriptor.
	t.file = os.NewFile(uintptr(fd), "packet socket "+name)
	if t.rc, err = t.file.SyscallConn(); err != nil {
		t.Close()
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	return t, nil
}

func (t *tpacket) setup(name string, prog []bpf.RawInstruction, frameSize, retireMs int) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("interface %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(t.fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return fmt.Errorf("interface %s: %w", name, err)
	}
	t.ifindex = int(ifr.Uint32())
	if err := unix.SetsockoptInt(t.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("PACKET_VERSION TPACKET_V3: %w", err)
	}
	if err := t.attach(prog); err != nil {
		return err
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(t.blockSize),
		Block_nr:       uint32(t.numBlocks),
		Frame_size:     uint32(frameSize),
		Frame_nr:       uint32(t.blockSize / frameSize * t.numBlocks),
		Retire_blk_tov: uint32(retireMs),
	}
	if err := unix.SetsockoptTpacketReq3(t.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_RX_RING (%d x %d bytes): %w", t.numBlocks, t.blockSize, err)
	}
	t.ring, err = unix.Mmap(t.fd, 0, t.blockSize*t.numBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap packet ring: %w", err)
	}
	if _, err := unix.GetsockoptTpacketStatsV3(t.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err != nil {
		return fmt.Errorf("PACKET_STATISTICS: %w", err)
	}
	return nil
}

// attach attaches (or replaces) the socket's BPF filter; an empty program
// removes it.
func (t *tpacket) attach(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		err := unix.SetsockoptInt(t.fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
		if err != nil && !errors.Is(err, unix.ENOENT) { // ENOENT: there was none
			return fmt.Errorf("detach BPF filter: %w", err)
		}
		return nil
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(t.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach BPF filter: %w", err)
	}
	return nil
}

// bind starts the capture: from now on the kernel fills the ring.
func (t *tpacket) bind() error {
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: t.ifindex}
	if err := unix.Bind(t.fd, sa); err != nil {
		return fmt.Errorf("bind packet socket to interface index %d: %w", t.ifindex, err)
	}
	t.bound = true
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// status returns the block's status word, shared with the kernel.
func (t *tpacket) status(block int) *uint32 {
	return (*uint32)(unsafe.Pointer(&t.ring[block*t.blockSize+v3BlockStatus]))
}

// nextBlock returns the next block the kernel handed over, waiting for it
// up to the poll timeout (then ErrTimeout). The block stays the reader's
// until releaseBlock. While the device is down (its interface gone), the
// blocks still in the ring come first; then nextBlock looks for the
// interface again (whileDown) instead of waiting on the socket.
func (t *tpacket) nextBlock() ([]byte, error) {
	if t.held {
		t.releaseBlock()
	}
	if !t.bound {
		if err := t.firstBind(); err != nil {
			return nil, err
		}
	}
	for atomic.LoadUint32(t.status(t.cur))&tpStatusUser == 0 {
		if t.down {
			if err := t.whileDown(); err != nil {
				return nil, err
			}
			continue
		}
		if err := t.wait(); err != nil {
			return nil, t.waitFailed(err)
		}
	}
	o := t.cur * t.blockSize
	b := t.ring[o : o+t.blockSize : o+t.blockSize]
	// While frames flow, the check that the interface is still the one of
	// the name runs once per second of the blocks' own opening times: a
	// load from the block header just read, no clock read per block.
	if sec := binary.NativeEndian.Uint32(b[v3BlockTsFirst:]); sec != t.checkSec && !t.down {
		t.checkSec = sec
		t.check(time.Now())
	}
	t.held = true
	return b, nil
}

// wait waits until the current block is the reader's, the socket reports an
// error (ErrInterfaceDown when the interface went down or vanished) or the
// timeout passes (ErrTimeout).
func (t *tpacket) wait() error {
	if err := t.file.SetReadDeadline(time.Now().Add(t.timeout)); err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	t.woken, t.err = false, nil
	err := t.rc.Read(t.ready)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrTimeout
	}
	if err != nil {
		return fmt.Errorf("wait for packet socket: %w", err)
	}
	return t.err
}

// checkReady is the RawConn.Read callback: true ends the wait.
func (t *tpacket) checkReady(fd uintptr) bool {
	if atomic.LoadUint32(t.status(t.cur))&tpStatusUser != 0 {
		return true
	}
	if t.woken {
		// Woken with no block: an error, or a spurious wakeup. Reading
		// SO_ERROR clears it, so the next wait waits again.
		serr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			t.err = fmt.Errorf("packet socket error: %w", err)
			return true
		case serr == int(unix.ENETDOWN):
			t.err = ErrInterfaceDown
			return true
		case serr != 0:
			t.err = fmt.Errorf("packet socket: %w", unix.Errno(serr))
			return true
		}
	}
	t.woken = true
	return false
}

// releaseBlock hands the held block back to the kernel: its frames must not
// be read any more.
func (t *tpacket) releaseBlock() {
	if !t.held {
		return
	}
	atomic.StoreUint32(t.status(t.cur), tpStatusKernel)
	t.held = false
	t.cur++
	if t.cur == t.numBlocks {
		t.cur = 0
	}
}

// ZeroCopyReadPacketData implements Source one frame at a time, for callers
// that want frames rather than blocks (live locate). The data is valid
// until the next call.
func (t *tpacket) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	for !t.held || !t.walk.next(&t.frame) {
		b, err := t.nextBlock()
		if err != nil {
			return nil, gopacket.CaptureInfo{}, err
		}
		t.walk.reset(b)
	}
	f := &t.frame
	return f.data, gopacket.CaptureInfo{
		Timestamp:     time.Unix(0, f.ts),
		CaptureLength: len(f.data),
		Length:        max(f.wireLen, len(f.data)),
	}, nil
}

// KernelStats implements Source: the frames the kernel passed the filter
// and those it dropped for want of a free block, since the socket opened.
func (t *tpacket) KernelStats() (packets, drops uint64, err error) {
	st, err := unix.GetsockoptTpacketStatsV3(t.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return t.packets, t.drops, fmt.Errorf("packet socket statistics: %w", err)
	}
	// tp_packets already includes tp_drops.
	t.packets += uint64(st.Packets)
	t.drops += uint64(st.Drops)
	return t.packets, t.drops, nil
}

// Close unmaps the ring and closes the socket.
func (t *tpacket) Close() error {
	if t.timer != nil {
		t.timer.Stop()
	}
	var err error
	if t.ring != nil {
		err = unix.Munmap(t.ring)
		t.ring = nil
	}
	var cerr error
	switch {
	case t.file != nil:
		cerr = t.file.Close()
	case t.fd >= 0:
		cerr = unix.Close(t.fd)
	}
	if err == nil {
		err = cerr
	}
	t.file, t.fd = nil, -1
	return err
}
