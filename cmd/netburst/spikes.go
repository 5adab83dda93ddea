package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/netburst/netburst/packet"
)

// spikeReport is one report of an exporter's /api/v1/spikes (schema in
// docs/capture.md), as far as the command prints it.
type spikeReport struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Trigger     string    `json:"trigger"`
	Triggers    []string  `json:"triggers"`
	Target      string    `json:"target"`
	Value       float64   `json:"value"`
	Threshold   float64   `json:"threshold"`
	Device      string    `json:"device"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	File        string    `json:"file"`
	FileError   string    `json:"file_error"`
	Dropped     uint64    `json:"dropped"`
	packet.Summary
}

func registerSpikes(app *kingpin.Application) (*kingpin.CmdClause, runFunc) {
	cmd := app.Command("spikes", "The spike reports of a running netburst_exporter as a table, newest first, or one of them in detail (its ports, hosts and conversations).")
	var (
		exporter = cmd.Flag("exporter", "The exporter's address: http(s)://host:port (its /api/v1/spikes is read).").Default("http://127.0.0.1:9917").String()
		user     = cmd.Flag("user", "Basic auth user name, for an exporter with --web.config.file.").String()
		pwFile   = cmd.Flag("password-file", "File holding the basic auth password (its first line).").PlaceHolder("FILE").String()
		timeout  = cmd.Flag("timeout", "How long to wait for the exporter.").Default("10s").Duration()
		asJSON   = cmd.Flag("json", "Print the reports as the exporter serves them (JSON).").Bool()
		n        = cmd.Flag("n", "Entries per table of a report in detail (0 for all).").Short('n').Default("10").Int()
		id       = cmd.Arg("id", "A report's id (from the table): print it in detail.").String()
	)
	return cmd, func(ctx context.Context, out io.Writer, _ warnFunc) error {
		u, err := url.Parse(*exporter)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError{fmt.Errorf("--exporter=%s: want http://host:port or https://host:port", *exporter)}
		}
		if *n < 0 {
			return usageError{fmt.Errorf("-n must be 0 or more, got %d", *n)}
		}
		var password string
		if *pwFile != "" {
			b, err := os.ReadFile(*pwFile)
			if err != nil {
				return usageError{fmt.Errorf("--password-file: %w", err)}
			}
			password, _, _ = strings.Cut(string(b), "\n")
		}
		raw, err := fetchSpikes(ctx, u.JoinPath("/api/v1/spikes").String(), *user, password, *timeout)
		if err != nil {
			return err
		}
		var reports []spikeReport
		if err := json.Unmarshal(raw, &reports); err != nil {
			return fmt.Errorf("%s/api/v1/spikes: not a list of spike reports: %w", *exporter, err)
		}
		if *id == "" {
			if *asJSON {
				_, err := out.Write(raw)
				return err
			}
			return printSpikeList(out, reports)
		}
		for _, r := range reports {
			if r.ID == *id {
				if *asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					return enc.Encode(r)
				}
				return printSpike(out, r, *n)
			}
		}
		return fmt.Errorf("no spike report %q at %s (it holds %d; the oldest go first)", *id, *exporter, len(reports))
	}
}

// fetchSpikes GETs the reports.
func fetchSpikes(ctx context.Context, addr, user, password string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr, nil)
	if err != nil {
		return nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s: no answer within --timeout=%v", addr, timeout)
		}
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusUnauthorized:
		return nil, fmt.Errorf("%s: 401 Unauthorized: give --user and --password-file (the exporter has --web.config.file)", addr)
	}
	return nil, fmt.Errorf("%s: %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
}

func printSpikeList(out io.Writer, reports []spikeReport) error {
	if len(reports) == 0 {
		_, err := fmt.Fprintln(out, "no spike report (the exporter captures with --capture.device; reports are kept in memory)")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TIME (UTC)\tTRIGGER\tDEVICE\tTARGET\tVALUE\tTHRESHOLD\tPACKETS\tBYTES\tTOP PORT\tID\t")
	for _, r := range reports {
		top := "-"
		if len(r.Ports) > 0 {
			top = fmt.Sprintf("%s/%d", r.Ports[0].Protocol, r.Ports[0].Port)
		}
		target := r.Target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t\n", r.Time.UTC().Format("2006-01-02 15:04:05.000"), r.Trigger, r.Device, target,
			triggerValue(r.Trigger, r.Value), triggerValue(r.Trigger, r.Threshold), r.Packets, r.Bytes, top, r.ID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return nil
}

// triggerValue prints a value in its trigger's unit.
func triggerValue(trigger string, v float64) string {
	switch trigger {
	case "rtt", "segment":
		return fmt.Sprintf("%.3f ms", v*1e3)
	case "bond":
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f Mb/s", v*8/1e6)
}

func printSpike(out io.Writer, r spikeReport, k int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.ID)
	fmt.Fprintf(&b, "  trigger  %s at %s: %s (threshold %s)", r.Trigger, r.Time.UTC().Format(time.RFC3339Nano), triggerValue(r.Trigger, r.Value), triggerValue(r.Trigger, r.Threshold))
	if len(r.Triggers) > 1 {
		fmt.Fprintf(&b, "; merged: %s", strings.Join(r.Triggers, ", "))
	}
	fmt.Fprintf(&b, "\n  device   %s", r.Device)
	if r.Target != "" {
		fmt.Fprintf(&b, ", target %s", r.Target)
	}
	fmt.Fprintf(&b, "\n  window   %s to %s (%v)\n", r.WindowStart.UTC().Format("15:04:05.000"), r.WindowEnd.UTC().Format("15:04:05.000"), r.WindowEnd.Sub(r.WindowStart))
	fmt.Fprintf(&b, "  traffic  %d packets, %d bytes, peak %.1f Mb/s over 100 ms", r.Packets, r.Bytes, r.PeakBytesPerSecond*8/1e6)
	if r.Dropped > 0 {
		fmt.Fprintf(&b, ", %d frames lost to --capture.memory", r.Dropped)
	}
	switch {
	case r.File != "":
		fmt.Fprintf(&b, "\n  pcap     %s\n", r.File)
	case r.FileError != "":
		fmt.Fprintf(&b, "\n  pcap     not written: %s\n", r.FileError)
	default:
		b.WriteString("\n  pcap     none (no --capture.dir)\n")
	}
	if _, err := io.WriteString(out, b.String()); err != nil {
		return err
	}
	s := r.Summary
	tables := []string{"port", "host", "conversation"}
	if len(s.Tunnels) > 0 {
		tables = append(tables, "tunnel") // the outer pairs of what the others count inside
	}
	for _, by := range tables {
		fmt.Fprintln(out)
		cut := s
		cut.Ports, cut.Hosts, cut.Conversations, cut.Tunnels = limit(s.Ports, k), limit(s.Hosts, k), limit(s.Conversations, k), limit(s.Tunnels, k)
		if err := printTable(out, &cut, by); err != nil {
			return err
		}
	}
	return nil
}

// limit is the first k of xs (all for k == 0).
func limit[T any](xs []T, k int) []T {
	if k > 0 && len(xs) > k {
		return xs[:k]
	}
	return xs
}
