package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// defaultMemoryLimit is the default of --runtime.memory-limit. With 1,000
// interfaces the exporter's live heap is about 15 MiB; the runtime's default
// pacing (GOGC=100) lets the heap grow to twice that between collections,
// which with the binary's own pages made a resident set of about 50 MiB.
// A soft limit makes the collector run before that.
const defaultMemoryLimit = "24MiB"

// memoryLimitCheck is how often the live heap is compared with the limit.
const memoryLimitCheck = 5 * time.Second

// memoryLimiter keeps the Go runtime's soft memory limit at the configured
// value, or above the live heap with some headroom when the live heap
// outgrows it (many probe targets, a large capture): a soft limit below
// the live heap would make the collector run back to back.
type memoryLimiter struct {
	floor   int64
	current int64
	logger  *slog.Logger
	sample  []metrics.Sample
}

// startMemoryLimit applies limit (bytes) as the runtime's soft memory
// limit and returns the loop that adjusts it, or nil when limit is 0 or the
// GOMEMLIMIT environment variable is set (which then wins).
func startMemoryLimit(limit int64, logger *slog.Logger) func(ctx context.Context) error {
	if limit <= 0 {
		return nil
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		logger.Info("GOMEMLIMIT is set; --runtime.memory-limit does not apply", "GOMEMLIMIT", v)
		return nil
	}
	m := &memoryLimiter{floor: limit, logger: logger, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	m.adjust()
	return m.run
}

// want is the limit for a live heap of live bytes: the configured floor, or
// the live heap plus a quarter (at least 4 MiB) when that is more.
func (m *memoryLimiter) want(live int64) int64 {
	return max(m.floor, live+max(live/4, 4<<20))
}

func (m *memoryLimiter) adjust() {
	metrics.Read(m.sample)
	var live int64
	if m.sample[0].Value.Kind() == metrics.KindUint64 {
		live = int64(m.sample[0].Value.Uint64())
	}
	if w := m.want(live); w != m.current {
		if m.current != 0 {
			m.logger.Debug("soft memory limit adjusted to the live heap", "limit_bytes", w, "live_heap_bytes", live)
		}
		debug.SetMemoryLimit(w)
		m.current = w
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
