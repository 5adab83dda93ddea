//go:build linux

package prober

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// batchLen is how many messages one recvmmsg call reads.
	batchLen = 32
	// batchBufLen is the room for one message: an echo reply with its IP
	// header, or an ICMP error with its quote (at most 576 bytes for IPv4,
	// 1,280 for IPv6).
	batchBufLen = 2048
	// maxHeaders is what a reply adds to the echo request we sent: an IPv4
	// header with options on raw sockets.
	maxHeaders = 60
	// batchOobLen holds a reply's or an error's control messages.
	batchOobLen = 256
)

// mmsghdr is struct mmsghdr: a msghdr and the length the kernel received.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// msgBatch is the reusable state of recvmmsg: headers, buffers and names
// for batchLen messages, allocated once per socket.
type msgBatch struct {
	msgs  [batchLen]mmsghdr
	iovs  [batchLen]unix.Iovec
	names [batchLen]unix.RawSockaddrInet6
	bufs  []byte
	oobs  []byte
}

func newMsgBatch() *msgBatch {
	b := &msgBatch{bufs: make([]byte, batchLen*batchBufLen), oobs: make([]byte, batchLen*batchOobLen)}
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i*batchBufLen]
		b.iovs[i].SetLen(batchBufLen)
		m := &b.msgs[i].hdr
		m.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		m.Iov = &b.iovs[i]
		m.SetIovlen(1)
		m.Control = &b.oobs[i*batchOobLen]
	}
	return b
}

// recv reads up to batchLen messages with one recvmmsg call.
func (b *msgBatch) recv(fd, flags int) (int, error) {
	for i := range b.msgs {
		m := &b.msgs[i]
		m.hdr.Namelen = unix.SizeofSockaddrInet6
		m.hdr.SetControllen(batchOobLen)
		m.hdr.Flags = 0
		m.n = 0
	}
	// A raw system call, as sendmsg's: with MSG_DONTWAIT it never blocks.
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[0])), batchLen, uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// message returns the i-th message read: its data (truncated to the
// buffer if it was longer), control messages and sender.
func (b *msgBatch) message(i int) (data, oob []byte, from netip.Addr) {
	m := &b.msgs[i]
	n := min(int(m.n), batchBufLen)
	data = b.bufs[i*batchBufLen : i*batchBufLen+n]
	oob = b.oobs[i*batchOobLen : i*batchOobLen+min(int(m.hdr.Controllen), batchOobLen)]
	return data, oob, rawSockaddrAddr(&b.names[i], int(m.hdr.Namelen))
}

// rawSockaddrAddr is the address of a sockaddr_in or sockaddr_in6.
func rawSockaddrAddr(sa *unix.RawSockaddrInet6, n int) netip.Addr {
	raw := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(sa))
	if n < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(raw[:]) {
	case unix.AF_INET:
		if n >= unix.SizeofSockaddrInet4 {
			return netip.AddrFrom4([4]byte(raw[4:8]))
		}
	case unix.AF_INET6:
		if n >= unix.SizeofSockaddrInet6 {
			return netip.AddrFrom16(sa.Addr).Unmap()
		}
	}
	return netip.Addr{}
}
