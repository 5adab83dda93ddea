package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/netburst/netburst/packet"
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
		by       = cmd.Flag("by", "Table to print in text mode: port, host or conversation.").Default("port").Enum("port", "host", "conversation")
		n        = cmd.Flag("n", "Entries per table (0 for all).").Short('n').Default("10").Int()
		maxFlows = cmd.Flag("max-flows", "Bound on entries per table; traffic beyond it is counted as overflow.").Default(strconv.Itoa(packet.DefaultMaxFlows)).Int()
		file     = cmd.Arg("file", "pcap or pcapng file.").Required().String()
	)
	return cmd, func(ctx context.Context, out io.Writer) error {
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
		res, err := topFile(ctx, *file, fromT, toT, *n, *maxFlows)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		return printTop(out, res, *by)
	}
}

// topFile aggregates the frames of path in [from, to).
func topFile(ctx context.Context, path string, from, to *time.Time, k, maxFlows int) (*topOutput, error) {
	r, err := packet.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ag := packet.NewAggregator(maxFlows)
	var (
		p         packet.Packet
		undecoded uint64
		lastErrs  uint64
	)
	for i := 0; ; i++ {
		if i%ctxCheckEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		err := r.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		errs := r.DecodeErrors()
		bad := errs != lastErrs
		lastErrs = errs
		// Half-open [from, to), as editcap -A and -B cut.
		if (from != nil && p.Time.Before(*from)) || (to != nil && !p.Time.Before(*to)) {
			continue
		}
		if bad {
			undecoded++
		}
		ag.Add(&p)
	}
	return &topOutput{File: path, From: from, To: to, Summary: ag.Summary(k), Undecoded: undecoded}, nil
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
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	s := &res.Summary
	fmt.Fprintf(out, "%s: %d packets, %d bytes", res.File, s.Packets, s.Bytes)
	if s.Packets > 0 {
		dur := s.End.Sub(s.Start)
		fmt.Fprintf(out, " in %v (%s to %s), peak %s/s over 100 ms", dur.Round(time.Microsecond),
			s.Start.Format(time.RFC3339Nano), s.End.Format(time.RFC3339Nano), humanBytes(s.PeakBytesPerSecond))
	}
	fmt.Fprintln(out)
	if res.Undecoded > 0 {
		fmt.Fprintf(out, "%d frames could not be fully decoded (counted in the totals only)\n", res.Undecoded)
	}
	fmt.Fprintln(out)
	var overflow packet.Counter
	switch by {
	case "port":
		fmt.Fprintln(tw, "PROTO\tPORT\tPACKETS\tBYTES\tSHARE\tPEAK/s\t")
		for _, e := range s.Ports {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t\n", e.Protocol, e.Port, e.Packets, e.Bytes, share(e.Bytes, s.Bytes), humanBytes(e.PeakBytesPerSecond))
		}
		overflow = s.Overflow.Ports
	case "host":
		fmt.Fprintln(tw, "SOURCE\tDESTINATION\tPACKETS\tBYTES\tSHARE\tPEAK/s\t")
		for _, e := range s.Hosts {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t\n", e.Src, e.Dst, e.Packets, e.Bytes, share(e.Bytes, s.Bytes), humanBytes(e.PeakBytesPerSecond))
		}
		overflow = s.Overflow.Hosts
	case "conversation":
		fmt.Fprintln(tw, "PROTO\tA\t\tB\tPACKETS\tBYTES\tA->B\tB->A\tPEAK/s\t")
		for _, e := range s.Conversations {
			fmt.Fprintf(tw, "%s\t%s\t<->\t%s\t%d\t%d\t%d\t%d\t%s\t\n", e.Protocol, joinHostPort(e.Src, e.SrcPort), joinHostPort(e.Dst, e.DstPort),
				e.Packets, e.Bytes, e.SrcToDst.Bytes, e.DstToSrc.Bytes, humanBytes(e.PeakBytesPerSecond))
		}
		overflow = s.Overflow.Conversations
	default:
		return usageError{errors.New("--by must be port, host or conversation")}
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
