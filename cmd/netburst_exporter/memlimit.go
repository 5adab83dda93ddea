package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/units"
)

// The soft memory limit (issue 12). A soft limit is a ceiling, not a
// target: set near the live heap it makes the runtime collect at every
// allocation (with 1,000 interfaces the old fixed 24 MiB default had the
// collector run at every 100 ms sample, ten times the sampler's CPU). So
// the limit here is derived from the container's memory when there is one,
// the way automemlimit does, and is never let below what the runtime's
// default pacing reaches anyway: it caps growth and cannot cost CPU.

// defaultMemoryLimit is the default of --runtime.memory-limit.
const defaultMemoryLimit = "auto"

// cgroupRatio is the share of the cgroup's memory limit that auto sets as
// the soft limit, leaving the rest for memory the Go runtime does not count
// (the binary's pages, kernel buffers charged to the cgroup).
const cgroupRatio = 0.9

// floorSlack is added to the floor: the heap's fragmentation and the
// allocations of one scrape, so that a limit at the floor still leaves a
// whole GC cycle of headroom.
const floorSlack = 8 << 20

// memoryLimitCheck is how often the live heap is compared with the limit:
// often enough that a live heap grown past the floor (the first scrapes, a
// reload adding targets) is caught within a second; a check reads seven
// runtime metrics, a few microseconds.
const memoryLimitCheck = time.Second

// memoryLimitFlag is --runtime.memory-limit: "auto", "0" or a size.
type memoryLimitFlag struct {
	auto  bool
	bytes int64
}

func (f *memoryLimitFlag) Set(s string) error {
	if strings.EqualFold(s, "auto") {
		*f = memoryLimitFlag{auto: true}
		return nil
	}
	b, err := units.ParseBase2Bytes(s)
	if err != nil || b < 0 {
		return fmt.Errorf("--runtime.memory-limit=%s: want auto, 0 or a size such as 512MiB", s)
	}
	*f = memoryLimitFlag{bytes: int64(b)}
	return nil
}

func (f *memoryLimitFlag) String() string {
	if f.auto {
		return "auto"
	}
	return units.Base2Bytes(f.bytes).String()
}

// cgroupPaths are where the process's cgroup and the cgroup filesystems
// are; tests point them at fixtures.
type cgroupPaths struct {
	procSelfCgroup string // /proc/self/cgroup
	root           string // /sys/fs/cgroup
}

// hostCgroups are the process's own.
func hostCgroups() cgroupPaths {
	return cgroupPaths{procSelfCgroup: "/proc/self/cgroup", root: "/sys/fs/cgroup"}
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup: the
// lowest memory.max (cgroup v2) or memory.limit_in_bytes (v1) from its
// cgroup up to the root, 0 when there is none. seen says whether any such
// file was found: none is found in the root cgroup, or where the cgroup
// filesystem is not mounted (`ip netns exec` mounts a sysfs of its own
// over /sys).
func cgroupMemoryLimit(p cgroupPaths) (limit int64, seen bool, err error) {
	f, err := os.Open(p.procSelfCgroup)
	if err != nil {
		return 0, false, fmt.Errorf("reading the process's cgroup: %w", err)
	}
	defer f.Close()
	var v1, v2 string
	have1, have2 := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2, have2 = parts[2], true
		case containsField(parts[1], "memory"):
			v1, have1 = parts[2], true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, false, fmt.Errorf("reading the process's cgroup: %w", err)
	}
	switch {
	case have1:
		// A v1 memory controller is authoritative where it exists (hybrid
		// hosts mount an empty v2 tree beside it).
		return lowestLimit(path.Join(p.root, "memory"), v1, "memory.limit_in_bytes")
	case have2:
		return lowestLimit(p.root, v2, "memory.max")
	}
	return 0, false, nil
}

func containsField(list, name string) bool {
	for f := range strings.SplitSeq(list, ",") {
		if f == name {
			return true
		}
	}
	return false
}

// v1Unlimited is the smallest value a v1 cgroup reports for "no limit"
// (the page-rounded maximum, 9223372036854771712 on 4 KiB pages).
const v1Unlimited = math.MaxInt64 / 2

// lowestLimit reads file in dir/cgroup and each of its parents up to dir,
// and returns the lowest limit, 0 when none is set, and whether any file
// was there. In a container whose cgroup namespace makes its cgroup the
// root, the path is "/" and only dir's own file counts.
func lowestLimit(dir, cgroup, file string) (lowest int64, seen bool, err error) {
	for p := path.Clean("/" + cgroup); ; p = path.Dir(p) {
		b, err := os.ReadFile(path.Join(dir, p, file))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The root cgroup has no limit file; a path outside the
			// mounted tree (cgroup namespaces) has none either.
		case err != nil:
			return 0, seen, fmt.Errorf("reading %s: %w", path.Join(dir, p, file), err)
		default:
			seen = true
			s := strings.TrimSpace(string(b))
			if s != "max" {
				v, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return 0, seen, fmt.Errorf("%s: %q is not a limit: %w", path.Join(dir, p, file), s, err)
				}
				if v > 0 && v < v1Unlimited && (lowest == 0 || v < lowest) {
					lowest = v
				}
			}
		}
		if p == "/" {
			return lowest, seen, nil
		}
	}
}

// memoryLimiter keeps the runtime's soft memory limit at its ceiling (the
// configured size, or a share of the cgroup's limit), raised to the floor
// whenever the ceiling sits below it.
type memoryLimiter struct {
	ceiling int64  // the configured size, or the cgroup's share
	source  string // where the ceiling comes from: "flag" or "cgroup"
	cgroup  int64  // the cgroup's limit, 0 when none
	current int64
	tight   bool // the floor is above the cgroup's limit (logged once per episode)
	logger  *slog.Logger
	sample  []metrics.Sample
}

// newLimiterSample returns the runtime metrics a memoryLimiter reads, in
// the order of the ms* indexes.
func newLimiterSample() []metrics.Sample {
	return []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/released:bytes"},
	}
}

// Indexes into memoryLimiter.sample.
const (
	msLive = iota
	msGOGC
	msTotal
	msObjects
	msUnused
	msFree
	msReleased
)

// startMemoryLimit applies the soft memory limit that flag and the cgroup
// call for and returns the loop that keeps it above the floor, or nil when
// there is no limit to keep (flag 0, no cgroup limit under auto, or the
// GOMEMLIMIT environment variable set, which then wins).
func startMemoryLimit(flag memoryLimitFlag, cg cgroupPaths, logger *slog.Logger) func(ctx context.Context) error {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		logger.Info("GOMEMLIMIT is set; --runtime.memory-limit does not apply", "GOMEMLIMIT", v)
		return nil
	}
	m := &memoryLimiter{logger: logger, sample: newLimiterSample()}
	cgLimit, seen, err := cgroupMemoryLimit(cg)
	if err != nil {
		logger.Warn("cannot read the cgroup's memory limit", "err", err)
	}
	m.cgroup = cgLimit
	switch {
	case flag.auto && cgLimit > 0:
		m.ceiling, m.source = int64(cgroupRatio*float64(cgLimit)), "cgroup"
	case flag.auto && !seen && err == nil:
		logger.Info("no cgroup memory limit file along the exporter's cgroup (the root cgroup, or no cgroup filesystem under " + cg.root + "): no soft memory limit (the Go runtime's default pacing)")
		return nil
	case flag.auto:
		logger.Info("no cgroup memory limit: no soft memory limit (the Go runtime's default pacing)")
		return nil
	case flag.bytes == 0:
		logger.Info("--runtime.memory-limit=0: no soft memory limit")
		return nil
	default:
		m.ceiling, m.source = flag.bytes, "flag"
	}
	m.adjust()
	logger.Info("soft memory limit", "limit_bytes", m.current, "from", m.source, "ceiling_bytes", m.ceiling, "cgroup_limit_bytes", cgLimit)
	if m.current > m.ceiling {
		logger.Info("soft memory limit raised above its ceiling to what the live heap needs with the runtime's default pacing, and kept there while it needs it")
	}
	return m.run
}

// floor is what the runtime's default pacing lets the process reach by
// itself: the live heap grown by GOGC percent, plus the runtime's memory
// outside the heap (stacks, metadata) and some slack. A soft limit at or
// above it never makes the collector run sooner than GOGC would.
func floor(live, gogc, nonHeap int64) int64 {
	if gogc < 0 { // GOGC=off: the limit is the only pacing; keep a live heap's worth
		gogc = 100
	}
	return live + live*gogc/100 + nonHeap + floorSlack
}

// want is the limit for the current readings: the ceiling, or the floor
// when that is higher.
func (m *memoryLimiter) want(live, gogc, nonHeap int64) int64 {
	return max(m.ceiling, floor(live, gogc, nonHeap))
}

func (m *memoryLimiter) read() (live, gogc, nonHeap int64) {
	metrics.Read(m.sample)
	v := func(i int) int64 {
		if m.sample[i].Value.Kind() == metrics.KindUint64 {
			return int64(m.sample[i].Value.Uint64())
		}
		return 0
	}
	live, gogc = v(msLive), v(msGOGC)
	if m.sample[msGOGC].Value.Kind() != metrics.KindUint64 {
		gogc = 100
	}
	nonHeap = max(0, v(msTotal)-v(msObjects)-v(msUnused)-v(msFree)-v(msReleased))
	return live, gogc, nonHeap
}

func (m *memoryLimiter) adjust() {
	live, gogc, nonHeap := m.read()
	w := m.want(live, gogc, nonHeap)
	if w != m.current {
		if m.current != 0 {
			m.logger.Debug("soft memory limit adjusted", "limit_bytes", w, "live_heap_bytes", live, "non_heap_bytes", nonHeap)
		}
		debug.SetMemoryLimit(w)
		m.current = w
	}
	if tight := m.cgroup > 0 && w > m.cgroup; tight != m.tight {
		m.tight = tight
		if tight {
			m.logger.Warn("the cgroup's memory limit is below what the live heap needs with the runtime's default pacing: raise it, or expect the OOM killer",
				"cgroup_limit_bytes", m.cgroup, "needed_bytes", w, "live_heap_bytes", live)
		}
	}
}

func (m *memoryLimiter) run(ctx context.Context) error {
	t := time.NewTicker(memoryLimitCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.adjust()
		}
	}
}

// hostMemory is the memory this process may use: the host's (MemTotal of
// procfs/meminfo), or its cgroup's limit when lower.
func hostMemory(procfs string) (int64, error) {
	b, err := os.ReadFile(path.Join(procfs, "meminfo"))
	if err != nil {
		return 0, fmt.Errorf("reading the host's memory size: %w", err)
	}
	total, err := parseMemTotal(b)
	if err != nil {
		return 0, err
	}
	if limit, _, err := cgroupMemoryLimit(hostCgroups()); err == nil && limit > 0 && limit < total {
		total = limit
	}
	return total, nil
}

// parseMemTotal reads "MemTotal:   23456789 kB" from /proc/meminfo.
func parseMemTotal(b []byte) (int64, error) {
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil && kb > 0 {
					return kb << 10, nil
				}
			}
			return 0, fmt.Errorf("meminfo: unreadable line %q", strings.TrimSpace(line))
		}
	}
	return 0, errors.New("meminfo: no MemTotal line")
}
