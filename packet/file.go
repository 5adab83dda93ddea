package packet

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Sentinel errors of the file reader, matched with errors.Is. The reader
// wraps them in a *FileError naming the file and frame.
var (
	// ErrFileFormat means the file is neither pcap nor pcapng (an empty
	// file included).
	ErrFileFormat = errors.New("not a pcap or pcapng file")
	// ErrTruncatedFile means the file ends inside its header or a record: a
	// capture still being written, or cut short. The records before it are
	// whole.
	ErrTruncatedFile = errors.New("file ends inside a record")
	// ErrCorruptFile means a record is impossible (a length beyond the snap
	// length, an unknown interface, a bad block).
	ErrCorruptFile = errors.New("corrupt record")
)

// FileError is a failure reading a capture file.
type FileError struct {
	// Path is the file's name.
	Path string
	// Frame is the 1-based number of the record being read (tshark's
	// frame.number), 0 for the file header.
	Frame int
	// Err wraps ErrFileFormat, ErrTruncatedFile, ErrCorruptFile or an I/O
	// error.
	Err error
}

func (e *FileError) Error() string {
	if errors.Is(e.Err, ErrTruncatedFile) {
		var detail string
		if c, ok := errors.AsType[*cutError](e.Err); ok {
			detail = fmt.Sprintf(" (%d of its %d bytes are there)", c.have, c.want)
		}
		if e.Frame == 0 {
			return fmt.Sprintf("%s: file ends inside the file header%s", e.Path, detail)
		}
		return fmt.Sprintf("%s: file ends inside record %d%s", e.Path, e.Frame, detail)
	}
	if e.Frame == 0 {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s: frame %d: %v", e.Path, e.Frame, e.Err)
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// cutError is an ErrTruncatedFile that knows how much of the record (or
// file header) is there.
type cutError struct{ have, want int }

func (e *cutError) Error() string {
	return fmt.Sprintf("%v: %d of %d bytes", ErrTruncatedFile, e.have, e.want)
}

func (e *cutError) Is(target error) bool { return target == ErrTruncatedFile }

// formatError is an ErrFileFormat with its own words ("empty file").
type formatError struct{ msg string }

func (e *formatError) Error() string { return e.msg }

func (e *formatError) Is(target error) bool { return target == ErrFileFormat }

// Magic numbers of the formats read.
const (
	// pcapngMagic is the block type of a pcapng section header.
	pcapngMagic = 0x0A0D0D0A
	// pcapMicros and pcapNanos are a classic pcap header's first four
	// bytes read in the file's own byte order.
	pcapMicros = 0xa1b2c3d4
	pcapNanos  = 0xa1b23c4d
)

// readBufferSize is the read buffer of a file: large enough that a million
// frames cost a few hundred read calls.
const readBufferSize = 256 << 10

// maxSnaplen is libpcap's largest snap length (MAXIMUM_SNAPLEN): records up
// to it are read whatever snap length the file declares, as tcpdump and
// tshark do; longer ones are corrupt.
const maxSnaplen = 262144

// MaxTime is the last timestamp netburst computes with: the end of
// UnixNano's range, so that any two times of a capture are a Duration
// apart. Capture timestamps before the Unix epoch cannot occur in pcap,
// and in pcapng only through an offset that overflowed.
var MaxTime = time.Unix(0, math.MaxInt64).UTC()

// ValidTime reports whether t lies between the Unix epoch and MaxTime.
func ValidTime(t time.Time) bool { return t.Unix() >= 0 && !t.After(MaxTime) }

// packetSource is what pcapgo's pcapng reader and pcapFile have in common.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Notes is what a FileReader passed over, or delivered with a doubt, so
// far: each kind counted, its first record named, for the caller to report.
type Notes struct {
	// Skipped counts records whose captured length exceeds their original
	// length: one of the two lengths is wrong, so Next leaves the record out.
	// SkippedFirst is the first one's record number, SkippedCapLen and
	// SkippedLen its two lengths.
	Skipped                   uint64
	SkippedFirst              int
	SkippedCapLen, SkippedLen int
	// Untimed counts frames delivered with a timestamp that is not
	// ValidTime; UntimedFirst and UntimedTime are the first one's number and
	// time.
	Untimed      uint64
	UntimedFirst int
	UntimedTime  time.Time
}

// FileReader reads the frames of a pcap or pcapng file and decodes each into
// a Packet. It allocates nothing per frame.
type FileReader struct {
	path     string
	closer   io.Closer
	src      packetSource
	ng       bool
	linkType layers.LinkType
	// decoders holds one decoder per link type seen (pcapng may mix them);
	// nil entries mark link types the decoder does not support.
	decoders     map[layers.LinkType]*Decoder
	linkKnown    bool
	frame        int
	decodeErrors uint64
	notes        Notes
	failed       error
}

// OpenFile opens a pcap (either byte order, micro- or nanosecond) or pcapng
// file, either optionally gzip-compressed.
func OpenFile(path string) (*FileReader, error) {
	return openFile(path, readBufferSize)
}

func openFile(path string, bufSize int) (*FileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		// The path is named once, by FileError, not again by the PathError.
		if pe, ok := errors.AsType[*os.PathError](err); ok {
			err = pe.Err
		}
		return nil, &FileError{Path: path, Err: err}
	}
	r, err := newReader(path, f, bufSize)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads a pcap or pcapng stream from r; name is used in errors.
// Close does not close r.
func NewReader(name string, r io.Reader) (*FileReader, error) {
	return newReader(name, r, readBufferSize)
}

func newReader(name string, r io.Reader, bufSize int) (*FileReader, error) {
	br := bufio.NewReaderSize(r, bufSize)
	fr := &FileReader{path: name, decoders: map[layers.LinkType]*Decoder{}}
	fail := func(err error) (*FileReader, error) { return nil, &FileError{Path: name, Err: err} }
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fail(classify(err, true))
		}
		br = bufio.NewReaderSize(zr, bufSize)
	}
	magic, err := br.Peek(4)
	switch {
	case len(magic) == 0 && errors.Is(err, io.EOF):
		return fail(&formatError{"empty file"})
	case len(magic) < 4 && errors.Is(err, io.EOF):
		return fail(&formatError{fmt.Sprintf("%v (only %d bytes)", ErrFileFormat, len(magic))})
	case err != nil:
		return fail(classify(err, true))
	}
	switch m := binary.LittleEndian.Uint32(magic); {
	case m == pcapngMagic:
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return fail(classify(err, true))
		}
		fr.src, fr.ng = ng, true
		// With mixed link types pcapgo reads interfaces lazily, so the first
		// one's link type is peeked here, or else taken from the first frame.
		fr.linkType, fr.linkKnown = ngFirstLinkType(br)
	case m == pcapMicros, m == pcapNanos, bits.ReverseBytes32(m) == pcapMicros, bits.ReverseBytes32(m) == pcapNanos:
		pf, err := newPcapFile(br)
		if err != nil {
			return fail(err)
		}
		fr.src, fr.linkType, fr.linkKnown = pf, pf.linkType, true
	default:
		return fail(&formatError{fmt.Sprintf("%v (starts with 0x%x)", ErrFileFormat, magic)})
	}
	return fr, nil
}

// pcapFile reads the records of a classic pcap stream. It is pcapgo's
// Reader, except that a record cut by the end of the file says how much of
// it is there, and a record whose lengths disagree is returned as it is,
// for FileReader to leave out.
type pcapFile struct {
	r        *bufio.Reader
	order    binary.ByteOrder
	nanos    uint32 // nanoseconds per unit of the fraction field
	snaplen  uint32
	linkType layers.LinkType
	hdr      [16]byte
	buf      []byte
}

func newPcapFile(br *bufio.Reader) (*pcapFile, error) {
	var h [24]byte
	if n, err := io.ReadFull(br, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &cutError{have: n, want: len(h)}
		}
		return nil, classify(err, true)
	}
	f := &pcapFile{r: br, order: binary.LittleEndian}
	if m := f.order.Uint32(h[0:4]); m != pcapMicros && m != pcapNanos {
		f.order = binary.BigEndian
	}
	f.nanos = 1000
	if f.order.Uint32(h[0:4]) == pcapNanos {
		f.nanos = 1
	}
	f.snaplen = f.order.Uint32(h[16:20])
	// The upper 16 bits hold FCS length and flags (pcap-linktype(7)).
	f.linkType = layers.LinkType(f.order.Uint32(h[20:24]) & 0xffff)
	return f, nil
}

// ZeroCopyReadPacketData reads the next record; data stays valid until the
// next call.
func (f *pcapFile) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	n, err := io.ReadFull(f.r, f.hdr[:])
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ci, &cutError{have: n, want: len(f.hdr)}
		}
		return nil, ci, err // io.EOF: the end, between two records
	}
	caplen := f.order.Uint32(f.hdr[8:12])
	if caplen > max(f.snaplen, maxSnaplen) {
		return nil, ci, fmt.Errorf("%w: captured length %d exceeds the snap length %d", ErrCorruptFile, caplen, f.snaplen)
	}
	ci.Timestamp = time.Unix(int64(f.order.Uint32(f.hdr[0:4])), int64(f.order.Uint32(f.hdr[4:8]))*int64(f.nanos)).UTC()
	ci.CaptureLength = int(caplen)
	ci.Length = int(f.order.Uint32(f.hdr[12:16]))
	if cap(f.buf) < ci.CaptureLength {
		f.buf = make([]byte, max(ci.CaptureLength, min(int(f.snaplen), maxSnaplen)))
	}
	data := f.buf[:ci.CaptureLength]
	if n, err := io.ReadFull(f.r, data); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ci, &cutError{have: len(f.hdr) + n, want: len(f.hdr) + ci.CaptureLength}
		}
		return nil, ci, err
	}
	return data, ci, nil
}

// ngFirstLinkType reads the link type of the interface description block
// that follows a pcapng file's first section header, if it is in br's buffer
// and comes first. pcapgo has already consumed the section header from the
// bufio.Reader when this runs, so it peeks at the next block.
func ngFirstLinkType(br *bufio.Reader) (layers.LinkType, bool) {
	// Block type, total length, link type (uint16) in the section's byte
	// order: try both.
	b, err := br.Peek(10)
	if err != nil {
		return 0, false
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		if order.Uint32(b[0:4]) == 1 {
			return layers.LinkType(order.Uint16(b[8:10])), true
		}
	}
	return 0, false
}

// classify maps a reader's error to the package's sentinels, keeping its
// text.
func classify(err error, header bool) error {
	switch {
	case errors.Is(err, ErrTruncatedFile), errors.Is(err, ErrCorruptFile), errors.Is(err, ErrFileFormat):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF), header && errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %w", ErrTruncatedFile, err)
	case header:
		return fmt.Errorf("%w: %w", ErrFileFormat, err)
	}
	return fmt.Errorf("%w: %w", ErrCorruptFile, err)
}

// LinkType returns the file's link type (pcapng: the first interface's).
func (r *FileReader) LinkType() layers.LinkType { return r.linkType }

// Frames returns how many records were read so far, skipped ones included:
// the number of the last one read.
func (r *FileReader) Frames() int { return r.frame }

// DecodeErrors returns how many frames were read but could not be fully
// decoded (truncated or malformed headers, unsupported link types).
func (r *FileReader) DecodeErrors() uint64 { return r.decodeErrors }

// Notes returns what the reader passed over or doubted so far.
func (r *FileReader) Notes() Notes { return r.notes }

// Next reads the next frame and decodes it into p. It returns io.EOF after
// the last frame. A frame the decoder cannot (fully) decode still fills Time,
// WireLen and CapLen, keeps what was decoded, and returns nil: such frames are
// counted by DecodeErrors. A record whose captured length exceeds its
// original length is skipped and counted in Notes, as is a frame whose time
// is not ValidTime (that one is delivered). A damaged file gives a
// *FileError naming the record (a file that ends inside one wraps
// ErrTruncatedFile: the frames before it were whole); every later call
// returns the same error.
func (r *FileReader) Next(p *Packet) error {
	if r.failed != nil {
		return r.failed
	}
	var (
		data []byte
		ci   gopacket.CaptureInfo
		err  error
	)
	for {
		data, ci, err = r.src.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			r.failed = &FileError{Path: r.path, Frame: r.frame + 1, Err: classify(err, false)}
			return r.failed
		}
		r.frame++
		if ci.CaptureLength <= ci.Length {
			break
		}
		if r.notes.Skipped == 0 {
			r.notes.SkippedFirst, r.notes.SkippedCapLen, r.notes.SkippedLen = r.frame, ci.CaptureLength, ci.Length
		}
		r.notes.Skipped++
	}
	if !ValidTime(ci.Timestamp) {
		if r.notes.Untimed == 0 {
			r.notes.UntimedFirst, r.notes.UntimedTime = r.frame, ci.Timestamp
		}
		r.notes.Untimed++
	}
	lt := r.linkType
	if r.ng && len(ci.AncillaryData) > 0 {
		if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			lt = l
		}
	}
	if !r.linkKnown {
		r.linkType, r.linkKnown = lt, true
	}
	d, seen := r.decoders[lt]
	if !seen {
		d, _ = NewDecoder(lt) // nil for unsupported link types
		r.decoders[lt] = d
	}
	if d == nil {
		*p = Packet{Time: ci.Timestamp, WireLen: ci.Length, CapLen: len(data), L3Offset: -1, L4Offset: -1}
		r.decodeErrors++
		return nil
	}
	if d.Decode(data, ci, p) != nil {
		r.decodeErrors++
	}
	return nil
}

// Close closes the file opened by OpenFile.
func (r *FileReader) Close() error {
	if r.closer == nil {
		return nil
	}
	err := r.closer.Close()
	r.closer = nil
	return err
}
