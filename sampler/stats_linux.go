package sampler

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// netlinkStats reads all interfaces' 64-bit counters with one RTM_GETSTATS
// dump filtered to IFLA_STATS_LINK_64, on a socket kept open for the
// sampler's life: the cheapest way the kernel offers.
type netlinkStats struct {
	sock *dumpSocket
	req  [nlmsgHdrLen + ifStatsHdrLen]byte
	dst  []Stat
	fn   func([]byte) error
}

// NewNetlinkStats opens a stats source in the calling thread's network
// namespace. It returns an error wrapping ErrUnsupported when the kernel
// refuses RTM_GETSTATS, so that the caller can fall back to /proc/net/dev.
func NewNetlinkStats() (StatsSource, error) {
	sock, err := openDumpSocket()
	if err != nil {
		return nil, err
	}
	n := &netlinkStats{sock: sock}
	// struct if_stats_msg: family, pad, pad, ifindex 0 (all), filter_mask.
	binary.NativeEndian.PutUint32(n.req[nlmsgHdrLen+8:], 1<<(iflaStatsLink64-1))
	n.fn = n.add
	if _, err := n.Read(nil); err != nil {
		sock.Close()
		return nil, fmt.Errorf("probe RTM_GETSTATS: %w", err)
	}
	return n, nil
}

func (n *netlinkStats) add(payload []byte) error {
	s, ok, err := parseStatsMessage(payload)
	if err != nil {
		return err
	}
	if ok {
		n.dst = append(n.dst, s)
	}
	return nil
}

func (n *netlinkStats) Read(dst []Stat) ([]Stat, error) {
	n.sock.putHeader(n.req[:], unix.RTM_GETSTATS)
	n.dst = dst[:0]
	err := n.sock.dump(n.req[:], unix.RTM_NEWSTATS, n.fn)
	dst, n.dst = n.dst, nil
	return dst, err
}

func (n *netlinkStats) Name() string { return "netlink" }

func (n *netlinkStats) Close() error { return n.sock.Close() }

// netlinkQdiscs reads every qdisc with one RTM_GETQDISC dump, but only when
// the reading could differ from the previous one. The kernel walks every
// device of the namespace for that dump, under the RTNL lock, whether or
// not it has a qdisc worth reading: with 1,000 idle veths that walk costs
// about as much as the counters' dump. A noqueue qdisc (the default of
// veth, bridge, loopback, tun and other virtual devices) and a device that
// is down (no qdisc) have no queue and counters that never move, so while
// the previous dump found nothing else, and no qdisc or link changed since
// (the RTNLGRP_TC and RTNLGRP_LINK notifications, read without blocking at
// each tick), the reading is the same and the dump is skipped.
type netlinkQdiscs struct {
	sock   *dumpSocket
	events int // notification socket, non-blocking; -1 if unavailable
	evbuf  []byte
	req    [nlmsgHdrLen + tcMsgHdrLen]byte
	kinds  kindTable
	dst    []QdiscStat
	fn     func([]byte) error
	// stale says the next Read must dump: at start, after a notification,
	// a failed dump, or a dump that found a qdisc whose counters move.
	stale  bool
	moving bool
}

// NewNetlinkQdiscs opens a qdisc source in the calling thread's namespace.
func NewNetlinkQdiscs() (QdiscSource, error) {
	sock, err := openDumpSocket()
	if err != nil {
		return nil, err
	}
	q := &netlinkQdiscs{sock: sock, kinds: kindTable{}, stale: true, evbuf: make([]byte, 8<<10)}
	q.fn = q.add
	// Subscribed before the first dump, so no change after it is missed.
	// Without the subscription every Read dumps.
	q.events, err = openNotifySocket(unix.RTMGRP_TC | unix.RTMGRP_LINK)
	if err != nil {
		q.events = -1
	}
	return q, nil
}

// openNotifySocket opens a non-blocking rtnetlink socket subscribed to
// groups.
func openNotifySocket(groups uint32) (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("open rtnetlink notification socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("subscribe to rtnetlink groups %#x: %w", groups, err)
	}
	return fd, nil
}

// notified drains the notification socket and reports whether anything
// came, or was lost (ENOBUFS: the kernel dropped notifications), since the
// previous call.
func (q *netlinkQdiscs) notified() bool {
	if q.events < 0 {
		return true
	}
	any := false
	for {
		// Raw, as the dump socket's calls (see dumpSocket.dump): it never
		// blocks.
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(q.events), uintptr(unsafe.Pointer(&q.evbuf[0])), uintptr(len(q.evbuf)), unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		switch {
		case e == unix.EAGAIN:
			return any
		case e == unix.EINTR:
			continue
		case e != 0:
			// ENOBUFS or worse: changes may have been missed.
			return true
		case r > 0:
			any = true
		default:
			return any
		}
	}
}

func (q *netlinkQdiscs) add(payload []byte) error {
	s, err := parseQdiscMessage(payload, q.kinds)
	if err != nil {
		return err
	}
	if s.Kind != "noqueue" {
		q.moving = true
	}
	q.dst = append(q.dst, s)
	return nil
}

// Read dumps every qdisc into dst, or returns ErrUnchanged (and dst as
// given) when the dump would repeat the previous one.
func (q *netlinkQdiscs) Read(dst []QdiscStat) ([]QdiscStat, error) {
	if q.notified() {
		q.stale = true
	}
	if !q.stale {
		return dst, ErrUnchanged
	}
	dst, err := q.dump(dst)
	// A dump that found only noqueue qdiscs (or none) repeats itself until
	// a notification says otherwise.
	q.stale = err != nil || q.moving
	return dst, err
}

// dump reads every qdisc of the namespace with one RTM_GETQDISC dump.
func (q *netlinkQdiscs) dump(dst []QdiscStat) ([]QdiscStat, error) {
	q.sock.putHeader(q.req[:], unix.RTM_GETQDISC)
	q.dst, q.moving = dst[:0], false
	err := q.sock.dump(q.req[:], unix.RTM_NEWQDISC, q.fn)
	dst, q.dst = q.dst, nil
	return dst, err
}

func (q *netlinkQdiscs) Close() error {
	if q.events >= 0 {
		unix.Close(q.events)
		q.events = -1
	}
	return q.sock.Close()
}
