package bond

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Mode names, as sysfs writes them, indexed by the kernel's BOND_MODE_*.
var modeNames = [...]string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}

// ModeName returns the sysfs name of bonding mode m, or "" if unknown.
func ModeName(m int) string {
	if m >= 0 && m < len(modeNames) {
		return modeNames[m]
	}
	return ""
}

// ModeHashes reports whether a mode picks slaves with xmit_hash_policy
// (balance-xor and 802.3ad; balance-tlb/alb only with tlb_dynamic_lb=0,
// which this does not know, so they count as hashing).
func ModeHashes(mode string) bool {
	switch mode {
	case "balance-xor", "802.3ad", "balance-tlb", "balance-alb":
		return true
	}
	return false
}

// Bond is one bonding master.
type Bond struct {
	// Name is the bond's interface name.
	Name string
	// Mode is the mode's sysfs name ("802.3ad"), "unknown" if it could not
	// be read or was not recognised.
	Mode string
	// XmitHashPolicy is the policy's sysfs name ("layer3+4"), "unknown" if
	// unreadable.
	XmitHashPolicy string
	// MIIMon is the MII monitoring interval (0: off or unknown).
	MIIMon time.Duration
	// ActiveSlave names the current active slave (active-backup), if any.
	ActiveSlave string
	// Slaves are the enslaved devices in the kernel's order.
	Slaves []Slave
	// Source says where the bond was read from: "netlink" or "sysfs".
	Source string
	// Aggregator is an 802.3ad bond's active aggregator (ID 0: none); nil
	// for other modes and where it could not be read.
	Aggregator *Aggregator
}

// Slave is one enslaved device.
type Slave struct {
	// Name is the slave's interface name.
	Name string
	// State is "active" or "backup" ("unknown" if unreadable).
	State string
	// MIIStatus is "up", "going down", "down" or "going back" ("unknown").
	MIIStatus string
	// SpeedBytes is the link speed in bytes per second (0: unknown).
	SpeedBytes float64
	// LinkFailureCount counts the slave's link failures.
	LinkFailureCount uint64
	// QueueID is the slave's queue_id.
	QueueID uint16
	// LACP is an 802.3ad slave's LACP state; nil for other modes and where
	// it could not be read.
	LACP *SlaveLACP
}

// Sentinel errors of topology problems, matched with errors.Is.
var (
	// ErrMissingFile is a sysfs file that should exist and does not (or
	// cannot be read).
	ErrMissingFile = errors.New("missing file")
	// ErrBadValue is a file or attribute whose content does not parse.
	ErrBadValue = errors.New("malformed value")
	// ErrUnknownMode is a bonding mode this program does not know.
	ErrUnknownMode = errors.New("unknown bonding mode")
	// ErrMissingSlave is a slave listed by its bond that does not exist.
	ErrMissingSlave = errors.New("listed slave does not exist")
	// ErrNotSupported is returned by ReadNetlink and ParseLinkMessages
	// where there is no netlink (systems other than Linux).
	ErrNotSupported = errors.New("netburst/bond: not supported on " + runtime.GOOS)
)

// Problem is one thing wrong with what the kernel (or a fixture) reports;
// reading goes on past it.
type Problem struct {
	// Bond and Device locate the problem (Device may equal Bond).
	Bond, Device string
	// Err is the problem, wrapping one of the sentinel errors.
	Err error
}

// Error implements error.
func (p Problem) Error() string {
	if p.Bond == "" {
		return p.Err.Error()
	}
	if p.Device != "" && p.Device != p.Bond {
		return fmt.Sprintf("bond %s slave %s: %v", p.Bond, p.Device, p.Err)
	}
	return fmt.Sprintf("bond %s: %v", p.Bond, p.Err)
}

// Unwrap returns the underlying error.
func (p Problem) Unwrap() error { return p.Err }

// Kind names the sentinel a problem wraps, for a metric label:
// "missing_file", "bad_value", "unknown_mode", "missing_slave" or "other".
func (p Problem) Kind() string {
	switch {
	case errors.Is(p.Err, ErrMissingFile):
		return "missing_file"
	case errors.Is(p.Err, ErrUnknownMode):
		return "unknown_mode"
	case errors.Is(p.Err, ErrMissingSlave):
		return "missing_slave"
	case errors.Is(p.Err, ErrBadValue):
		return "bad_value"
	}
	return "other"
}

// Topology is every bond of a host and what went wrong reading them.
type Topology struct {
	// Bonds are sorted by name.
	Bonds []Bond
	// Problems are the non-fatal problems met while reading.
	Problems []Problem
}

// Bond returns the named bond.
func (t *Topology) Bond(name string) (*Bond, bool) {
	for i := range t.Bonds {
		if t.Bonds[i].Name == name {
			return &t.Bonds[i], true
		}
	}
	return nil, false
}

// Merge adds to t the bonds of other that t does not have (by name), with
// their problems: netlink's view wins, sysfs fills in where netlink shows
// no bond (a kernel without bonding, fixtures).
func (t *Topology) Merge(other *Topology) {
	if other == nil {
		return
	}
	have := map[string]bool{}
	for _, b := range t.Bonds {
		have[b.Name] = true
	}
	for _, b := range other.Bonds {
		if !have[b.Name] {
			t.Bonds = append(t.Bonds, b)
		}
	}
	for _, p := range other.Problems {
		if !have[p.Bond] {
			t.Problems = append(t.Problems, p)
		}
	}
	sort.Slice(t.Bonds, func(i, j int) bool { return t.Bonds[i].Name < t.Bonds[j].Name })
}

// parseMode parses a sysfs mode file ("802.3ad 4") or a bare name/number.
func parseMode(s string) (string, error) {
	name, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	for i, n := range modeNames {
		if name == n || name == fmt.Sprint(i) {
			return n, nil
		}
	}
	return "unknown", fmt.Errorf("%w %q", ErrUnknownMode, strings.TrimSpace(s))
}
