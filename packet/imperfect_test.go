package packet

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngFile is a pcapng of frames on one Ethernet interface whose timestamps
// are offset by tsOffset seconds (if_tsoffset).
func ngFile(t *testing.T, tsOffset uint64, times []time.Time, frames [][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535, TimestampResolution: 9, TimestampOffset: tsOffset}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: times[i], CaptureLength: len(f), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// setNgLength returns a copy of the little-endian pcapng ng with the
// original length of its nth enhanced packet block set to n (pcapgo's writer
// refuses one below the captured length).
func setNgLength(t *testing.T, ng []byte, nth int, n uint32) []byte {
	t.Helper()
	b := append([]byte(nil), ng...)
	for off := 0; off+8 <= len(b); off += int(binary.LittleEndian.Uint32(b[off+4:])) {
		if binary.LittleEndian.Uint32(b[off:]) == 6 { // enhanced packet block
			if nth--; nth == 0 {
				binary.LittleEndian.PutUint32(b[off+24:], n)
				return b
			}
		}
	}
	t.Fatal("no such packet block")
	return nil
}

// TestFileReaderImperfect reads files a capture tool leaves behind when it
// is killed or buggy: what is delivered, what is counted in Notes, and the
// exact words of the error that ends the reading.
func TestFileReaderImperfect(t *testing.T) {
	times, frames := testFrames(t)
	good := rawPcap(binary.LittleEndian, true, layers.LinkTypeEthernet, times, frames)
	rec2 := 24 + 16 + len(frames[0]) // offset of record 2's header
	longCap := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(longCap[rec2+12:], 20) // original length 20 < captured
	ng := ngFile(t, 0, times, frames)
	ngLong := setNgLength(t, ng, 2, 20)
	// 300e9 s after the frames' 2023 is in the year 11530.
	ngFuture := ngFile(t, 300e9, times, frames)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(ng)
	zw.Close()
	tests := []struct {
		name   string
		data   []byte
		frames int   // delivered before the end
		notes  Notes // Untimed and Skipped counts and firsts (times compared by year)
		year   int   // UntimedTime's year
		err    string
		is     error
	}{
		{name: "whole pcap", data: good, frames: 3},
		{name: "last 7 bytes missing", data: good[:len(good)-7], frames: 2,
			err: "f: file ends inside record 3 (" + strconv.Itoa(16+len(frames[2])-7) + " of its " + strconv.Itoa(16+len(frames[2])) + " bytes are there)", is: ErrTruncatedFile},
		{name: "record header cut", data: good[:rec2+9], frames: 1,
			err: "f: file ends inside record 2 (9 of its 16 bytes are there)", is: ErrTruncatedFile},
		{name: "file header cut", data: good[:20], err: "f: file ends inside the file header (20 of its 24 bytes are there)", is: ErrTruncatedFile},
		{name: "captured length above original", data: longCap, frames: 2,
			notes: Notes{Skipped: 1, SkippedFirst: 2, SkippedCapLen: len(frames[1]), SkippedLen: 20}},
		{name: "pcapng", data: ng, frames: 3},
		{name: "pcapng gzip", data: gz.Bytes(), frames: 3},
		{name: "pcapng cut", data: ng[:len(ng)-7], frames: 2, err: "f: file ends inside record 3", is: ErrTruncatedFile},
		{name: "pcapng captured length above original", data: ngLong, frames: 2,
			notes: Notes{Skipped: 1, SkippedFirst: 2, SkippedCapLen: len(frames[1]), SkippedLen: 20}},
		{name: "pcapng beyond 2262", data: ngFuture, frames: 3, notes: Notes{Untimed: 3, UntimedFirst: 1}, year: 11530},
		{name: "empty", data: nil, err: "f: empty file", is: ErrFileFormat},
		{name: "two bytes", data: []byte{0xd4, 0xc3}, err: "f: not a pcap or pcapng file (only 2 bytes)", is: ErrFileFormat},
		{name: "text", data: []byte("this is not a capture\n"), err: "f: not a pcap or pcapng file (starts with 0x74686973)", is: ErrFileFormat},
		{name: "caplen beyond snap length", data: func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[rec2+8:], 1<<30)
			binary.LittleEndian.PutUint32(b[rec2+12:], 1<<30)
			return b
		}(), frames: 1, err: "f: frame 2: corrupt record: captured length 1073741824 exceeds the snap length 65535", is: ErrCorruptFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			n := 0
			r, err := NewReader("f", bytes.NewReader(tt.data))
			if err == nil {
				var p Packet
				for err = r.Next(&p); err == nil; err = r.Next(&p) {
					n++
				}
				if errors.Is(err, io.EOF) {
					err = nil
				}
				got := r.Notes()
				if got.UntimedTime.Year() != tt.year && got.Untimed > 0 {
					t.Errorf("first untimed frame in %d, want %d", got.UntimedTime.Year(), tt.year)
				}
				got.UntimedTime = time.Time{}
				if got != tt.notes {
					t.Errorf("notes %+v, want %+v", got, tt.notes)
				}
			}
			if n != tt.frames {
				t.Errorf("%d frames delivered, want %d", n, tt.frames)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.err != "" && (err == nil || err.Error() != tt.err):
				t.Errorf("error %v, want %q", err, tt.err)
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// TestAggregatorOrder feeds the same frames sorted, jittered within the peak
// slots, as two concatenated runs, and with untimed frames: the first two
// give the same peaks; frames behind the slots are counted, not peaked; a
// frame without a usable time is in the totals and tables only.
func TestAggregatorOrder(t *testing.T) {
	const a, b = "198.18.0.1", "198.18.0.2"
	ms := time.Millisecond
	// Two 1000-byte frames in each of the buckets 0-4.
	var sorted []Packet
	for i := range 10 {
		sorted = append(sorted, pkt(time.Duration(i)*50*ms, 17, a, 1000, b, 53, 1000))
	}
	jittered := append([]Packet(nil), sorted...)
	// Each pair swapped across its bucket boundary, less than 300 ms back.
	for i := 1; i+1 < len(jittered); i += 2 {
		jittered[i], jittered[i+1] = jittered[i+1], jittered[i]
	}
	// The second half first, then the first half, 250-450 ms back: beyond
	// the slots for the frames 400 ms or more behind.
	twoRuns := append(append([]Packet(nil), sorted[5:]...), sorted[:5]...)
	untimed := append([]Packet(nil), sorted...)
	untimed = append(untimed, pkt(0, 17, a, 1000, b, 53, 1000))
	untimed[len(untimed)-1].Time = time.Unix(300e9, 0)
	tests := []struct {
		name    string
		pkts    []Packet
		packets uint64
		peak    float64
		late    uint64
		end     time.Time
	}{
		{"sorted", sorted, 10, 2000 / 0.1, 0, t0.Add(450 * ms)},
		{"jittered", jittered, 10, 2000 / 0.1, 0, t0.Add(450 * ms)},
		{"two runs", twoRuns, 10, 2000 / 0.1, 2, t0.Add(450 * ms)},
		{"untimed", untimed, 11, 2000 / 0.1, 0, t0.Add(450 * ms)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ag := NewAggregator(0)
			for i := range tt.pkts {
				ag.Add(&tt.pkts[i])
			}
			s := ag.Summary(0)
			if s.Packets != tt.packets || s.Ports[0].Packets != tt.packets || s.Conversations[0].Packets != tt.packets {
				t.Errorf("packets: total %d, port %d, conversation %d; want %d", s.Packets, s.Ports[0].Packets, s.Conversations[0].Packets, tt.packets)
			}
			if s.PeakBytesPerSecond != tt.peak || s.Ports[0].PeakBytesPerSecond != tt.peak || s.Hosts[0].PeakBytesPerSecond != tt.peak {
				t.Errorf("peaks: total %v, port %v, host %v; want %v", s.PeakBytesPerSecond, s.Ports[0].PeakBytesPerSecond, s.Hosts[0].PeakBytesPerSecond, tt.peak)
			}
			if ag.Late() != tt.late {
				t.Errorf("Late() = %d, want %d", ag.Late(), tt.late)
			}
			if !s.Start.Equal(t0) || !s.End.Equal(tt.end) {
				t.Errorf("start %v end %v, want %v %v", s.Start, s.End, t0, tt.end)
			}
		})
	}
}
