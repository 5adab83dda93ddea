// Package spike is the event that the detectors (the sampler, the prober,
// the bond monitor, live locate) raise when something worth freezing
// happens, and the behaviour around it: the Bus that fans events out to
// their consumers (the spike capture) and the Limiter that spaces one
// source's events.
//
// # Rate limiting
//
// Every detector spaces its events with a Limiter per source, under one
// rule: an event at time t is suppressed when an event of the same source
// was let through within the interval of t, before or after it
// (|t - last| < interval); otherwise it passes and becomes the last. The
// interval is the detector's (capture --capture.min-interval, 10 s per
// trigger; live locate 1 s per segment and direction; the bond monitor
// 10 s per slave and direction).
//
//   - Suppressed events do not move the last one: a condition that lasts
//     raises one event per interval, not none.
//   - The times are the events' own (a sample's time, a packet's kernel
//     stamp), which reach a consumer from several sources slightly out of
//     order and come from a wall clock that may be stepped. Hence "before
//     or after": an event a little older than the last is still suppressed,
//     while one older by the interval or more passes, so that a clock
//     stepped back does not silence a source until it catches up.
//   - An interval of zero or less lets everything through.
//   - Reset forgets the last event, so that a new episode is reported at
//     once: the bond monitor resets a slave's Limiter when its saturation
//     ends. Mark records an event raised regardless: the capture merges an
//     event into a window already open, limit or not, and it still spaces
//     that trigger's next events.
//
// The package is a leaf: domain packages import it, it imports none of
// them, so a detector and a consumer agree on an event without knowing
// each other. Nothing here blocks or allocates per event: Notify is called
// from the detectors' hot paths.
package spike
