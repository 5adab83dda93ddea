package bond

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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
// bonding_slave/{state,mii_status,link_failure_count,queue_id} and speed.
// A missing bonding_masters means no bonding driver: an empty topology.
// Missing or malformed files, unknown modes and listed slaves that do not
// exist become Problems; only an unreadable bonding_masters is an error.
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
		b.Slaves = append(b.Slaves, readSysfsSlave(net, name, sl, t))
	}
	return b
}

func readSysfsSlave(net, bond, name string, t *Topology) Slave {
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
	return s
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
