package sampler

import (
	"encoding/binary"
	"fmt"

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

// netlinkQdiscs reads every qdisc with one RTM_GETQDISC dump.
type netlinkQdiscs struct {
	sock  *dumpSocket
	req   [nlmsgHdrLen + tcMsgHdrLen]byte
	kinds kindTable
	dst   []QdiscStat
	fn    func([]byte) error
}

// NewNetlinkQdiscs opens a qdisc source in the calling thread's namespace.
func NewNetlinkQdiscs() (QdiscSource, error) {
	sock, err := openDumpSocket()
	if err != nil {
		return nil, err
	}
	q := &netlinkQdiscs{sock: sock, kinds: kindTable{}}
	q.fn = q.add
	return q, nil
}

func (q *netlinkQdiscs) add(payload []byte) error {
	s, err := parseQdiscMessage(payload, q.kinds)
	if err != nil {
		return err
	}
	q.dst = append(q.dst, s)
	return nil
}

func (q *netlinkQdiscs) Read(dst []QdiscStat) ([]QdiscStat, error) {
	q.sock.putHeader(q.req[:], unix.RTM_GETQDISC)
	q.dst = dst[:0]
	err := q.sock.dump(q.req[:], unix.RTM_NEWQDISC, q.fn)
	dst, q.dst = q.dst, nil
	return dst, err
}

func (q *netlinkQdiscs) Close() error { return q.sock.Close() }
