package packet

import (
	"bufio"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// writeBufferSize is a Writer's buffer: a spike window of thousands of
// frames costs a handful of write calls.
const writeBufferSize = 64 << 10

// Writer writes frames as a pcap file with nanosecond timestamps (what
// FileReader reads back, and tcpdump, tshark and Wireshark read). It
// buffers: Flush writes what is left. Its errors are the underlying
// writer's (or pcapgo's, for a frame it refuses), for the caller to name
// the file.
type Writer struct {
	bw *bufio.Writer
	pw *pcapgo.Writer
}

// NewWriter writes the file header of a pcap of frames of link type lt cut
// at snaplen bytes to w, and returns a Writer of its frames.
func NewWriter(w io.Writer, snaplen int, lt layers.LinkType) (*Writer, error) {
	bw := bufio.NewWriterSize(w, writeBufferSize)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(uint32(snaplen), lt); err != nil {
		return nil, err
	}
	return &Writer{bw: bw, pw: pw}, nil
}

// Write writes one frame: data holds ci.CaptureLength of its ci.Length
// bytes.
func (w *Writer) Write(ci gopacket.CaptureInfo, data []byte) error {
	return w.pw.WritePacket(ci, data)
}

// Flush writes the buffered frames to the underlying writer.
func (w *Writer) Flush() error { return w.bw.Flush() }
