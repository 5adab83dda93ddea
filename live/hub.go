package live

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netburst/netburst/prober"
	"github.com/netburst/netburst/sampler"
	"github.com/netburst/netburst/spike"
)

// Defaults of a Hub.
const (
	// DefaultMaxClients bounds the streams served at once.
	DefaultMaxClients = 32
	// DefaultQueue is how many messages a client may fall behind before it
	// is dropped: 6.4 s of 100 ms samples.
	DefaultQueue = 64
	// DefaultBusiest is how many of the devices outside the default set
	// (the slow tier: per-VM and per-container interfaces) a sample
	// carries, the busiest first, for a client that names no devices.
	DefaultBusiest = 5
	heartbeat      = 15 * time.Second
)

// ErrTooManyClients is the answer to a stream beyond Config.MaxClients.
var ErrTooManyClients = errors.New("too many live clients")

// Config configures a Hub.
type Config struct {
	// Default says whether a device is shown to a client that names none:
	// the fast set (NICs, bonds, their slaves, bridges). Nil: every device.
	Default func(device string) bool
	// Hello returns what a client needs before the first sample: the
	// sampling interval, thresholds and the devices' link speeds.
	Hello func() Hello
	// MaxClients, Queue and Busiest default to the constants above.
	MaxClients, Queue, Busiest int
}

// Hello is the stream's first event.
type Hello struct {
	// IntervalSeconds is the sampler's interval (the fast set's
	// resolution); SlowIntervalSeconds the slow tier's.
	IntervalSeconds     float64 `json:"interval_seconds"`
	SlowIntervalSeconds float64 `json:"slow_interval_seconds"`
	// BurstThreshold is the fraction of link speed at which an interval is
	// a burst; BurstRate the rate in bytes/s used for devices without a
	// known speed (0: none).
	BurstThreshold float64 `json:"burst_threshold"`
	BurstRate      float64 `json:"burst_rate_bytes_per_second"`
	// Speeds are the link speeds in bytes/s of the devices that have one.
	Speeds map[string]float64 `json:"speeds"`
	// Targets are the probe targets' names.
	Targets []string `json:"targets"`
}

// Sample is one "sample" event: the rates of one sample of the sampler, in
// bytes/s ([receive, transmit]), and what the prober saw since the
// previous sample per target.
type Sample struct {
	// Time is the end of the sample, Unix milliseconds.
	Time    int64                 `json:"t"`
	Devices map[string][2]float64 `json:"devices"`
	Probes  map[string]Probe      `json:"probes,omitempty"`
}

// Probe is a target's results between two samples.
type Probe struct {
	// RTT is the largest in-time reply's round trip in seconds (absent
	// without one); Replies counts them.
	RTT     *float64 `json:"rtt,omitempty"`
	Replies int      `json:"replies,omitempty"`
	// Lost, Late and Errors count lost probes, late replies and ICMP or
	// send errors.
	Lost   int `json:"lost,omitempty"`
	Late   int `json:"late,omitempty"`
	Errors int `json:"errors,omitempty"`
}

// Spike is one "spike" event.
type Spike struct {
	Time      int64   `json:"t"`
	Trigger   string  `json:"trigger"`
	Device    string  `json:"device,omitempty"`
	Target    string  `json:"target,omitempty"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
}

// Hub broadcasts samples, probe results and spikes to the clients of its
// stream handler. Its methods are safe for concurrent use.
type Hub struct {
	cfg     Config
	clients atomic.Int32 // connected: the observers record only while > 0

	mu       sync.Mutex
	subs     map[*client]struct{}
	rates    map[string]*[2]float64 // this sample's, by device
	seen     []string               // devices with a rate in this sample
	inSample map[string]bool
	// Per sample, reused: the default set, the others sorted by rate, each
	// filter's message; the JSON of each name.
	isDefault map[string]bool
	rest      []string
	encoded   map[string][]byte
	names     map[string][]byte
	probe     map[string]*probeAcc

	// Stats.
	dropped atomic.Uint64
}

type probeAcc struct {
	Probe
	max float64
	has bool
}

type client struct {
	devices map[string]bool // nil: the default set and the busiest
	targets map[string]bool // nil: every target
	key     string          // the filters, for sharing one encoding
	ch      chan []byte
	gone    chan struct{} // closed when the hub dropped the client
}

// NewHub returns a Hub.
func NewHub(cfg Config) *Hub {
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Busiest <= 0 {
		cfg.Busiest = DefaultBusiest
	}
	return &Hub{cfg: cfg, subs: map[*client]struct{}{}, rates: map[string]*[2]float64{}, inSample: map[string]bool{}, probe: map[string]*probeAcc{},
		isDefault: map[string]bool{}, encoded: map[string][]byte{}, names: map[string][]byte{}}
}

// Clients is the number of streams served now.
func (h *Hub) Clients() int { return int(h.clients.Load()) }

// Dropped counts the clients dropped for falling behind.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

func (h *Hub) rate(device string, dir int, v float64) {
	h.mu.Lock()
	r := h.rates[device]
	if r == nil {
		r = &[2]float64{}
		h.rates[device] = r
	}
	if !h.inSample[device] {
		h.inSample[device] = true
		h.seen = append(h.seen, device)
	}
	r[dir] = v
	h.mu.Unlock()
}

// flush broadcasts the current sample and starts the next. The message is
// encoded once per distinct client filter (every default client shares
// one), by hand: a sample of 1,000 devices to 5 clients costs one encoding.
func (h *Hub) flush(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer clear(h.inSample)
	if len(h.subs) == 0 || len(h.seen) == 0 && len(h.probe) == 0 {
		for _, d := range h.seen {
			*h.rates[d] = [2]float64{}
		}
		h.seen = h.seen[:0]
		clear(h.probe)
		return // nobody to tell, or nothing moved: no event
	}
	h.markDefault()
	clear(h.encoded)
	for c := range h.subs {
		key := c.key
		msg, ok := h.encoded[key]
		if !ok {
			msg = h.encode(now, c)
			h.encoded[key] = msg
		}
		select {
		case c.ch <- msg:
		default:
			h.drop(c)
		}
	}
	for _, d := range h.seen {
		*h.rates[d] = [2]float64{}
	}
	h.seen = h.seen[:0]
	clear(h.probe)
}

// encode writes the sample event for c's filter.
func (h *Hub) encode(now time.Time, c *client) []byte {
	b := make([]byte, 0, 64+48*len(h.seen))
	b = append(b, "event: sample\ndata: {\"t\":"...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"devices":{`...)
	first := true
	for _, d := range h.seen {
		if c.devices == nil && !h.isDefault[d] || c.devices != nil && !c.devices[d] {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		r := h.rates[d]
		b = append(b, h.jsonName(d)...)
		b = append(b, ":["...)
		b = strconv.AppendFloat(b, r[0], 'g', -1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, r[1], 'g', -1, 64)
		b = append(b, ']')
	}
	b = append(b, '}')
	if len(h.probe) > 0 {
		b = append(b, `,"probes":{`...)
		first = true
		for t, a := range h.probe {
			if c.targets != nil && !c.targets[t] {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			p := a.Probe
			if a.has {
				v := a.max
				p.RTT = &v
			}
			pj, _ := json.Marshal(p)
			b = append(append(append(b, h.jsonName(t)...), ':'), pj...)
		}
		b = append(b, '}')
	}
	return append(b, "}\n\n"...)
}

// jsonName is s as a JSON string, kept per name (names come from devices
// and targets that exist, and leave with them).
func (h *Hub) jsonName(s string) []byte {
	if b, ok := h.names[s]; ok {
		return b
	}
	b, _ := json.Marshal(s)
	if len(h.names) < maxNames {
		h.names[s] = b
	}
	return b
}

// maxNames bounds the JSON names kept.
const maxNames = 16384

// markDefault sets isDefault for this sample's devices: the default set
// and the busiest of the others.
func (h *Hub) markDefault() {
	clear(h.isDefault)
	rest := h.rest[:0]
	for _, d := range h.seen {
		if h.cfg.Default == nil || h.cfg.Default(d) {
			h.isDefault[d] = true
		} else {
			rest = append(rest, d)
		}
	}
	busy := func(d string) float64 { r := h.rates[d]; return max(r[0], r[1]) }
	slices.SortFunc(rest, func(a, b string) int {
		if c := cmp.Compare(busy(b), busy(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, d := range rest[:min(h.cfg.Busiest, len(rest))] {
		if busy(d) > 0 {
			h.isDefault[d] = true
		}
	}
	h.rest = rest
}

// send queues one event for c; a full queue drops the client. The caller
// holds h.mu.
func (h *Hub) send(c *client, event string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	msg := make([]byte, 0, len(b)+len(event)+16)
	msg = append(append(append(msg, "event: "...), event...), "\ndata: "...)
	msg = append(append(msg, b...), "\n\n"...)
	select {
	case c.ch <- msg:
	default:
		h.drop(c)
	}
}

// drop removes c; the caller holds h.mu.
func (h *Hub) drop(c *client) {
	if _, ok := h.subs[c]; !ok {
		return
	}
	delete(h.subs, c)
	close(c.gone)
	h.clients.Add(-1)
	h.dropped.Add(1)
}

// Notify implements spike.Sink: the event goes to every client at once.
func (h *Hub) Notify(e spike.Event) {
	if h.clients.Load() == 0 {
		return
	}
	s := Spike{Time: e.Time.UnixMilli(), Trigger: string(e.Trigger), Device: e.Device, Target: e.Target, Value: e.Value, Threshold: e.Threshold}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		h.send(c, "spike", s)
	}
}

func (h *Hub) result(r prober.Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.probe[r.Target]
	if a == nil {
		a = &probeAcc{}
		h.probe[r.Target] = a
	}
	switch r.Kind {
	case prober.ResultReply:
		a.Replies++
		if s := r.RTT.Seconds(); !a.has || s > a.max {
			a.max, a.has = s, true
		}
	case prober.ResultLost:
		a.Lost++
	case prober.ResultLate:
		a.Late++
	case prober.ResultICMPError, prober.ResultSendError:
		a.Errors++
	}
}

// Handler serves the stream: GET /api/v1/stream[?devices=a,b][&targets=x,y],
// text/event-stream, a "hello" event, then "sample" and "spike" events
// until the client goes or falls DefaultQueue messages behind.
func (h *Hub) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		fl, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		q := r.URL.Query()
		c := &client{ch: make(chan []byte, h.cfg.Queue), gone: make(chan struct{}),
			devices: list(q.Get("devices")), targets: list(q.Get("targets")), key: filterKey(q.Get("devices"), q.Get("targets"))}
		h.mu.Lock()
		if len(h.subs) >= h.cfg.MaxClients {
			h.mu.Unlock()
			http.Error(w, fmt.Sprintf("%v: %d streams served (the most at once)", ErrTooManyClients, h.cfg.MaxClients), http.StatusServiceUnavailable)
			return
		}
		h.subs[c] = struct{}{}
		h.clients.Add(1)
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			if _, ok := h.subs[c]; ok {
				delete(h.subs, c)
				h.clients.Add(-1)
			}
			h.mu.Unlock()
		}()
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		hello := Hello{Speeds: map[string]float64{}, Targets: []string{}}
		if h.cfg.Hello != nil {
			hello = h.cfg.Hello()
		}
		b, _ := json.Marshal(hello)
		if _, err := fmt.Fprintf(w, "retry: 2000\nevent: hello\ndata: %s\n\n", b); err != nil {
			return
		}
		fl.Flush()
		beat := time.NewTicker(heartbeat)
		defer beat.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-c.gone:
				return // fell behind: dropped
			case <-beat.C:
				if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
					return
				}
				fl.Flush()
			case msg := <-c.ch:
				if _, err := w.Write(msg); err != nil {
					return
				}
				fl.Flush()
			}
		}
	})
}

// filterKey names a client's filters: clients with equal keys get one
// encoding of each sample.
func filterKey(devices, targets string) string {
	d, t := slices.Sorted(maps.Keys(list(devices))), slices.Sorted(maps.Keys(list(targets)))
	return strings.Join(d, ",") + "|" + strings.Join(t, ",")
}

// list splits a comma-separated query value; nil when empty.
func list(s string) map[string]bool {
	if s == "" {
		return nil
	}
	out := map[string]bool{}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out[v] = true
		}
	}
	return out
}

// Sampler wraps the sampler's observer: next (the metrics) sees every
// observation, the hub records them while a client streams.
func (h *Hub) Sampler(next sampler.Observer) sampler.Observer { return samplerTee{next, h} }

type samplerTee struct {
	next sampler.Observer
	h    *Hub
}

func (t samplerTee) DeviceAdded(name string) (rx, tx sampler.RateObserver) {
	nrx, ntx := t.next.DeviceAdded(name)
	return rateTee{nrx, t.h, name, 0}, rateTee{ntx, t.h, name, 1}
}

func (t samplerTee) DeviceRemoved(name string) {
	t.next.DeviceRemoved(name)
	t.h.mu.Lock()
	delete(t.h.rates, name) // bounded by the devices that exist
	t.h.mu.Unlock()
}

func (t samplerTee) SampleDone(spacing, duration float64) {
	t.next.SampleDone(spacing, duration)
	if t.h.clients.Load() > 0 {
		t.h.flush(time.Now())
	}
}

type rateTee struct {
	next   sampler.RateObserver
	h      *Hub
	device string
	dir    int
}

func (r rateTee) Observe(v float64) {
	if r.next != nil {
		r.next.Observe(v)
	}
	if r.h.clients.Load() > 0 {
		r.h.rate(r.device, r.dir, v)
	}
}

// Prober wraps the prober's observer: next sees every RTT (and every
// result, if it takes them), the hub records results while a client
// streams.
func (h *Hub) Prober(next prober.Observer) prober.Observer { return proberTee{next, h} }

type proberTee struct {
	next prober.Observer
	h    *Hub
}

func (t proberTee) ObserveRTT(target string, rtt time.Duration) { t.next.ObserveRTT(target, rtt) }

func (t proberTee) ObserveResult(r prober.Result) {
	if ro, ok := t.next.(prober.ResultObserver); ok {
		ro.ObserveResult(r)
	}
	if t.h.clients.Load() > 0 {
		t.h.result(r)
	}
}
