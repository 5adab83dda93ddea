package packet

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// rawPcap builds a classic pcap file by hand so that both byte orders and
// both timestamp resolutions are covered.
func rawPcap(order binary.ByteOrder, nano bool, link layers.LinkType, times []time.Time, frames [][]byte) []byte {
	var b bytes.Buffer
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	hdr := make([]byte, 24)
	order.PutUint32(hdr[0:], magic)
	order.PutUint16(hdr[4:], 2)
	order.PutUint16(hdr[6:], 4)
	order.PutUint32(hdr[16:], 65535)
	order.PutUint32(hdr[20:], uint32(link))
	b.Write(hdr)
	for i, f := range frames {
		rec := make([]byte, 16)
		frac := times[i].Nanosecond()
		if !nano {
			frac /= 1000
		}
		order.PutUint32(rec[0:], uint32(times[i].Unix()))
		order.PutUint32(rec[4:], uint32(frac))
		order.PutUint32(rec[8:], uint32(len(f)))
		order.PutUint32(rec[12:], uint32(len(f)+10))
		b.Write(rec)
		b.Write(f)
	}
	return b.Bytes()
}

func testFrames(t testing.TB) ([]time.Time, [][]byte) {
	base := time.Unix(1700000000, 123456000).UTC()
	frames := [][]byte{
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp(), payload),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), payload),
		serialize(t, eth(layers.EthernetTypeARP), payload),
	}
	return []time.Time{base, base.Add(time.Millisecond), base.Add(2 * time.Second)}, frames
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readAll(t testing.TB, path string) ([]Packet, error) {
	t.Helper()
	r, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Packet
	for {
		var p Packet
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
}

func TestOpenFileFormats(t *testing.T) {
	times, frames := testFrames(t)
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: times[i], CaptureLength: len(f), Length: len(f) + 10}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rawPcap(binary.LittleEndian, false, layers.LinkTypeEthernet, times, frames))
	zw.Close()

	tests := []struct {
		name string
		data []byte
		usec bool
	}{
		{"pcap little-endian micro", rawPcap(binary.LittleEndian, false, layers.LinkTypeEthernet, times, frames), true},
		{"pcap big-endian micro", rawPcap(binary.BigEndian, false, layers.LinkTypeEthernet, times, frames), true},
		{"pcap little-endian nano", rawPcap(binary.LittleEndian, true, layers.LinkTypeEthernet, times, frames), false},
		{"pcap big-endian nano", rawPcap(binary.BigEndian, true, layers.LinkTypeEthernet, times, frames), false},
		{"pcapng", ng.Bytes(), true},
		{"pcap gzip", gz.Bytes(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, writeFile(t, "f", tt.data))
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
		})
	}
}

func TestPcapngMixedLinkTypes(t *testing.T) {
	times, frames := testFrames(t)
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	wifi, err := w.AddInterface(pcapgo.NgInterface{Name: "wlan0", LinkType: layers.LinkTypeIEEE802_11, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	rawFrame := frames[0][14:]
	write := func(iface int, f []byte) {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: times[0], CaptureLength: len(f), Length: len(f), InterfaceIndex: iface}, f); err != nil {
			t.Fatal(err)
		}
	}
	write(0, frames[0])
	write(raw, rawFrame)
	write(wifi, []byte{1, 2, 3, 4})
	w.Flush()
	r, err := NewReader("mixed.pcapng", &b)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("LinkType %v", r.LinkType())
	}
	var p Packet
	for i, want := range []struct {
		ipv  uint8
		port uint16
	}{{4, 7000}, {4, 7000}, {0, 0}} {
		if err := r.Next(&p); err != nil {
			t.Fatal(err)
		}
		if p.IPVersion != want.ipv || p.DstPort != want.port {
			t.Errorf("frame %d: IPVersion %d DstPort %d, want %d %d", i+1, p.IPVersion, p.DstPort, want.ipv, want.port)
		}
	}
	if err := r.Next(&p); !errors.Is(err, io.EOF) {
		t.Errorf("after last frame: %v, want io.EOF", err)
	}
	if r.DecodeErrors() != 1 {
		t.Errorf("DecodeErrors = %d, want 1 (the 802.11 frame)", r.DecodeErrors())
	}
}

func TestOpenFileDamaged(t *testing.T) {
	times, frames := testFrames(t)
	good := rawPcap(binary.LittleEndian, false, layers.LinkTypeEthernet, times, frames)
	hugeCap := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(hugeCap[24+16+len(frames[0])+8:], 1<<30) // frame 2's caplen
	binary.LittleEndian.PutUint32(hugeCap[24+16+len(frames[0])+12:], 1<<30)
	tests := []struct {
		name      string
		data      []byte
		sentinel  error
		frame     int
		readCount int
	}{
		{"empty", nil, ErrFileFormat, 0, 0},
		{"short magic", good[:3], ErrFileFormat, 0, 0},
		{"text file", []byte("hello, this is not a capture file at all\n"), ErrFileFormat, 0, 0},
		{"header cut", good[:20], ErrTruncatedFile, 0, 0},
		{"record header cut", good[:24+8], ErrTruncatedFile, 1, 0},
		{"frame cut", good[:24+16+10], ErrTruncatedFile, 1, 0},
		{"second frame cut", good[:len(good)-5], ErrTruncatedFile, 3, 2},
		{"caplen beyond snaplen", hugeCap, ErrCorruptFile, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "damaged.pcap", tt.data)
			got, err := readAll(t, path)
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("error %v, want %v", err, tt.sentinel)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.Frame != tt.frame || fe.Path != path {
				t.Errorf("error %#v, want frame %d of %s", err, tt.frame, path)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if len(got) != tt.readCount {
				t.Errorf("read %d frames before the error, want %d", len(got), tt.readCount)
			}
		})
	}
}

func TestOpenFileMissing(t *testing.T) {
	_, err := OpenFile(filepath.Join(t.TempDir(), "nope.pcap"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v, want os.ErrNotExist", err)
	}
}

func TestFileReaderAllocs(t *testing.T) {
	times, frames := testFrames(t)
	var all [][]byte
	var ts []time.Time
	for i := 0; i < 200; i++ {
		all = append(all, frames[i%3])
		ts = append(ts, times[i%3])
	}
	data := rawPcap(binary.LittleEndian, true, layers.LinkTypeEthernet, ts, all)
	r, err := NewReader("mem", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	_ = r.Next(&p) // first read sizes the buffer
	allocs := testing.AllocsPerRun(100, func() {
		if err := r.Next(&p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Next allocates %.1f times per frame, want 0", allocs)
	}
}

// FuzzFileReader reads arbitrary bytes as a capture file: only typed errors,
// never a panic, and a frame count that matches what was returned.
func FuzzFileReader(f *testing.F) {
	times, frames := testFrames(f)
	f.Add(rawPcap(binary.LittleEndian, false, layers.LinkTypeEthernet, times, frames))
	f.Add(rawPcap(binary.BigEndian, true, layers.LinkTypeLinuxSLL, times, frames))
	f.Add(rawPcap(binary.LittleEndian, true, layers.LinkTypeRaw, times, frames))
	var ng bytes.Buffer
	w, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	for i, fr := range frames {
		_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: times[i], CaptureLength: len(fr), Length: len(fr)}, fr)
	}
	_ = w.Flush()
	f.Add(ng.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader("fuzz", bytes.NewReader(data))
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var p Packet
		for n := 0; n < 10000; n++ {
			err := r.Next(&p)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var fe *FileError
				if !errors.As(err, &fe) || fe.Frame != r.Frames()+1 {
					t.Fatalf("error %v at frame %d", err, r.Frames())
				}
				return
			}
			if p.CapLen > len(data) {
				t.Fatalf("frame of %d bytes from %d bytes of input", p.CapLen, len(data))
			}
		}
	})
}
