//go:build linux

package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/netburst/netburst/internal/ratelog"
)

// A packet socket is bound to an interface index. When the interface is
// deleted, the kernel unhooks the socket, reports ENETDOWN once and from
// then on delivers nothing to it: a VM's vif or tap re-created under the
// same name has a new index. (When an interface only goes down and up, the
// kernel hooks the socket again itself: same index, nothing to do.) So the
// socket follows the name: the reader compares the name's current index
// (SIOCGIFINDEX, one ioctl) with the bound one after a socket error, at a
// link-change signal, and about once a second otherwise, and when they
// differ the device is down until an interface of that name exists again;
// then the same socket is bound to it (bind(2) re-hooks a packet socket
// with its ring, its counters and its network namespace), with the filter
// rebuilt for the link type.
//
// The socket is re-bound rather than replaced because a new socket would
// be created in the network namespace of whatever thread the reader runs
// on, not necessarily the interface's, and entering the interface's would
// take CAP_SYS_ADMIN, which the exporter does not have.

// checkEvery is how often a capturing device compares its interface with
// the one of its name, and how often a device that is down looks for it,
// without a link-change signal.
const checkEvery = time.Second

// follow makes t follow the interface name of cfg, of link type lt.
func (t *tpacket) follow(cfg DeviceConfig, lt layers.LinkType) error {
	ifr, err := unix.NewIfreq(cfg.Name)
	if err != nil {
		return fmt.Errorf("interface %s: %w", cfg.Name, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t.name, t.snaplen, t.linkType, t.filter, t.changes = cfg.Name, cfg.Snaplen, lt, cfg.Filter, cfg.Changes
	t.ifr = ifr
	t.state = newLinkState()
	t.logger, t.log = logger, ratelog.New(logger, ratelog.DefaultInterval)
	t.timer = time.NewTimer(time.Hour)
	t.timer.Stop()
	t.lastCheck = time.Now()
	return nil
}

// linkState implements stateSource.
func (t *tpacket) linkState() DeviceState { return t.state.get() }

// current returns the index of the interface of the device's name in the
// socket's network namespace, 0 when there is none.
func (t *tpacket) current() (int, error) {
	if err := unix.IoctlIfreq(t.fd, unix.SIOCGIFINDEX, t.ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return 0, nil
		}
		return 0, fmt.Errorf("interface %s: SIOCGIFINDEX: %w", t.name, err)
	}
	return int(t.ifr.Uint32()), nil
}

// firstBind binds the socket at the first read. An interface deleted since
// Open takes the device down: it then waits for one of the same name.
func (t *tpacket) firstBind() error {
	err := t.bind()
	if errors.Is(err, unix.ENODEV) {
		t.bound = true // reopen binds it
		t.goDown(fmt.Sprintf("interface %s vanished before the capture started", t.name))
		return nil
	}
	return err
}

// check compares the interface of the device's name with the bound one and
// takes the device down when it is gone or another one.
func (t *tpacket) check(now time.Time) {
	t.lastCheck = now
	idx, err := t.current()
	switch {
	case err != nil:
		// The socket cannot tell: say so, and keep capturing.
		t.log.Log(slog.LevelWarn, "check "+t.name, "capture device: cannot check its interface", "device", t.name, "err", err)
	case idx == 0:
		t.goDown(fmt.Sprintf("interface %s is gone", t.name))
	case idx != t.ifindex:
		t.goDown(fmt.Sprintf("interface %s was re-created (index %d, the socket was bound to index %d)", t.name, idx, t.ifindex))
	}
}

// waitFailed handles a failed wait for a block and returns err.
func (t *tpacket) waitFailed(err error) error {
	switch {
	case errors.Is(err, ErrTimeout):
		// Idle. The kernel reported a deleted interface at most once, and
		// a rename not at all: look at a link-change signal, or about
		// once a second.
		select {
		case <-t.changes:
			t.check(time.Now())
		default:
			if now := time.Now(); now.Sub(t.lastCheck) >= checkEvery {
				t.check(now)
			}
		}
	case errors.Is(err, ErrInterfaceDown):
		t.check(time.Now())
		if !t.down {
			// Down, not gone; or not gone yet: the kernel reports a
			// deleted interface going down before it frees the name.
			// Look again at the next idle wait.
			t.lastCheck = time.Time{}
		}
	default:
		t.goDown(fmt.Sprintf("packet socket failed: %v", err))
	}
	return err
}

// dropAll is the filter of a device that is down: a socket still hooked to
// an interface that lost the name (renamed) must not fill the ring with its
// frames. reopen attaches the real filter before it binds.
var dropAll = []bpf.RawInstruction{{Op: 0x06}} // ret #0

// goDown marks the device down for cause and logs it (one line per device
// a minute at most: a flapping interface does not flood the log).
func (t *tpacket) goDown(cause string) {
	t.down = true
	// The filter first: once the state says down, nothing of an interface
	// that only lost the name may reach the ring.
	if err := t.attach(dropAll); err != nil {
		t.log.Log(slog.LevelWarn, "drop "+t.name, "capture device: cannot stop its socket's capture while down", "device", t.name, "err", err)
	}
	t.state.down(cause, time.Now())
	t.loggedDown = t.log.Log(slog.LevelWarn, "down "+t.name, "capture device down; it captures again when an interface of that name exists",
		"device", t.name, "cause", cause)
}

// whileDown is nextBlock's wait while the device is down: it re-opens the
// device if an interface of its name is there (at a link-change signal, or
// once a second), and otherwise waits for a signal up to the poll timeout.
// It returns nil when the device captures again, else ErrTimeout.
func (t *tpacket) whileDown() error {
	if time.Since(t.lastTry) >= checkEvery && t.reopen() {
		return nil
	}
	t.timer.Reset(t.timeout)
	select {
	case <-t.changes:
		t.timer.Stop()
		if t.reopen() {
			return nil
		}
	case <-t.timer.C:
	}
	return ErrTimeout
}

// reopen binds the socket to the interface of the device's name if there is
// one it can capture, and reports whether it did.
func (t *tpacket) reopen() bool {
	now := time.Now()
	t.lastTry = now
	idx, err := t.current()
	if err != nil {
		t.reopenFailed(err)
		return false
	}
	if idx == 0 {
		return false // not back yet
	}
	lt, err := linkTypeFD(t.fd, t.name)
	if errors.Is(err, unix.ENODEV) {
		return false // gone again
	}
	if err == nil && lt != t.linkType {
		// The decoder, the pcaps and the ring's records are the link
		// type's: frames of another cannot go into them.
		cause := fmt.Sprintf("interface %s is back with link type %v, the capture was opened for %v", t.name, lt, t.linkType)
		t.state.setCause(cause)
		t.log.Log(slog.LevelWarn, "linktype "+t.name, "capture device not re-opened: the interface of that name has another link type",
			"device", t.name, "link_type", lt.String(), "want", t.linkType.String())
		return false
	}
	if err == nil {
		err = t.rebind(idx, lt)
	}
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return false
		}
		t.reopenFailed(err)
		return false
	}
	downFor, n := t.state.up(now)
	t.down, t.lastCheck = false, now
	if t.loggedDown {
		t.logger.Info("capture device captures again", "device", t.name, "ifindex", idx, "down_for", downFor.Round(time.Millisecond).String(), "reopens", n)
	}
	t.log.Forget("linktype " + t.name)
	t.log.Forget("reopen " + t.name)
	return true
}

// rebind attaches the filter rebuilt for link type lt and binds the socket
// to interface index idx.
func (t *tpacket) rebind(idx int, lt layers.LinkType) error {
	prog, err := t.filter(lt, t.snaplen)
	if err != nil {
		return fmt.Errorf("interface %s: %w", t.name, err)
	}
	if err := t.attach(prog); err != nil {
		return err
	}
	t.ifindex = idx
	return t.bind()
}

// reopenFailed logs a re-open that failed for another reason than a missing
// interface, and keeps it as the device's cause.
func (t *tpacket) reopenFailed(err error) {
	t.state.setCause(fmt.Sprintf("re-open failed: %v", err))
	t.log.Log(slog.LevelWarn, "reopen "+t.name, "capture device re-open failed; retrying every second", "device", t.name, "err", err)
}

// linkState is a device's DeviceState, written by its reader at each
// change (rarely) and read by Stats at scrape time: a mutex, never on the
// per-frame path.
type linkState struct {
	mu sync.Mutex
	s  DeviceState
}

func newLinkState() *linkState {
	return &linkState{s: DeviceState{Up: true, Since: time.Now()}}
}

func (l *linkState) get() DeviceState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s
}

// down records that the device went down because of cause.
func (l *linkState) down(cause string, at time.Time) {
	l.mu.Lock()
	l.s.Up, l.s.Since, l.s.Cause = false, at, cause
	l.mu.Unlock()
}

// setCause replaces the cause of a device that stays down (the interface
// is back, but cannot be captured).
func (l *linkState) setCause(cause string) {
	l.mu.Lock()
	l.s.Cause = cause
	l.mu.Unlock()
}

// up records that the device captures again and returns how long it was
// down and how many re-opens there have been.
func (l *linkState) up(at time.Time) (time.Duration, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	downFor := at.Sub(l.s.Since)
	l.s.Up, l.s.Since = true, at
	l.s.Reopens++
	return downFor, l.s.Reopens
}
