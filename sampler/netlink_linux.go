package sampler

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// A dump's datagrams are at most 32 KiB (the kernel caps
	// max_recvmsg_len there), so this buffer is never truncated.
	recvBufLen = 64 << 10
)

// dumpSocket is a long-lived rtnetlink socket for dump requests. It
// preallocates its buffers so a steady-state dump allocates nothing.
type dumpSocket struct {
	fd  int
	seq uint32
	buf []byte
}

func openDumpSocket() (*dumpSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	// A 1,000-interface dump is ~250 KB; a larger receive buffer lets the
	// kernel fill it in fewer round trips.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	// A dump is answered at once; a read that blocks a second means the
	// kernel will not answer, and the tick gives up instead of hanging.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set rtnetlink receive timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind rtnetlink socket: %w", err)
	}
	return &dumpSocket{fd: fd, buf: make([]byte, recvBufLen)}, nil
}

func (s *dumpSocket) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// putHeader writes a dump request's netlink header into req, whose length
// is the whole message's, with the next sequence number.
func (s *dumpSocket) putHeader(req []byte, msgType uint16) {
	s.seq++
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], msgType)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], s.seq)
	binary.NativeEndian.PutUint32(req[12:16], 0)
}

// dump sends req and hands each reply message of type want to fn until the
// kernel says the dump is done. A dump marked interrupted is read to its end
// and then reported as ErrInterrupted.
func (s *dumpSocket) dump(req []byte, want uint16, fn func(payload []byte) error) error {
	seq := binary.NativeEndian.Uint32(req[8:12])
	// Raw syscalls, which the Go scheduler is not told of: the kernel
	// builds a dump inside these calls, for the calling thread, never
	// waiting for another party (the receive timeout bounds a kernel that
	// would not answer), so they behave as the long computations they are.
	// Announced syscalls wake the runtime's monitor thread out of its deep
	// sleep at every sample, and it then polls every 20 us for as long as
	// the dump lasts: measured, that cost 0.2-0.3 % of a core at 10 Hz
	// over 1,000 interfaces, a quarter of the exporter's CPU. The price: the
	// goroutine keeps its P during the call, so a stop-the-world pause of
	// the collector waits for it (about a millisecond per 1,000 devices).
	if _, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(s.fd), uintptr(unsafe.Pointer(&req[0])), uintptr(len(req))); e != 0 {
		return fmt.Errorf("send netlink dump request: %w", e)
	}
	interrupted := false
	for {
		n, err := s.recv()
		if err != nil {
			return err
		}
		done, intr, err := walkMessages(s.buf[:n], seq, want, fn)
		interrupted = interrupted || intr
		if err != nil {
			return err
		}
		if done {
			if interrupted {
				return ErrInterrupted
			}
			return nil
		}
	}
}

func (s *dumpSocket) recv() (int, error) {
	for {
		// recvfrom with MSG_TRUNC returns the datagram's real length, so a
		// truncated read is detected rather than misparsed; the direct
		// syscall avoids the allocation of unix.Recvfrom's source address,
		// and is raw for the reason given in dump.
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(s.fd), uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)), unix.MSG_TRUNC, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return 0, fmt.Errorf("receive netlink dump: %w", e)
		case int(r) > len(s.buf):
			return 0, fmt.Errorf("netlink datagram of %d bytes truncated to %d", r, len(s.buf))
		}
		return int(r), nil
	}
}
