package collector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// streamer is a collector whose families a Handler writes straight from
// one snapshot per scrape into the negotiated format, instead of through
// the registry (which would build an object per series). Only this
// package's collectors are streamers.
type streamer interface {
	prometheus.Collector
	// streamedFamilies lists every family the collector exports.
	streamedFamilies() []*family
	// setStreamed makes Collect send nothing from then on: a Handler
	// serves all of the collector's families.
	setStreamed()
	// openStream takes one scrape's snapshot.
	openStream() familyStream
}

// familyStream is one scrape's snapshot of a streamer.
type familyStream interface {
	// writeFamily writes family f's series, sorted by label values as a
	// registry sorts them, between e.begin and e.end.
	writeFamily(e *expoWriter, f *family)
	// close gives the snapshot back for reuse.
	close()
}

// HandlerOpts configure a Handler.
type HandlerOpts struct {
	// ErrorLog receives gathering and encoding errors; nil: none.
	ErrorLog *slog.Logger
	// EnableOpenMetrics offers OpenMetrics in content negotiation.
	EnableOpenMetrics bool
	// MaxRequestsInFlight bounds concurrent scrapes; the excess gets 503.
	// 0: no bound.
	MaxRequestsInFlight int
}

// maxIdleScrapes bounds the snapshots, buffers and gzip writers kept
// between scrapes: one set (with 1,000 devices and histograms, about 0.3
// MB of snapshot and up to 1 MB of protobuf buffer). A second concurrent
// scrape (two Prometheus servers) makes its own and drops it: that costs
// less than what its histograms' Write allocates, while every idle set is
// live heap, which the runtime's pacing doubles.
const maxIdleScrapes = 1

// Handler serves /metrics like promhttp's handler (content negotiation,
// gzip, name[] filters, a bound on concurrent scrapes, 500 on a gathering
// error, promhttp_metric_handler_errors_total), with one difference: the
// families of collectors registered through its Registerer that are
// streamers (the sampler's and the prober's) are encoded straight from
// their snapshots into the response. A scrape of a thousand devices and a
// thousand targets then holds no metric objects, only reused buffers, and
// allocates little beyond what client_golang's histograms allocate to
// report their state.
type Handler struct {
	reg      *prometheus.Registry
	opts     HandlerOpts
	errs     *prometheus.CounterVec
	inFlight chan struct{}
	accepted []expfmt.Format

	mu      sync.RWMutex
	streams []streamer
	order   []streamedFamily // every streamed family, sorted by name

	idle chan *scrape
	gzip chan *gzip.Writer
}

type streamedFamily struct {
	fam    *family
	stream int // index into Handler.streams
}

// NewHandler returns the /metrics handler over reg; register collectors
// with its Registerer so that streamers are streamed. It registers
// promhttp_metric_handler_errors_total{cause} with reg.
func NewHandler(reg *prometheus.Registry, opts HandlerOpts) *Handler {
	h := &Handler{
		reg: reg, opts: opts,
		idle: make(chan *scrape, maxIdleScrapes), gzip: make(chan *gzip.Writer, maxIdleScrapes),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promhttp_metric_handler_errors_total",
			Help: "Total number of internal errors encountered by the promhttp metric handler.",
		}, []string{"cause"}),
		accepted: expfmt.DefaultAcceptedFormats(),
	}
	if opts.EnableOpenMetrics {
		h.accepted = expfmt.DefaultOpenMetricsAcceptedFormats()
	}
	h.errs.WithLabelValues("gathering")
	h.errs.WithLabelValues("encoding")
	reg.MustRegister(h.errs)
	if opts.MaxRequestsInFlight > 0 {
		h.inFlight = make(chan struct{}, opts.MaxRequestsInFlight)
	}
	return h
}

// Registerer returns a Registerer of the handler's registry: streamers
// registered through it are streamed by the handler (and send nothing
// through Collect from then on), other collectors are gathered as usual.
func (h *Handler) Registerer() prometheus.Registerer { return registerer{h} }

type registerer struct{ h *Handler }

func (r registerer) Register(c prometheus.Collector) error {
	if err := r.h.reg.Register(c); err != nil {
		return err
	}
	if s, ok := c.(streamer); ok {
		r.h.addStream(s)
	}
	return nil
}

func (r registerer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r registerer) Unregister(c prometheus.Collector) bool {
	if !r.h.reg.Unregister(c) {
		return false
	}
	if s, ok := c.(streamer); ok {
		r.h.removeStream(s)
	}
	return true
}

func (h *Handler) addStream(s streamer) {
	s.setStreamed()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams = append(h.streams, s)
	h.reorder()
}

func (h *Handler) removeStream(s streamer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, t := range h.streams {
		if t == s {
			// A new slice: a scrape may still range over the old one.
			h.streams = append(append([]streamer(nil), h.streams[:i]...), h.streams[i+1:]...)
			break
		}
	}
	h.reorder()
}

// reorder rebuilds the sorted list of streamed families. Call with h.mu
// held.
func (h *Handler) reorder() {
	var order []streamedFamily
	for i, s := range h.streams {
		for _, f := range s.streamedFamilies() {
			order = append(order, streamedFamily{f, i})
		}
	}
	sort.Slice(order, func(a, b int) bool { return order[a].fam.name < order[b].fam.name })
	h.order = order
}

// scrape is one scrape's reusable state.
type scrape struct {
	bw      *bufio.Writer
	e       expoWriter
	streams []familyStream
}

func (h *Handler) getScrape() *scrape {
	select {
	case s := <-h.idle:
		return s
	default:
		return &scrape{bw: bufio.NewWriterSize(nil, 32<<10)}
	}
}

func (h *Handler) putScrape(s *scrape) {
	s.bw.Reset(nil)
	s.e.reset(0, nil)
	clear(s.streams)
	s.streams = s.streams[:0]
	select {
	case h.idle <- s:
	default:
	}
}

func (h *Handler) logError(msg string, err error) {
	if h.opts.ErrorLog != nil {
		h.opts.ErrorLog.Error(msg, "err", err)
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", h.opts.MaxRequestsInFlight), http.StatusServiceUnavailable)
			return
		}
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		h.logError("error gathering metrics", err)
		h.errs.WithLabelValues("gathering").Inc()
		http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	format := expfmt.NegotiateAccept(r.Header, h.accepted...)
	w.Header().Add("Vary", "Accept")
	w.Header().Add("Vary", "Accept-Encoding")
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := h.getGzip(w)
		defer h.putGzip(gz)
		out = gz
	}
	var filter map[string]bool
	if r.URL != nil {
		if names := r.URL.Query()["name[]"]; len(names) > 0 {
			filter = make(map[string]bool, len(names))
			for _, n := range names {
				filter[n] = true
			}
		}
	}
	s := h.getScrape()
	defer h.putScrape(s)
	if err := h.encode(s, out, format, mfs, filter); err != nil {
		h.logError("error encoding and sending metric family", err)
		h.errs.WithLabelValues("encoding").Inc()
	}
}

// encode writes the registry's families and the streamed ones, merged in
// name order, in format.
func (h *Handler) encode(s *scrape, out io.Writer, format expfmt.Format, mfs []*dto.MetricFamily, filter map[string]bool) error {
	h.mu.RLock()
	streams, order := h.streams, h.order
	h.mu.RUnlock()
	for _, st := range streams {
		s.streams = append(s.streams, st.openStream())
	}
	defer func() {
		for _, st := range s.streams {
			st.close()
		}
	}()
	kind, direct := streamKind(format)
	if !direct {
		return h.encodeVia(s, out, format, mfs, order, filter)
	}
	s.bw.Reset(out)
	s.e.reset(kind, s.bw)
	enc := expfmt.NewEncoder(s.bw, format)
	j := 0
	writeStreamed := func(until string) {
		for ; j < len(order) && (until == "" || order[j].fam.name < until); j++ {
			f := order[j]
			if filter != nil && !filter[f.fam.name] {
				continue
			}
			s.e.begin(f.fam)
			s.streams[f.stream].writeFamily(&s.e, f.fam)
			s.e.end()
		}
	}
	for _, mf := range mfs {
		writeStreamed(mf.GetName())
		if s.e.err != nil {
			return s.e.err
		}
		if filter != nil && !filter[mf.GetName()] {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	writeStreamed("")
	if s.e.err != nil {
		return s.e.err
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			return err
		}
	}
	return s.bw.Flush()
}

// encodeVia serves the formats not streamed directly (the protobuf text
// formats, for debugging): the streamed families are encoded as
// delimited protobuf, decoded into families and merged with the rest.
func (h *Handler) encodeVia(s *scrape, out io.Writer, format expfmt.Format, mfs []*dto.MetricFamily, order []streamedFamily, filter map[string]bool) error {
	var buf bytes.Buffer
	s.bw.Reset(&buf)
	s.e.reset(expoProto, s.bw)
	for _, f := range order {
		s.e.begin(f.fam)
		s.streams[f.stream].writeFamily(&s.e, f.fam)
		s.e.end()
	}
	if s.e.err != nil {
		return s.e.err
	}
	if err := s.bw.Flush(); err != nil {
		return err
	}
	all := append([]*dto.MetricFamily(nil), mfs...)
	dec := expfmt.NewDecoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("re-reading the streamed families: %w", err)
		}
		all = append(all, mf)
	}
	sort.Slice(all, func(a, b int) bool { return all[a].GetName() < all[b].GetName() })
	enc := expfmt.NewEncoder(out, format)
	for _, mf := range all {
		if filter != nil && !filter[mf.GetName()] {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		return c.Close()
	}
	return nil
}

// streamKind says whether format is one the streamed families are encoded
// in directly.
func streamKind(format expfmt.Format) (expoKind, bool) {
	switch format.FormatType() {
	case expfmt.TypeTextPlain:
		return expoText, true
	case expfmt.TypeProtoDelim:
		return expoProto, true
	case expfmt.TypeOpenMetrics:
		if v := format.Version(); v == expfmt.OpenMetricsVersion_1_0_0 || v == expfmt.OpenMetricsVersion_0_0_1 {
			return expoOpenMetrics, true
		}
	}
	return 0, false
}

// acceptsGzip negotiates the response's encoding between identity and
// gzip as promhttp does: the offer with the highest q value wins, identity
// on a tie.
func acceptsGzip(headers []string) bool {
	bestQ, gz := -1.0, false
	for _, offer := range []string{"identity", "gzip"} {
		for _, hdr := range headers {
			for spec := range strings.SplitSeq(hdr, ",") {
				value, params, _ := strings.Cut(spec, ";")
				value = strings.ToLower(strings.TrimSpace(value))
				q := 1.0
				for p := range strings.SplitSeq(params, ";") {
					if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
						if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
							q = f
						}
					}
				}
				if q > bestQ && (value == "*" || value == offer) {
					bestQ, gz = q, offer == "gzip"
				}
			}
		}
	}
	return gz && bestQ > 0
}

// gzipLevel is the compression of gzip responses: the fastest. A scrape
// of 1,000 devices and 1,000 targets with histograms is 8.9 MB of text,
// which the default level (promhttp's) took about 100 ms of CPU to
// compress, BestSpeed about 30 ms, for a body a third larger (518 KB
// against 386 KB; BenchmarkScrapeHypervisor/text-gzip).
const gzipLevel = gzip.BestSpeed

func (h *Handler) getGzip(w io.Writer) *gzip.Writer {
	select {
	case gz := <-h.gzip:
		gz.Reset(w)
		return gz
	default:
		gz, err := gzip.NewWriterLevel(w, gzipLevel)
		if err != nil {
			panic(err) // a constant, valid level
		}
		return gz
	}
}

func (h *Handler) putGzip(gz *gzip.Writer) {
	if err := gz.Close(); err != nil {
		h.logError("error closing the gzip stream", err)
	}
	gz.Reset(io.Discard)
	select {
	case h.gzip <- gz:
	default:
	}
}
