package sampler

import (
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
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netlinkLinks keeps the link table from one RTM_GETLINK dump, then from
// the link events of a netlink subscription: no polling, so a host with
// thousands of interfaces pays for the table only when it changes.
type netlinkLinks struct {
	logger *slog.Logger
	sysfs  string
	ns     netns.NsHandle
	handle *netlink.Handle
	ethFD  int

	version atomic.Uint64
	mu      sync.Mutex
	table   map[int32]netlink.LinkAttrs
	kinds   map[int32]string
	speeds  map[int32]float64
	cached  []Link
	cachedV uint64

	watchers watchers

	refresh chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	// errors counts failed subscriptions and dumps, for a metric.
	errors atomic.Uint64
}

// NewNetlinkLinks reads the link table of the calling thread's network
// namespace and follows its changes until Close. Link speeds come from
// sysfsRoot/class/net/NAME/speed where that file gives one (so fixtures can
// stand in), else from the ethtool ioctl.
func NewNetlinkLinks(sysfsRoot string, logger *slog.Logger) (LinkSource, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("open current network namespace: %w", err)
	}
	h, err := netlink.NewHandle()
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("open rtnetlink handle: %w", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fd = -1 // speeds from sysfs only
	}
	l := &netlinkLinks{
		logger: logger, sysfs: sysfsRoot, ns: ns, handle: h, ethFD: fd,
		refresh: make(chan struct{}, 1), done: make(chan struct{}),
	}
	updates, stop, err := l.subscribe()
	if err != nil {
		l.closeHandles()
		return nil, err
	}
	if err := l.relist(); err != nil {
		close(stop)
		for range updates {
		}
		l.closeHandles()
		return nil, err
	}
	l.wg.Add(1)
	go l.loop(updates, stop)
	return l, nil
}

func (l *netlinkLinks) subscribe() (chan netlink.LinkUpdate, chan struct{}, error) {
	updates := make(chan netlink.LinkUpdate, 256)
	stop := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(updates, stop, netlink.LinkSubscribeOptions{
		Namespace:         &l.ns,
		ReceiveBufferSize: 4 << 20,
		ErrorCallback: func(err error) {
			select {
			case <-l.done:
				return // closing the socket on shutdown fails its read
			default:
			}
			l.errors.Add(1)
			l.logger.Warn("link subscription error; re-reading the link table", "err", err)
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("subscribe to link events: %w", err)
	}
	return updates, stop, nil
}

// loop applies link events until Close. When the subscription fails (the
// kernel drops events when its buffer overflows) it subscribes again and
// re-reads the whole table, since events may have been lost.
func (l *netlinkLinks) loop(updates chan netlink.LinkUpdate, stop chan struct{}) {
	defer l.wg.Done()
	retry := time.NewTimer(0)
	<-retry.C
	for {
		select {
		case <-l.done:
			if stop != nil {
				close(stop)
			}
			if updates != nil {
				for range updates {
				}
			}
			return
		case u, ok := <-updates:
			if ok {
				l.apply(u)
				continue
			}
			// Closing stop releases the library's socket closer.
			close(stop)
			updates, stop = nil, nil
			retry.Reset(time.Second)
		case <-retry.C:
			u, s, err := l.subscribe()
			if err != nil {
				l.errors.Add(1)
				l.logger.Warn("resubscribing to link events failed", "err", err)
				retry.Reset(5 * time.Second)
				continue
			}
			updates, stop = u, s
			l.doRelist()
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
	links, err := l.handle.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return fmt.Errorf("list links: %w", err)
	}
	table := make(map[int32]netlink.LinkAttrs, len(links))
	kinds := make(map[int32]string, len(links))
	for _, link := range links {
		a := link.Attrs()
		table[int32(a.Index)] = *a
		kinds[int32(a.Index)] = linkKind(link)
	}
	speeds := make(map[int32]float64, len(table))
	for idx, a := range table {
		speeds[idx] = l.speed(a.Name)
	}
	l.mu.Lock()
	l.table, l.kinds, l.speeds = table, kinds, speeds
	l.mu.Unlock()
	l.version.Add(1)
	l.watchers.notify()
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		// The table changed during the dump: take what came and read
		// again, which the events would also trigger.
		l.Refresh()
	}
	return nil
}

func (l *netlinkLinks) apply(u netlink.LinkUpdate) {
	a := u.Link.Attrs()
	idx := int32(a.Index)
	var speed float64
	if u.Header.Type == unix.RTM_NEWLINK {
		speed = l.speed(a.Name)
	}
	l.mu.Lock()
	switch u.Header.Type {
	case unix.RTM_NEWLINK:
		l.table[idx] = *a
		l.kinds[idx] = linkKind(u.Link)
		l.speeds[idx] = speed
	case unix.RTM_DELLINK:
		delete(l.table, idx)
		delete(l.kinds, idx)
		delete(l.speeds, idx)
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

// Errors returns how many subscription and dump failures the source met.
func (l *netlinkLinks) Errors() uint64 { return l.errors.Load() }

func (l *netlinkLinks) Close() error {
	select {
	case <-l.done:
		return nil
	default:
	}
	close(l.done)
	l.wg.Wait()
	l.closeHandles()
	return nil
}

func (l *netlinkLinks) closeHandles() {
	l.handle.Close()
	l.ns.Close()
	if l.ethFD >= 0 {
		unix.Close(l.ethFD)
	}
}
