package sampler

import (
	"encoding/binary"
	"fmt"
	"syscall"
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

// Batched requests: several non-dump requests in one buffer, sent with one
// write. The kernel handles every message of a write before the write
// returns, in the writer's context, and answers each request that carries
// neither NLM_F_DUMP nor NLM_F_ACK with exactly one message: the reply, or
// an error. So the replies are all queued on the socket when the write
// returns, and one non-blocking recvmmsg reads them.
const (
	// maxBatch bounds the requests of one write, so that their replies (a
	// few hundred bytes each, about a kilobyte of receive buffer with the
	// kernel's overhead) fit the smallest receive buffer an unprivileged
	// process gets (net.core.rmem_default, 208 KiB on most hosts).
	maxBatch = 64
	// batchSlot is the room for one reply: the largest, a qdisc's with its
	// options and statistics, is well under it. A longer one is reported
	// as truncated, never misparsed.
	batchSlot = 2048
)

// mmsghdr is struct mmsghdr: a msghdr and the length the kernel received.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// batchReader is the reusable state of a batch's recvmmsg, allocated once
// per socket.
type batchReader struct {
	msgs [maxBatch]mmsghdr
	iovs [maxBatch]unix.Iovec
	bufs []byte
}

func newBatchReader() *batchReader {
	b := &batchReader{bufs: make([]byte, maxBatch*batchSlot)}
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i*batchSlot]
		b.iovs[i].SetLen(batchSlot)
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.SetIovlen(1)
	}
	return b
}

// recv reads the datagrams queued on fd, at most maxBatch, without
// waiting. It returns 0 when there are none.
func (b *batchReader) recv(fd int) (int, error) {
	for i := range b.msgs {
		b.msgs[i].hdr.Flags = 0
		b.msgs[i].n = 0
	}
	for {
		// Raw, as the dump socket's calls (see dumpSocket.dump): it never
		// blocks.
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[0])), maxBatch, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		}
		return 0, fmt.Errorf("receive netlink replies: %w", e)
	}
}

// datagram returns the i-th datagram read, or an error if it did not fit
// its slot.
func (b *batchReader) datagram(i int) ([]byte, error) {
	m := &b.msgs[i]
	if m.hdr.Flags&unix.MSG_TRUNC != 0 || int(m.n) > batchSlot {
		return nil, fmt.Errorf("netlink reply of %d bytes truncated to %d", m.n, batchSlot)
	}
	return b.bufs[i*batchSlot : i*batchSlot+int(m.n)], nil
}

// putRequest writes the netlink header of one non-dump request of msgLen
// bytes at the start of msg, with sequence number seq.
func putRequest(msg []byte, msgLen int, msgType, flags uint16, seq uint32) {
	binary.NativeEndian.PutUint32(msg[0:4], uint32(msgLen))
	binary.NativeEndian.PutUint16(msg[4:6], msgType)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(msg[8:12], seq)
	binary.NativeEndian.PutUint32(msg[12:16], 0)
}

// replyFunc receives the reply to request i of a batch: its payload when
// the kernel answered with the wanted type, or the errno it refused the
// request with.
type replyFunc func(i int, payload []byte, errno syscall.Errno) error

// exchange sends the n requests in req (their headers written with
// sequence numbers first, first+1, ...) with one write on fd and hands fn
// each reply of type want, or each error, with the request's position.
// Messages that answer no request of this batch (left over from an
// abandoned one, or notifications on a subscribed socket) go to other,
// which may be nil. It returns how many requests were answered: fewer than
// n only if the kernel answered some with nothing (a request for an object
// that it does not report).
func exchange(fd int, rd *batchReader, req []byte, n int, first uint32, want uint16, fn replyFunc, other func(msgType uint16)) (int, error) {
	if _, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&req[0])), uintptr(len(req))); e != 0 {
		return 0, fmt.Errorf("send netlink requests: %w", e)
	}
	answered := 0
	for answered < n {
		got, err := rd.recv(fd)
		if err != nil {
			return answered, err
		}
		if got == 0 {
			return answered, nil
		}
		for d := range got {
			b, err := rd.datagram(d)
			if err != nil {
				return answered, err
			}
			k, err := walkReplies(b, first, n, want, fn, other)
			answered += k
			if err != nil {
				return answered, err
			}
		}
	}
	return answered, nil
}

// walkReplies parses one datagram of replies to a batch whose sequence
// numbers start at first; see exchange.
func walkReplies(b []byte, first uint32, n int, want uint16, fn replyFunc, other func(uint16)) (answered int, err error) {
	for len(b) >= nlmsgHdrLen {
		msgLen := binary.NativeEndian.Uint32(b[0:4])
		msgType := binary.NativeEndian.Uint16(b[4:6])
		seq := binary.NativeEndian.Uint32(b[8:12])
		if msgLen < nlmsgHdrLen || int(msgLen) > len(b) {
			return answered, fmt.Errorf("malformed netlink message: length %d with %d bytes left", msgLen, len(b))
		}
		payload := b[nlmsgHdrLen:msgLen]
		b = b[min(align4(int(msgLen)), len(b)):]
		i := int(seq - first)
		if seq-first >= uint32(n) || (msgType != want && msgType != nlmsgError) {
			if other != nil {
				other(msgType)
			}
			continue
		}
		var errno syscall.Errno
		if msgType == nlmsgError {
			if len(payload) < 4 {
				return answered, fmt.Errorf("malformed netlink error message")
			}
			if errno = syscall.Errno(-int32(binary.NativeEndian.Uint32(payload[0:4]))); errno == 0 {
				// An acknowledgement, which these requests do not ask
				// for: not the answer.
				continue
			}
			payload = nil
		}
		answered++
		if err := fn(i, payload, errno); err != nil {
			return answered, err
		}
	}
	return answered, nil
}
