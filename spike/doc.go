// Package spike is the event that the detectors (the sampler, the prober,
// the bond monitor, live locate) raise when something worth freezing
// happens, and the behaviour around it: the Bus that fans events out to
// their consumers (the spike capture) and the Limiter that spaces one
// source's events.
//
// The package is a leaf: domain packages import it, it imports none of
// them, so a detector and a consumer agree on an event without knowing
// each other. Nothing here blocks or allocates per event: Notify is called
// from the detectors' hot paths.
package spike
