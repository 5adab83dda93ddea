package webui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/netburst/netburst/packet"
	"github.com/netburst/netburst/plot"
)

// Spike is one spike report as the pages show it (capture.Report's
// fields, schema in docs/capture.md).
type Spike struct {
	ID                     string
	Time                   time.Time
	Trigger                string
	Triggers               []string
	Target                 string
	Value, Threshold       float64
	Device                 string
	WindowStart, WindowEnd time.Time
	// HasPcap says whether the report's pcap can be downloaded.
	HasPcap   bool
	FileError string
	Dropped   uint64
	Summary   packet.Summary
	Timeline  packet.Timeline
}

// Reports lists the spike reports, oldest first (as capture.Reports).
type Reports func() []Spike

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"bytes":   humanBytes,
	"rate":    func(bps float64) string { return humanBytes(bps*8) + "b/s" },
	"time":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000 UTC") },
	"short":   func(t time.Time) string { return t.UTC().Format("15:04:05.000") },
	"value":   formatValue,
	"seconds": func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + " s" },
	"sub":     func(a, b time.Time) time.Duration { return a.Sub(b) },
	"join":    strings.Join,
	"bin":     func(d packet.Duration) string { return time.Duration(d).String() },
	"tunnel":  packet.TunnelLabel,
}).ParseFS(templateFS, "templates/*.html"))

// Handler serves /spikes (the list) and /spikes/ID (one report) from
// reports; pcap, when not nil, serves /spikes/ID.pcap (the report's file).
func Handler(reports Reports, pcap func(w http.ResponseWriter, r *http.Request, id string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		id := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/spikes"), "/")
		if pid, ok := strings.CutSuffix(id, ".pcap"); ok && pcap != nil {
			pcap(w, r, pid)
			return
		}
		all := reports()
		if id == "" {
			render(w, "list.html", listView{Spikes: newestFirst(all)})
			return
		}
		for _, s := range all {
			if s.ID == id {
				var svg bytes.Buffer
				if err := plot.SVG(&svg, s.Timeline, plot.Options{Title: s.Device + ", " + s.Trigger, Mark: s.Time, MarkLabel: "trigger"}); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				render(w, "spike.html", spikeView{Spike: s, SVG: template.HTML(svg.String())}) // plot.SVG escapes every text it writes
				return
			}
		}
		http.Error(w, fmt.Sprintf("no spike report %q (reports are kept in memory, the newest --capture.reports of them)", id), http.StatusNotFound)
	})
}

type listView struct{ Spikes []Spike }

// Link is one link of the live page's header (the landing page's links).
type Link struct{ Address, Text string }

// Live serves the live page at /: the landing page's links and version,
// the chosen devices' rates and the targets' RTTs as they stream from
// /api/v1/stream, and the spike list.
func Live(version string, links []Link) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		render(w, "live.html", struct {
			Version string
			Links   []Link
		}{version, links})
	})
}

type spikeView struct {
	Spike
	SVG template.HTML
}

func newestFirst(s []Spike) []Spike {
	out := make([]Spike, len(s))
	for i := range s {
		out[len(s)-1-i] = s[i]
	}
	return out
}

func render(w http.ResponseWriter, name string, v any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.Copy(w, &b)
}

// humanBytes prints n with an SI prefix: 1.2 M, 950 k.
func humanBytes(n any) string {
	var f float64
	switch v := n.(type) {
	case uint64:
		f = float64(v)
	case float64:
		f = v
	case int:
		f = float64(v)
	}
	for _, u := range []struct {
		div float64
		p   string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if f >= u.div {
			return strconv.FormatFloat(f/u.div, 'f', 1, 64) + " " + u.p
		}
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + " "
}

// formatValue prints a trigger's value or threshold in its unit: seconds
// (as ms) for an RTT or a segment's delay, bits per second for a burst, a
// ratio for a bond slave.
func formatValue(trigger string, v float64) string {
	switch trigger {
	case "rtt", "segment":
		return strconv.FormatFloat(v*1e3, 'f', 3, 64) + " ms"
	case "bond":
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return humanBytes(v*8) + "b/s"
}
