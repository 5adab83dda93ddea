package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/netburst/netburst/packet"
)

// captureFile is a capture file as top, locate and bond-hash read it: every
// whole record up to the end, or up to a record the end of the file cuts
// (tcpdump still writing, or killed), and what the reader passed over, for
// the warnings that go with the result.
type captureFile struct {
	*packet.FileReader
	path string
	// cut is the *packet.FileError of the record the file ends inside.
	cut error
}

func openCapture(path string) (*captureFile, error) {
	r, err := packet.OpenFile(path)
	if err != nil {
		return nil, err
	}
	return &captureFile{FileReader: r, path: path}, nil
}

// next reads the next frame into p; it returns false at the end of the
// file, a cut record included.
func (f *captureFile) next(p *packet.Packet) (bool, error) {
	err := f.Next(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, io.EOF):
		return false, nil
	case errors.Is(err, packet.ErrTruncatedFile):
		f.cut = err
		return false, nil
	}
	return false, err
}

// endsInside is the number of the record the file ends inside, 0 when the
// file ends between two records.
func (f *captureFile) endsInside() int {
	var fe *packet.FileError
	if f.cut != nil && errors.As(f.cut, &fe) {
		return fe.Frame
	}
	return 0
}

// warnings says what the result leaves out of the file read so far;
// untimed says what became of the frames without a usable time ("": they
// are not worth a warning, bond-hash needs no time).
func (f *captureFile) warnings(untimed string) []string {
	var w []string
	if f.cut != nil {
		before := "no whole record is before it"
		if n := f.endsInside() - 1; n == 1 {
			before = "the record before it is counted"
		} else if n > 1 {
			before = fmt.Sprintf("the %d records before it are counted", n)
		}
		w = append(w, fmt.Sprintf("%v: %s", f.cut, before))
	}
	n := f.Notes()
	if n.Skipped > 0 {
		w = append(w, fmt.Sprintf("%s: skipped %s whose captured length exceeds the original length (first: record %d, %d > %d bytes)",
			f.path, plural(n.Skipped, "record"), n.SkippedFirst, n.SkippedCapLen, n.SkippedLen))
	}
	if n.Untimed > 0 && untimed != "" {
		w = append(w, fmt.Sprintf("%s: %s timestamped outside 1970 to %s (first: frame %d, %s): %s",
			f.path, plural(n.Untimed, "frame"), packet.MaxTime.Format(time.DateOnly), n.UntimedFirst, n.UntimedTime.Format(time.RFC3339Nano), untimed))
	}
	return w
}

// plural is "1 frame" or "3 frames".
func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
