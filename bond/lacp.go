package bond

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Aggregator is an 802.3ad bond's active aggregator: the group of ports
// (slaves) the bond transmits on. Every port that cannot join it (another
// partner, another key, no LACPDU ever received) sits in an aggregator of
// its own and carries no traffic.
type Aggregator struct {
	// ID identifies the active aggregator; 0 when the bond has none (no
	// slave could aggregate).
	ID uint16
	// Ports is the number of ports in the active aggregator.
	Ports uint16
	// ActorKey and PartnerKey are the aggregator's operational keys;
	// PartnerMAC is the partner's system MAC, 00:00:00:00:00:00 while no
	// partner answers. KeysKnown says they were read: netlink shows them to
	// any process, sysfs and /proc/net/bonding only to CAP_NET_ADMIN.
	ActorKey, PartnerKey uint16
	PartnerMAC           string
	KeysKnown            bool
}

// SlaveLACP is an 802.3ad slave's LACP state.
type SlaveLACP struct {
	// AggregatorID is the aggregator the slave's port is attached to (0:
	// none).
	AggregatorID uint16
	// ActorState and PartnerState are the LACP port state octets of IEEE
	// 802.1AX (see PortState*), the slave's own and the partner's as last
	// received; StateKnown says they were read.
	ActorState, PartnerState uint8
	StateKnown               bool
	// ActorChurn and PartnerChurn are the churn detection machines' states,
	// "none", "monitoring", "churned" or "unknown" as the kernel names
	// them; "" where /proc/net/bonding was not read. Churned means the
	// port has been out of synchronisation for longer than the churn
	// detection time (60 s): on the partner's side typically a switch
	// port not configured for LACP, or one in another aggregation group.
	ActorChurn, PartnerChurn string
	// ActorChurns and PartnerChurns count the machines' entries into the
	// churned state.
	ActorChurns, PartnerChurns uint64
}

// LACP port state bits (IEEE 802.1AX, the kernel's AD_STATE_*).
const (
	PortStateActivity        = 0x01 // active LACP (else passive)
	PortStateTimeout         = 0x02 // short (fast) timeout
	PortStateAggregation     = 0x04 // aggregatable (else individual)
	PortStateSynchronization = 0x08 // in sync with its partner: attached to the right aggregator
	PortStateCollecting      = 0x10
	PortStateDistributing    = 0x20
	PortStateDefaulted       = 0x40 // using default partner information: no LACPDU received
	PortStateExpired         = 0x80
)

// Churn states as /proc/net/bonding writes them (bond_3ad_churn_desc).
var churnStates = map[string]bool{"none": true, "monitoring": true, "churned": true, "unknown": true}

// AggregatorMismatch reports whether slave s of bond b is outside b's
// active aggregator (attached to another one, or to none, or the bond has
// none), and whether that can be told at all: b is 802.3ad and both sides
// were read.
func AggregatorMismatch(b *Bond, s *Slave) (mismatch, known bool) {
	if b.Mode != "802.3ad" || b.Aggregator == nil || s.LACP == nil {
		return false, false
	}
	return b.Aggregator.ID == 0 || s.LACP.AggregatorID != b.Aggregator.ID, true
}

// Netlink attribute numbers of IFLA_BOND_AD_INFO (include/uapi/linux/if_link.h).
const (
	iflaLinkInfo          = 18
	iflaInfoKind          = 1
	iflaInfoData          = 2
	iflaBondADInfo        = 23
	iflaBondADInfoAgg     = 1
	iflaBondADInfoPorts   = 2
	iflaBondADInfoActor   = 3
	iflaBondADInfoPartner = 4
	iflaBondADInfoMAC     = 5
	nlaTypeMask           = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// ParseADInfo returns the IFLA_BOND_AD_INFO of an RTM_NEWLINK body (struct
// ifinfomsg and its attributes): an 802.3ad bond's active aggregator, which
// the kernel sends to unprivileged readers too (the netlink library leaves
// the attribute unparsed). ok is false when the message has none: not a
// bond, not 802.3ad, or no active aggregator. Malformed attributes are an
// error wrapping ErrBadValue.
func ParseADInfo(m []byte) (a Aggregator, ok bool, err error) {
	if len(m) < 16 {
		return a, false, fmt.Errorf("%w: %d bytes, shorter than ifinfomsg", ErrBadValue, len(m))
	}
	var info []byte
	if err := walkAttrs(m[16:], func(typ uint16, v []byte) error {
		if typ == iflaLinkInfo {
			info = v
		}
		return nil
	}); err != nil || info == nil {
		return a, false, err
	}
	var kind string
	var data []byte
	if err := walkAttrs(info, func(typ uint16, v []byte) error {
		switch typ {
		case iflaInfoKind:
			kind = strings.TrimRight(string(v), "\x00")
		case iflaInfoData:
			data = v
		}
		return nil
	}); err != nil || kind != "bond" || data == nil {
		return a, false, err
	}
	var ad []byte
	if err := walkAttrs(data, func(typ uint16, v []byte) error {
		if typ == iflaBondADInfo {
			ad = v
		}
		return nil
	}); err != nil || ad == nil {
		return a, false, err
	}
	seen := 0
	err = walkAttrs(ad, func(typ uint16, v []byte) error {
		u16 := func(dst *uint16) error {
			if len(v) < 2 {
				return fmt.Errorf("%w: IFLA_BOND_AD_INFO attribute %d of %d bytes", ErrBadValue, typ, len(v))
			}
			*dst = binary.NativeEndian.Uint16(v)
			return nil
		}
		switch typ {
		case iflaBondADInfoAgg:
			seen++
			return u16(&a.ID)
		case iflaBondADInfoPorts:
			return u16(&a.Ports)
		case iflaBondADInfoActor:
			seen++
			return u16(&a.ActorKey)
		case iflaBondADInfoPartner:
			seen++
			return u16(&a.PartnerKey)
		case iflaBondADInfoMAC:
			if len(v) < 6 {
				return fmt.Errorf("%w: IFLA_BOND_AD_INFO_PARTNER_MAC of %d bytes", ErrBadValue, len(v))
			}
			seen++
			a.PartnerMAC = net.HardwareAddr(v[:6]).String()
		}
		return nil
	})
	if err != nil {
		return Aggregator{}, false, err
	}
	a.KeysKnown = seen == 4
	return a, true, nil
}

// walkAttrs calls fn with each netlink attribute's type (flags masked) and
// value in b.
func walkAttrs(b []byte, fn func(typ uint16, v []byte) error) error {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < 4 || l > len(b) {
			return fmt.Errorf("%w: attribute of length %d with %d bytes left", ErrBadValue, l, len(b))
		}
		if err := fn(typ, b[4:l]); err != nil {
			return err
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return nil
}

// ProcBond is what /proc/net/bonding/<bond> says of an 802.3ad bond.
type ProcBond struct {
	// Mode is the "Bonding Mode" line's text ("IEEE 802.3ad Dynamic link
	// aggregation").
	Mode string
	// Aggregator is the "Active Aggregator Info" section (shown only to
	// CAP_NET_ADMIN): nil without it. A bond that has none ("has no active
	// aggregator", also only shown to CAP_NET_ADMIN) gets ID 0.
	Aggregator *Aggregator
	// Slaves are in the file's order.
	Slaves []ProcSlave
}

// ProcSlave is one "Slave Interface" section.
type ProcSlave struct {
	Name string
	// LACP is nil when the section has no 802.3ad lines (another mode).
	// Its port states are not set: sysfs and netlink have them for any
	// reader, the file only for CAP_NET_ADMIN.
	LACP *SlaveLACP
}

// ParseProcBonding parses the text of /proc/net/bonding/<bond>
// (drivers/net/bonding/bond_procfs.c) for its 802.3ad parts: the active
// aggregator and each slave's aggregator, churn states and churn counts.
// Lines it does not use are skipped; a malformed value of one it uses is
// an error wrapping ErrBadValue.
func ParseProcBonding(text string) (ProcBond, error) {
	var p ProcBond
	var slave *ProcSlave
	inAgg := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 4096), maxSysfsFile)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Text()
		s := strings.TrimSpace(raw)
		if s == "" {
			inAgg = false
			continue
		}
		indented := raw[0] == '\t' || raw[0] == ' '
		if !indented {
			inAgg = false
		}
		key, val, hasColon := strings.Cut(s, ":")
		val = strings.TrimSpace(val)
		bad := func(what string) error {
			return fmt.Errorf("%w: /proc/net/bonding line %d: %s %q", ErrBadValue, line, what, val)
		}
		num16 := func() (uint16, error) {
			n, err := strconv.ParseUint(val, 10, 16)
			if err != nil {
				return 0, bad(key)
			}
			return uint16(n), nil
		}
		switch {
		case !indented && key == "Slave Interface" && hasColon:
			if !validIfName(val) {
				return p, bad("slave name")
			}
			p.Slaves = append(p.Slaves, ProcSlave{Name: val})
			slave = &p.Slaves[len(p.Slaves)-1]
		case slave == nil && !indented && key == "Bonding Mode" && hasColon:
			p.Mode = val
		case slave == nil && !indented && key == "Active Aggregator Info":
			inAgg = true
			p.Aggregator = &Aggregator{KeysKnown: true}
		case slave == nil && strings.HasSuffix(s, "has no active aggregator"):
			p.Aggregator = &Aggregator{}
		case slave == nil && inAgg && indented:
			var err error
			switch key {
			case "Aggregator ID":
				p.Aggregator.ID, err = num16()
			case "Number of ports":
				p.Aggregator.Ports, err = num16()
			case "Actor Key":
				p.Aggregator.ActorKey, err = num16()
			case "Partner Key":
				p.Aggregator.PartnerKey, err = num16()
			case "Partner Mac Address":
				mac, perr := net.ParseMAC(val)
				if perr != nil || len(mac) != 6 {
					return p, bad(key)
				}
				p.Aggregator.PartnerMAC = mac.String()
			}
			if err != nil {
				return p, err
			}
		case slave != nil && !indented && hasColon:
			lacp := func() *SlaveLACP {
				if slave.LACP == nil {
					slave.LACP = &SlaveLACP{}
				}
				return slave.LACP
			}
			switch key {
			case "Aggregator ID":
				if val == "N/A" {
					lacp().AggregatorID = 0
					continue
				}
				id, err := num16()
				if err != nil {
					return p, err
				}
				lacp().AggregatorID = id
			case "Actor Churn State", "Partner Churn State":
				if !churnStates[val] {
					return p, bad(key)
				}
				if key == "Actor Churn State" {
					lacp().ActorChurn = val
				} else {
					lacp().PartnerChurn = val
				}
			case "Actor Churned Count", "Partner Churned Count":
				n, err := strconv.ParseUint(val, 10, 64)
				if err != nil {
					return p, bad(key)
				}
				if key == "Actor Churned Count" {
					lacp().ActorChurns = n
				} else {
					lacp().PartnerChurns = n
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return p, fmt.Errorf("%w: /proc/net/bonding: %w", ErrBadValue, err)
	}
	return p, nil
}

// ReadProcBonding completes t's 802.3ad bonds with
// procfsRoot/net/bonding/<bond>, the only place the kernel shows churn
// states and counts (to any reader). A file that is missing or does not
// parse is a Problem of the bond; reading goes on.
func ReadProcBonding(t *Topology, procfsRoot string) {
	for i := range t.Bonds {
		b := &t.Bonds[i]
		if b.Mode != "802.3ad" {
			continue
		}
		text, err := readSmall(filepath.Join(procfsRoot, "net", "bonding", b.Name))
		if err != nil {
			t.Problems = append(t.Problems, Problem{Bond: b.Name, Device: b.Name, Err: fmt.Errorf("%w: net/bonding/%s: %w", ErrMissingFile, b.Name, err)})
			continue
		}
		p, err := ParseProcBonding(text)
		if err != nil {
			t.Problems = append(t.Problems, Problem{Bond: b.Name, Device: b.Name, Err: err})
			continue
		}
		mergeProc(b, p)
	}
}

// mergeProc completes bond b with what its /proc/net/bonding file says:
// the churn states and counts (only there), and the aggregator and slave
// aggregators where netlink and sysfs gave none.
func mergeProc(b *Bond, p ProcBond) {
	if p.Aggregator != nil {
		switch {
		case b.Aggregator == nil:
			a := *p.Aggregator
			b.Aggregator = &a
		case !b.Aggregator.KeysKnown && p.Aggregator.KeysKnown && p.Aggregator.ID == b.Aggregator.ID:
			a := *b.Aggregator
			a.ActorKey, a.PartnerKey, a.PartnerMAC, a.KeysKnown = p.Aggregator.ActorKey, p.Aggregator.PartnerKey, p.Aggregator.PartnerMAC, true
			b.Aggregator = &a
		}
	}
	for _, ps := range p.Slaves {
		if ps.LACP == nil {
			continue
		}
		for i := range b.Slaves {
			s := &b.Slaves[i]
			if s.Name != ps.Name {
				continue
			}
			l := SlaveLACP{AggregatorID: ps.LACP.AggregatorID}
			if s.LACP != nil {
				l = *s.LACP
			}
			l.ActorChurn, l.PartnerChurn = ps.LACP.ActorChurn, ps.LACP.PartnerChurn
			l.ActorChurns, l.PartnerChurns = ps.LACP.ActorChurns, ps.LACP.PartnerChurns
			s.LACP = &l
		}
	}
}
