//go:build linux

package prober

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tsFlags asks for the transmit stamp taken when the packet enters the
// packet scheduler (TX_SCHED), reported through the error queue without the
// packet (TSONLY), keyed by the id we give each packet (OPT_ID with
// SCM_TS_OPT_ID). Not the driver's stamp (TX_SOFTWARE): that one is taken
// after the qdiscs, so a probe queued behind a full local queue (a
// saturated bond slave, the seed's very case) would look fast.
const tsFlags = unix.SOF_TIMESTAMPING_TX_SCHED | unix.SOF_TIMESTAMPING_SOFTWARE |
	unix.SOF_TIMESTAMPING_OPT_ID | unix.SOF_TIMESTAMPING_OPT_TSONLY

// linuxConn is one ICMP socket (datagram or raw) of one family.
type linuxConn struct {
	fd     int
	stopFD int // eventfd that wakes the reader to stop
	v6     bool
	raw    bool
	dev    string
	// ifindex is the index of the device dev named when the socket was
	// bound to it; ifr is link's reused ioctl argument (sender only).
	ifindex int
	ifr     *unix.Ifreq
	id      uint16
	tx, rx  bool
	// keyCmsg: the kernel accepts SCM_TS_OPT_ID (Linux >= 6.13). Without
	// it transmit stamps cannot be tied to a probe and are not used.
	keyCmsg atomic.Bool

	sendMu sync.Mutex
	oob    []byte
	// rbuf, roob and batch are drain's buffers (sender goroutine only).
	rbuf, roob []byte
	batch      *msgBatch
	// warm says the kernel stamps replies when they arrive; handedOver
	// that the reader has stopped and the sender drains the socket.
	warm, handedOver atomic.Bool
	// maxSent is the largest echo request sent, which bounds the replies.
	maxSent atomic.Int32
	// dst, iov and msg are sendmsg's reused arguments (under sendMu).
	dst unix.RawSockaddrInet6
	iov unix.Iovec
	msg unix.Msghdr

	done chan struct{}
	// life guards started and closed: close waits for a started reader.
	life            sync.Mutex
	started, closed bool
}

// openConn opens an ICMP socket: a datagram ("ping") socket when mode is
// datagram, or auto and net.ipv4.ping_group_range admits our group; a raw
// socket otherwise.
func openConn(v6 bool, mode Mode, dev string, rawID uint16) (conn, error) {
	fam, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		fam, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	c := &linuxConn{v6: v6, dev: dev, fd: -1, stopFD: -1, done: make(chan struct{})}
	var err error
	if mode != ModeRaw {
		c.fd, err = unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if err != nil && mode == ModeDatagram {
			return nil, fmt.Errorf("ICMP datagram socket (is our group in net.ipv4.ping_group_range?): %w", err)
		}
	}
	if mode == ModeRaw || err != nil {
		c.fd, err = unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return nil, fmt.Errorf("raw ICMP socket (needs CAP_NET_RAW, or a group in net.ipv4.ping_group_range for datagram sockets): %w", err)
		}
		c.raw, c.id = true, rawID
	}
	if err := c.setup(); err != nil {
		unix.Close(c.fd)
		return nil, err
	}
	c.stopFD, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(c.fd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	c.keyCmsg.Store(true)
	c.oob = make([]byte, 0, 256)
	return c, nil
}

func (c *linuxConn) setup() error {
	fd := c.fd
	if c.dev != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, c.dev); err != nil {
			return fmt.Errorf("bind ICMP socket to device %q: %w", c.dev, err)
		}
		// The kernel binds to the device's index, not its name: remember
		// which, so that link can tell a re-created device of that name.
		if ifr, err := unix.NewIfreq(c.dev); err == nil {
			c.ifr = ifr
			if idx, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX); err == nil {
				c.ifindex = idx
			} else if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err == nil {
				c.ifindex = int(ifr.Uint32()) // kernels before 5.0: by name, just after binding
			} else {
				c.ifr = nil // cannot tell: link says linkOK
			}
		}
	}
	if c.raw {
		if err := c.setFilter(); err != nil {
			return err
		}
	} else {
		// The kernel uses the bound port as echo id: bind to learn it.
		var sa unix.Sockaddr = &unix.SockaddrInet4{}
		if c.v6 {
			sa = &unix.SockaddrInet6{}
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fmt.Errorf("bind ICMP datagram socket: %w", err)
		}
		got, err := unix.Getsockname(fd)
		if err != nil {
			return fmt.Errorf("getsockname: %w", err)
		}
		switch a := got.(type) {
		case *unix.SockaddrInet4:
			c.id = uint16(a.Port)
		case *unix.SockaddrInet6:
			c.id = uint16(a.Port)
		}
		// ICMP errors reach datagram sockets only through the error queue.
		lvl, opt := unix.IPPROTO_IP, unix.IP_RECVERR
		if c.v6 {
			lvl, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
		}
		if err := unix.SetsockoptInt(fd, lvl, opt, 1); err != nil {
			return fmt.Errorf("IP_RECVERR: %w", err)
		}
	}
	if c.v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
			return fmt.Errorf("IPV6_RECVHOPLIMIT: %w", err)
		}
	} else if !c.raw {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1); err != nil {
			return fmt.Errorf("IP_RECVTTL: %w", err)
		}
	}
	// Timestamps are best effort: without them the prober falls back to
	// userspace time and says so.
	c.rx = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) == nil
	c.tx = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tsFlags) == nil
	// A large receive buffer holds the stamps and replies of many targets
	// between two drains; beyond net.core.rmem_max only with CAP_NET_ADMIN.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	return nil
}

// setFilter makes a raw socket accept only echo replies and the errors
// that can quote an echo request.
func (c *linuxConn) setFilter() error {
	if c.v6 {
		// ICMP6_FILTER: a set bit blocks the type.
		var f [8]uint32
		for i := range f {
			f[i] = 0xffffffff
		}
		for _, t := range []int{icmp6EchoReply, icmp6DestUnreach, icmp6PacketTooBig, icmp6TimeExceeded, icmp6ParamProblem} {
			f[t>>5] &^= 1 << (uint(t) & 31)
		}
		b := (*[32]byte)(unsafe.Pointer(&f))[:]
		if err := unix.SetsockoptString(c.fd, unix.IPPROTO_ICMPV6, unix.ICMPV6_FILTER, string(b)); err != nil {
			return fmt.Errorf("ICMPV6_FILTER: %w", err)
		}
		return nil
	}
	mask := ^uint32(1<<icmp4EchoReply | 1<<icmp4DestUnreach | 1<<icmp4SourceQuench | 1<<icmp4TimeExceeded | 1<<icmp4ParamProblem)
	if err := unix.SetsockoptInt(c.fd, unix.SOL_RAW, unix.ICMP_FILTER, int(int32(mask))); err != nil {
		return fmt.Errorf("ICMP_FILTER: %w", err)
	}
	return nil
}

func (c *linuxConn) info() SocketInfo {
	m := ModeDatagram
	if c.raw {
		m = ModeRaw
	}
	return SocketInfo{IPv6: c.v6, Mode: m, Interface: c.dev, EchoID: c.id, TxStamps: c.tx && c.keyCmsg.Load(), RxStamps: c.rx, Batched: c.handedOver.Load()}
}

func (c *linuxConn) ipHeader() bool { return c.raw && !c.v6 }

// link asks the kernel which index the bound device's name has now (an
// ioctl on the socket itself, so in the socket's network namespace
// whichever thread asks) and, withUp, whether that device is up. Only the
// sender calls it: it reuses c.ifr.
func (c *linuxConn) link(withUp bool) linkStatus {
	if c.ifr == nil {
		return linkOK
	}
	if err := unix.IoctlIfreq(c.fd, unix.SIOCGIFINDEX, c.ifr); err != nil {
		if err == unix.ENODEV {
			return linkGone
		}
		return linkOK
	}
	if int(c.ifr.Uint32()) != c.ifindex {
		return linkGone
	}
	if withUp && unix.IoctlIfreq(c.fd, unix.SIOCGIFFLAGS, c.ifr) == nil && c.ifr.Uint16()&unix.IFF_UP == 0 {
		return linkDown
	}
	return linkOK
}

func appendCmsg(b []byte, level, typ int, data []byte) []byte {
	n := len(b)
	sp := unix.CmsgSpace(len(data))
	b = append(b, make([]byte, sp)...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[n]))
	h.Level, h.Type = int32(level), int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[n+unix.CmsgLen(0):], data)
	return b
}

func appendCmsgInt(b []byte, level, typ, v int) []byte {
	var d [4]byte
	binary.NativeEndian.PutUint32(d[:], uint32(v))
	return appendCmsg(b, level, typ, d[:])
}

// send sends one echo request with the target's per-packet options as
// control messages: source address (PKTINFO), TOS or traffic class,
// TTL or hop limit, and the transmit timestamp key.
func (c *linuxConn) send(b []byte, dst netip.Addr, o *sendOptions) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if int32(len(b)) > c.maxSent.Load() {
		c.maxSent.Store(int32(len(b)))
	}
	oob := c.oob[:0]
	if c.v6 {
		if o.src.IsValid() || o.zone != 0 {
			var pi unix.Inet6Pktinfo
			if o.src.IsValid() {
				pi.Addr = o.src.As16()
			}
			pi.Ifindex = uint32(o.zone)
			oob = appendCmsg(oob, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, (*[unix.SizeofInet6Pktinfo]byte)(unsafe.Pointer(&pi))[:])
		}
		if o.tos != 0 {
			oob = appendCmsgInt(oob, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, o.tos)
		}
		if o.ttl != 0 {
			oob = appendCmsgInt(oob, unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, o.ttl)
		}
	} else {
		if o.src.IsValid() {
			var pi unix.Inet4Pktinfo
			pi.Spec_dst = o.src.As4()
			oob = appendCmsg(oob, unix.IPPROTO_IP, unix.IP_PKTINFO, (*[unix.SizeofInet4Pktinfo]byte)(unsafe.Pointer(&pi))[:])
		}
		if o.tos != 0 {
			// IP_TOS as a control message is one byte.
			oob = appendCmsg(oob, unix.IPPROTO_IP, unix.IP_TOS, []byte{byte(o.tos)})
		}
		if o.ttl != 0 {
			oob = appendCmsgInt(oob, unix.IPPROTO_IP, unix.IP_TTL, o.ttl)
		}
	}
	base := len(oob)
	if c.tx && c.keyCmsg.Load() {
		oob = appendCmsgInt(oob, unix.SOL_SOCKET, unix.SCM_TS_OPT_ID, int(o.key))
	}
	c.setDest(dst, o.zone)
	err := c.sendmsg(b, oob)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.ENOBUFS) {
		// An ICMP error about another target sets the shared socket's
		// pending error, which the next sendmsg returns once without
		// sending. Try again: a genuine failure fails twice.
		err = c.sendmsg(b, oob)
	}
	if errors.Is(err, unix.EINVAL) && len(oob) > base {
		// A kernel older than 6.13 refuses SCM_TS_OPT_ID: send without
		// it and use userspace send times from now on.
		c.keyCmsg.Store(false)
		err = c.sendmsg(b, oob[:base])
	}
	c.oob = oob[:0]
	if err != nil {
		return &sendError{dst: dst, err: err}
	}
	return nil
}

// batched reports whether the socket is read in batches by the sender
// (drain) rather than by a reader that wakes for every packet: with kernel
// receive stamps, when a reply is read does not change its RTT. Not at
// first, though: the kernel turns arrival stamps on (the netstamp static
// key) asynchronously when the first socket in the system asks for them,
// and until then stamps a packet when it is read, which would make a
// reply read in a drain look up to drainEvery late. So the socket's own
// reader serves it until a reply proves arrival stamping on (its stamp is
// older than the read that returned it), then hands over; drain does
// nothing until then.
func (c *linuxConn) batched() bool { return c.rx }

// drain reads everything queued on the socket, error queue first, without
// blocking, a batch of messages per system call. Only the sender calls it,
// so its buffers are the conn's own.
func (c *linuxConn) drain(h handler) {
	if !c.handedOver.Load() {
		return // the reader still serves the socket
	}
	// The scheduler's transmit stamp is queued inside sendmsg, and the
	// sender that calls drain is the only one that sends: every stamp of
	// a probe sent so far is in the error queue now (but for a packet
	// that waited for address resolution, whose stamp and reply come
	// later, almost surely not within one drain; if they do, that reply
	// falls back to the userspace send time). One pass over each queue
	// (not the interleaved reading of readQueued) therefore still gives
	// each reply its stamp first.
	if int(c.maxSent.Load())+maxHeaders > batchBufLen {
		// Replies too big for the batch buffers: one message per call.
		if c.rbuf == nil {
			c.rbuf, c.roob = make([]byte, 65536), make([]byte, 512)
		}
		c.drainErrQueue(h, c.rbuf, c.roob)
		c.readData(h, c.rbuf, c.roob, false)
		return
	}
	if c.batch == nil {
		c.batch = newMsgBatch()
	}
	c.drainBatched(h, unix.MSG_ERRQUEUE)
	c.drainBatched(h, 0)
}

// drainBatched reads one queue (flags: MSG_ERRQUEUE or 0) until it is
// empty with recvmmsg.
func (c *linuxConn) drainBatched(h handler, flags int) {
	b := c.batch
	errs := 0
	for {
		n, err := b.recv(c.fd, flags|unix.MSG_DONTWAIT)
		if err != nil {
			if readPast(err, &errs) {
				continue
			}
			return
		}
		errs = 0
		for i := range n {
			data, oob, from := b.message(i)
			if flags&unix.MSG_ERRQUEUE != 0 {
				c.onErrQueueMessage(h, data, oob, from)
				continue
			}
			rx, rxKernel, ttl := parseRxCmsgs(oob)
			if !rxKernel {
				rx = time.Now().UnixNano()
			}
			h.onMessage(c, from, data, rx, rxKernel, ttl)
		}
		if n < batchLen {
			return // the queue is empty: spare the call that says so
		}
	}
}

// readPast reports whether a read that failed with err should be retried:
// not when the queue is empty (or a signal came), but past a pending
// socket error (an ICMP error's errno, returned once ahead of the data),
// at most 16 in a row, counted in errs.
func readPast(err error, errs *int) bool {
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return false
	}
	*errs++
	return *errs <= 16
}

// setDest fills the reused destination address.
func (c *linuxConn) setDest(dst netip.Addr, zone int) {
	c.dst = unix.RawSockaddrInet6{}
	if c.v6 {
		c.dst.Family = unix.AF_INET6
		c.dst.Addr = dst.As16()
		c.dst.Scope_id = uint32(zone)
		return
	}
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&c.dst))
	sa.Family = unix.AF_INET
	sa.Addr = dst.As4()
}

// sendmsg sends b with its control messages to c.dst. It is a raw system
// call: the socket never blocks, and a call that spends tens of
// microseconds in the kernel (on a veth path the whole round trip runs
// inside it) would otherwise make the Go runtime hand the thread's P to
// another thread, a futex wake-up and a context switch per probe.
func (c *linuxConn) sendmsg(b, oob []byte) error {
	c.iov.Base = &b[0]
	c.iov.SetLen(len(b))
	c.msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&c.dst)), Iov: &c.iov}
	c.msg.Namelen = unix.SizeofSockaddrInet4
	if c.v6 {
		c.msg.Namelen = unix.SizeofSockaddrInet6
	}
	c.msg.SetIovlen(1)
	if len(oob) > 0 {
		c.msg.Control = &oob[0]
		c.msg.SetControllen(len(oob))
	}
	_, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&c.msg)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// run reads replies and error-queue messages until close; it serves
// sockets without kernel receive stamps, whose replies must be read as
// they arrive. It polls the socket itself rather than through Go's
// netpoller: the netpoller reports an error-queue-only wakeup (EPOLLERR)
// as an error, which would turn a pending transmit stamp into a busy loop.
func (c *linuxConn) run(h handler) {
	c.life.Lock()
	if c.closed {
		c.life.Unlock()
		return
	}
	c.started = true
	c.life.Unlock()
	defer close(c.done)
	buf := make([]byte, 65536)
	oob := make([]byte, 512)
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}, {Fd: int32(c.stopFD), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		c.readQueued(h, buf, oob)
		if c.warm.Load() {
			c.handedOver.Store(true) // the sender's drains take over
			return
		}
	}
}

// readQueued reads the error queue and the receive queue until both are
// empty, the error queue before each packet: a probe's transmit stamp may
// be queued by another goroutine's send while this one reads.
func (c *linuxConn) readQueued(h handler, buf, oob []byte) {
	c.readData(h, buf, oob, true)
}

// readData reads the receive queue until it is empty; with errQueueFirst
// it drains the error queue before each read.
func (c *linuxConn) readData(h handler, buf, oob []byte, errQueueFirst bool) {
	errs := 0
	for {
		if errQueueFirst {
			c.drainErrQueue(h, buf, oob)
		}
		readAt := time.Now().UnixNano()
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_DONTWAIT)
		if err != nil {
			if readPast(err, &errs) {
				continue
			}
			return
		}
		errs = 0
		rx, rxKernel, ttl := parseRxCmsgs(oob[:oobn])
		if !rxKernel {
			rx = time.Now().UnixNano()
		} else if rx < readAt && !c.warm.Load() {
			// Stamped before we asked: the kernel stamps on arrival.
			c.warm.Store(true)
		}
		h.onMessage(c, sockaddrAddr(from), buf[:n], rx, rxKernel, ttl)
	}
}

func (c *linuxConn) drainErrQueue(h handler, buf, oob []byte) {
	for {
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			return
		}
		c.onErrQueueMessage(h, buf[:n], oob[:oobn], sockaddrAddr(from))
	}
}

// onErrQueueMessage handles one error-queue message: a transmit stamp or
// an ICMP error about one of our probes (datagram sockets).
func (c *linuxConn) onErrQueueMessage(h handler, data, oob []byte, from netip.Addr) {
	var ee unix.SockExtendedErr
	var haveErr bool
	var offender netip.Addr
	var stamp int64
	it := cmsgIter{oob}
	for {
		level, typ, d, ok := it.next()
		if !ok {
			break
		}
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPING && len(d) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(&d[0]))
			stamp = ts.Nano()
		case (level == unix.IPPROTO_IP && typ == unix.IP_RECVERR ||
			level == unix.IPPROTO_IPV6 && typ == unix.IPV6_RECVERR) &&
			len(d) >= int(unsafe.Sizeof(unix.SockExtendedErr{})):
			ee, haveErr = *(*unix.SockExtendedErr)(unsafe.Pointer(&d[0])), true
			offender = offenderAddr(d[unsafe.Sizeof(ee):])
		}
	}
	if !haveErr {
		return
	}
	switch ee.Origin {
	case unix.SO_EE_ORIGIN_TIMESTAMPING:
		if stamp != 0 && c.keyCmsg.Load() {
			h.onTxStamp(c, ee.Data, stamp)
		}
	case unix.SO_EE_ORIGIN_ICMP, unix.SO_EE_ORIGIN_ICMP6:
		h.onQueuedError(c, from, offender, ee.Type, ee.Code, data)
	}
}

// parseRxCmsgs extracts the kernel receive stamp and the TTL or hop limit.
func parseRxCmsgs(oob []byte) (rx int64, kernel bool, ttl int) {
	ttl = -1
	it := cmsgIter{oob}
	for {
		level, typ, d, ok := it.next()
		if !ok {
			return rx, kernel, ttl
		}
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && len(d) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(&d[0]))
			rx, kernel = ts.Nano(), true
		case level == unix.IPPROTO_IP && typ == unix.IP_TTL && len(d) >= 1:
			ttl = int(d[0])
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(d) >= 4:
			ttl = int(int32(binary.NativeEndian.Uint32(d)))
		}
	}
}

// cmsgIter walks a control-message buffer without allocating, unlike
// unix.ParseSocketControlMessage.
type cmsgIter struct{ b []byte }

// next returns the next control message; ok is false at the end or at a
// malformed header.
func (it *cmsgIter) next() (level, typ int32, data []byte, ok bool) {
	if len(it.b) < unix.SizeofCmsghdr {
		return 0, 0, nil, false
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&it.b[0]))
	l := int(h.Len)
	hl := unix.CmsgLen(0)
	if l < hl || l > len(it.b) {
		it.b = nil
		return 0, 0, nil, false
	}
	data = it.b[hl:l]
	if sp := unix.CmsgSpace(l - hl); sp < len(it.b) {
		it.b = it.b[sp:]
	} else {
		it.b = nil
	}
	return h.Level, h.Type, data, true
}

// offenderAddr parses SO_EE_OFFENDER, the sockaddr that follows a
// sock_extended_err: the host that sent the ICMP error.
func offenderAddr(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		}
	}
	return netip.Addr{}
}

func sockaddrAddr(sa unix.Sockaddr) netip.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap()
	}
	return netip.Addr{}
}

// close stops the reader and closes the socket.
func (c *linuxConn) close() error {
	c.life.Lock()
	if c.closed {
		c.life.Unlock()
		return nil
	}
	c.closed = true
	started := c.started
	c.life.Unlock()
	var err error
	if started {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		if _, werr := unix.Write(c.stopFD, one[:]); werr != nil {
			err = fmt.Errorf("wake ICMP reader: %w", werr)
		}
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			err = errors.Join(err, errors.New("ICMP reader did not stop"))
		}
	}
	return errors.Join(err, os.NewSyscallError("close", unix.Close(c.fd)), os.NewSyscallError("close", unix.Close(c.stopFD)))
}
