package packet

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// What a Writer writes, FileReader reads back: times to the nanosecond,
// captured and wire lengths, the frames' headers.
func TestWriterRoundTrip(t *testing.T) {
	times, frames := testFrames(t)
	var b bytes.Buffer
	w, err := NewWriter(&b, 128, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		times[i] = times[i].Add(789 * time.Nanosecond)
		if err := w.Write(gopacket.CaptureInfo{Timestamp: times[i], CaptureLength: len(f), Length: len(f) + 10}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, writeFile(t, "w.pcap", b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(frames) {
		t.Fatalf("read %d frames, want %d", len(got), len(frames))
	}
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	for i, f := range frames {
		var want Packet
		_ = d.Decode(f, gopacket.CaptureInfo{Timestamp: times[i], Length: len(f) + 10}, &want)
		if !got[i].Time.Equal(want.Time) {
			t.Errorf("frame %d time %v, want %v", i+1, got[i].Time, want.Time)
		}
		got[i].Time = want.Time
		if got[i] != want {
			t.Errorf("frame %d:\n got %+v\nwant %+v", i+1, got[i], want)
		}
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// A full disk shows at Flush, as the underlying writer's error.
func TestWriterError(t *testing.T) {
	full := errors.New("no space left on device")
	w, err := NewWriter(failWriter{full}, 128, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: 3, Length: 3}, []byte{1, 2, 3})
	if err := w.Flush(); !errors.Is(err, full) {
		t.Errorf("Flush = %v, want the writer's error", err)
	}
	// A frame longer than its captured length is refused.
	w, _ = NewWriter(&bytes.Buffer{}, 128, layers.LinkTypeEthernet)
	if err := w.Write(gopacket.CaptureInfo{CaptureLength: 2, Length: 2}, []byte{1, 2, 3}); err == nil {
		t.Error("a frame of 3 bytes written with CaptureLength 2")
	}
}
