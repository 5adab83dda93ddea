package sampler

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkEventBuffer is the event socket's receive buffer. A burst of link
// changes (a hypervisor starting or stopping VMs, each with a few devices)
// queues a kilobyte or so per event; 4 MiB holds thousands. An unprivileged
// process gets at most net.core.rmem_max: the kernel then drops what does
// not fit (ENOBUFS), which readEvents turns into a re-read of the table.
const linkEventBuffer = 4 << 20

// errEventsClosed ends the reader: the socket was closed.
var errEventsClosed = errors.New("link event socket closed")

// linkEventSocket is an rtnetlink socket joined to RTNLGRP_LINK, read in
// Go's network poller so that Close ends a pending read.
type linkEventSocket struct {
	file *os.File
	rc   syscall.RawConn
	buf  []byte

	closeOnce sync.Once
	closed    atomic.Bool
}

// openLinkEvents subscribes to the link notifications of the calling
// thread's network namespace. Joining RTNLGRP_LINK needs no privilege.
func openLinkEvents() (*linkEventSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("subscribe to link events: open rtnetlink socket: %w", err)
	}
	// SO_RCVBUFFORCE passes rmem_max but needs CAP_NET_ADMIN; without it
	// the plain option takes what the host allows.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, linkEventBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, linkEventBuffer)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (unix.RTNLGRP_LINK - 1)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribe to link events: bind rtnetlink socket to RTNLGRP_LINK: %w", err)
	}
	s := &linkEventSocket{file: os.NewFile(uintptr(fd), "rtnetlink link events"), buf: make([]byte, 64<<10)}
	if s.rc, err = s.file.SyscallConn(); err != nil {
		s.file.Close()
		return nil, fmt.Errorf("subscribe to link events: %w", err)
	}
	return s, nil
}

// read waits for one datagram of notifications and hands each link in it,
// with its message body, to apply. It returns unix.ENOBUFS when the kernel dropped notifications,
// errEventsClosed after close.
func (s *linkEventSocket) read(apply func(msgType uint16, link netlink.Link, raw []byte)) error {
	var n int
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), s.buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	if err != nil {
		// A RawConn reports its closed file as internal/poll's error,
		// not os.ErrClosed: close says so first.
		if s.closed.Load() || errors.Is(err, os.ErrClosed) {
			return errEventsClosed
		}
		return fmt.Errorf("receive link events: %w", err)
	}
	if rerr != nil {
		if rerr == unix.ENOBUFS {
			return unix.ENOBUFS
		}
		return fmt.Errorf("receive link events: %w", rerr)
	}
	if n > len(s.buf) {
		return fmt.Errorf("link event datagram of %d bytes truncated to %d", n, len(s.buf))
	}
	msgs, err := syscall.ParseNetlinkMessage(s.buf[:n])
	if err != nil {
		return fmt.Errorf("parse link events: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK && m.Header.Type != unix.RTM_DELLINK {
			continue
		}
		// A bridge also reports its ports' state as RTM_NEWLINK and
		// RTM_DELLINK of family AF_BRIDGE (no link kind, and a "delete"
		// that only means the port left the bridge): not the device's.
		if len(m.Data) < unix.SizeofIfInfomsg || m.Data[0] == unix.AF_BRIDGE {
			continue
		}
		hdr := unix.NlMsghdr(m.Header)
		link, err := netlink.LinkDeserialize(&hdr, m.Data)
		if err != nil {
			continue // a link the library cannot read: the next relist has it
		}
		apply(m.Header.Type, link, m.Data)
	}
	return nil
}

func (s *linkEventSocket) close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.file.Close()
	})
}
