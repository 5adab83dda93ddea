package nstest

import (
	"testing"
	"time"
)

// Polls start this far apart and back off to maxPoll: a condition that
// holds at once costs little, one that takes seconds is not asked hundreds
// of times (some conditions scrape an exporter).
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 250 * time.Millisecond
)

// Eventually polls cond until it reports true and fails the test (Fatalf)
// with cond's last reason when timeout passes first. The timeout bounds the
// wait for something that happens in its own time (a process ready, a
// frame captured, a device reopened); it is no performance threshold, so
// make it generous.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	if ok, reason := Poll(timeout, cond); !ok {
		t.Fatalf("not within %v: %s", timeout, reason)
	}
}

// Poll is Eventually without the failure, for a test that goes on either
// way: it reports whether cond held before timeout passed, and cond's last
// reason. cond is asked once more at the deadline.
func Poll(timeout time.Duration, cond func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(timeout)
	wait := firstPoll
	for {
		ok, reason := cond()
		if ok {
			return true, reason
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, reason
		}
		time.Sleep(min(wait, left))
		wait = min(2*wait, maxPoll)
	}
}
