package sampler

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// netlinkStats reads all interfaces' 64-bit counters with one RTM_GETSTATS
// dump filtered to IFLA_STATS_LINK_64, on a socket kept open for the
// sampler's life: the cheapest way the kernel offers to read them all. It
// reads chosen interfaces (ReadIndexes) with one RTM_GETSTATS request per
// interface, the ifindex in if_stats_msg, batched in one write.
type netlinkStats struct {
	sock *dumpSocket
	req  [nlmsgHdrLen + ifStatsHdrLen]byte
	dst  []Stat
	fn   func([]byte) error

	batch   [maxBatch * statsReqLen]byte
	rd      *batchReader
	replyFn replyFunc
}

// statsReqLen is one RTM_GETSTATS request: a header and if_stats_msg.
const statsReqLen = nlmsgHdrLen + ifStatsHdrLen

// statsFilter is if_stats_msg's filter_mask: the 64-bit link counters.
const statsFilter = 1 << (iflaStatsLink64 - 1)

// NewNetlinkStats opens a stats source in the calling thread's network
// namespace. It returns an error wrapping ErrUnsupported when the kernel
// refuses RTM_GETSTATS, so that the caller can fall back to /proc/net/dev.
func NewNetlinkStats() (StatsSource, error) {
	sock, err := openDumpSocket()
	if err != nil {
		return nil, err
	}
	n := &netlinkStats{sock: sock, rd: newBatchReader()}
	// struct if_stats_msg: family, pad, pad, ifindex 0 (all), filter_mask.
	binary.NativeEndian.PutUint32(n.req[nlmsgHdrLen+8:], statsFilter)
	n.fn = n.add
	n.replyFn = n.addReply
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

// ReadIndexes implements IndexStatsSource: one RTM_GETSTATS request per
// interface, up to maxBatch in one write, so the kernel touches only those
// interfaces (a dump walks all of them).
func (n *netlinkStats) ReadIndexes(dst []Stat, indexes []int32) ([]Stat, error) {
	n.dst = dst[:0]
	defer func() { n.dst = nil }()
	for len(indexes) > 0 {
		chunk := indexes[:min(len(indexes), maxBatch)]
		indexes = indexes[len(chunk):]
		req := n.batch[:len(chunk)*statsReqLen]
		first := n.sock.seq + 1
		for i, ix := range chunk {
			m := req[i*statsReqLen : (i+1)*statsReqLen]
			n.sock.seq++
			putRequest(m, statsReqLen, unix.RTM_GETSTATS, 0, n.sock.seq)
			// struct if_stats_msg: family, pad, pad, ifindex, filter_mask.
			clear(m[nlmsgHdrLen : nlmsgHdrLen+4])
			binary.NativeEndian.PutUint32(m[nlmsgHdrLen+4:], uint32(ix))
			binary.NativeEndian.PutUint32(m[nlmsgHdrLen+8:], statsFilter)
		}
		answered, err := exchange(n.sock.fd, n.rd, req, len(chunk), first, unix.RTM_NEWSTATS, n.replyFn, nil)
		if err == nil && answered != len(chunk) {
			// The kernel answers every stats request: replies went
			// missing, so a device left out would be taken for gone.
			err = fmt.Errorf("%d of %d RTM_GETSTATS requests answered", answered, len(chunk))
		}
		if err != nil {
			return n.dst, err
		}
	}
	return n.dst, nil
}

func (n *netlinkStats) addReply(_ int, payload []byte, errno syscall.Errno) error {
	switch errno {
	case 0:
		return n.add(payload)
	case unix.ENODEV:
		return nil // the interface is gone: left out
	}
	return fmt.Errorf("RTM_GETSTATS request: %w", errno)
}

func (n *netlinkStats) Name() string { return "netlink" }

func (n *netlinkStats) Close() error { return n.sock.Close() }

// netlinkQdiscs reads qdisc statistics in one of two ways.
//
// Read (every device) dumps with RTM_GETQDISC, but only when the reading
// could differ from the previous one. The kernel walks every device of the
// namespace for that dump, under the RTNL lock, whether or not it has a
// qdisc worth reading: with 1,000 idle veths that walk costs about as much
// as the counters' dump. A noqueue qdisc (the default of veth, bridge,
// loopback, tun and other virtual devices) and a device that is down (no
// qdisc) have no queue and counters that never move, so while the previous
// dump found nothing else, and no qdisc or link changed since (the
// RTNLGRP_TC and RTNLGRP_LINK notifications, read without blocking at each
// tick), the reading is the same and the dump is skipped.
//
// ReadDevices (chosen devices) keeps the structure of the latest dump, which
// qdiscs each device has, for as long as no notification says it changed,
// and reads only the qdiscs other than noqueue of the devices asked for,
// each with its own RTM_GETQDISC request (ifindex, parent and handle)
// batched in one write: a host whose NICs have mq with a child per queue
// pays for those qdiscs, not for a walk of every vif. The kernel ignores the
// ifindex of a qdisc dump (strict checking or not, measured on 6.18), so a
// per-device dump would walk everything all the same. It answers a qdisc
// request only with NLM_F_ECHO, and by a multicast to RTNLGRP_TC that
// leaves out the requesting socket: so the requests go out on the
// notification socket itself, which then sees its replies once and nobody
// else's multicast of them.
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

	// ReadDevices' state: the latest dump's qdiscs (known), grouped by
	// device (spans), valid while structOK; the requests of the batch in
	// flight and the position in known of each.
	known    []QdiscStat
	spans    map[int32]qdiscSpan
	getSpans []int32 // the devices with qdiscs to request
	allGets  int     // the requests of every device
	structOK bool
	rd       *batchReader
	getReq   [maxBatch * qdiscReqLen]byte
	getPos   [maxBatch]int
	n        int         // requests queued in getReq
	mqPrev   []QdiscStat // mq roots' previous readings, by position in known
	evSeq    uint32
	changed  bool
	replyFn  replyFunc
	otherFn  func(uint16)
	// gen counts renewals of the structure; seenAll and seenSome are the
	// generation (plus one) that the latest reading of every device and
	// of chosen devices returned, for ErrUnchanged.
	gen, seenAll, seenSome uint64
	someIdx                []int32 // the chosen devices of seenSome
	// Requests sent and dumps made, for tests.
	nGets, nDumps uint64
}

// qdiscSpan is where one device's qdiscs sit in known, and how many of them
// are read by requests at first (those other than noqueue, but only the
// root of an mq whose other qdiscs are all its queues' own). mq is the root
// of every multi-queue NIC, with a child per queue (8 to 64 of them), and
// its statistics are the sum of its children's (mq_dump adds them up):
// while the root shows an empty queue and unchanged counters, so does
// every child, and the children need no request.
type qdiscSpan struct {
	first, n, gets int
	mq             int // position of such an mq root in known, -1 if none
}

// qdiscReqLen is one RTM_GETQDISC request: a header and struct tcmsg.
const qdiscReqLen = nlmsgHdrLen + tcMsgHdrLen

// maxQdiscGets is the most qdisc requests one ReadDevices sends at first:
// past it a dump, which walks every device but answers in a few datagrams,
// costs the kernel less (in a namespace of 1,000 devices, measured by
// BenchmarkFastRead: a request about 4 us, the dump 360 us).
const maxQdiscGets = 64

// NewNetlinkQdiscs opens a qdisc source in the calling thread's namespace.
func NewNetlinkQdiscs() (QdiscSource, error) {
	sock, err := openDumpSocket()
	if err != nil {
		return nil, err
	}
	q := &netlinkQdiscs{sock: sock, kinds: kindTable{}, stale: true, evbuf: make([]byte, 8<<10), spans: map[int32]qdiscSpan{}, rd: newBatchReader()}
	q.fn = q.add
	q.replyFn = q.addReply
	q.otherFn = func(uint16) { q.changed = true }
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
	// The notifications it drains are ReadDevices' too.
	q.structOK = false
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

// ReadDevices implements DeviceQdiscSource. While no notification came
// since the latest dump, the devices' qdiscs other than noqueue are read
// with one request each; otherwise (and when that would take more than
// maxQdiscGets requests) a dump reads every qdisc and renews the structure.
// When the devices have only noqueue qdiscs (or none) and the previous
// reading of every device (indexes nil), or of the same chosen devices,
// came from the same structure, it returns ErrUnchanged instead: that
// reading stands.
func (q *netlinkQdiscs) ReadDevices(dst []QdiscStat, indexes []int32) ([]QdiscStat, error) {
	q.stale = true // Read's reasoning no longer holds
	if q.events < 0 {
		q.structOK = false
	}
	gets := 0
	if q.structOK {
		if indexes == nil {
			gets = q.allGets
		} else {
			for _, ix := range indexes {
				gets += q.spans[ix].gets
			}
		}
	}
	if q.structOK && (gets == 0 || gets > maxQdiscGets) {
		// Requests would find a pending notification ahead of their
		// replies (exchange hands it to otherFn); without them the
		// socket is drained to learn whether the structure still holds.
		q.changed = false
		if err := q.drain(); err != nil || q.changed {
			q.structOK = false
		}
	}
	seen := &q.seenSome
	if indexes == nil {
		seen = &q.seenAll
	} else if !slices.Equal(indexes, q.someIdx) {
		q.seenSome = 0
		q.someIdx = append(q.someIdx[:0], indexes...)
	}
	switch {
	case !q.structOK || gets > maxQdiscGets:
		if err := q.renew(); err != nil {
			*seen = 0
			return dst[:0], err
		}
	case gets > 0:
		if err := q.get(indexes); err != nil {
			q.structOK = false
			*seen = 0
			return dst[:0], err
		}
	case *seen == q.gen+1:
		return dst, ErrUnchanged
	}
	*seen = q.gen + 1
	return q.filter(dst[:0], indexes), nil
}

// Structure implements DeviceQdiscSource: the number of renewals.
func (q *netlinkQdiscs) Structure() uint64 { return q.gen }

// renew dumps every qdisc into known and groups them by device.
func (q *netlinkQdiscs) renew() error {
	q.structOK = false
	if q.events >= 0 {
		// Whatever was notified before the dump is in it.
		q.changed = false
		if err := q.drain(); err != nil {
			return err
		}
	}
	q.gen++
	q.nDumps++
	known, err := q.dump(q.known)
	q.known = known
	if len(q.mqPrev) < len(known) {
		q.mqPrev = make([]QdiscStat, len(known))
	}
	if err != nil {
		return err
	}
	// A device's qdiscs come together in a dump; the sort (stable, in
	// place) only guards the grouping.
	slices.SortStableFunc(q.known, func(a, b QdiscStat) int { return cmp.Compare(a.Index, b.Index) })
	clear(q.spans)
	q.getSpans, q.allGets = q.getSpans[:0], 0
	for i := 0; i < len(q.known); {
		j := i
		for j < len(q.known) && q.known[j].Index == q.known[i].Index {
			j++
		}
		sp := newQdiscSpan(q.known, i, j)
		q.spans[q.known[i].Index] = sp
		if sp.gets > 0 {
			q.getSpans = append(q.getSpans, q.known[i].Index)
			q.allGets += sp.gets
		}
		i = j
	}
	q.structOK = q.events >= 0
	return nil
}

// Parents of root and ingress (or clsact) qdiscs.
const (
	tcHRoot    = 0xffffffff // TC_H_ROOT
	tcHIngress = 0xfffffff1 // TC_H_INGRESS, TC_H_CLSACT
)

// newQdiscSpan describes the qdiscs known[first:end] of one device.
func newQdiscSpan(known []QdiscStat, first, end int) qdiscSpan {
	sp := qdiscSpan{first: first, n: end - first, mq: -1}
	for p := first; p < end; p++ {
		if known[p].Parent == tcHRoot && known[p].Kind == "mq" {
			sp.mq = p
		}
	}
	if sp.mq >= 0 {
		major := known[sp.mq].Handle >> 16
		for p := first; p < end; p++ {
			if k := &known[p]; p != sp.mq && k.Parent != tcHIngress && k.Parent>>16 != major {
				// Nested below a queue's qdisc: not in the root's sum.
				sp.mq = -1
				break
			}
		}
	}
	for p := first; p < end; p++ {
		if k := &known[p]; k.Kind != "noqueue" && !sp.mqChild(known, p) {
			sp.gets++
		}
	}
	return sp
}

// mqChild says whether known[p] is a queue's qdisc under the span's mq
// root, read only when the root moved.
func (sp qdiscSpan) mqChild(known []QdiscStat, p int) bool {
	return sp.mq >= 0 && p != sp.mq && known[p].Parent != tcHIngress
}

// quiet says whether an mq root's reading shows an empty queue and the
// same counters as the previous one: then each child's does too.
func quiet(prev, cur *QdiscStat) bool {
	return cur.Backlog == 0 && cur.Qlen == 0 && cur.Drops == prev.Drops &&
		cur.Requeues == prev.Requeues && cur.Overlimits == prev.Overlimits
}

// drain reads what the notification socket holds: any notification sets
// changed.
func (q *netlinkQdiscs) drain() error {
	for {
		got, err := q.rd.recv(q.events)
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				// Notifications were lost: something changed.
				q.changed = true
				continue
			}
			return err
		}
		if got == 0 {
			return nil
		}
		q.changed = true
	}
}

// get reads into known the qdiscs other than noqueue of the devices (nil:
// all), maxBatch requests a write: first each device's qdiscs but the
// children of an mq root, then the children of the mq roots that moved.
func (q *netlinkQdiscs) get(indexes []int32) error {
	q.changed = false
	q.n = 0
	each := func(fn func(sp qdiscSpan) error) error {
		if indexes == nil {
			indexes = q.getSpans // the others need no request
		}
		for _, ix := range indexes {
			if sp, ok := q.spans[ix]; ok {
				if err := fn(sp); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := each(q.addFirst); err != nil {
		return err
	}
	if err := q.flush(); err != nil {
		return err
	}
	if err := each(q.addChildren); err != nil {
		return err
	}
	if err := q.flush(); err != nil {
		return err
	}
	if q.changed {
		q.structOK = false
	}
	return nil
}

// addFirst queues the requests of a device's qdiscs but an mq's children,
// keeping the mq root's previous reading to compare.
func (q *netlinkQdiscs) addFirst(sp qdiscSpan) error {
	if sp.mq >= 0 {
		q.mqPrev[sp.mq] = q.known[sp.mq]
	}
	for p := sp.first; p < sp.first+sp.n; p++ {
		if q.known[p].Kind == "noqueue" || sp.mqChild(q.known, p) {
			continue
		}
		if err := q.add1(p); err != nil {
			return err
		}
	}
	return nil
}

// addChildren queues the requests of an mq's children if its root moved,
// else sets their queues empty (their counters stand).
func (q *netlinkQdiscs) addChildren(sp qdiscSpan) error {
	if sp.mq < 0 {
		return nil
	}
	moved := !quiet(&q.mqPrev[sp.mq], &q.known[sp.mq])
	for p := sp.first; p < sp.first+sp.n; p++ {
		if !sp.mqChild(q.known, p) {
			continue
		}
		if !moved {
			q.known[p].Backlog, q.known[p].Qlen = 0, 0
			continue
		}
		if q.known[p].Kind == "noqueue" {
			continue
		}
		if err := q.add1(p); err != nil {
			return err
		}
	}
	return nil
}

// add1 queues the request of known[p], sending the batch when it is full.
func (q *netlinkQdiscs) add1(p int) error {
	k := &q.known[p]
	m := q.getReq[q.n*qdiscReqLen : (q.n+1)*qdiscReqLen]
	q.evSeq++
	putRequest(m, qdiscReqLen, unix.RTM_GETQDISC, unix.NLM_F_ECHO, q.evSeq)
	// struct tcmsg: family, pads, ifindex, handle, parent, info.
	clear(m[nlmsgHdrLen : nlmsgHdrLen+4])
	binary.NativeEndian.PutUint32(m[nlmsgHdrLen+4:], uint32(k.Index))
	binary.NativeEndian.PutUint32(m[nlmsgHdrLen+8:], k.Handle)
	binary.NativeEndian.PutUint32(m[nlmsgHdrLen+12:], k.Parent)
	binary.NativeEndian.PutUint32(m[nlmsgHdrLen+16:], 0)
	q.getPos[q.n] = p
	if q.n++; q.n == maxBatch {
		return q.flush()
	}
	return nil
}

// flush sends the queued requests and folds their replies into known.
func (q *netlinkQdiscs) flush() error {
	n := q.n
	if n == 0 {
		return nil
	}
	q.n = 0
	q.nGets += uint64(n)
	first := q.evSeq - uint32(n) + 1
	answered, err := exchange(q.events, q.rd, q.getReq[:n*qdiscReqLen], n, first, unix.RTM_NEWQDISC, q.replyFn, q.otherFn)
	if answered != n {
		// A qdisc the kernel no longer reports: the structure is renewed
		// at the next reading.
		q.changed = true
	}
	return err
}

// addReply folds the reply to request i into the qdisc it asked for.
func (q *netlinkQdiscs) addReply(i int, payload []byte, errno syscall.Errno) error {
	if errno != 0 {
		// ENOENT, EINVAL (another handle there now), ENODEV: the
		// structure changed. The previous reading stands this time.
		q.changed = true
		return nil
	}
	s, err := parseQdiscMessage(payload, q.kinds)
	if err != nil {
		return err
	}
	k := &q.known[q.getPos[i]]
	if s.Index != k.Index || s.Parent != k.Parent || s.Kind != k.Kind {
		q.changed = true
		return nil
	}
	*k = s
	return nil
}

// filter appends the known qdiscs of the devices (nil: all) to dst.
func (q *netlinkQdiscs) filter(dst []QdiscStat, indexes []int32) []QdiscStat {
	if indexes == nil {
		return append(dst, q.known...)
	}
	for _, ix := range indexes {
		if sp, ok := q.spans[ix]; ok {
			dst = append(dst, q.known[sp.first:sp.first+sp.n]...)
		}
	}
	return dst
}

func (q *netlinkQdiscs) Close() error {
	if q.events >= 0 {
		unix.Close(q.events)
		q.events = -1
	}
	return q.sock.Close()
}
