package locate

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func ringObs(point int, seq uint16, reply bool) Observation {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.14")
	if reply {
		src, dst = dst, src
	}
	return Observation{Point: point, Time: time.Unix(1700000000, int64(seq)*1e6), Src: src, Dst: dst, ID: 7, Seq: seq, Reply: reply}
}

func TestEchoRingSince(t *testing.T) {
	r := NewEchoRing(4)
	for s := uint16(1); s <= 6; s++ { // cursors 1..6; the ring keeps 3..6
		o := ringObs(0, s, false)
		r.Add(&o)
	}
	seqs := func(os []Observation) (out []uint16) {
		for _, o := range os {
			out = append(out, o.Seq)
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		cursor     uint64
		limit      int
		want       []uint16
		next, miss uint64
	}{
		{"from the start: 1 and 2 overwritten", 0, 0, []uint16{3, 4, 5, 6}, 6, 2},
		{"from 2: nothing missed", 2, 0, []uint16{3, 4, 5, 6}, 6, 0},
		{"from 4", 4, 0, []uint16{5, 6}, 6, 0},
		{"up to date", 6, 0, nil, 6, 0},
		{"a cursor of another run (past the end): from now on", 99, 0, nil, 6, 0},
		{"limited: two, then ask again from 4", 2, 2, []uint16{3, 4}, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, next, miss := r.Since(nil, tc.cursor, tc.limit)
			if !reflect.DeepEqual(seqs(got), tc.want) || next != tc.next || miss != tc.miss {
				t.Errorf("Since(%d, %d) = %v, next %d, missed %d; want %v, %d, %d", tc.cursor, tc.limit, seqs(got), next, miss, tc.want, tc.next, tc.miss)
			}
		})
	}
	if a, b := NewEchoRing(1).Run(), NewEchoRing(1).Run(); a == b || len(a) != 16 {
		t.Errorf("run IDs %q and %q: want two different 16-digit IDs", a, b)
	}
}

func TestEchoBatchRoundTrip(t *testing.T) {
	b := &EchoBatch{Run: "0123456789abcdef", Points: []string{"vif1.0", "eth0"}, Next: 42, Missed: 3, More: true,
		Echoes: []Observation{ringObs(0, 1, false), ringObs(1, 1, false), ringObs(1, 1, true), ringObs(0, 1, true)}}
	b.Echoes[1].Src = netip.MustParseAddr("2001:db8::1")
	data := b.AppendJSON(nil)
	want := `{"run":"0123456789abcdef","points":["vif1.0","eth0"],"next":42,"missed":3,"more":true,"echoes":[[0,0,7,1,"198.18.0.1","198.18.0.14",1700000000001000000],[1,0,7,1,"2001:db8::1","198.18.0.14",1700000000001000000],[1,1,7,1,"198.18.0.14","198.18.0.1",1700000000001000000],[0,1,7,1,"198.18.0.14","198.18.0.1",1700000000001000000]]}` + "\n"
	if string(data) != want {
		t.Fatalf("JSON\n%s\nwant\n%s", data, want)
	}
	got, err := ParseEchoBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Echoes { // time.Unix gives Local; compare instants
		if !got.Echoes[i].Time.Equal(b.Echoes[i].Time) {
			t.Fatalf("echo %d time %v, want %v", i, got.Echoes[i].Time, b.Echoes[i].Time)
		}
		got.Echoes[i].Time = b.Echoes[i].Time
	}
	if !reflect.DeepEqual(got, b) {
		t.Errorf("parsed %+v\nwant %+v", got, b)
	}
}

func TestParseEchoBatchRejects(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"not JSON", `{`},
		{"no run", `{"points":["a"],"echoes":[]}`},
		{"no points", `{"run":"r","points":[],"echoes":[]}`},
		{"point out of range", `{"run":"r","points":["a"],"echoes":[[1,0,7,1,"198.18.0.1","198.18.0.2",1]]}`},
		{"reply flag 2", `{"run":"r","points":["a"],"echoes":[[0,2,7,1,"198.18.0.1","198.18.0.2",1]]}`},
		{"seq above 65535", `{"run":"r","points":["a"],"echoes":[[0,0,7,65536,"198.18.0.1","198.18.0.2",1]]}`},
		{"bad address", `{"run":"r","points":["a"],"echoes":[[0,0,7,1,"198.18.0.300","198.18.0.2",1]]}`},
		{"short element", `{"run":"r","points":["a"],"echoes":[[0,0,7,1,"198.18.0.1"]]}`},
		{"no comma", `{"run":"r","points":["a"],"echoes":[[0,0,7,1,"198.18.0.1","198.18.0.2",1][0,0,7,1,"198.18.0.1","198.18.0.2",1]]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseEchoBatch([]byte(tc.data)); !errors.Is(err, ErrEchoBatch) {
				t.Errorf("ParseEchoBatch(%s): %v; want ErrEchoBatch", tc.data, err)
			}
		})
	}
}

// FuzzParseEchoBatch: whatever an exporter (or anything at its address)
// answers, the parser returns an error or a batch that encodes and parses
// back to itself.
func FuzzParseEchoBatch(f *testing.F) {
	b := &EchoBatch{Run: "r", Points: []string{"a", "b"}, Echoes: []Observation{ringObs(0, 1, false), ringObs(1, 1, true)}}
	f.Add(b.AppendJSON(nil))
	f.Add([]byte(`{"run":"r","points":["a"],"echoes":[ [ 0 , 1 , 2 , 3 , "::1" , "::2" , -5 ] ]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseEchoBatch(data)
		if err != nil {
			return
		}
		again, err := ParseEchoBatch(b.AppendJSON(nil))
		if err != nil {
			t.Fatalf("re-encoded batch does not parse: %v", err)
		}
		if len(again.Echoes) != len(b.Echoes) || again.Next != b.Next || !reflect.DeepEqual(again.Points, b.Points) {
			t.Fatalf("round trip changed the batch: %+v -> %+v", b, again)
		}
		for i := range b.Echoes {
			x, y := b.Echoes[i], again.Echoes[i]
			if !x.Time.Equal(y.Time) || x.Src != y.Src || x.Dst != y.Dst || x.Seq != y.Seq || x.ID != y.ID || x.Point != y.Point || x.Reply != y.Reply {
				t.Fatalf("echo %d changed: %+v -> %+v", i, x, y)
			}
		}
	})
}

// benchEchoes is one second at 1,000 echoes a second crossing 4 points: a
// request and a reply at each, 8,000 observations.
func benchEchoes() []Observation {
	obs := make([]Observation, 8000)
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.14")
	for i := range obs {
		obs[i] = Observation{Point: i % 4, Reply: i%8 >= 4, ID: 7, Seq: uint16(i / 8), Src: src, Dst: dst, Time: time.Unix(1700000000, int64(i)*125000)}
	}
	return obs
}

// BenchmarkEchoRing is the exporter's side of a second of 1,000 echoes a
// second over 4 points: the capture goroutines adding them to the ring and
// one client reading them as one answer.
func BenchmarkEchoRing(b *testing.B) {
	obs := benchEchoes()
	r := NewEchoRing(65536)
	var buf []byte
	var out []Observation
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cursor := r.next - 1
		for j := range obs {
			r.Add(&obs[j])
		}
		var next, missed uint64
		out, next, missed = r.Since(out[:0], cursor, 10000)
		batch := EchoBatch{Run: r.Run(), Points: []string{"a", "b", "c", "d"}, Echoes: out, Next: next, Missed: missed}
		buf = batch.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkParseEchoBatch is the client's side of the same second.
func BenchmarkParseEchoBatch(b *testing.B) {
	batch := EchoBatch{Run: "r", Points: []string{"a", "b", "c", "d"}, Echoes: benchEchoes(), Next: 8000}
	data := batch.AppendJSON(nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseEchoBatch(data); err != nil {
			b.Fatal(err)
		}
	}
}
