package ratelog

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"
)

// DefaultInterval is how often one key is logged at most.
const DefaultInterval = time.Minute

// maxKeys bounds the keys remembered. Keys come from configuration and
// device names (target and cause, device and error kind); past the bound the
// least recently logged key is forgotten, which at worst logs it again early.
const maxKeys = 4096

// Logger rate-limits log lines per key. The zero value is not usable; use
// New. It is safe for concurrent use.
type Logger struct {
	logger   *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// New returns a Logger writing to logger (nil discards) at most once per key
// every interval (DefaultInterval when 0 or less).
func New(logger *slog.Logger, interval time.Duration) *Logger {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Logger{logger: logger, interval: interval, now: time.Now, keys: map[string]*entry{}}
}

// Log writes msg with args at level unless key was logged less than the
// interval ago; the line then carries "suppressed", the number of lines of
// that key held back since the last one. It reports whether it wrote.
func (l *Logger) Log(level slog.Level, key, msg string, args ...any) bool {
	now := l.now()
	l.mu.Lock()
	e := l.keys[key]
	if e != nil && now.Sub(e.last) < l.interval {
		e.suppressed++
		l.mu.Unlock()
		return false
	}
	suppressed := 0
	if e == nil {
		if len(l.keys) >= maxKeys {
			l.evictOldest()
		}
		e = &entry{}
		l.keys[key] = e
	} else {
		suppressed = e.suppressed
	}
	e.last, e.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	if !l.logger.Enabled(context.Background(), level) {
		return true
	}
	// The line's source is Log's caller, not this file.
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:])
	r := slog.NewRecord(now, level, msg, pcs[0])
	r.Add(args...)
	_ = l.logger.Handler().Handle(context.Background(), r)
	return true
}

// Forget drops key, so that its next failure is logged at once: call it when
// the failure has ended (the probe sends again, the device is back).
func (l *Logger) Forget(key string) {
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
}

func (l *Logger) evictOldest() {
	var oldest string
	var at time.Time
	for k, e := range l.keys {
		if oldest == "" || e.last.Before(at) {
			oldest, at = k, e.last
		}
	}
	delete(l.keys, oldest)
}
