package sampler

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// Netlink attribute and structure layouts used below; they are the kernel's
// ABI and so are written out here rather than imported, so that the parsers
// build and are tested on every platform.
const (
	nlmsgHdrLen       = 16
	nlmsgError        = 2    // NLMSG_ERROR
	nlmsgDone         = 3    // NLMSG_DONE
	nlmFDumpIntr      = 0x10 // NLM_F_DUMP_INTR
	nlaHdrLen         = 4
	nlaTypeMask       = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
	iflaStatsLink64   = 1      // IFLA_STATS_LINK_64
	linkStats64MinLen = 8 * 8  // the eight fields read below
	tcaKind           = 1      // TCA_KIND
	tcaStats2         = 7      // TCA_STATS2
	tcaStatsQueue     = 3      // TCA_STATS_QUEUE inside TCA_STATS2
	gnetQueueLen      = 20     // struct gnet_stats_queue
	ifStatsHdrLen     = 12     // struct if_stats_msg
	tcMsgHdrLen       = 20     // struct tcmsg
)

// parseStatsMessage decodes one RTM_NEWSTATS payload (struct if_stats_msg
// followed by attributes) holding IFLA_STATS_LINK_64. ok is false when the
// message carries no 64-bit link stats.
func parseStatsMessage(b []byte) (s Stat, ok bool, err error) {
	if len(b) < ifStatsHdrLen {
		return s, false, fmt.Errorf("RTM_NEWSTATS payload of %d bytes, want at least %d", len(b), ifStatsHdrLen)
	}
	s.Index = int32(binary.NativeEndian.Uint32(b[4:8]))
	attrs := b[ifStatsHdrLen:]
	for len(attrs) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(attrs[0:2]))
		t := binary.NativeEndian.Uint16(attrs[2:4]) & nlaTypeMask
		if l < nlaHdrLen || l > len(attrs) {
			return s, false, fmt.Errorf("ifindex %d: malformed stats attribute (length %d, %d bytes left)", s.Index, l, len(attrs))
		}
		if t == iflaStatsLink64 {
			v := attrs[nlaHdrLen:l]
			if len(v) < linkStats64MinLen {
				return s, false, fmt.Errorf("ifindex %d: IFLA_STATS_LINK_64 of %d bytes, want at least %d", s.Index, len(v), linkStats64MinLen)
			}
			// struct rtnl_link_stats64 starts rx_packets, tx_packets,
			// rx_bytes, tx_bytes, rx_errors, tx_errors, rx_dropped,
			// tx_dropped.
			u := func(i int) uint64 { return binary.NativeEndian.Uint64(v[i*8 : i*8+8]) }
			s.RxPackets, s.TxPackets = u(0), u(1)
			s.RxBytes, s.TxBytes = u(2), u(3)
			s.RxErrors, s.TxErrors = u(4), u(5)
			s.RxDrops, s.TxDrops = u(6), u(7)
			ok = true
		}
		attrs = attrs[min(align4(l), len(attrs)):]
	}
	return s, ok, nil
}

// kindTable interns qdisc kind names so that a steady-state qdisc dump
// allocates no strings.
type kindTable map[string]string

func (k kindTable) intern(b []byte) string {
	if s, ok := k[string(b)]; ok {
		return s
	}
	if len(k) >= 256 {
		// Kinds are a short list compiled into the kernel; past this the
		// input is hostile and not worth remembering.
		return string(b)
	}
	s := string(b)
	k[s] = s
	return s
}

// parseQdiscMessage decodes one RTM_NEWQDISC payload (struct tcmsg followed
// by attributes): its kind and the queue statistics of TCA_STATS2.
func parseQdiscMessage(b []byte, kinds kindTable) (q QdiscStat, err error) {
	if len(b) < tcMsgHdrLen {
		return q, fmt.Errorf("RTM_NEWQDISC payload of %d bytes, want at least %d", len(b), tcMsgHdrLen)
	}
	q.Index = int32(binary.NativeEndian.Uint32(b[4:8]))
	q.Handle = binary.NativeEndian.Uint32(b[8:12])
	q.Parent = binary.NativeEndian.Uint32(b[12:16])
	attrs := b[tcMsgHdrLen:]
	for len(attrs) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(attrs[0:2]))
		t := binary.NativeEndian.Uint16(attrs[2:4]) & nlaTypeMask
		if l < nlaHdrLen || l > len(attrs) {
			return q, fmt.Errorf("ifindex %d: malformed qdisc attribute (length %d, %d bytes left)", q.Index, l, len(attrs))
		}
		v := attrs[nlaHdrLen:l]
		switch t {
		case tcaKind:
			// NUL-terminated string.
			for i, c := range v {
				if c == 0 {
					v = v[:i]
					break
				}
			}
			q.Kind = kinds.intern(v)
		case tcaStats2:
			if err := parseQueueStats(v, &q); err != nil {
				return q, fmt.Errorf("ifindex %d: %w", q.Index, err)
			}
		}
		attrs = attrs[min(align4(l), len(attrs)):]
	}
	return q, nil
}

func parseQueueStats(b []byte, q *QdiscStat) error {
	for len(b) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < nlaHdrLen || l > len(b) {
			return fmt.Errorf("malformed TCA_STATS2 attribute (length %d, %d bytes left)", l, len(b))
		}
		if t == tcaStatsQueue {
			v := b[nlaHdrLen:l]
			if len(v) < gnetQueueLen {
				return fmt.Errorf("TCA_STATS_QUEUE of %d bytes, want %d", len(v), gnetQueueLen)
			}
			q.Qlen = binary.NativeEndian.Uint32(v[0:4])
			q.Backlog = binary.NativeEndian.Uint32(v[4:8])
			q.Drops = binary.NativeEndian.Uint32(v[8:12])
			q.Requeues = binary.NativeEndian.Uint32(v[12:16])
			q.Overlimits = binary.NativeEndian.Uint32(v[16:20])
		}
		b = b[min(align4(l), len(b)):]
	}
	return nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// walkMessages parses one datagram of netlink messages. Messages of another
// sequence number (left over from an earlier, abandoned dump) are skipped.
func walkMessages(b []byte, seq uint32, want uint16, fn func(payload []byte) error) (done, interrupted bool, err error) {
	for len(b) >= nlmsgHdrLen {
		msgLen := binary.NativeEndian.Uint32(b[0:4])
		msgType := binary.NativeEndian.Uint16(b[4:6])
		flags := binary.NativeEndian.Uint16(b[6:8])
		msgSeq := binary.NativeEndian.Uint32(b[8:12])
		if msgLen < nlmsgHdrLen || int(msgLen) > len(b) {
			return false, interrupted, fmt.Errorf("malformed netlink message: length %d with %d bytes left", msgLen, len(b))
		}
		payload := b[nlmsgHdrLen:msgLen]
		if next := align4(int(msgLen)); next < len(b) {
			b = b[next:]
		} else {
			b = b[len(b):]
		}
		if msgSeq != seq {
			continue
		}
		if flags&nlmFDumpIntr != 0 {
			interrupted = true
		}
		switch msgType {
		case nlmsgDone:
			return true, interrupted, nil
		case nlmsgError:
			if len(payload) < 4 {
				return false, interrupted, errors.New("malformed netlink error message")
			}
			errno := -int32(binary.NativeEndian.Uint32(payload[0:4]))
			if errno == 0 {
				return true, interrupted, nil
			}
			e := syscall.Errno(errno)
			if e == syscall.EOPNOTSUPP || e == syscall.EINVAL || e == syscall.EPROTONOSUPPORT {
				return false, interrupted, fmt.Errorf("%w: %w", ErrUnsupported, e)
			}
			return false, interrupted, fmt.Errorf("netlink dump: %w", e)
		case want:
			if err := fn(payload); err != nil {
				return false, interrupted, err
			}
		}
	}
	return false, interrupted, nil
}
