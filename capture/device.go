package capture

import (
	"log/slog"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// FilterFunc builds the kernel BPF program for a device of link type lt
// that keeps snaplen bytes of the frames it accepts.
type FilterFunc func(lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error)

// DeviceConfig configures a live capture device (Open). Zero values take
// the defaults named below.
type DeviceConfig struct {
	// Name is the interface. The device follows the name, not the
	// interface: when the interface is deleted and one of the same name
	// appears (a VM's vif or tap re-created), the device captures the new
	// one.
	Name string
	// Snaplen is the most bytes kept of a frame, enforced by the kernel
	// filter (default 128).
	Snaplen int
	// Filter builds the kernel filter for the interface's link type, at
	// open and again at each re-open; nil takes FilterProgram with IPOnly.
	Filter FilterFunc
	IPOnly bool
	// BlockSize x NumBlocks is the kernel ring, the memory the kernel fills
	// while netburst is busy (default 1 MiB x 8).
	BlockSize, NumBlocks int
	// Changes is a coalesced link-change signal (sampler.LinkWatcher's) of
	// this device's own: a receive consumes it, so devices do not share
	// one. On a signal a device whose interface is gone looks for it again
	// at once, a capturing one checks that its interface is still the one
	// of that name. Nil: both happen about once a second.
	Changes <-chan struct{}
	// Logger receives one line when the device goes down (with the cause)
	// and one when it captures again; nil discards them.
	Logger *slog.Logger
}

// DeviceState is whether a device captures its interface.
type DeviceState struct {
	// Up is false while the interface of the device's name is gone (or
	// is one the device cannot capture, or the socket failed) and the
	// device waits to re-open. An interface that is merely down (not
	// deleted) leaves the device up: its socket stays hooked to it and
	// captures again when it comes up.
	Up bool
	// Reopens counts the times the device went back to capturing after
	// it was down: each is a new interface of the same name, as a rule.
	Reopens uint64
	// Since is when Up last changed (when the device was opened, at
	// first).
	Since time.Time
	// Cause says why the device last went down; empty if it never did.
	Cause string
}

// stateSource is a Source that knows whether it captures (Open's).
type stateSource interface {
	linkState() DeviceState
}

// State returns whether the device captures. A Source that does not
// follow its interface (not opened by Open) is always up.
func (d Device) State() DeviceState {
	if s, ok := d.Source.(stateSource); ok {
		return s.linkState()
	}
	return DeviceState{Up: true}
}
