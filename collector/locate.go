package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netburst/netburst/locate"
)

// LocateStatsSource is what the locate collector reads at scrape time;
// *locate.Live implements it.
type LocateStatsSource interface {
	Stats() locate.LiveStats
}

// LocatePoint is the capture state of one live locate point.
type LocatePoint struct {
	// Point is the interface name.
	Point string
	// Up is false while the point's interface is gone (deleted, not yet
	// re-created) and its capture waits for it; Reopens counts returns.
	Up      bool
	Reopens uint64
}

// LocatePointSource gives the points' capture state at scrape time (the
// exporter reads its capture devices).
type LocatePointSource interface {
	LocatePoints() []LocatePoint
}

// Locate exports live locate: each echo packet's one-way delay across each
// segment between this host's capture points, as a histogram, and the
// matcher's counters. It is the locate.Observer of a locate.Live (fed on
// the capture goroutines) and a prometheus.Collector.
type Locate struct {
	delay  *prometheus.HistogramVec
	rtt    *prometheus.HistogramVec
	lost   *prometheus.CounterVec
	src    LocateStatsSource
	points LocatePointSource
}

var (
	segmentLabels  = []string{"from", "to", "direction"}
	descLocEchoes  = prometheus.NewDesc(namespace+"_locate_echoes_total", "Echoes matched across the capture points, by outcome: complete (seen everywhere), expired (closed incomplete after the maximum age), dropped (evicted from a full matching table).", []string{"outcome"}, nil)
	descLocPending = prometheus.NewDesc(namespace+"_locate_pending_echoes", "Echoes waiting in the matching table for their other packets.", nil, nil)
	descLocDup     = prometheus.NewDesc(namespace+"_locate_duplicate_packets_total", "Echo packets seen twice at one capture point, ignored.", nil, nil)
	descLocNeg     = prometheus.NewDesc(namespace+"_locate_negative_delays_total", "One-way delays below zero (two interfaces stamping one packet slightly out of order), observed as zero.", nil, nil)
	descLocSpikes  = prometheus.NewDesc(namespace+"_locate_spikes_total", "Segment spike events raised (rate-limited per segment and direction).", nil, nil)
	descLocUp      = prometheus.NewDesc(namespace+"_locate_point_up", "1 while the live locate point's interface is captured; 0 while the interface of that name is gone and the point waits for it to return (its echoes are missing meanwhile).", []string{"point"}, nil)
	descLocReopens = prometheus.NewDesc(namespace+"_locate_point_reopens_total", "Times the live locate point captured again after it was down: a re-created interface of the same name, as a rule.", []string{"point"}, nil)
)

// NewLocate returns the live locate collector.
func NewLocate() *Locate {
	return &Locate{
		delay: prometheus.NewHistogramVec(histogramOpts("segment_delay_seconds",
			"One-way delay of each ICMP echo packet across the path segment from one capture point to the next (in path order), in the direction it travelled (request or reply); the points share this host's clock.",
			roundedBuckets(3, prometheus.ExponentialBucketsRange(1e-6, 1, 19))), segmentLabels),
		rtt: prometheus.NewHistogramVec(histogramOpts("locate_round_trip_seconds",
			"Round trip of each complete ICMP echo at each live locate point, its reply's time minus its request's on this host's clock; side is near when the pinger is on the first point's side of the path, far otherwise. Along a path (across hosts too) the round trip only shrinks from one point to the next: where it drops, the delay was added.",
			roundedBuckets(3, prometheus.ExponentialBucketsRange(50e-6, 10, 18))), []string{"point", "side"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "segment_lost_total",
			Help: "Echo packets seen at one end of the segment and never at the other (to=\"beyond\": a request left the last point and no reply came back).",
		}, segmentLabels),
	}
}

// SetSource sets where Collect reads the matcher's counters.
func (c *Locate) SetSource(src LocateStatsSource) { c.src = src }

// SetPointSource sets where Collect reads the points' capture state.
func (c *Locate) SetPointSource(src LocatePointSource) { c.points = src }

// ObserveSegment implements locate.Observer.
func (c *Locate) ObserveSegment(from, to string, dir locate.Direction, d time.Duration) {
	c.delay.WithLabelValues(from, to, string(dir)).Observe(d.Seconds())
}

// ObserveRoundTrip implements locate.RoundTripObserver.
func (c *Locate) ObserveRoundTrip(point string, nearSide bool, d time.Duration) {
	side := "far"
	if nearSide {
		side = "near"
	}
	c.rtt.WithLabelValues(point, side).Observe(d.Seconds())
}

// ObserveLoss implements locate.Observer.
func (c *Locate) ObserveLoss(from, to string, dir locate.Direction) {
	c.lost.WithLabelValues(from, to, string(dir)).Inc()
}

// Describe implements prometheus.Collector.
func (c *Locate) Describe(ch chan<- *prometheus.Desc) {
	c.delay.Describe(ch)
	c.rtt.Describe(ch)
	c.lost.Describe(ch)
	for _, d := range []*prometheus.Desc{descLocEchoes, descLocPending, descLocDup, descLocNeg, descLocSpikes, descLocUp, descLocReopens} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Locate) Collect(ch chan<- prometheus.Metric) {
	c.delay.Collect(ch)
	c.rtt.Collect(ch)
	c.lost.Collect(ch)
	if c.points != nil {
		for _, p := range c.points.LocatePoints() {
			up := 0.0
			if p.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descLocUp, prometheus.GaugeValue, up, p.Point)
			ch <- prometheus.MustNewConstMetric(descLocReopens, prometheus.CounterValue, float64(p.Reopens), p.Point)
		}
	}
	if c.src == nil {
		return
	}
	s := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(descLocEchoes, prometheus.CounterValue, float64(s.Match.Complete), "complete")
	ch <- prometheus.MustNewConstMetric(descLocEchoes, prometheus.CounterValue, float64(s.Match.Expired), "expired")
	ch <- prometheus.MustNewConstMetric(descLocEchoes, prometheus.CounterValue, float64(s.Match.DroppedFull), "dropped")
	ch <- prometheus.MustNewConstMetric(descLocPending, prometheus.GaugeValue, float64(s.Pending))
	ch <- prometheus.MustNewConstMetric(descLocDup, prometheus.CounterValue, float64(s.Match.Duplicates))
	ch <- prometheus.MustNewConstMetric(descLocNeg, prometheus.CounterValue, float64(s.Negative))
	ch <- prometheus.MustNewConstMetric(descLocSpikes, prometheus.CounterValue, float64(s.Spikes))
}
