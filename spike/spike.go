package spike

import "time"

// Trigger names what raised a spike. Its values are used as the "trigger"
// label and in spike reports.
type Trigger string

// The triggers netburst raises.
const (
	// TriggerRTT is an echo round trip above the prober's spike threshold.
	TriggerRTT Trigger = "rtt"
	// TriggerBurst is an interface interval at or above the burst threshold.
	TriggerBurst Trigger = "burst"
	// TriggerBond is a bond slave saturated while its bond is not.
	TriggerBond Trigger = "bond"
	// TriggerSegment is one path segment adding more than its threshold.
	TriggerSegment Trigger = "segment"
)

// Event is one spike: when it happened, what raised it and how large it was.
type Event struct {
	// Time is when the spike was observed (the sample or reply time).
	Time time.Time
	// Trigger names the detector that raised it.
	Trigger Trigger
	// Device is the interface concerned, if any.
	Device string
	// Target is the probe target concerned, if any.
	Target string
	// Value is the observed magnitude in base units (seconds for an RTT,
	// bytes per second for a burst, a ratio for a bond slave).
	Value float64
	// Threshold is the value the detector compared against.
	Threshold float64
}

// Sink receives spike events. Implementations must not block: a detector's
// loop calls Notify from its hot path, so a busy sink drops, and counts, what
// it cannot take.
type Sink interface {
	Notify(Event)
}

// Discard is a Sink that drops every event.
type Discard struct{}

// Notify implements Sink.
func (Discard) Notify(Event) {}
