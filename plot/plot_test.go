package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/netburst/netburst/packet"
)

// element is an SVG element's name, attributes and text.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parse decodes the SVG as XML (a picture that is not well-formed fails
// here) into its elements.
func parse(t *testing.T, svg []byte) []element {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var out []element
	var open []int // indexes in out of the elements not yet closed
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, svg)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			e := element{name: v.Name.Local, attrs: map[string]string{}}
			for _, a := range v.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			open = append(open, len(out))
			out = append(out, e)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				out[open[len(open)-1]].text += strings.TrimSpace(string(v))
			}
		}
	}
}

func TestSVG(t *testing.T) {
	start := time.Unix(1000, 0).UTC()
	tl := packet.Timeline{
		Start: start, Bin: packet.Duration(10 * time.Millisecond),
		Total:  []uint64{0, 125000, 125000, 1000},
		Series: []packet.TimelineSeries{{Protocol: "udp", Port: 5201, Bytes: []uint64{0, 120000, 125000, 0}}},
		Other:  []uint64{0, 5000, 0, 1000},
	}
	tests := []struct {
		name      string
		o         Options
		tl        packet.Timeline
		polygons  []string
		mark, thr bool
		texts     []string
	}{
		{name: "marked", tl: tl, o: Options{Title: "eth0 <burst>", Mark: start.Add(15 * time.Millisecond), Threshold: 10e6},
			polygons: []string{"udp/5201", "other"}, mark: true, thr: true, texts: []string{"eth0 <burst>", "trigger", "100 Mbit/s"}},
		{name: "mark outside the span", tl: tl, o: Options{Mark: start.Add(time.Second)}, polygons: []string{"udp/5201", "other"}},
		{name: "empty", tl: packet.Timeline{Start: start, Bin: packet.Duration(10 * time.Millisecond)}, polygons: []string{"other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := SVG(&b, tt.tl, tt.o); err != nil {
				t.Fatal(err)
			}
			els := parse(t, b.Bytes())
			var polys, texts []string
			mark, thr := false, false
			for i, e := range els {
				switch e.name {
				case "polygon":
					polys = append(polys, els[i+1].text) // its <title>
				case "text":
					texts = append(texts, e.text)
				case "line":
					mark = mark || e.attrs["class"] == "mark"
					thr = thr || e.attrs["class"] == "thr"
				}
			}
			if strings.Join(polys, ",") != strings.Join(tt.polygons, ",") {
				t.Errorf("layers %v, want %v", polys, tt.polygons)
			}
			if mark != tt.mark || thr != tt.thr {
				t.Errorf("trigger line %v, threshold line %v; want %v, %v", mark, thr, tt.mark, tt.thr)
			}
			all := strings.Join(texts, "|")
			for _, want := range tt.texts {
				if !strings.Contains(all, want) {
					t.Errorf("no text %q in %q", want, all)
				}
			}
		})
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		top  float64
		last float64
		unit string
	}{
		{100e6, 100e6, "Mbit/s"}, {123e6, 150e6, "Mbit/s"}, {9.5e9, 10e9, "Gbit/s"}, {800, 800, "bit/s"}, {0, 0, "bit/s"},
	}
	for _, tt := range tests {
		ticks, unit, _ := niceTicks(tt.top)
		if got := ticks[len(ticks)-1]; got != tt.last || unit != tt.unit || ticks[0] != 0 {
			t.Errorf("niceTicks(%v) = %v %s, want last %v %s", tt.top, ticks, unit, tt.last, tt.unit)
		}
	}
}
