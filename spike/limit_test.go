package spike

import (
	"testing"
	"time"
)

// TestLimiter pins the one rate-limiting rule of the package doc: an
// event within the interval of the last one let through, before or after
// it, is suppressed; a suppressed one does not move the last.
func TestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const iv = 10 * time.Second
	type step struct {
		op   string // "allow", "mark" or "reset"
		at   time.Duration
		want bool
	}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		steps    []step
	}{
		{"first passes, then one per interval", iv, []step{
			{"allow", 0, true},
			{"allow", time.Second, false},
			{"allow", iv - 1, false},
			{"allow", iv, true}, // exactly the interval later: passes
			{"allow", iv + time.Second, false},
		}},
		{"suppressed events do not move the last", iv, []step{
			{"allow", 0, true},
			{"allow", 6 * time.Second, false},
			{"allow", 12 * time.Second, true}, // 12 s after 0, though 6 s after 6
		}},
		{"earlier by less than the interval: suppressed", iv, []step{
			{"allow", 20 * time.Second, true},
			{"allow", 15 * time.Second, false},
			{"allow", 10*time.Second + 1, false},
		}},
		{"earlier by the interval or more (a clock stepped back): passes", iv, []step{
			{"allow", 20 * time.Second, true},
			{"allow", 10 * time.Second, true},
			{"allow", 15 * time.Second, false}, // 5 s after the new last
		}},
		{"reset: the next passes at once", iv, []step{
			{"allow", 0, true},
			{"reset", 0, false},
			{"allow", time.Second, true},
			{"allow", 2 * time.Second, false},
		}},
		{"mark spaces the next events", iv, []step{
			{"mark", 0, false},
			{"allow", 5 * time.Second, false},
			{"allow", 10 * time.Second, true},
			{"mark", 11 * time.Second, false}, // marked though within the interval
			{"allow", 20 * time.Second, false},
			{"allow", 21 * time.Second, true},
		}},
		{"zero interval: everything passes", 0, []step{
			{"allow", 0, true}, {"allow", 0, true}, {"allow", -time.Hour, true},
		}},
		{"negative interval: everything passes", -time.Second, []step{
			{"allow", 0, true}, {"allow", 0, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l Limiter
			for i, s := range tc.steps {
				at := t0.Add(s.at)
				switch s.op {
				case "allow":
					if got := l.Allow(at, tc.interval); got != s.want {
						t.Errorf("step %d: Allow(+%v) = %v, want %v", i, s.at, got, s.want)
					}
				case "mark":
					l.Mark(at)
				case "reset":
					l.Reset()
				}
			}
		})
	}
}

// A Limiter lives in a map value or a struct field of its source's state
// and is checked on hot paths: no allocation.
func TestLimiterAllocs(t *testing.T) {
	m := map[int]Limiter{}
	at := time.Unix(0, 0)
	if n := testing.AllocsPerRun(100, func() {
		l := m[1]
		if l.Allow(at, time.Second) {
			m[1] = l
		}
		at = at.Add(300 * time.Millisecond)
	}); n != 0 {
		t.Errorf("Allow allocates %v times", n)
	}
}
