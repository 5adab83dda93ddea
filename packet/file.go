package packet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Sentinel errors of the file reader, matched with errors.Is. The reader
// wraps them in a *FileError naming the file and frame.
var (
	// ErrFileFormat means the file is neither pcap nor pcapng.
	ErrFileFormat = errors.New("not a pcap or pcapng file")
	// ErrTruncatedFile means the file ends inside a header or a frame.
	ErrTruncatedFile = errors.New("file ends inside a record")
	// ErrCorruptFile means a record is impossible (a length beyond the snap
	// length, an unknown interface, a bad block).
	ErrCorruptFile = errors.New("corrupt record")
)

// FileError is a failure reading a capture file.
type FileError struct {
	// Path is the file's name.
	Path string
	// Frame is the 1-based number of the frame being read (tshark's
	// frame.number), 0 for the file header.
	Frame int
	// Err wraps ErrFileFormat, ErrTruncatedFile, ErrCorruptFile or an I/O
	// error.
	Err error
}

func (e *FileError) Error() string {
	if e.Frame == 0 {
		return fmt.Sprintf("%s: file header: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s: frame %d: %v", e.Path, e.Frame, e.Err)
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// pcapngMagic is the block type of a pcapng section header.
const pcapngMagic = 0x0A0D0D0A

// readBufferSize is the read buffer of a file: large enough that a million
// frames cost a few hundred read calls.
const readBufferSize = 256 << 10

// packetSource is what pcapgo's pcap and pcapng readers have in common.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
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
	failed       error
}

// OpenFile opens a pcap (either byte order, micro- or nanosecond, optionally
// gzip-compressed) or pcapng file.
func OpenFile(path string) (*FileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	r, err := NewReader(path, f)
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
	br := bufio.NewReaderSize(r, readBufferSize)
	fr := &FileReader{path: name, decoders: map[layers.LinkType]*Decoder{}}
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = ErrTruncatedFile
		}
		return nil, &FileError{Path: name, Err: fmt.Errorf("%w: %w", ErrFileFormat, err)}
	}
	if binary.LittleEndian.Uint32(magic) == pcapngMagic {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, &FileError{Path: name, Err: classify(err, true)}
		}
		fr.src, fr.ng = ng, true
		// With mixed link types pcapgo reads interfaces lazily, so the first
		// one's link type is peeked here, or else taken from the first frame.
		fr.linkType, fr.linkKnown = ngFirstLinkType(br)
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, &FileError{Path: name, Err: classify(err, true)}
		}
		fr.src, fr.linkType, fr.linkKnown = pr, pr.LinkType(), true
	}
	return fr, nil
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

// classify maps a pcapgo error to the package's sentinels, keeping its text.
func classify(err error, header bool) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), header && errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %w", ErrTruncatedFile, err)
	case header:
		return fmt.Errorf("%w: %w", ErrFileFormat, err)
	}
	return fmt.Errorf("%w: %w", ErrCorruptFile, err)
}

// LinkType returns the file's link type (pcapng: the first interface's).
func (r *FileReader) LinkType() layers.LinkType { return r.linkType }

// Frames returns how many frames were read so far.
func (r *FileReader) Frames() int { return r.frame }

// DecodeErrors returns how many frames were read but could not be fully
// decoded (truncated or malformed headers, unsupported link types).
func (r *FileReader) DecodeErrors() uint64 { return r.decodeErrors }

// Next reads the next frame and decodes it into p. It returns io.EOF after
// the last frame. A frame the decoder cannot (fully) decode still fills Time,
// WireLen and CapLen, keeps what was decoded, and returns nil: such frames are
// counted by DecodeErrors. A damaged file gives a *FileError naming the
// frame; every later call returns the same error.
func (r *FileReader) Next(p *Packet) error {
	if r.failed != nil {
		return r.failed
	}
	data, ci, err := r.src.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		r.failed = &FileError{Path: r.path, Frame: r.frame + 1, Err: classify(err, false)}
		return r.failed
	}
	r.frame++
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
