package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

func TestMemoryLimitWant(t *testing.T) {
	m := &memoryLimiter{floor: 24 << 20}
	for _, c := range []struct {
		live, want int64
	}{
		{0, 24 << 20},
		{15 << 20, 24 << 20},          // the configured limit binds
		{20 << 20, 25 << 20},          // 4 MiB of headroom at least
		{64 << 20, 64<<20 + 16<<20},   // a quarter of a large live heap
		{200 << 20, 200<<20 + 50<<20}, // never below the live heap
	} {
		if got := m.want(c.live); got != c.want {
			t.Errorf("live %d MiB: limit %d, want %d", c.live>>20, got, c.want)
		}
	}
}

func TestStartMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	logger := slog.New(slog.DiscardHandler)

	t.Setenv("GOMEMLIMIT", "")
	if startMemoryLimit(0, logger) != nil || debug.SetMemoryLimit(-1) != before {
		t.Error("--runtime.memory-limit=0 set a limit")
	}
	if startMemoryLimit(24<<20, logger) == nil {
		t.Fatal("no adjusting loop for a limit")
	}
	if got := debug.SetMemoryLimit(-1); got < 24<<20 || got == math.MaxInt64 {
		t.Errorf("limit after start = %d, want at least 24 MiB", got)
	}

	debug.SetMemoryLimit(before)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if startMemoryLimit(24<<20, logger) != nil || debug.SetMemoryLimit(-1) != before {
		t.Error("the flag overrode GOMEMLIMIT")
	}
}
