package prober

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// recoverQuiet is how long a target that failed to send must send without
// failing before the log says it probes again. A target whose sends fail
// now and then (a local queue that overflows) thus logs one failure line
// per cause and minute, not two lines per flap; the metric and
// TargetStats.Failure follow every send.
const recoverQuiet = 5 * time.Second

// ErrNoPermission is CannotProbe's error: no ICMP socket can be opened.
var ErrNoPermission = errors.New("no permission to open ICMP sockets")

// failEpisode is a run of failed sends the log has reported and not yet
// closed with a "probing again" line.
type failEpisode struct {
	open bool
	// cause of the latest failure, fails the failed sends of the episode,
	// last when the latest failed (prober monotonic clock).
	cause Cause
	fails uint64
	last  time.Duration
}

// failEvent is what the sender logs about a target's send, outside the
// target's lock.
type failEvent struct {
	target, dev string
	cause       Cause
	err         error
	fails       uint64
}

// failed records a failed send (st.mu held).
func (st *targetState) failed(cause Cause, err error, now time.Duration) failEvent {
	st.failCause, st.failErr = cause, err
	st.episode.open, st.episode.cause, st.episode.last = true, cause, now
	st.episode.fails++
	return failEvent{target: st.cfg.Name, dev: st.cfg.Interface, cause: cause, err: err}
}

// sendOK records a successful send after failures (st.mu held): the failure
// ends at once; ok says the episode has been quiet for recoverQuiet and
// its end is to be logged.
func (st *targetState) sendOK(now time.Duration) (failEvent, bool) {
	st.failCause, st.failErr = "", nil
	if !st.episode.open || now-st.episode.last < recoverQuiet {
		return failEvent{}, false
	}
	// Should the line be held back (see logRecovered), try again after
	// another quiet period.
	st.episode.last = now
	return failEvent{target: st.cfg.Name, cause: st.episode.cause, fails: st.episode.fails}, true
}

func failKey(target string, c Cause) string { return "probe\x00" + target + "\x00" + string(c) }

// logFailure logs a target that cannot send: one line per target and
// cause, at once the first time and then at most once per ratelog
// interval.
func (p *Prober) logFailure(ev failEvent) {
	args := []any{"target", ev.target, "cause", string(ev.cause)}
	if ev.dev != "" {
		args = append(args, "interface", ev.dev)
	}
	if a := explain(ev.cause, ev.err, ev.dev); a != "" {
		args = append(args, "reason", a)
	}
	args = append(args, "err", ev.err)
	p.failLog.Log(slog.LevelWarn, failKey(ev.target, ev.cause), "probe target cannot send", args...)
}

// logRecovered logs that a failing target sends again, rate-limited per
// target like the failures, and forgets the target's failure keys so that
// its next failure is logged at once. It reports whether it logged.
func (p *Prober) logRecovered(ev failEvent) bool {
	if !p.failLog.Log(slog.LevelInfo, failKey(ev.target, "")+"again", "probing again", "target", ev.target, "last_cause", string(ev.cause), "failed_sends", ev.fails) {
		return false
	}
	p.forgetKeys(ev.target)
	return true
}

func (p *Prober) forgetKeys(target string) {
	for _, c := range Causes() {
		p.failLog.Forget(failKey(target, c))
	}
}

// forgetFailure forgets the log keys of a target SetTargets removed.
func (p *Prober) forgetFailure(st *targetState) {
	st.mu.Lock()
	open := st.episode.open
	st.mu.Unlock()
	if open {
		p.forgetKeys(st.cfg.Name)
		p.failLog.Forget(failKey(st.cfg.Name, "") + "again")
	}
}

// CannotProbe returns an error wrapping ErrNoPermission when the prober
// cannot work at all: every target that tried to send failed because no
// ICMP socket can be opened (no CAP_NET_RAW for raw sockets, our group
// outside net.ipv4.ping_group_range for datagram ones). Other failures
// (no route to one target, a vif between two VMs) are not that, and
// neither is a target that has not tried yet (a name that does not
// resolve). Cheap: no I/O, no allocation unless it fails.
func (p *Prober) CannotProbe() error {
	n := 0
	for _, st := range *p.targets.Load() {
		st.mu.Lock()
		cause, tried := st.failCause, st.sent > 0
		st.mu.Unlock()
		if !tried {
			continue
		}
		if cause != CausePermission {
			return nil
		}
		n++
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%w: none of its %d targets can be probed; run with CAP_NET_RAW or add the group to net.ipv4.ping_group_range", ErrNoPermission, n)
}
