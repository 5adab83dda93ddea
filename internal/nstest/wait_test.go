package nstest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	tests := []struct {
		name      string
		holdsAt   int // the call at which cond first holds; 0: never
		timeout   time.Duration
		wantOK    bool
		wantCalls int // exact when holdsAt > 0, at least otherwise
	}{
		{"at once", 1, time.Minute, true, 1},
		{"third call", 3, time.Minute, true, 3},
		{"never", 0, 30 * time.Millisecond, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			ok, reason := Poll(tt.timeout, func() (bool, string) {
				calls++
				return calls == tt.holdsAt, fmt.Sprintf("call %d", calls)
			})
			if ok != tt.wantOK {
				t.Errorf("Poll = %v, want %v", ok, tt.wantOK)
			}
			if reason != fmt.Sprintf("call %d", calls) {
				t.Errorf("reason %q is not the last call's (%d)", reason, calls)
			}
			if tt.holdsAt > 0 && calls != tt.wantCalls || tt.holdsAt == 0 && calls < tt.wantCalls {
				t.Errorf("%d calls, want %d", calls, tt.wantCalls)
			}
		})
	}
}

// fatalRecorder is a testing.TB whose Fatalf records instead of stopping.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestEventuallyFailsWithTheLastReason(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	n := 0
	Eventually(rec, 20*time.Millisecond, func() (bool, string) {
		n++
		return false, fmt.Sprintf("still %d", n)
	})
	if want := fmt.Sprintf("still %d", n); !strings.HasSuffix(rec.msg, want) {
		t.Errorf("failure %q, want it to end in the last reason %q", rec.msg, want)
	}
	rec.msg = ""
	Eventually(rec, time.Minute, func() (bool, string) { return true, "" })
	if rec.msg != "" {
		t.Errorf("failed on a condition that held: %q", rec.msg)
	}
}

// Go's goroutine has ended when the test's cleanup is done, and it saw its
// context cancelled.
func TestGoStopsAtCleanup(t *testing.T) {
	var sawCancel bool
	t.Run("inner", func(t *testing.T) {
		Go(t, func(ctx context.Context) error {
			<-ctx.Done()
			sawCancel = true
			return ctx.Err()
		})
	})
	if !sawCancel {
		t.Error("run had not returned after the test's cleanup")
	}
}
