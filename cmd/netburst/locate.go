package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/netburst/netburst/locate"
	"github.com/netburst/netburst/packet"
)

// locateCmd holds the flags of `netburst locate`.
type locateCmd struct {
	jsonOut    bool
	threshold  time.Duration
	sameClock  []string
	tolerance  time.Duration
	maxAge     time.Duration
	maxPending int
	maxEchoes  int
	all        bool
	points     []string
	exporters  []string
	user       string
	pwFile     string
	caFile     string
	timeout    time.Duration
	follow     bool
	window     time.Duration
}

func registerLocate(app *kingpin.Application) (*kingpin.CmdClause, runFunc) {
	c := &locateCmd{}
	cmd := app.Command("locate", "Find the path segment, and the direction, that added delay to ICMP echoes captured at several points (pcap or pcapng files, one per point, in path order from the pinging side).")
	cmd.Flag("json", "Print the analysis as JSON (schema in docs/locate.md).").BoolVar(&c.jsonOut)
	cmd.Flag("threshold", "End-to-end round trip above which an echo is slow (default: median + max(6 x 1.4826 x MAD, 1ms) of the echoes).").DurationVar(&c.threshold)
	cmd.Flag("same-clock", "Comma-separated point names whose captures share one clock (e.g. two interfaces of one host); repeatable. Their offset is taken as zero instead of estimated.").StringsVar(&c.sameClock)
	cmd.Flag("clock-tolerance", "How far an echo may contradict a point's clock offset before the clock is reported as jumping.").Default("1ms").DurationVar(&c.tolerance)
	cmd.Flag("max-age", "How long an echo waits for its packets at the other points; clocks must agree better than this.").Default("60s").DurationVar(&c.maxAge)
	cmd.Flag("max-pending", "Most echoes waiting for their other packets at once; older ones are dropped and counted.").Default("262144").IntVar(&c.maxPending)
	cmd.Flag("max-echoes", "Most echoes analysed (about 1 KiB of memory each); later ones are counted and skipped.").Default("262144").IntVar(&c.maxEchoes)
	cmd.Flag("all", "Text output: list every echo, not only the slow and lost ones.").BoolVar(&c.all)
	cmd.Flag("exporter", "NAME=URL of a netburst_exporter with --locate.points (repeatable, in path order, after the NAME=... arguments): its points join the path as NAME/IFNAME, in its own order, on one clock; their echoes come from its /api/v1/echoes. Or a Prometheus file_sd file (.json, .yml) listing exporters, in path order.").StringsVar(&c.exporters)
	cmd.Flag("exporter-ca-file", "PEM CA certificates to verify https exporters with (default: the system's).").PlaceHolder("FILE").StringVar(&c.caFile)
	cmd.Flag("exporter-user", "Basic auth user for the exporters (their --web.config.file).").StringVar(&c.user)
	cmd.Flag("exporter-password-file", "File holding the exporters' basic auth password (its first line).").PlaceHolder("FILE").StringVar(&c.pwFile)
	cmd.Flag("timeout", "How long to wait for an exporter.").Default("10s").DurationVar(&c.timeout)
	cmd.Flag("follow", "With exporters only: analyse each --window of new echoes and print its verdict, until interrupted.").BoolVar(&c.follow)
	cmd.Flag("window", "--follow: the echoes of each verdict.").Default("10s").DurationVar(&c.window)
	cmd.Arg("points", "NAME=FILE for each capture point, or NAME=http(s)://HOST:PORT for an exporter's points, in path order from the pinging side (at least two points in all).").StringsVar(&c.points)
	return cmd, c.run
}

// pointSpec is one point: a NAME=FILE argument, or one point of an
// exporter (url set: its echoes are remote).
type pointSpec struct {
	name, file, clock string
	// url is the exporter's address for a remote point; exporter and
	// index name it and its place in the exporter's points.
	url      string
	exporter string
	index    int
}

// isURL says whether a NAME=VALUE argument names an exporter.
func isURL(v string) bool { return strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") }

func (c *locateCmd) parse() ([]pointSpec, error) {
	args := append([]string(nil), c.points...)
	var exporters []string
	for _, e := range c.exporters {
		if !strings.Contains(e, "=") {
			more, err := exportersFromFileSD(e)
			if err != nil {
				return nil, err
			}
			exporters = append(exporters, more...)
			continue
		}
		exporters = append(exporters, e)
	}
	args = append(args, exporters...)
	remote := 0
	for _, a := range args {
		if _, v, _ := strings.Cut(a, "="); isURL(v) {
			remote++
		}
	}
	if len(args) < 2 && remote == 0 {
		return nil, usageError{fmt.Errorf("need at least two capture points NAME=FILE (or exporters NAME=URL), got %d", len(args))}
	}
	if len(args) > locate.MaxPoints {
		return nil, usageError{fmt.Errorf("at most %d capture points, got %d", locate.MaxPoints, len(args))}
	}
	if c.follow && remote != len(args) {
		return nil, usageError{errors.New("--follow reads exporters only: a file has no new echoes")}
	}
	if c.follow && c.window < time.Second {
		return nil, usageError{fmt.Errorf("--window=%v: at least 1s", c.window)}
	}
	if c.threshold < 0 {
		return nil, usageError{fmt.Errorf("--threshold %v is negative", c.threshold)}
	}
	if c.tolerance <= 0 || c.maxAge <= 0 || c.maxPending <= 0 || c.maxEchoes <= 0 {
		return nil, usageError{errors.New("--clock-tolerance, --max-age, --max-pending and --max-echoes must be positive")}
	}
	specs := make([]pointSpec, 0, len(c.points))
	index := map[string]int{}
	for i, a := range args {
		name, file, ok := strings.Cut(a, "=")
		if !ok || name == "" || file == "" {
			if i >= len(c.points) {
				return nil, usageError{fmt.Errorf("--exporter=%s: want NAME=http(s)://HOST:PORT", a)}
			}
			return nil, usageError{fmt.Errorf("capture point %q: want NAME=FILE", a)}
		}
		if i >= len(c.points) && !isURL(file) {
			return nil, usageError{fmt.Errorf("--exporter=%s: want NAME=http(s)://HOST:PORT", a)}
		}
		if strings.Contains(name, "/") {
			return nil, usageError{fmt.Errorf("point or exporter name %q: no / (an exporter's points are named NAME/IFNAME)", name)}
		}
		if _, dup := index[name]; dup {
			return nil, usageError{fmt.Errorf("capture point name %q given twice", name)}
		}
		index[name] = len(specs)
		if isURL(file) {
			// Expanded into its points once its echoes are read.
			specs = append(specs, pointSpec{name: name, url: strings.TrimRight(file, "/"), exporter: name})
			continue
		}
		specs = append(specs, pointSpec{name: name, file: file})
	}
	for _, group := range c.sameClock {
		names := strings.Split(group, ",")
		if len(names) < 2 {
			return nil, usageError{fmt.Errorf("--same-clock %q: name at least two points", group)}
		}
		for _, n := range names {
			i, ok := index[strings.TrimSpace(n)]
			if !ok {
				return nil, usageError{fmt.Errorf("--same-clock %q: no capture point named %q", group, n)}
			}
			if specs[i].clock != "" {
				return nil, usageError{fmt.Errorf("--same-clock: point %q is in two groups", n)}
			}
			// The group's clock is named after its first point.
			specs[i].clock = strings.TrimSpace(names[0])
		}
	}
	return specs, nil
}

// pointSource is one point's file as a locate.Stream. The file is opened
// at the first read, so that the points' files are opened and first read
// in path order.
type pointSource struct {
	spec  pointSpec
	point int
	// remote holds an exporter point's echoes (then there is no file).
	remote   []locate.Observation
	r        *captureFile
	pkt      packet.Packet
	frames   int
	undecode uint64
}

// Next reads up to the next echo packet. Frames without a usable time are
// left out (Notes counts them, for the warnings).
func (s *pointSource) Next(o *locate.Observation) (bool, error) {
	if s.spec.url != "" {
		if len(s.remote) == 0 {
			return false, nil
		}
		*o, s.remote = s.remote[0], s.remote[1:]
		o.Point = s.point
		return true, nil
	}
	if s.r == nil {
		r, err := openCapture(s.spec.file)
		if err != nil {
			return false, fmt.Errorf("point %s: %w", s.spec.name, err)
		}
		s.r = r
	}
	for {
		ok, err := s.r.next(&s.pkt)
		if err != nil {
			return false, fmt.Errorf("point %s: %w", s.spec.name, err)
		}
		if !ok {
			s.frames, s.undecode = s.r.Frames(), s.r.DecodeErrors()
			return false, nil
		}
		if packet.ValidTime(s.pkt.Time) && locate.FromPacket(&s.pkt, s.point, o) {
			return true, nil
		}
	}
}

// warnings says what the analysis left out of the point's file.
func (s *pointSource) warnings() []string {
	if s.r == nil {
		return nil
	}
	var w []string
	for _, m := range s.r.warnings("left out (locate needs their time)") {
		w = append(w, "point "+s.spec.name+": "+m)
	}
	return w
}

// Close closes the file, if it was opened.
func (s *pointSource) Close() error {
	if s.r == nil {
		return nil
	}
	return s.r.Close()
}

func (c *locateCmd) run(ctx context.Context, out io.Writer, warn warnFunc) error {
	specs, err := c.parse()
	if err != nil {
		return err
	}
	rc, err := c.remoteClient()
	if err != nil {
		return err
	}
	if c.follow {
		return c.runFollow(ctx, out, warn, specs, rc)
	}
	// Every exporter's echoes, all its ring holds, read once.
	fetched := map[string]*remoteEchoes{}
	for _, s := range specs {
		if s.url == "" {
			continue
		}
		e, err := rc.fetch(ctx, s.exporter, s.url, nil)
		if err != nil {
			warn("%v: its points are left out", err)
			continue
		}
		if e.missed > 0 {
			warn("exporter %s: %d observations had already left its ring (--locate.echo-ring): a gap in the oldest echoes", s.exporter, e.missed)
		}
		fetched[s.exporter] = e
	}
	specs, err = expandRemote(specs, fetched)
	if err != nil {
		return err
	}
	return c.analyze(ctx, out, warn, specs, fetched)
}

// analyze runs the analysis over the points and prints it.
func (c *locateCmd) analyze(ctx context.Context, out io.Writer, warn warnFunc, specs []pointSpec, fetched map[string]*remoteEchoes) error {
	pts := make([]locate.Point, len(specs))
	for i, s := range specs {
		pts[i] = locate.Point{Name: s.name, Clock: s.clock}
	}
	an, err := locate.NewAnalyzer(pts, locate.Options{
		Threshold: c.threshold, ClockTolerance: c.tolerance, MaxAge: c.maxAge, MaxEntries: c.maxPending, MaxEchoes: c.maxEchoes,
	})
	if err != nil {
		return usageError{err}
	}
	srcs := make([]*pointSource, len(specs))
	streams := make([]locate.Stream, len(specs))
	for i, s := range specs {
		srcs[i] = &pointSource{spec: s, point: i}
		if s.url != "" {
			srcs[i].remote = fetched[s.exporter].of(s.index)
		}
		streams[i] = srcs[i]
		defer srcs[i].Close()
	}
	err = an.AddStreams(ctx, streams)
	var fileWarnings []string
	for _, s := range srcs {
		fileWarnings = append(fileWarnings, s.warnings()...)
	}
	// Said even when the analysis fails: a cut or doubtful file may be why.
	for _, w := range fileWarnings {
		warn("%s", w)
	}
	if err != nil {
		return err
	}
	res, err := an.Result()
	if err != nil {
		if errors.Is(err, locate.ErrNoEchoes) {
			for _, s := range srcs {
				if strings.Contains(err.Error(), "point "+s.spec.name+":") {
					if s.spec.url != "" {
						return fmt.Errorf("%w (exporter %s at %s: no echo crossed its point %s in what its ring holds)", err, s.spec.exporter, s.spec.url, s.spec.name)
					}
					return fmt.Errorf("%w (file %s: %d frames, link type %s, %d not decodable; capture with a filter such as 'icmp or icmp6')",
						err, s.spec.file, s.frames, s.r.LinkType(), s.undecode)
				}
			}
		}
		return err
	}
	if c.jsonOut {
		return writeLocateJSON(out, res, srcs)
	}
	return writeLocateText(out, res, srcs, c.all)
}

// JSON schema (docs/locate.md). Optional values are null when unknown.

type jsonOffset struct {
	Method      string   `json:"method"`
	Seconds     *float64 `json:"seconds"`
	Uncertainty float64  `json:"uncertainty_seconds"`
	DriftPPM    float64  `json:"drift_ppm"`
	Samples     int      `json:"samples"`
	RelativeTo  *string  `json:"relative_to"`
	Consistent  bool     `json:"consistent"`
}

type jsonPoint struct {
	Name         string     `json:"name"`
	File         string     `json:"file"`
	Clock        string     `json:"clock,omitempty"`
	LinkType     string     `json:"link_type"`
	Frames       int        `json:"frames"`
	DecodeErrors uint64     `json:"decode_errors"`
	Requests     int        `json:"requests"`
	Replies      int        `json:"replies"`
	First        time.Time  `json:"first"`
	Last         time.Time  `json:"last"`
	Offset       jsonOffset `json:"offset"`
}

type jsonEchoPoint struct {
	Name      string     `json:"name"`
	Request   *time.Time `json:"request"`
	Reply     *time.Time `json:"reply"`
	RoundTrip *float64   `json:"round_trip_seconds"`
}

type jsonSegment struct {
	From      string   `json:"from"`
	To        string   `json:"to"`
	RoundTrip float64  `json:"round_trip_seconds"`
	Request   *float64 `json:"request_seconds"`
	Reply     *float64 `json:"reply_seconds"`
}

type jsonLoss struct {
	Direction string `json:"direction"`
	From      string `json:"from"`
	To        string `json:"to"`
}

type jsonBlame struct {
	From      string   `json:"from"`
	To        string   `json:"to"`
	Direction string   `json:"direction"`
	Delay     float64  `json:"delay_seconds"`
	Excess    float64  `json:"excess_seconds"`
	OneWay    *float64 `json:"one_way_seconds"`
}

type jsonEcho struct {
	Src      string          `json:"src"`
	Dst      string          `json:"dst"`
	ID       uint16          `json:"id"`
	Seq      uint16          `json:"seq"`
	EndToEnd *float64        `json:"end_to_end_seconds"`
	Slow     bool            `json:"slow"`
	Reversed bool            `json:"reversed"`
	OffPath  bool            `json:"off_path"`
	Points   []jsonEchoPoint `json:"points"`
	Segments []jsonSegment   `json:"segments"`
	Lost     *jsonLoss       `json:"lost"`
	Missing  []string        `json:"missing"`
	Blame    *jsonBlame      `json:"blame"`
}

type jsonEchoRef struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
	ID  uint16 `json:"id"`
	Seq uint16 `json:"seq"`
}

type jsonFinding struct {
	From        string        `json:"from"`
	To          string        `json:"to"`
	Direction   string        `json:"direction"`
	Delay       float64       `json:"delay_seconds"`
	Seqs        []uint16      `json:"seqs"`
	OneWay      *float64      `json:"one_way_seconds"`
	MedianDelay float64       `json:"median_delay_seconds"`
	Worst       jsonEchoRef   `json:"worst"`
	Echoes      []jsonEchoRef `json:"echoes"`
}

type jsonLossSummary struct {
	From      string   `json:"from"`
	To        string   `json:"to"`
	Direction string   `json:"direction"`
	Seqs      []uint16 `json:"seqs"`
}

type jsonThreshold struct {
	Seconds float64 `json:"seconds"`
	Source  string  `json:"source"`
	Median  float64 `json:"median_seconds"`
	MAD     float64 `json:"mad_seconds"`
	Samples int     `json:"samples"`
}

type jsonWarning struct {
	Point   *string `json:"point"`
	Kind    string  `json:"kind"`
	Message string  `json:"message"`
}

type jsonStats struct {
	locate.MatchStats
	EchoesDropped uint64 `json:"echoes_dropped"`
	Reversed      int    `json:"reversed"`
	OffPath       int    `json:"off_path"`
}

type jsonLocate struct {
	Points    []jsonPoint       `json:"points"`
	Threshold jsonThreshold     `json:"threshold"`
	Echoes    []jsonEcho        `json:"echoes"`
	Verdict   *jsonFinding      `json:"verdict"`
	Findings  []jsonFinding     `json:"findings"`
	Losses    []jsonLossSummary `json:"losses"`
	Warnings  []jsonWarning     `json:"warnings"`
	Stats     jsonStats         `json:"stats"`
}

func secs(d time.Duration) float64 { return d.Seconds() }

func optSecs(s locate.Span) *float64 {
	if !s.Valid {
		return nil
	}
	v := s.D.Seconds()
	return &v
}

func ref(k locate.Key) jsonEchoRef {
	return jsonEchoRef{Src: k.Src.String(), Dst: k.Dst.String(), ID: k.ID, Seq: k.Seq}
}

func finding(res *locate.Result, f *locate.Finding) jsonFinding {
	from, to := res.SegmentName(f.Segment)
	jf := jsonFinding{
		From: from, To: to, Direction: string(f.Direction),
		Delay: secs(f.MaxDelay), OneWay: optSecs(f.WorstOneWay), MedianDelay: secs(f.MedianDelay),
		Worst: ref(f.Worst), Seqs: []uint16{}, Echoes: []jsonEchoRef{},
	}
	for _, k := range f.Echoes {
		jf.Seqs = append(jf.Seqs, k.Seq)
		jf.Echoes = append(jf.Echoes, ref(k))
	}
	return jf
}

func buildJSON(res *locate.Result, srcs []*pointSource) jsonLocate {
	n := len(res.Points)
	doc := jsonLocate{
		Points:   []jsonPoint{},
		Echoes:   []jsonEcho{},
		Findings: []jsonFinding{},
		Losses:   []jsonLossSummary{},
		Warnings: []jsonWarning{},
		Stats:    jsonStats{MatchStats: res.Stats.Match, EchoesDropped: res.Stats.EchoesDropped, Reversed: res.Stats.Reversed, OffPath: res.Stats.OffPath},
	}
	for i, p := range res.Points {
		jp := jsonPoint{
			Name: p.Name, Clock: p.Clock, Requests: p.Requests, Replies: p.Replies, First: p.First.UTC(), Last: p.Last.UTC(),
			Offset: jsonOffset{Method: string(p.Offset.Method), Uncertainty: secs(p.Offset.Uncertainty), DriftPPM: p.Offset.Drift * 1e6, Samples: p.Offset.Samples, Consistent: p.Offset.Consistent},
		}
		if srcs != nil && srcs[i].r != nil {
			jp.File, jp.LinkType, jp.Frames, jp.DecodeErrors = srcs[i].spec.file, srcs[i].r.LinkType().String(), srcs[i].frames, srcs[i].undecode
		} else if srcs != nil {
			jp.File, jp.LinkType = srcs[i].spec.file, "exporter"
		}
		if p.Offset.Method != locate.OffsetNone {
			v := secs(p.Offset.Value)
			jp.Offset.Seconds = &v
		}
		if q := p.Offset.RelativeTo; q >= 0 && p.Offset.Method != locate.OffsetReference {
			jp.Offset.RelativeTo = &res.Points[q].Name
		}
		doc.Points = append(doc.Points, jp)
	}
	th := res.Threshold
	doc.Threshold = jsonThreshold{Seconds: secs(th.Value), Source: "baseline", Median: secs(th.Median), MAD: secs(th.MAD), Samples: th.Samples}
	if th.Explicit {
		doc.Threshold.Source = "explicit"
	}
	name := func(p int) string {
		if p >= n {
			return "beyond"
		}
		return res.Points[p].Name
	}
	for i := range res.Echoes {
		e := &res.Echoes[i]
		je := jsonEcho{
			Src: e.Key.Src.String(), Dst: e.Key.Dst.String(), ID: e.Key.ID, Seq: e.Key.Seq,
			EndToEnd: optSecs(e.EndToEnd), Slow: e.Slow, Reversed: e.Reversed, OffPath: e.OffPath,
			Points: make([]jsonEchoPoint, n), Segments: []jsonSegment{}, Missing: []string{},
		}
		for p := range n {
			jp := jsonEchoPoint{Name: res.Points[p].Name, RoundTrip: optSecs(e.RoundTrip[p])}
			if e.HasRequest(p) {
				t := e.RequestAt(p)
				jp.Request = &t
			}
			if e.HasReply(p) {
				t := e.ReplyAt(p)
				jp.Reply = &t
			}
			je.Points[p] = jp
		}
		for _, s := range e.Segments {
			je.Segments = append(je.Segments, jsonSegment{From: name(s.From), To: name(s.To), RoundTrip: secs(s.RoundTrip), Request: optSecs(s.Request), Reply: optSecs(s.Reply)})
		}
		if e.Lost != nil {
			je.Lost = &jsonLoss{Direction: string(e.Lost.Direction), From: name(e.Lost.From), To: name(e.Lost.To)}
		}
		for _, p := range e.Missing {
			je.Missing = append(je.Missing, name(p))
		}
		if b := e.Blame; b != nil {
			je.Blame = &jsonBlame{From: name(b.From), To: name(b.To), Direction: string(b.Direction), Delay: secs(b.Delay), Excess: secs(b.Excess), OneWay: optSecs(b.OneWay)}
		}
		doc.Echoes = append(doc.Echoes, je)
	}
	for i := range res.Findings {
		doc.Findings = append(doc.Findings, finding(res, &res.Findings[i]))
	}
	if res.Verdict != nil {
		v := finding(res, res.Verdict)
		doc.Verdict = &v
	}
	for _, l := range res.Losses {
		js := jsonLossSummary{From: name(l.From), To: name(l.To), Direction: string(l.Direction), Seqs: []uint16{}}
		for _, k := range l.Echoes {
			js.Seqs = append(js.Seqs, k.Seq)
		}
		doc.Losses = append(doc.Losses, js)
	}
	for _, w := range res.Warnings {
		jw := jsonWarning{Message: w.Message, Kind: "other"}
		switch {
		case errors.Is(w, locate.ErrClockJump):
			jw.Kind = "clock_jump"
		case errors.Is(w, locate.ErrUnsorted):
			jw.Kind = "unsorted"
		}
		if w.Point >= 0 {
			jw.Point = &res.Points[w.Point].Name
		}
		doc.Warnings = append(doc.Warnings, jw)
	}
	return doc
}

func writeLocateJSON(out io.Writer, res *locate.Result, srcs []*pointSource) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	doc := buildJSON(res, srcs)
	for i, s := range srcs {
		for _, m := range s.warnings() {
			doc.Warnings = append(doc.Warnings, jsonWarning{Point: &res.Points[i].Name, Kind: "file", Message: m})
		}
	}
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// fmtSecs prints a duration in seconds with microseconds, like the seed.
func fmtSecs(d time.Duration) string { return fmt.Sprintf("%.6f s", d.Seconds()) }

func fmtSpan(s locate.Span) string {
	if !s.Valid {
		return "-"
	}
	return fmtSecs(s.D)
}

func fmtTime(t time.Time, ok bool) string {
	if !ok {
		return "-"
	}
	return t.UTC().Format("15:04:05.000000")
}

func writeLocateText(out io.Writer, res *locate.Result, srcs []*pointSource, all bool) error {
	n := len(res.Points)
	name := func(p int) string {
		if p >= n {
			return "beyond"
		}
		return res.Points[p].Name
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(&b, "capture points, in path order from the pinging side (clock offsets relative to %s, at %s):\n", res.Points[0].Name, fmtTime(res.Epoch, true))
	fmt.Fprintln(tw, "  #\tpoint\tfile\trequests\treplies\tclock offset\tmethod\t")
	for i, p := range res.Points {
		off := "-"
		if p.Offset.Method != locate.OffsetNone {
			off = fmt.Sprintf("%+.6f s", p.Offset.Value.Seconds())
			if p.Offset.Method == locate.OffsetEstimated {
				off += fmt.Sprintf(" ± %.6f (%d echoes)", p.Offset.Uncertainty.Seconds(), p.Offset.Samples)
			}
			// Below 0.1 ppm a drift moves the offset by less than a
			// microsecond in ten seconds: noise, not worth a column.
			if d := p.Offset.Drift * 1e6; d >= 0.1 || d <= -0.1 {
				off += fmt.Sprintf(", drift %+.1f ppm", d)
			}
		}
		method := string(p.Offset.Method)
		if p.Offset.Method == locate.OffsetShared || p.Offset.Method == locate.OffsetEstimated {
			method += " vs " + name(p.Offset.RelativeTo)
		}
		if !p.Offset.Consistent {
			method += ", INCONSISTENT"
		}
		file := ""
		if srcs != nil {
			file = srcs[i].spec.file
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%d\t%s\t%s\t\n", i+1, p.Name, file, p.Requests, p.Replies, off, method)
	}
	tw.Flush()
	th := res.Threshold
	if th.Explicit {
		fmt.Fprintf(&b, "\nslow echo: end-to-end round trip above %s (--threshold); median %s over %d echoes\n", fmtSecs(th.Value), fmtSecs(th.Median), th.Samples)
	} else {
		fmt.Fprintf(&b, "\nslow echo: end-to-end round trip above %s (median %s + max(6 x 1.4826 x MAD %s, 1 ms), %d echoes)\n", fmtSecs(th.Value), fmtSecs(th.Median), fmtSecs(th.MAD), th.Samples)
	}
	slow := 0
	for i := range res.Echoes {
		if res.Echoes[i].Slow {
			slow++
		}
	}
	fmt.Fprintf(&b, "%d echoes, %d slow, %d lost\n", len(res.Echoes), slow, countLost(res))

	if v := res.Verdict; v != nil {
		from, to := res.SegmentName(v.Segment)
		fmt.Fprintf(&b, "\nVERDICT: %s -> %s added %s to the round trip", from, to, fmtSecs(v.MaxDelay))
		switch v.Direction {
		case locate.DirRequest, locate.DirReply:
			fmt.Fprintf(&b, ", on the %s", v.Direction)
			if v.WorstOneWay.Valid {
				fmt.Fprintf(&b, " (one way %s)", fmtSecs(v.WorstOneWay.D))
			}
		case locate.DirBoth:
			fmt.Fprint(&b, ", in both directions")
		default:
			fmt.Fprint(&b, ", direction unknown (no usable clock offset)")
		}
		fmt.Fprintf(&b, "\n  evidence: %d slow echo(es), seq %s; worst seq %d; median delay %s\n", len(v.Echoes), seqList(v.Echoes), v.Worst.Seq, fmtSecs(v.MedianDelay))
		for i := range res.Findings[1:] {
			f := &res.Findings[i+1]
			from, to := res.SegmentName(f.Segment)
			fmt.Fprintf(&b, "  also: %s -> %s, %s, up to %s, seq %s\n", from, to, f.Direction, fmtSecs(f.MaxDelay), seqList(f.Echoes))
		}
		for i := range res.Echoes {
			if res.Echoes[i].Key == v.Worst {
				fmt.Fprintln(&b)
				writeEchoTable(&b, res, &res.Echoes[i])
				break
			}
		}
	} else {
		fmt.Fprintln(&b, "\nVERDICT: no slow echo")
	}
	for _, l := range res.Losses {
		fmt.Fprintf(&b, "\nLOSS: %d %s packets disappeared between %s and %s, seq %s", len(l.Echoes), l.Direction, name(l.From), name(l.To), seqList(l.Echoes))
		if l.Direction == locate.DirUnknown {
			fmt.Fprintf(&b, " (the request reached %s and no reply was ever seen)", name(l.From))
		}
		fmt.Fprintln(&b)
	}
	listed := false
	for i := range res.Echoes {
		e := &res.Echoes[i]
		if !all && !e.Slow && e.Lost == nil {
			continue
		}
		if res.Verdict != nil && e.Key == res.Verdict.Worst {
			continue
		}
		if !listed {
			fmt.Fprintln(&b, "\nother echoes:")
			listed = true
		}
		writeEchoTable(&b, res, e)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(&b, "\nwarning: %s\n", w.Message)
	}
	if s := res.Stats; s.Match.DroppedFull > 0 || s.EchoesDropped > 0 {
		fmt.Fprintf(&b, "\nwarning: %d echoes dropped from a full matching table, %d beyond the echo cap\n", s.Match.DroppedFull, s.EchoesDropped)
	}
	_, err := io.WriteString(out, trimTrailingSpaces(b.String()))
	return err
}

// trimTrailingSpaces removes the padding tabwriter leaves at the end of
// lines.
func trimTrailingSpaces(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func countLost(res *locate.Result) int {
	k := 0
	for i := range res.Echoes {
		if res.Echoes[i].Lost != nil {
			k++
		}
	}
	return k
}

// seqList prints sequence numbers, at most 20 of them.
func seqList(keys []locate.Key) string {
	var s []string
	for i, k := range keys {
		if i == 20 {
			s = append(s, fmt.Sprintf("... (%d more)", len(keys)-20))
			break
		}
		s = append(s, fmt.Sprint(k.Seq))
	}
	return strings.Join(s, ",")
}

// writeEchoTable prints one echo like the seed's comparison: each point's
// request and reply times and round trip, then each segment's delays.
func writeEchoTable(b *strings.Builder, res *locate.Result, e *locate.Echo) {
	n := len(res.Points)
	state := ""
	switch {
	case e.Slow:
		state = " SLOW"
	case e.Reversed:
		state = " (pinged from the far end)"
	case e.OffPath:
		state = " (seen at one point only: not on this path)"
	}
	fmt.Fprintf(b, "echo %s%s\n", e.Key, state)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  point\trequest\treply\tround trip\t")
	for p := range n {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", res.Points[p].Name, fmtTime(e.RequestAt(p), e.HasRequest(p)), fmtTime(e.ReplyAt(p), e.HasReply(p)), fmtSpan(e.RoundTrip[p]))
	}
	tw.Flush()
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  segment\tround trip\trequest\treply\t")
	for _, s := range e.Segments {
		from, to := res.SegmentName(s.Segment)
		mark := ""
		if e.Blame != nil && e.Blame.Segment == s.Segment {
			mark = "  <- " + string(e.Blame.Direction)
		}
		fmt.Fprintf(tw, "  %s -> %s\t%s\t%s\t%s\t%s\n", from, to, fmtSecs(s.RoundTrip), fmtSpan(s.Request), fmtSpan(s.Reply), mark)
	}
	tw.Flush()
	if e.Lost != nil {
		from, to := res.SegmentName(e.Lost.Segment)
		fmt.Fprintf(b, "  lost: %s between %s and %s\n", e.Lost.Direction, from, to)
	}
	if len(e.Missing) > 0 {
		var m []string
		for _, p := range e.Missing {
			m = append(m, res.Points[p].Name)
		}
		fmt.Fprintf(b, "  not captured at: %s (seen on both sides: a capture drop)\n", strings.Join(m, ", "))
	}
}
