package plot

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"

	"github.com/netburst/netburst/packet"
)

// Options are the picture's decorations.
type Options struct {
	// Title is printed above the plot.
	Title string
	// Mark is an instant drawn as a vertical line (the spike's trigger);
	// zero draws none.
	Mark time.Time
	// MarkLabel names it ("trigger").
	MarkLabel string
	// Threshold is a rate in bytes/s drawn as a dashed line (the burst
	// threshold); 0 draws none.
	Threshold float64
	// Width and Height are the picture's size in pixels (default 900 by
	// 360); the SVG scales to its container.
	Width, Height int
}

// Colours of the stacked series, the last for "other": distinguishable in
// both themes.
var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"}

const otherColour = "#9aa0a6"

const (
	padLeft, padRight, padTop, padBottom = 72, 16, 36, 64
)

// SVG writes tl as an SVG picture: bits per second of each bin, the series
// stacked largest first (at the bottom), "other" on top.
func SVG(w io.Writer, tl packet.Timeline, o Options) error {
	if o.Width <= 0 {
		o.Width = 900
	}
	if o.Height <= 0 {
		o.Height = 360
	}
	bw := bufio.NewWriter(w)
	pw, ph := float64(o.Width-padLeft-padRight), float64(o.Height-padTop-padBottom)
	n := len(tl.Total)
	binSec := time.Duration(tl.Bin).Seconds()
	if binSec <= 0 {
		binSec = packet.DefaultTimelineBin.Seconds()
	}
	// Bits per second of the tallest stack (= the total), and the
	// threshold, set the scale.
	top := o.Threshold * 8
	for _, v := range tl.Total {
		top = max(top, float64(v)*8/binSec)
	}
	ticks, unit, div := niceTicks(top)
	ymax := top
	if len(ticks) > 0 {
		ymax = max(ymax, ticks[len(ticks)-1])
	}
	if ymax <= 0 {
		ymax = 1
	}
	x := func(i float64) float64 { return padLeft + pw*i/math.Max(float64(n), 1) }
	y := func(bps float64) float64 { return padTop + ph*(1-bps/ymax) }

	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" class="nb-plot">`+"\n",
		o.Width, o.Height, o.Width, o.Height, esc(o.Title))
	bw.WriteString(`<style>
.nb-plot{font:12px system-ui,sans-serif}
.nb-plot .bg{fill:#fff}.nb-plot text{fill:#202124}.nb-plot .grid{stroke:#e0e0e0}.nb-plot .axis{stroke:#5f6368}
.nb-plot .mark{stroke:#d93025;stroke-width:2}.nb-plot .thr{stroke:#d93025;stroke-dasharray:6 4}
@media (prefers-color-scheme: dark){.nb-plot .bg{fill:#1e1f22}.nb-plot text{fill:#e8eaed}.nb-plot .grid{stroke:#3c4043}.nb-plot .axis{stroke:#9aa0a6}.nb-plot .mark,.nb-plot .thr{stroke:#f28b82}}
</style>
`)
	fmt.Fprintf(bw, `<rect class="bg" width="%d" height="%d"/>`+"\n", o.Width, o.Height)
	if o.Title != "" {
		fmt.Fprintf(bw, `<text x="%d" y="20" font-weight="bold">%s</text>`+"\n", padLeft, esc(o.Title))
	}
	// Horizontal grid and the rate axis.
	for _, t := range ticks {
		fmt.Fprintf(bw, `<line class="grid" x1="%d" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padLeft, padLeft+pw, y(t), y(t))
		fmt.Fprintf(bw, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", padLeft-6, y(t), trimFloat(t/div)+" "+unit)
	}
	// Stacked areas: each layer's polygon runs along its top edge
	// forwards and along the layer below backwards.
	type layer struct {
		label, colour string
		bytes         []uint64
	}
	var layers []layer
	for i, s := range tl.Series {
		layers = append(layers, layer{s.Label(), palette[i%len(palette)], s.Bytes})
	}
	layers = append(layers, layer{"other", otherColour, tl.Other})
	base := make([]float64, n)
	for _, l := range layers {
		if len(l.bytes) != n {
			continue
		}
		topEdge := make([]float64, n)
		for i, v := range l.bytes {
			topEdge[i] = base[i] + float64(v)*8/binSec
		}
		var pts strings.Builder
		for i := range n {
			// Each bin is a flat step: its rate held across its width.
			fmt.Fprintf(&pts, "%.1f,%.1f %.1f,%.1f ", x(float64(i)), y(topEdge[i]), x(float64(i+1)), y(topEdge[i]))
		}
		for i := n - 1; i >= 0; i-- {
			fmt.Fprintf(&pts, "%.1f,%.1f %.1f,%.1f ", x(float64(i+1)), y(base[i]), x(float64(i)), y(base[i]))
		}
		fmt.Fprintf(bw, `<polygon fill="%s" fill-opacity="0.85" points="%s"><title>%s</title></polygon>`+"\n", l.colour, strings.TrimSpace(pts.String()), esc(l.label))
		base = topEdge
	}
	// Axes.
	fmt.Fprintf(bw, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%.1f"/>`, padLeft, padLeft, padTop, padTop+ph)
	fmt.Fprintf(bw, `<line class="axis" x1="%d" x2="%.1f" y1="%.1f" y2="%.1f"/>`+"\n", padLeft, padLeft+pw, padTop+ph, padTop+ph)
	// Time axis: seconds from the start, at a step that gives 5-10 ticks.
	span := binSec * float64(n)
	if span > 0 {
		step := niceStep(span / 8)
		for t := 0.0; t <= span+1e-9; t += step {
			px := padLeft + pw*t/span
			fmt.Fprintf(bw, `<line class="axis" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, px, px, padTop+ph, padTop+ph+4)
			fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px, padTop+ph+16, trimFloat(t)+" s")
		}
		fmt.Fprintf(bw, `<text x="%d" y="%.1f">from %s, %s bins</text>`+"\n", padLeft, padTop+ph+32,
			tl.Start.UTC().Format("2006-01-02 15:04:05.000 UTC"), time.Duration(tl.Bin))
	}
	if o.Threshold > 0 {
		fmt.Fprintf(bw, `<line class="thr" x1="%d" x2="%.1f" y1="%.1f" y2="%.1f"><title>threshold</title></line>`+"\n", padLeft, padLeft+pw, y(o.Threshold*8), y(o.Threshold*8))
	}
	if !o.Mark.IsZero() && span > 0 {
		if off := o.Mark.Sub(tl.Start).Seconds(); off >= 0 && off <= span {
			px := padLeft + pw*off/span
			fmt.Fprintf(bw, `<line class="mark" x1="%.1f" x2="%.1f" y1="%d" y2="%.1f"/>`, px, px, padTop, padTop+ph)
			label := o.MarkLabel
			if label == "" {
				label = "trigger"
			}
			fmt.Fprintf(bw, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px, padTop-4, esc(label))
		}
	}
	// Legend, below the time axis.
	lx := float64(padLeft)
	for _, l := range layers {
		fmt.Fprintf(bw, `<rect x="%.1f" y="%d" width="10" height="10" fill="%s"/><text x="%.1f" y="%d">%s</text>`+"\n", lx, o.Height-14, l.colour, lx+14, o.Height-5, esc(l.label))
		lx += 24 + 7*float64(len(l.label))
	}
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

func esc(s string) string { return html.EscapeString(s) }

// niceTicks returns 4-8 round rates from 0 up to at least top (bits/s),
// the unit to print them in and its divisor.
func niceTicks(top float64) ([]float64, string, float64) {
	unit, div := "bit/s", 1.0
	for _, u := range []struct {
		name string
		d    float64
	}{{"Gbit/s", 1e9}, {"Mbit/s", 1e6}, {"kbit/s", 1e3}} {
		if top >= u.d {
			unit, div = u.name, u.d
			break
		}
	}
	if top <= 0 {
		return []float64{0}, unit, div
	}
	step := niceStep(top / 5)
	var ticks []float64
	for t := 0.0; ; t += step {
		ticks = append(ticks, t)
		if t >= top {
			break
		}
	}
	return ticks, unit, div
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.3f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}
