package sampler

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"

	"github.com/netburst/netburst/internal/ratelog"
	"golang.org/x/sys/unix"
)

// netlinkLinks keeps the link table from one RTM_GETLINK dump, then from
// the link events of a netlink subscription: no polling, so a host with
// thousands of interfaces pays for the table only when it changes.
//
// Both sockets are opened by the constructor, in the calling thread's
// network namespace, and kept for the source's life: nothing ever enters a
// namespace (setns needs CAP_SYS_ADMIN, which the deployed exporter lacks),
// and an overflow of the event socket does not end the subscription (the
// kernel reports ENOBUFS and keeps delivering), so there is never a socket
// to re-open in the wrong namespace: the table is re-read instead.
type netlinkLinks struct {
	logger *slog.Logger
	sysfs  string
	dump   *dumpSocket // RTM_GETLINK dumps, read raw for IFLA_CARRIER_CHANGES
	req    [nlmsgHdrLen + ifInfoMsgLen]byte
	events *linkEventSocket
	ethFD  int

	version atomic.Uint64
	mu      sync.Mutex
	table   map[int32]netlink.LinkAttrs
	kinds   map[int32]string
	speeds  map[int32]float64
	carrier map[int32]uint32 // IFLA_CARRIER_CHANGES, where the kernel sent it
	cached  []Link
	cachedV uint64

	watchers watchers
	log      *ratelog.Logger

	refresh chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup

	// Counters for LinkEventStats; errors also for LinkErrorCounter.
	nEvents, overflows, relists, errors atomic.Uint64
}

// NewNetlinkLinks reads the link table of the calling thread's network
// namespace and follows its changes until Close. Link speeds come from
// sysfsRoot/class/net/NAME/speed where that file gives one (so fixtures can
// stand in), else from the ethtool ioctl. It needs no privilege.
func NewNetlinkLinks(sysfsRoot string, logger *slog.Logger) (LinkSource, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Subscribe before the first dump, so that no change between the two
	// is missed.
	events, err := openLinkEvents()
	if err != nil {
		return nil, err
	}
	dump, err := openDumpSocket()
	if err != nil {
		events.close()
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fd = -1 // speeds from sysfs only
	}
	l := &netlinkLinks{
		logger: logger, sysfs: sysfsRoot, dump: dump, events: events, ethFD: fd,
		log:     ratelog.New(logger, ratelog.DefaultInterval),
		refresh: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if err := l.relist(); err != nil {
		l.closeHandles()
		return nil, err
	}
	l.wg.Add(2)
	go l.readEvents()
	go l.loop()
	return l, nil
}

// readEvents applies link events until Close. On an overflow (events lost)
// or a failed read it asks the loop to re-read the whole table.
func (l *netlinkLinks) readEvents() {
	defer l.wg.Done()
	for {
		err := l.events.read(l.apply)
		switch {
		case err == nil:
			continue
		case errors.Is(err, errEventsClosed):
			return
		case errors.Is(err, unix.ENOBUFS):
			l.overflows.Add(1)
			l.log.Log(slog.LevelWarn, "overflow", "link events overflowed the socket's receive buffer (many devices changed at once); re-reading the link table", "overflows", l.overflows.Load())
		default:
			l.errors.Add(1)
			l.log.Log(slog.LevelWarn, "read", "reading link events failed; re-reading the link table", "err", err)
			// A socket that keeps failing must not spin.
			select {
			case <-l.done:
				return
			case <-time.After(time.Second):
			}
		}
		l.Refresh()
	}
}

// loop re-reads the table when asked, until Close.
func (l *netlinkLinks) loop() {
	defer l.wg.Done()
	for {
		select {
		case <-l.done:
			return
		case <-l.refresh:
			l.doRelist()
		}
	}
}

func (l *netlinkLinks) doRelist() {
	if err := l.relist(); err != nil {
		l.errors.Add(1)
		l.logger.Warn("reading the link table failed", "err", err)
	}
}

func (l *netlinkLinks) relist() error {
	l.relists.Add(1)
	table := map[int32]netlink.LinkAttrs{}
	kinds := map[int32]string{}
	carrier := map[int32]uint32{}
	// An RTM_GETLINK dump of every link (AF_UNSPEC, no filter), as the
	// netlink library's LinkList sends, read here so that the raw
	// attributes the library drops are at hand.
	l.dump.putHeader(l.req[:], unix.RTM_GETLINK)
	err := l.dump.dump(l.req[:], unix.RTM_NEWLINK, func(payload []byte) error {
		// The library keeps slices of its input (the hardware address):
		// the receive buffer is reused, so it gets a copy.
		m := bytes.Clone(payload)
		link, err := netlink.LinkDeserialize(nil, m)
		if err != nil {
			return nil // a link the library cannot read: left out, as an event's would be
		}
		a := link.Attrs()
		idx := int32(a.Index)
		table[idx], kinds[idx] = *a, linkKind(link)
		if n, ok := parseCarrierChanges(m); ok {
			carrier[idx] = n
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrInterrupted) {
		return fmt.Errorf("list links: %w", err)
	}
	speeds := make(map[int32]float64, len(table))
	for idx, a := range table {
		speeds[idx] = l.speed(a.Name)
	}
	l.mu.Lock()
	l.table, l.kinds, l.speeds, l.carrier = table, kinds, speeds, carrier
	l.mu.Unlock()
	l.version.Add(1)
	l.watchers.notify()
	if errors.Is(err, ErrInterrupted) {
		// The table changed during the dump: take what came and read
		// again, which the events would also trigger.
		l.Refresh()
	}
	return nil
}

// apply takes in one link event; raw is the message's body, which holds
// the carrier change count (every carrier change sends one).
func (l *netlinkLinks) apply(msgType uint16, link netlink.Link, raw []byte) {
	l.nEvents.Add(1)
	a := link.Attrs()
	idx := int32(a.Index)
	var speed float64
	if msgType == unix.RTM_NEWLINK {
		speed = l.speed(a.Name)
	}
	carrier, haveCarrier := parseCarrierChanges(raw)
	l.mu.Lock()
	switch msgType {
	case unix.RTM_NEWLINK:
		l.table[idx] = *a
		l.kinds[idx] = linkKind(link)
		l.speeds[idx] = speed
		if haveCarrier {
			l.carrier[idx] = carrier
		} else {
			delete(l.carrier, idx)
		}
	case unix.RTM_DELLINK:
		delete(l.table, idx)
		delete(l.kinds, idx)
		delete(l.speeds, idx)
		delete(l.carrier, idx)
	}
	l.mu.Unlock()
	l.version.Add(1)
	l.watchers.notify()
}

// Watch implements LinkWatcher.
func (l *netlinkLinks) Watch() (<-chan struct{}, func()) { return l.watchers.Watch() }

func linkKind(link netlink.Link) string {
	t := link.Type()
	if t == "device" {
		if link.Attrs().Flags&net.FlagLoopback != 0 {
			return "loopback"
		}
		return "physical"
	}
	return t
}

// speed returns the link speed in bytes per second, 0 when unknown.
func (l *netlinkLinks) speed(name string) float64 {
	if b, err := os.ReadFile(filepath.Join(l.sysfs, "class", "net", name, "speed")); err == nil {
		if mbit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && mbit > 0 {
			return float64(mbit) * 1e6 / 8
		}
	}
	if l.ethFD < 0 {
		return 0
	}
	return ethtoolSpeed(l.ethFD, name)
}

// ethtoolCmd is struct ethtool_cmd, the ETHTOOL_GSET reply (which the
// kernel fills from the driver's link settings).
type ethtoolCmd struct {
	Cmd           uint32
	Supported     uint32
	Advertising   uint32
	Speed         uint16
	Duplex        uint8
	Port          uint8
	PhyAddress    uint8
	Transceiver   uint8
	Autoneg       uint8
	MdioSupport   uint8
	Maxtxpkt      uint32
	Maxrxpkt      uint32
	SpeedHi       uint16
	EthTpMdix     uint8
	EthTpMdixCtrl uint8
	LpAdvertising uint32
	Reserved      [2]uint32
}

// ifreqData is struct ifreq with its union holding a pointer.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

func ethtoolSpeed(fd int, name string) float64 {
	if len(name) >= unix.IFNAMSIZ {
		return 0
	}
	cmd := ethtoolCmd{Cmd: unix.ETHTOOL_GSET}
	var ifr ifreqData
	copy(ifr.name[:], name)
	ifr.data = unsafe.Pointer(&cmd)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if e != 0 {
		return 0
	}
	mbit := uint32(cmd.SpeedHi)<<16 | uint32(cmd.Speed)
	if mbit == 0 || mbit == 0xffff || mbit == 0xffffffff {
		return 0
	}
	return float64(mbit) * 1e6 / 8
}

func (l *netlinkLinks) Links() ([]Link, uint64) {
	v := l.version.Load()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cached != nil && l.cachedV == v {
		return l.cached, v
	}
	links := make([]Link, 0, len(l.table))
	for idx, a := range l.table {
		link := Link{
			Index:      idx,
			Name:       a.Name,
			Kind:       l.kinds[idx],
			OperState:  a.OperState.String(),
			SpeedBytes: l.speeds[idx],
		}
		link.CarrierChanges, link.CarrierKnown = l.carrier[idx]
		if a.MasterIndex != 0 {
			if m, ok := l.table[int32(a.MasterIndex)]; ok {
				link.Master = m.Name
			}
		}
		links = append(links, link)
	}
	l.cached, l.cachedV = links, v
	return links, v
}

func (l *netlinkLinks) Refresh() {
	select {
	case l.refresh <- struct{}{}:
	default:
	}
}

// Errors returns how many event-socket and dump failures the source met.
func (l *netlinkLinks) Errors() uint64 { return l.errors.Load() }

// LinkEventStats implements LinkEventCounter.
func (l *netlinkLinks) LinkEventStats() LinkEventStats {
	return LinkEventStats{Events: l.nEvents.Load(), Overflows: l.overflows.Load(), Relists: l.relists.Load(), Errors: l.errors.Load()}
}

func (l *netlinkLinks) Close() error {
	select {
	case <-l.done:
		return nil
	default:
	}
	close(l.done)
	l.events.close() // ends readEvents' wait
	l.wg.Wait()
	l.closeHandles()
	return nil
}

func (l *netlinkLinks) closeHandles() {
	l.dump.Close()
	l.events.close()
	if l.ethFD >= 0 {
		unix.Close(l.ethFD)
	}
}
