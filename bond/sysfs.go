package bond

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxSysfsFile bounds what is read of one sysfs file.
const maxSysfsFile = 64 << 10

// ReadSysfs reads every bond under root (the sysfs mount point, "/sys" on
// a host; a fixture tree in tests): class/net/bonding_masters, each bond's
// bonding/{mode,xmit_hash_policy,slaves,miimon,active_slave}, each slave's
// bonding_slave/{state,mii_status,link_failure_count,queue_id} and speed,
// and for 802.3ad bonds the active aggregator (bonding/ad_aggregator,
// ad_num_ports, and ad_actor_key, ad_partner_key, ad_partner_mac, which
// the kernel leaves empty without CAP_NET_ADMIN) and each slave's
// bonding_slave/{ad_aggregator_id,ad_actor_oper_port_state,
// ad_partner_oper_port_state}.
// A missing bonding_masters means no bonding driver: an empty topology.
// Missing or malformed files, unknown modes and listed slaves that do not
// exist become Problems (the ad_* files may be missing: older kernels lack
// some); only an unreadable bonding_masters is an error.
func ReadSysfs(root string) (*Topology, error) {
	net := filepath.Join(root, "class", "net")
	masters, err := readSmall(filepath.Join(net, "bonding_masters"))
	if errors.Is(err, fs.ErrNotExist) {
		return &Topology{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bond: read bonding_masters: %w", err)
	}
	t := &Topology{}
	seen := map[string]bool{}
	for _, name := range strings.Fields(masters) {
		if seen[name] {
			t.Problems = append(t.Problems, Problem{Bond: name, Err: fmt.Errorf("%w: bond %s listed twice in bonding_masters", ErrBadValue, name)})
			continue
		}
		seen[name] = true
		if !validIfName(name) {
			t.Problems = append(t.Problems, Problem{Bond: name, Err: fmt.Errorf("%w: bond name %q in bonding_masters", ErrBadValue, name)})
			continue
		}
		t.Bonds = append(t.Bonds, readSysfsBond(net, name, t))
	}
	sort.Slice(t.Bonds, func(i, j int) bool { return t.Bonds[i].Name < t.Bonds[j].Name })
	return t, nil
}

func readSysfsBond(net, name string, t *Topology) Bond {
	b := Bond{Name: name, Mode: "unknown", XmitHashPolicy: "unknown", Source: "sysfs"}
	dir := filepath.Join(net, name, "bonding")
	problem := func(dev string, err error) {
		t.Problems = append(t.Problems, Problem{Bond: name, Device: dev, Err: err})
	}
	read := func(file string) (string, bool) {
		s, err := readSmall(filepath.Join(dir, file))
		if err != nil {
			problem(name, fmt.Errorf("%w: bonding/%s: %w", ErrMissingFile, file, err))
			return "", false
		}
		return strings.TrimSpace(s), true
	}
	if s, ok := read("mode"); ok {
		m, err := parseMode(s)
		if err != nil {
			problem(name, err)
		}
		b.Mode = m
	}
	if s, ok := read("xmit_hash_policy"); ok {
		if p, err := ParsePolicy(s); err != nil {
			problem(name, fmt.Errorf("%w: xmit_hash_policy %q", ErrBadValue, s))
		} else {
			b.XmitHashPolicy = p.String()
		}
	}
	if s, ok := read("miimon"); ok {
		if ms, err := strconv.ParseUint(s, 10, 32); err != nil {
			problem(name, fmt.Errorf("%w: miimon %q", ErrBadValue, s))
		} else {
			b.MIIMon = time.Duration(ms) * time.Millisecond
		}
	}
	// active_slave is empty or absent outside active-backup/tlb/alb.
	if s, err := readSmall(filepath.Join(dir, "active_slave")); err == nil {
		b.ActiveSlave = strings.TrimSpace(s)
	}
	slaves, _ := read("slaves")
	seen := map[string]bool{}
	for _, sl := range strings.Fields(slaves) {
		if seen[sl] {
			problem(sl, fmt.Errorf("%w: slave %s listed twice", ErrBadValue, sl))
			continue
		}
		seen[sl] = true
		if !validIfName(sl) {
			problem(sl, fmt.Errorf("%w: slave name %q", ErrBadValue, sl))
			continue
		}
		if _, err := os.Stat(filepath.Join(net, sl)); err != nil {
			problem(sl, fmt.Errorf("%w: %s", ErrMissingSlave, sl))
			continue
		}
		b.Slaves = append(b.Slaves, readSysfsSlave(net, name, sl, b.Mode == "802.3ad", t))
	}
	if b.Mode == "802.3ad" {
		b.Aggregator = readSysfsAggregator(dir, func(err error) { problem(name, err) })
	}
	return b
}

// readOptional reads a sysfs attribute that may be missing or empty: ""
// then.
func readOptional(path string) string {
	s, err := readSmall(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

// readSysfsAggregator reads an 802.3ad bond's active aggregator from its
// bonding/ directory: nil when ad_aggregator is missing or empty.
func readSysfsAggregator(dir string, problem func(error)) *Aggregator {
	v := map[string]string{}
	for _, f := range []string{"ad_aggregator", "ad_num_ports", "ad_actor_key", "ad_partner_key", "ad_partner_mac"} {
		v[f] = readOptional(filepath.Join(dir, f))
	}
	if v["ad_aggregator"] == "" {
		return nil
	}
	var a Aggregator
	for _, f := range []struct {
		file string
		dst  *uint16
	}{{"ad_aggregator", &a.ID}, {"ad_num_ports", &a.Ports}, {"ad_actor_key", &a.ActorKey}, {"ad_partner_key", &a.PartnerKey}} {
		if v[f.file] == "" {
			continue
		}
		n, err := strconv.ParseUint(v[f.file], 10, 16)
		if err != nil {
			problem(fmt.Errorf("%w: bonding/%s %q", ErrBadValue, f.file, v[f.file]))
			continue
		}
		*f.dst = uint16(n)
	}
	// The keys and MAC are empty for an unprivileged reader; the MAC also
	// while the bond has no active aggregator.
	if mac := v["ad_partner_mac"]; mac != "" && v["ad_actor_key"] != "" && v["ad_partner_key"] != "" {
		if hw, err := net.ParseMAC(mac); err != nil || len(hw) != 6 {
			problem(fmt.Errorf("%w: bonding/ad_partner_mac %q", ErrBadValue, mac))
		} else {
			a.PartnerMAC, a.KeysKnown = hw.String(), true
		}
	}
	return &a
}

func readSysfsSlave(net, bond, name string, lacp bool, t *Topology) Slave {
	s := Slave{Name: name, State: "unknown", MIIStatus: "unknown"}
	dir := filepath.Join(net, name, "bonding_slave")
	problem := func(err error) { t.Problems = append(t.Problems, Problem{Bond: bond, Device: name, Err: err}) }
	read := func(file string) (string, bool) {
		v, err := readSmall(filepath.Join(dir, file))
		if err != nil {
			problem(fmt.Errorf("%w: bonding_slave/%s: %w", ErrMissingFile, file, err))
			return "", false
		}
		return strings.TrimSpace(v), true
	}
	if v, ok := read("state"); ok {
		if v != "active" && v != "backup" {
			problem(fmt.Errorf("%w: state %q", ErrBadValue, v))
		} else {
			s.State = v
		}
	}
	if v, ok := read("mii_status"); ok {
		switch v {
		case "up", "down", "going down", "going back":
			s.MIIStatus = v
		default:
			problem(fmt.Errorf("%w: mii_status %q", ErrBadValue, v))
		}
	}
	if v, ok := read("link_failure_count"); ok {
		if n, err := strconv.ParseUint(v, 10, 64); err != nil {
			problem(fmt.Errorf("%w: link_failure_count %q", ErrBadValue, v))
		} else {
			s.LinkFailureCount = n
		}
	}
	if v, ok := read("queue_id"); ok {
		if n, err := strconv.ParseUint(v, 10, 16); err != nil {
			problem(fmt.Errorf("%w: queue_id %q", ErrBadValue, v))
		} else {
			s.QueueID = uint16(n)
		}
	}
	s.SpeedBytes = readSpeed(net, name)
	if lacp {
		s.LACP = readSysfsSlaveLACP(dir, problem)
	}
	return s
}

// readSysfsSlaveLACP reads an 802.3ad slave's aggregator and port states
// from its bonding_slave/ directory ("N/A" while its port has no
// aggregator): nil when ad_aggregator_id is missing.
func readSysfsSlaveLACP(dir string, problem func(error)) *SlaveLACP {
	id := readOptional(filepath.Join(dir, "ad_aggregator_id"))
	if id == "" {
		return nil
	}
	l := &SlaveLACP{}
	if id != "N/A" {
		n, err := strconv.ParseUint(id, 10, 16)
		if err != nil {
			problem(fmt.Errorf("%w: bonding_slave/ad_aggregator_id %q", ErrBadValue, id))
			return nil
		}
		l.AggregatorID = uint16(n)
	}
	actor := readOptional(filepath.Join(dir, "ad_actor_oper_port_state"))
	partner := readOptional(filepath.Join(dir, "ad_partner_oper_port_state"))
	if actor == "" || actor == "N/A" || partner == "" || partner == "N/A" {
		return l
	}
	a, aerr := strconv.ParseUint(actor, 10, 8)
	p, perr := strconv.ParseUint(partner, 10, 8)
	if aerr != nil || perr != nil {
		problem(fmt.Errorf("%w: bonding_slave/ad_*_oper_port_state %q, %q", ErrBadValue, actor, partner))
		return l
	}
	l.ActorState, l.PartnerState, l.StateKnown = uint8(a), uint8(p), true
	return l
}

// readSpeed returns class/net/<dev>/speed (Mb/s) in bytes per second, 0
// when absent or unknown (-1, or EINVAL for a link that is down).
func readSpeed(net, dev string) float64 {
	v, err := readSmall(filepath.Join(net, dev, "speed"))
	if err != nil {
		return 0
	}
	mbps, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || mbps <= 0 {
		return 0
	}
	return float64(mbps) * 1e6 / 8
}

// readSmall reads a sysfs file, bounded.
func readSmall(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSysfsFile))
	return string(b), err
}

// validIfName rejects names that could walk out of class/net.
func validIfName(s string) bool {
	return s != "" && len(s) < 16 && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}
