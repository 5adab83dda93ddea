package locate

import "time"

// Direction says which way the added delay went.
type Direction string

// The directions of a verdict.
const (
	DirRequest Direction = "request"
	DirReply   Direction = "reply"
	DirBoth    Direction = "both"
	DirUnknown Direction = "unknown"
)

// OffsetMethod says how a point's clock offset was obtained.
type OffsetMethod string

// The offset methods.
const (
	// OffsetReference is the first point, whose clock the others are
	// compared with.
	OffsetReference OffsetMethod = "reference"
	// OffsetShared is a point declared to share its clock with an earlier
	// one (same Point.Clock).
	OffsetShared OffsetMethod = "shared"
	// OffsetEstimated is estimated from the normal echoes.
	OffsetEstimated OffsetMethod = "estimated"
	// OffsetNone is a point with no normal echo in common with an earlier
	// point of known offset: its one-way delays are unknown.
	OffsetNone OffsetMethod = "none"
)

// Offset is a point's clock offset relative to the first point: at time t
// the point's timestamps are the first point's plus Value + Drift x (t -
// Result.Epoch).
type Offset struct {
	Method OffsetMethod
	// Value is the offset at Result.Epoch (zero for the reference and for a
	// clock shared with it).
	Value time.Duration
	// Drift is how fast the offset changes, in seconds per second (1e-6 is
	// 1 ppm): unsynchronised clocks drift by tens of ppm, which over a long
	// capture exceeds the delays sought.
	Drift float64
	// Uncertainty bounds the error of an estimate: an estimate assumes the
	// normal echoes' one-way delays are equal both ways, and is off by half
	// their difference at most, which is at most half their round trip.
	Uncertainty time.Duration
	// Samples is the number of echoes the estimate used.
	Samples int
	// RelativeTo is the index of the point the estimate was made against.
	RelativeTo int
	// Consistent is false when some echo's timestamps contradict the
	// offset by more than Options.ClockTolerance (a clock step or drift):
	// one-way delays into this point are then not reported.
	Consistent bool
}

// Known reports whether one-way delays may use the offset.
func (o Offset) Known() bool { return o.Method != OffsetNone && o.Consistent }

// PointResult describes one capture point after the analysis.
type PointResult struct {
	Point
	// Requests and Replies count the echo packets seen at the point.
	Requests, Replies int
	// First and Last are the point's first and last echo timestamps.
	First, Last time.Time
	// Offset is the point's clock offset relative to the first point.
	Offset Offset
}

// Span is an optional duration.
type Span struct {
	D     time.Duration
	Valid bool
}

func known(d time.Duration) Span { return Span{D: d, Valid: true} }

// Segment is the part of the path between two points, or beyond the last.
type Segment struct {
	// From and To are point indexes, From < To; To == number of points
	// means "beyond the last point" (the target's own turnaround).
	From, To int
}

// SegmentDelay is one echo's delays across one segment.
type SegmentDelay struct {
	Segment
	// RoundTrip is the round trip added by the segment: From's round trip
	// minus To's (To's is zero beyond the last point). Clock-independent.
	RoundTrip time.Duration
	// Request and Reply are the one-way delays, known when both points'
	// offsets are (never beyond the last point).
	Request, Reply Span
}

// Loss says where a packet of an echo disappeared.
type Loss struct {
	// Direction is request or reply; unknown when the request reached the
	// last point and no reply was ever seen (the request was lost beyond
	// the last point, or the target did not answer).
	Direction Direction
	// Segment is where: the packet was seen at From (request) or To
	// (reply) and never after.
	Segment
}

// Blame is the segment that added a slow echo's delay.
type Blame struct {
	Segment
	Direction Direction
	// Delay is the segment's round-trip delay for this echo; Excess is
	// that minus the segment's baseline (its median over normal echoes).
	Delay, Excess time.Duration
	// OneWay is the one-way delay in Direction (request or reply), when
	// known.
	OneWay Span
}

// Echo is one echo's result.
type Echo struct {
	Record
	// RoundTrip holds each point's round trip.
	RoundTrip []Span
	// EndToEnd is the round trip at the first point that saw both packets.
	EndToEnd Span
	// Segments are the delays between consecutive points that have a round
	// trip (a point that missed the echo is spanned), then beyond the last
	// such point.
	Segments []SegmentDelay
	// Slow is set when EndToEnd is above the threshold.
	Slow bool
	// Reversed is set for an echo of a flow pinging from the far end: it
	// is left out of baselines and verdict.
	Reversed bool
	// OffPath is set for an echo seen at one point only, which therefore
	// does not travel this path (a ping to one of the hosts, say); it is
	// left out like a reversed one. A request seen only at the first point
	// with no reply is not off-path: it is a request lost on the first
	// segment.
	OffPath bool
	// Lost, when set, says where the request or reply disappeared.
	Lost *Loss
	// Missing lists the points that did not capture a packet seen both
	// before and after them on the path (a capture drop, not a loss).
	Missing []int
	// Blame is set for a slow echo.
	Blame *Blame
}

// Threshold is the slow-echo threshold and where it came from.
type Threshold struct {
	// Value is the end-to-end round trip above which an echo is slow.
	Value time.Duration
	// Explicit is set when Options.Threshold gave it.
	Explicit bool
	// Median and MAD describe the end-to-end round trips (MAD unscaled).
	Median, MAD time.Duration
	// Samples is how many round trips the baseline used.
	Samples int
}

// Finding groups slow echoes blamed on the same segment and direction.
type Finding struct {
	Segment
	Direction Direction
	// Echoes are the evidence, in sequence order.
	Echoes []Key
	// MaxDelay is the largest round-trip delay among them, from the echo
	// Worst; WorstOneWay is that echo's one-way delay in Direction, if
	// known. MedianDelay is the median of their round-trip delays.
	MaxDelay, MedianDelay time.Duration
	Worst                 Key
	WorstOneWay           Span
}

// LossSummary counts losses at one segment and direction.
type LossSummary struct {
	Segment
	Direction Direction
	Echoes    []Key
}

// Warning is a problem that does not stop the analysis.
type Warning struct {
	// Err is the class, e.g. ErrClockJump, for errors.Is.
	Err error
	// Point is the point concerned, or -1.
	Point int
	// Message is for people.
	Message string
}

func (w Warning) Error() string { return w.Message }

func (w Warning) Unwrap() error { return w.Err }

// Stats counts the analysis' inputs.
type Stats struct {
	Match MatchStats
	// EchoesDropped counts echoes beyond Options.MaxEchoes.
	EchoesDropped uint64
	// Reversed counts echoes of flows pinging from the far end.
	Reversed int
	// OffPath counts echoes seen at one point only.
	OffPath int
}

// Result is the analysis of one set of captures.
type Result struct {
	// Epoch is the time (in the first point's clock) at which the offsets'
	// Values hold: the first point's first echo.
	Epoch     time.Time
	Points    []PointResult
	Echoes    []Echo
	Threshold Threshold
	// Findings are the groups of slow echoes, most echoes first; Verdict is
	// the first of them (nil when no echo was slow).
	Findings []Finding
	Verdict  *Finding
	Losses   []LossSummary
	Warnings []Warning
	Stats    Stats
}

// SegmentName names a segment with the points' names ("beyond" past the
// last point).
func (r *Result) SegmentName(s Segment) (from, to string) {
	from = r.Points[s.From].Name
	if s.To >= len(r.Points) {
		return from, "beyond"
	}
	return from, r.Points[s.To].Name
}

// excluded reports whether e is left out of the analysis.
func (e *Echo) excluded() bool { return e.Reversed || e.OffPath }

// normal reports whether e may serve as a baseline (and offset) sample.
func (e *Echo) normal() bool { return !e.excluded() && !e.Slow && e.EndToEnd.Valid }
