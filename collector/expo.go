package collector

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// expoKind is an exposition format the streamed families are encoded in
// directly. The output is byte for byte what client_golang's expfmt
// writes for the same families (TestStreamMatchesRegistry).
type expoKind int

const (
	expoText        expoKind = iota // text/plain; version=0.0.4
	expoOpenMetrics                 // application/openmetrics-text; version=1.0.0 or 0.0.1
	expoProto                       // application/vnd.google.protobuf; encoding=delimited
)

// family is one streamed metric family: its descriptor (for Describe and
// the metrics reference) and its exposition, prepared once: headers in
// each format, label names in the order they are written (sorted, as the
// exposition requires) and, for histograms, the formatted bucket bounds.
type family struct {
	desc   *prometheus.Desc
	name   string
	help   string
	typ    dto.MetricType
	labels []string // sorted

	textHeader, omHeader, protoHeader []byte
	// omName is the samples' name in OpenMetrics (a counter's keeps its
	// _total, which its HELP and TYPE lines drop).
	omName string
	// labelPrefix[i] is `name="` of label i (with a leading ',' after the
	// first); protoLabel[i] is the LabelPair's encoded name field.
	labelPrefix [][]byte
	protoLabel  [][]byte
	// Histograms: the bucket bounds of every series, formatted as le
	// label values in text and OpenMetrics.
	bounds           []float64
	textLE, omLE     [][]byte
	bucket, sum, cnt string
}

// newFamily prepares a streamed family. labels are given in the
// descriptor's order; the exposition writes them sorted by name.
func newFamily(name, help string, typ dto.MetricType, labels ...string) *family {
	if !model.LegacyValidation.IsValidMetricName(name) {
		panic("collector: family name needs escaping: " + name)
	}
	f := &family{name: name, help: help, typ: typ, labels: append([]string(nil), labels...)}
	f.desc = prometheus.NewDesc(name, help, labels, nil)
	slices.Sort(f.labels)
	for i, l := range f.labels {
		if !model.LegacyValidation.IsValidLabelName(l) {
			panic("collector: label name needs escaping: " + l)
		}
		p := l + `="`
		if i > 0 {
			p = "," + p
		}
		f.labelPrefix = append(f.labelPrefix, []byte(p))
		f.protoLabel = append(f.protoLabel, protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), l))
	}
	typeName := map[dto.MetricType]string{dto.MetricType_COUNTER: "counter", dto.MetricType_GAUGE: "gauge", dto.MetricType_HISTOGRAM: "histogram"}[typ]
	if typeName == "" {
		panic("collector: no streamed encoding for " + typ.String())
	}
	f.textHeader = fmt.Appendf(nil, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help, false), name, typeName)
	omFamily, omType := name, typeName
	if typ == dto.MetricType_COUNTER {
		if base, ok := strings.CutSuffix(name, "_total"); ok {
			omFamily = base
		} else {
			omType = "unknown"
		}
	}
	f.omName = name
	f.omHeader = fmt.Appendf(nil, "# HELP %s %s\n# TYPE %s %s\n", omFamily, escapeHelp(help, true), omFamily, omType)
	b := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), name)
	b = protowire.AppendString(protowire.AppendTag(b, 2, protowire.BytesType), help)
	f.protoHeader = protowire.AppendVarint(protowire.AppendTag(b, 3, protowire.VarintType), uint64(typ))
	f.bucket, f.sum, f.cnt = name+"_bucket", name+"_sum", name+"_count"
	return f
}

// withBuckets records a histogram family's bucket bounds, so that their
// le values are formatted once rather than at every series.
func (f *family) withBuckets(bounds []float64) *family {
	f.bounds = append(append([]float64(nil), bounds...), math.Inf(1))
	for _, b := range f.bounds {
		f.textLE = append(f.textLE, appendFloat(nil, b, false))
		f.omLE = append(f.omLE, appendFloat(nil, b, true))
	}
	return f
}

// escapeHelp escapes a HELP text as expfmt does: backslash and newline,
// and in OpenMetrics the double quote too.
func escapeHelp(s string, quote bool) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	if quote {
		r = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	}
	return r.Replace(s)
}

// appendFloat formats v as expfmt does in text (shortest representation;
// NaN, +Inf, -Inf) and in OpenMetrics (the same, with ".0" added to
// integral values).
func appendFloat(b []byte, v float64, om bool) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	if v == math.Trunc(v) && v > -1e6 && v < 1e6 {
		// What 'g' gives integers below its exponent threshold, without
		// the float conversion (bucket counts and most counters); -0 too
		// becomes "0", as in expfmt.
		b = strconv.AppendInt(b, int64(v), 10)
		if om {
			b = append(b, '.', '0')
		}
		return b
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	if om && !bytes.ContainsAny(b[start:], "e.") {
		b = append(b, '.', '0')
	}
	return b
}

// validLabel returns v as a valid UTF-8 label value: a device name is
// bytes to the kernel.
func validLabel(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	return strings.ToValidUTF8(v, "\uFFFD")
}

// expoWriter encodes the streamed families of one scrape straight into the
// response: no metric objects, only a line (text) or a family's encoded
// metrics (protobuf, whose family message is length-prefixed) in a
// reused buffer. Errors stick: after the first, writes are dropped and
// err reports it.
type expoWriter struct {
	kind expoKind
	w    *bufio.Writer
	err  error

	fam *family
	n   int    // series written in the current family
	buf []byte // text: the current line; protobuf: the family's metrics
	msg []byte // protobuf: one histogram's encoded metric
	// hist receives each histogram's state from client_golang's own
	// Write; reused, and cleared after every series.
	hist  dto.Metric
	vals  []string         // a histogram's label values
	pairs []*dto.LabelPair // a histogram's labels with extra ones
	lbl   []byte           // a histogram's formatted label set
}

func (e *expoWriter) reset(kind expoKind, w *bufio.Writer) {
	e.kind, e.w, e.err, e.fam = kind, w, nil, nil
}

func (e *expoWriter) write(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

// begin starts a family; nothing is written until its first series, so
// that a family without series leaves no trace, as in a registry's output.
func (e *expoWriter) begin(f *family) {
	e.fam, e.n = f, 0
	e.buf = e.buf[:0]
}

// header writes the family's HELP and TYPE before its first series.
func (e *expoWriter) header() {
	e.n++
	if e.n > 1 {
		return
	}
	switch e.kind {
	case expoText:
		e.write(e.fam.textHeader)
	case expoOpenMetrics:
		e.write(e.fam.omHeader)
	}
}

// use has the current family's series written with f's labels: f is the
// family with custom labels added (same name, help and type).
func (e *expoWriter) use(f *family) {
	if f.name != e.fam.name || e.n > 0 {
		panic("collector: use " + f.name + " in " + e.fam.name + " after its first series")
	}
	e.fam = f
}

// end finishes a family: a protobuf family goes out as one
// length-delimited message.
func (e *expoWriter) end() {
	if e.kind == expoProto && e.n > 0 {
		var size [binary.MaxVarintLen64]byte
		h := e.fam.protoHeader
		e.write(protowire.AppendVarint(size[:0], uint64(len(h)+len(e.buf))))
		e.write(h)
		e.write(e.buf)
	}
	e.fam = nil
}

// sample writes one counter or gauge series; values are the label values
// in the family's (sorted) label order.
func (e *expoWriter) sample(v float64, values ...string) {
	if e.err != nil {
		return
	}
	f := e.fam
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("collector: %s: %d label values for %d labels", f.name, len(values), len(f.labels)))
	}
	e.header()
	if e.kind == expoProto {
		e.protoSample(v, values)
		return
	}
	b := e.buf[:0]
	if e.kind == expoOpenMetrics {
		b = append(b, f.omName...)
	} else {
		b = append(b, f.name...)
	}
	b = e.appendLabels(b, values, nil)
	b = append(b, ' ')
	b = appendFloat(b, v, e.kind == expoOpenMetrics)
	b = append(b, '\n')
	e.buf = b
	e.write(b)
}

// appendLabels appends {name="value",...}, with le="..." last when le is
// not nil; nothing at all without labels.
func (e *expoWriter) appendLabels(b []byte, values []string, le []byte) []byte {
	if len(values) == 0 && le == nil {
		return b
	}
	b = append(b, '{')
	for i, v := range values {
		b = append(b, e.fam.labelPrefix[i]...)
		b = appendEscaped(b, v)
		b = append(b, '"')
	}
	if le != nil {
		if len(values) > 0 {
			b = append(b, ',')
		}
		b = append(b, `le="`...)
		b = append(b, le...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendEscaped appends a label value escaped as the text formats want:
// backslash, double quote and newline.
func appendEscaped(b []byte, v string) []byte {
	i := 0
	for i < len(v) && v[i] != '\\' && v[i] != '"' && v[i] != '\n' {
		i++
	}
	b = append(b, v[:i]...)
	for ; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// protoSample appends one Metric message (labels, then a Gauge or Counter
// holding the value) to the family's buffer, encoded as proto.Marshal
// encodes it.
func (e *expoWriter) protoSample(v float64, values []string) {
	f := e.fam
	size := 0
	for i, val := range values {
		n := len(f.protoLabel[i]) + protowire.SizeTag(2) + protowire.SizeBytes(len(val))
		size += protowire.SizeTag(1) + protowire.SizeBytes(n)
	}
	const valueMsg = 9 // tag and fixed64 of the value field
	size += protowire.SizeTag(2) + protowire.SizeBytes(valueMsg)
	b := protowire.AppendTag(e.buf, 4, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	for i, val := range values {
		n := len(f.protoLabel[i]) + protowire.SizeTag(2) + protowire.SizeBytes(len(val))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		b = append(b, f.protoLabel[i]...)
		b = protowire.AppendString(protowire.AppendTag(b, 2, protowire.BytesType), val)
	}
	field := protowire.Number(2) // Metric.gauge
	if f.typ == dto.MetricType_COUNTER {
		field = 3 // Metric.counter
	}
	b = protowire.AppendTag(b, field, protowire.BytesType)
	b = protowire.AppendVarint(b, valueMsg)
	b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(v))
	e.buf = b
}

// histogram writes one histogram series: its state comes from
// client_golang's own Write, and is encoded as expfmt encodes it. extra
// labels are added to the histogram's own.
func (e *expoWriter) histogram(m prometheus.Metric, extra ...*dto.LabelPair) {
	if e.err != nil {
		return
	}
	h := &e.hist
	defer h.Reset()
	if err := m.Write(h); err != nil {
		e.err = fmt.Errorf("%s: %w", e.fam.name, err)
		return
	}
	if len(extra) > 0 {
		// A copy: Write hands over the histogram's own label pairs.
		e.pairs = append(append(e.pairs[:0], h.Label...), extra...)
		slices.SortFunc(e.pairs, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
		h.Label = e.pairs
	}
	if h.Histogram == nil {
		e.err = fmt.Errorf("%s: not a histogram", e.fam.name)
		return
	}
	e.header()
	if e.kind == expoProto {
		var err error
		if e.msg, err = (proto.MarshalOptions{}).MarshalAppend(e.msg[:0], h); err != nil {
			e.err = fmt.Errorf("%s: %w", e.fam.name, err)
			return
		}
		b := protowire.AppendTag(e.buf, 4, protowire.BytesType)
		e.buf = append(protowire.AppendVarint(b, uint64(len(e.msg))), e.msg...)
		return
	}
	e.textHistogram(h)
}

// textHistogram writes a histogram's _bucket, _sum and _count lines in
// text or OpenMetrics, as MetricFamilyToText and MetricFamilyToOpenMetrics
// do (classic buckets only: the text formats carry no native buckets).
func (e *expoWriter) textHistogram(m *dto.Metric) {
	f, om := e.fam, e.kind == expoOpenMetrics
	values := e.values(m.Label)
	if e.err != nil {
		return
	}
	hist := m.Histogram
	count := hist.GetSampleCount()
	// The label set, formatted once for the histogram's lines: {...} for
	// _sum and _count, and its opening for the buckets' le.
	e.lbl = e.appendLabels(e.lbl[:0], values, nil)
	labels := e.lbl
	b := e.buf[:0]
	bucket := func(le []byte, n uint64) {
		b = append(b, f.bucket...)
		if len(labels) > 0 {
			b = append(append(b, labels[:len(labels)-1]...), ',')
		} else {
			b = append(b, '{')
		}
		b = append(append(append(b, `le="`...), le...), `"} `...)
		if om {
			b = strconv.AppendUint(b, n, 10)
		} else {
			b = appendFloat(b, float64(n), false)
		}
		b = append(b, '\n')
	}
	infSeen := false
	for i, bk := range hist.Bucket {
		if bk.GetCumulativeCountFloat() != 0 {
			e.err = fmt.Errorf("%s: float histograms are not streamed", f.name)
			return
		}
		ub := bk.GetUpperBound()
		var le []byte
		if i < len(f.bounds) && f.bounds[i] == ub {
			le = f.textLE[i]
			if om {
				le = f.omLE[i]
			}
		} else {
			le = appendFloat(nil, ub, om)
		}
		bucket(le, bk.GetCumulativeCount())
		infSeen = infSeen || math.IsInf(ub, 1)
	}
	if !infSeen {
		// +Inf, the same in both formats; withBuckets always adds it.
		le := []byte("+Inf")
		if n := len(f.textLE); n > 0 {
			le = f.textLE[n-1]
		}
		bucket(le, count)
	}
	b = append(append(append(b, f.sum...), labels...), ' ')
	b = append(appendFloat(b, hist.GetSampleSum(), om), '\n')
	b = append(append(append(b, f.cnt...), labels...), ' ')
	if om {
		b = strconv.AppendUint(b, count, 10)
	} else {
		b = appendFloat(b, float64(count), false)
	}
	e.buf = append(b, '\n')
	e.write(e.buf)
}

// values returns a histogram's label values in the family's label order
// (client_golang hands them over sorted by name, as the family's are).
func (e *expoWriter) values(labels []*dto.LabelPair) []string {
	f := e.fam
	if len(labels) != len(f.labels) {
		e.err = fmt.Errorf("%s: %d labels, want %d", f.name, len(labels), len(f.labels))
		return nil
	}
	out := e.vals[:0]
	for i, l := range labels {
		if l.GetName() != f.labels[i] {
			e.err = fmt.Errorf("%s: label %q, want %q", f.name, l.GetName(), f.labels[i])
			return nil
		}
		out = append(out, l.GetValue())
	}
	e.vals = out
	return out
}
