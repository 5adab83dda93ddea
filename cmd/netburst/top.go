package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/netburst/netburst/packet"
	"github.com/netburst/netburst/plot"
)

// topOutput is `netburst top --json`: the summary plus where it came from.
// The schema is documented in docs/capture.md.
type topOutput struct {
	File string `json:"file"`
	// From and To echo the window asked for, if any.
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
	packet.Summary
	// Undecoded counts frames in the window whose headers could not be
	// fully decoded; they count in the totals only.
	Undecoded uint64 `json:"undecoded_frames"`
	// SkippedRecords counts records left out because their captured length
	// exceeds their original length.
	SkippedRecords uint64 `json:"skipped_records"`
	// UntimedFrames counts frames timestamped outside 1970 to 2262: in the
	// totals and tables without a window, in no peak, start or end.
	UntimedFrames uint64 `json:"untimed_frames"`
	// EndsInsideRecord is the record the file ends inside (tcpdump still
	// writing, or killed), 0 when it ends between two records.
	EndsInsideRecord int `json:"ends_inside_record"`
	// Warnings are the lines also printed on stderr: what the result leaves
	// out of the file.
	Warnings []string `json:"warnings"`
}

// ctxCheckEvery is how many frames are read between checks for
// cancellation: often enough to stop within milliseconds, rarely enough to
// cost nothing.
const ctxCheckEvery = 1 << 14

func registerTop(app *kingpin.Application) (*kingpin.CmdClause, runFunc) {
	cmd := app.Command("top", "Packets and bytes per destination port, host pair and conversation of a pcap or pcapng file, like Wireshark's statistics.")
	var (
		asJSON   = cmd.Flag("json", "Print the summary as JSON (schema in docs/capture.md).").Bool()
		from     = cmd.Flag("from", "Only frames at or after this time: epoch seconds (fractional) or RFC 3339 (like editcap -A).").PlaceHolder("T").String()
		to       = cmd.Flag("to", "Only frames before this time: epoch seconds (fractional) or RFC 3339 (like editcap -B).").PlaceHolder("T").String()
		by       = cmd.Flag("by", "Table to print in text mode: port, host, conversation, or tunnel (tunnelled traffic by tunnel, ID and outer address pair; the other tables count what is inside a tunnel).").Default("port").Enum("port", "host", "conversation", "tunnel")
		n        = cmd.Flag("n", "Entries per table (0 for all).").Short('n').Default("10").Int()
		maxFlows = cmd.Flag("max-flows", "Bound on entries per table; traffic beyond it is counted as overflow.").Default(strconv.Itoa(packet.DefaultMaxFlows)).Int()
		svg      = cmd.Flag("svg", "Also write the throughput over time as an SVG picture to this file: 10 ms bins (wider for long files, at most 2,000), the top 5 destination ports stacked, as the exporter's spike pages draw it.").PlaceHolder("FILE").String()
		file     = cmd.Arg("file", "pcap or pcapng file.").Required().String()
	)
	return cmd, func(ctx context.Context, out io.Writer, warn warnFunc) error {
		var fromT, toT *time.Time
		if *from != "" {
			t, err := parseTime(*from)
			if err != nil {
				return usageError{fmt.Errorf("--from: %w", err)}
			}
			fromT = &t
		}
		if *to != "" {
			t, err := parseTime(*to)
			if err != nil {
				return usageError{fmt.Errorf("--to: %w", err)}
			}
			toT = &t
		}
		if fromT != nil && toT != nil && !fromT.Before(*toT) {
			return usageError{fmt.Errorf("--from %s is not before --to %s", *from, *to)}
		}
		if *n < 0 {
			return usageError{fmt.Errorf("-n must be 0 or more, got %d", *n)}
		}
		if *maxFlows <= 0 {
			return usageError{fmt.Errorf("--max-flows must be positive, got %d", *maxFlows)}
		}
		var tl *packet.TimelineBuilder
		if *svg != "" {
			tl = packet.NewTimelineBuilder(0, 0)
			if fromT != nil && toT != nil {
				tl.Span(*fromT, *toT)
			}
		}
		res, err := topFile(ctx, *file, fromT, toT, *n, *maxFlows, tl)
		if err != nil {
			return err
		}
		if tl != nil {
			if err := writeSVG(*svg, tl.Timeline(svgPorts), filepath.Base(*file)); err != nil {
				return err
			}
		}
		for _, w := range res.Warnings {
			warn("%s", w)
		}
		if *asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		return printTop(out, res, *by)
	}
}

// svgPorts is how many destination ports top --svg stacks.
const svgPorts = 5

// writeSVG writes the timeline's picture to path, titled with the file's
// name.
func writeSVG(path string, t packet.Timeline, title string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--svg: %w", err)
	}
	if err := plot.SVG(f, t, plot.Options{Title: title}); err != nil {
		f.Close()
		return fmt.Errorf("--svg=%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--svg: %w", err)
	}
	return nil
}

// maxRuns bounds the sorted runs of an unsorted file that topFile merges:
// the second pass holds one reader (a 256 KiB buffer) per run, and each
// run's reader reads the file up to the run's start.
const maxRuns = 16

// topFile aggregates the frames of path in [from, to). A file whose frames
// go back in time by more than the aggregator's peak slots (mergecap -a of
// two captures, or one frame with a wild timestamp) is made of sorted runs:
// a second pass merges them by time, so that every frame counts in its own
// 100 ms bucket.
func topFile(ctx context.Context, path string, from, to *time.Time, k, maxFlows int, tl *packet.TimelineBuilder) (*topOutput, error) {
	f, err := openCapture(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ag := packet.NewAggregator(maxFlows)
	var (
		p         packet.Packet
		undecoded uint64
		lastErrs  uint64
		starts    []int // the first record of each run after the first
		runMax    int64 // newest bucket of the current run
		timed     bool  // runMax is set
		tooMany   bool  // more than maxRuns runs
	)
	for i := 0; ; i++ {
		if i%ctxCheckEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ok, err := f.next(&p)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		errs := f.DecodeErrors()
		bad := errs != lastErrs
		lastErrs = errs
		if packet.ValidTime(p.Time) {
			b := p.Time.UnixNano() / int64(packet.RateBucket)
			switch {
			case timed && runMax-b >= packet.PeakSlots:
				if len(starts) < maxRuns-1 {
					starts = append(starts, f.Frames())
				} else {
					tooMany = true
				}
				runMax = b
			case !timed || b > runMax:
				runMax, timed = b, true
			}
		}
		if inWindow(&p, from, to) {
			if bad {
				undecoded++
			}
			ag.Add(&p)
			if tl != nil {
				tl.Add(&p) // in any order: the timeline needs no second pass
			}
		}
	}
	res := &topOutput{File: path, From: from, To: to, EndsInsideRecord: f.endsInside()}
	if len(starts) > 0 && !tooMany {
		ag.Reset()
		if undecoded, err = mergeRuns(ctx, path, starts, ag, from, to); err != nil {
			return nil, err
		}
	}
	untimed := "counted without their time (in no peak, start or end)"
	if from != nil || to != nil {
		untimed = "left out of the --from/--to window"
	}
	res.Warnings = f.warnings(untimed)
	if tooMany {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s: more than %d sorted runs: %s more than %v behind an earlier one are in no peak (reordercap sorts the file)",
			path, maxRuns, plural(ag.Late(), "frame"), (packet.PeakSlots-1)*packet.RateBucket))
	}
	n := f.Notes()
	res.Summary, res.Undecoded, res.SkippedRecords, res.UntimedFrames = ag.Summary(k), undecoded, n.Skipped, n.Untimed
	if res.Warnings == nil {
		res.Warnings = []string{}
	}
	return res, nil
}

// inWindow reports whether p is in [from, to), half-open as editcap -A and
// -B cut. With a window, a frame without a usable time is in none.
func inWindow(p *packet.Packet, from, to *time.Time) bool {
	if from == nil && to == nil {
		return true
	}
	return packet.ValidTime(p.Time) && (from == nil || !p.Time.Before(*from)) && (to == nil || p.Time.Before(*to))
}

// runReader reads one sorted run of a file: records from its start up to
// the next run's start.
type runReader struct {
	f       *captureFile
	end     int // the next run's first record; 0: the end of the file
	p       packet.Packet
	ok      bool // p holds the run's next frame
	bad     bool // p could not be fully decoded
	lastErr uint64
}

// read reads the file's next frame, whichever run it is in.
func (r *runReader) read() (bool, error) {
	ok, err := r.f.next(&r.p)
	errs := r.f.DecodeErrors()
	r.bad, r.lastErr = errs != r.lastErr, errs
	return ok, err
}

// advance reads the run's next frame.
func (r *runReader) advance() error {
	ok, err := r.read()
	r.ok = ok && (r.end == 0 || r.f.Frames() < r.end)
	return err
}

// mergeRuns adds the frames of path's sorted runs, which start at record 1
// and at each of starts, to ag in time order, and returns how many of those
// in the window could not be fully decoded. Frames without a usable time
// go as they come: they are in no peak.
func mergeRuns(ctx context.Context, path string, starts []int, ag *packet.Aggregator, from, to *time.Time) (uint64, error) {
	runs := make([]*runReader, 0, len(starts)+1)
	defer func() {
		for _, r := range runs {
			r.f.Close()
		}
	}()
	for i := range len(starts) + 1 {
		f, err := openCapture(path)
		if err != nil {
			return 0, err
		}
		r := &runReader{f: f}
		runs = append(runs, r)
		if i < len(starts) {
			r.end = starts[i]
		}
		first := 1
		if i > 0 {
			first = starts[i-1]
		}
		// Skip the records before the run. Its first is always delivered
		// (a timed frame started it); the file may have been cut since.
		for {
			ok, err := r.read()
			if err != nil {
				return 0, err
			}
			if !ok {
				break
			}
			if r.f.Frames() >= first {
				r.ok = r.end == 0 || r.f.Frames() < r.end
				break
			}
		}
	}
	var undecoded uint64
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		var next *runReader
		for _, r := range runs {
			if !r.ok {
				continue
			}
			if !packet.ValidTime(r.p.Time) {
				next = r
				break
			}
			if next == nil || r.p.Time.Before(next.p.Time) {
				next = r
			}
		}
		if next == nil {
			return undecoded, nil
		}
		if inWindow(&next.p, from, to) {
			if next.bad {
				undecoded++
			}
			ag.Add(&next.p)
		}
		if err := next.advance(); err != nil {
			return 0, err
		}
	}
}

// parseTime reads epoch seconds with an optional fraction (exact to the
// nanosecond, no float rounding) or an RFC 3339 time.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	neg := strings.HasPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	sec, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || (hasFrac && (frac == "" || len(frac) > 9)) {
		return time.Time{}, fmt.Errorf("%q is neither epoch seconds (like 1700000000.25) nor RFC 3339 (like 2023-11-14T22:13:20.25Z)", s)
	}
	var nsec int64
	if hasFrac {
		ns, err := strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: bad fraction of a second", s)
		}
		nsec = int64(ns)
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return time.Unix(sec, nsec).UTC(), nil
}

func printTop(out io.Writer, res *topOutput, by string) error {
	s := &res.Summary
	fmt.Fprintf(out, "%s: %d packets, %d bytes", res.File, s.Packets, s.Bytes)
	if !s.Start.IsZero() {
		dur := s.End.Sub(s.Start)
		fmt.Fprintf(out, " in %v (%s to %s), peak %s/s over 100 ms", dur.Round(time.Microsecond),
			s.Start.Format(time.RFC3339Nano), s.End.Format(time.RFC3339Nano), humanBytes(s.PeakBytesPerSecond))
	}
	fmt.Fprintln(out)
	if res.Undecoded > 0 {
		fmt.Fprintf(out, "%d frames could not be fully decoded (counted in the totals only)\n", res.Undecoded)
	}
	if s.Tunnelled.Packets > 0 {
		fmt.Fprintf(out, "%d frames, %d bytes in tunnels, counted by their inner headers (--by tunnel for the outer pairs)\n", s.Tunnelled.Packets, s.Tunnelled.Bytes)
	}
	if s.MACsec.Packets > 0 {
		fmt.Fprintf(out, "%d frames, %d bytes encrypted by MACsec (counted in the totals only)\n", s.MACsec.Packets, s.MACsec.Bytes)
	}
	fmt.Fprintln(out)
	return printTable(out, s, by)
}

// printTable prints one of the summary's tables: port, host, conversation
// or tunnel.
func printTable(out io.Writer, s *packet.Summary, by string) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	// Without a frame that has a usable time there is no peak to print.
	peak := humanBytes
	if s.Start.IsZero() {
		peak = func(float64) string { return "-" }
	}
	var overflow packet.Counter
	switch by {
	case "port":
		fmt.Fprintln(tw, "PROTO\tPORT\tPACKETS\tBYTES\tSHARE\tPEAK/s\t")
		for _, e := range s.Ports {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t\n", e.Protocol, e.Port, e.Packets, e.Bytes, share(e.Bytes, s.Bytes), peak(e.PeakBytesPerSecond))
		}
		overflow = s.Overflow.Ports
	case "host":
		fmt.Fprintln(tw, "SOURCE\tDESTINATION\tPACKETS\tBYTES\tSHARE\tPEAK/s\t")
		for _, e := range s.Hosts {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t\n", e.Src, e.Dst, e.Packets, e.Bytes, share(e.Bytes, s.Bytes), peak(e.PeakBytesPerSecond))
		}
		overflow = s.Overflow.Hosts
	case "conversation":
		tunnels := false
		for _, e := range s.Conversations {
			tunnels = tunnels || e.Tunnel != ""
		}
		tunnelHead := ""
		if tunnels {
			tunnelHead = "TUNNEL\t"
		}
		fmt.Fprintln(tw, "PROTO\tA\t\tB\t"+tunnelHead+"PACKETS\tBYTES\tA->B\tB->A\tPEAK/s\t")
		for _, e := range s.Conversations {
			tunnel := ""
			if tunnels {
				tunnel = packet.TunnelLabel(e.Tunnel, e.TunnelID) + "\t"
			}
			fmt.Fprintf(tw, "%s\t%s\t<->\t%s\t%s%d\t%d\t%d\t%d\t%s\t\n", e.Protocol, joinHostPort(e.Src, e.SrcPort), joinHostPort(e.Dst, e.DstPort),
				tunnel, e.Packets, e.Bytes, e.SrcToDst.Bytes, e.DstToSrc.Bytes, peak(e.PeakBytesPerSecond))
		}
		overflow = s.Overflow.Conversations
	case "tunnel":
		fmt.Fprintln(tw, "TUNNEL\tOUTER SOURCE\tOUTER DESTINATION\tPACKETS\tBYTES\tSHARE\tPEAK/s\t")
		for _, e := range s.Tunnels {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t\n", packet.TunnelLabel(e.Tunnel, e.TunnelID), e.Src, e.Dst, e.Packets, e.Bytes, share(e.Bytes, s.Bytes), peak(e.PeakBytesPerSecond))
		}
		overflow = s.Overflow.Tunnels
	default:
		return usageError{errors.New("--by must be port, host, conversation or tunnel")}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if overflow.Packets > 0 {
		fmt.Fprintf(out, "\n%d packets, %d bytes beyond --max-flows are in no entry\n", overflow.Packets, overflow.Bytes)
	}
	return nil
}

func joinHostPort(a fmt.Stringer, port uint16) string {
	s := a.String()
	if strings.Contains(s, ":") {
		return "[" + s + "]:" + strconv.Itoa(int(port))
	}
	return s + ":" + strconv.Itoa(int(port))
}

func share(part, total uint64) string {
	if total == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(part)/float64(total), 'f', 1, 64) + "%"
}

// humanBytes formats a byte rate with a decimal unit.
func humanBytes(v float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}
