package sampler

import "errors"

// Counters are one interface's cumulative kernel counters, as read.
type Counters struct {
	RxBytes, TxBytes     uint64
	RxPackets, TxPackets uint64
	RxErrors, TxErrors   uint64
	RxDrops, TxDrops     uint64
}

// Stat is one interface's counters in one reading. Netlink readings carry
// the interface index; /proc/net/dev readings carry only the name.
type Stat struct {
	Index int32
	Name  string
	Counters
}

// StatsSource reads every interface's counters of one network namespace.
type StatsSource interface {
	// Read appends one reading of all interfaces to dst[:0] and returns it.
	Read(dst []Stat) ([]Stat, error)
	// Name says which kernel interface the source uses ("netlink" or
	// "procfs"), for the sampler_source_info metric.
	Name() string
	// Close releases the source's sockets or files.
	Close() error
}

// IndexStatsSource is implemented by stats sources that can read chosen
// interfaces only (the netlink one): the sampler reads its fast set that
// way, at a cost proportional to the set rather than to the namespace.
type IndexStatsSource interface {
	// ReadIndexes appends the counters of the interfaces with the given
	// indexes to dst[:0] and returns it. Interfaces that no longer exist
	// are left out; any other failure fails the whole reading.
	ReadIndexes(dst []Stat, indexes []int32) ([]Stat, error)
}

// Link describes one interface: what the counters cannot say.
type Link struct {
	Index     int32
	Name      string
	Kind      string // veth, bond, bridge, ... ("" for physical NICs)
	Master    string // the bond or bridge this link is enslaved to
	OperState string // up, down, unknown, ...
	// SpeedBytes is the link speed in bytes per second, 0 when unknown.
	SpeedBytes float64
	// CarrierChanges counts the link's carrier transitions, up and down,
	// since it was created (IFLA_CARRIER_CHANGES); CarrierKnown says the
	// kernel reported it.
	CarrierChanges uint32
	CarrierKnown   bool
}

// LinkSource keeps the interface table current.
type LinkSource interface {
	// Links returns the current table and a version that changes whenever
	// the table may have changed. It allocates only when it has changed.
	Links() (links []Link, version uint64)
	// Refresh asks for a full re-read of the table, for example when a
	// reading names an interface the table does not know.
	Refresh()
	// Close stops the source's goroutine and closes its sockets.
	Close() error
}

// QdiscStat is one queueing discipline's counters in one reading.
type QdiscStat struct {
	Index          int32
	Handle, Parent uint32
	Kind           string
	Backlog        uint32 // bytes queued now
	Qlen           uint32 // packets queued now
	Drops          uint32
	Overlimits     uint32
	Requeues       uint32
}

// QdiscSource reads every qdisc of the namespace.
type QdiscSource interface {
	// Read appends one reading of all qdiscs to dst[:0] and returns it, or
	// returns ErrUnchanged when it knows that the reading would be exactly
	// the previous one (which the caller then keeps).
	Read(dst []QdiscStat) ([]QdiscStat, error)
	Close() error
}

// DeviceQdiscSource is implemented by qdisc sources that can read chosen
// devices' qdiscs (the netlink one), so that each tier's qdiscs are read at
// its own interval and idle namespaces cost nothing.
type DeviceQdiscSource interface {
	// ReadDevices appends the qdiscs of the devices with the given
	// ifindexes (nil: every device) to dst[:0] and returns it, as a full
	// reading would show them.
	ReadDevices(dst []QdiscStat, indexes []int32) ([]QdiscStat, error)
	// Structure names the structure of the latest reading: while it stays
	// the same, a reading of the same devices lists the same qdiscs in the
	// same order, and their noqueue ones are the same.
	Structure() uint64
}

// ErrInterrupted reports a netlink dump that the kernel marked inconsistent
// (NLM_F_DUMP_INTR) because the table changed while it was being dumped. The
// reading is discarded and the next tick tries again.
var ErrInterrupted = errors.New("netlink dump interrupted by a concurrent change")

// ErrUnchanged is returned by a QdiscSource whose reading would repeat the
// previous one: it is not a failure.
var ErrUnchanged = errors.New("qdisc reading unchanged")

// ErrUnsupported reports that the kernel refuses the netlink request, so the
// sampler must use /proc/net/dev instead.
var ErrUnsupported = errors.New("netlink stats request not supported")
