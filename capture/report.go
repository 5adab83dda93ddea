package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/gopacket/gopacket"

	"github.com/netburst/netburst/packet"
)

// chunkFrames is how many frames summarize copies out of the ring per lock:
// the reader waits for one chunk's copy (tens of microseconds), never for
// the decoding or the disk.
const chunkFrames = 4096

// summarize streams the device's frozen window out of the ring in chunks,
// into the aggregator and the pcap file, then unfreezes the device.
func (c *Capture) summarize(d *device, w *window) Report {
	if c.scratch == nil {
		c.scratch = newRing(int64(chunkFrames*(recordHeader+c.cfg.Snaplen)), c.cfg.Snaplen)
	}
	ag := packet.NewAggregator(c.cfg.MaxFlows)
	tl := packet.NewTimelineBuilder(packet.DefaultTimelineBin, 0)
	tl.Span(w.start, w.end)
	var (
		out     *pcapOut
		path    string
		fileErr error
	)
	if c.cfg.Dir != "" {
		path = c.pcapPath(d, w)
		out, fileErr = c.createPcap(path, d)
	}
	d.mu.Lock()
	from, until := d.fromNs, d.untilNs
	seq := d.ring.headSeq
	d.mu.Unlock()
	var lost uint64
	var p packet.Packet
	for done := false; !done; {
		c.scratch.reset()
		d.mu.Lock()
		if seq < d.ring.headSeq {
			// Pushed out by the memory bound since the last chunk (the
			// reader counted those inside the window).
			seq = d.ring.headSeq
		}
		for c.scratch.size < c.scratch.slots {
			i := int(seq - d.ring.headSeq)
			if i >= d.ring.size {
				done = true
				break
			}
			slot := d.ring.get(i)
			ts := slotTime(slot)
			if ts > until {
				done = true
				break
			}
			seq++
			if ts >= from {
				c.scratch.push(slot, false)
			}
		}
		if done {
			lost = d.windowDropped
			d.frozen = false
		}
		d.mu.Unlock()
		// The records were decoded at capture time: the summary reads them.
		for i := 0; i < c.scratch.size; i++ {
			data := readRecord(c.scratch.get(i), d.decoder, &p)
			ag.Add(&p)
			tl.Add(&p)
			if out != nil && fileErr == nil {
				fileErr = out.write(gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(data), Length: p.WireLen}, data)
			}
		}
	}
	rep := Report{
		ID:   reportID(d, w),
		Time: w.first.Time.UTC(), Trigger: w.first.Trigger, Triggers: slices.Clone(w.triggers),
		Target: w.first.Target, Value: w.first.Value, Threshold: w.first.Threshold,
		Device: d.Name, WindowStart: w.start.UTC(), WindowEnd: w.end.UTC(),
		Dropped: lost, Summary: ag.Summary(c.cfg.TopK),
		Timeline: tl.Timeline(timelinePorts),
	}
	if c.cfg.Dir != "" {
		if out != nil {
			if err := out.close(fileErr); err != nil && fileErr == nil {
				fileErr = err
			}
		}
		if fileErr != nil {
			c.fileErrors.Add(1)
			rep.FileError = fileErr.Error()
			kind := errorKind(fileErr)
			c.fileLog.Log(slog.LevelError, c.cfg.Dir+"\x00"+kind, "spike pcap not written",
				"path", path, "kind", kind, "err", fileErr)
		} else {
			rep.File = out.path
		}
		c.retain()
	}
	return rep
}

// pcapOut is a spike pcap being written.
type pcapOut struct {
	path string
	f    *os.File
	w    *packet.Writer
}

// timelinePorts is how many ports a report's timeline stacks: a picture
// stays readable with a few, the rest is "other".
const timelinePorts = 5

// reportID names the window's report: what its pcap's name says of it.
func reportID(d *device, w *window) string {
	return fmt.Sprintf("%s-%s-%s", w.first.Time.UTC().Format("20060102T150405.000000Z"), w.first.Trigger, sanitize(d.Name))
}

// pcapPath is the name of the window's file for device d.
func (c *Capture) pcapPath(d *device, w *window) string {
	name := filePrefix + reportID(d, w) + fileSuffix
	return filepath.Join(c.cfg.Dir, name)
}

// errorKind names the kind of a failed write for the log's rate limit: one
// line a minute per directory and kind, so a full disk does not hide a
// permission error that follows it.
func errorKind(err error) string {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, os.ErrNotExist):
		return "missing"
	case errors.Is(err, os.ErrPermission):
		return "permission"
	}
	return "other"
}

// createPcap creates the window's file at path (mode 0600, never
// overwriting) and writes its header.
func (c *Capture) createPcap(path string, d *device) (*pcapOut, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write spike pcap: %w", err)
	}
	o := &pcapOut{path: path, f: f}
	if o.w, err = packet.NewWriter(f, c.cfg.Snaplen, d.LinkType); err != nil {
		err = fmt.Errorf("write spike pcap %s: %w", path, err)
		return o, err
	}
	return o, nil
}

func (o *pcapOut) write(ci gopacket.CaptureInfo, data []byte) error {
	if err := o.w.Write(ci, data); err != nil {
		return fmt.Errorf("write spike pcap %s: %w", o.path, err)
	}
	return nil
}

// close flushes and closes the file; after any error (failed, or its own)
// it removes the file: a partial pcap on a full disk helps nobody.
func (o *pcapOut) close(failed error) error {
	var err error
	if failed == nil {
		if ferr := o.w.Flush(); ferr != nil {
			err = fmt.Errorf("write spike pcap %s: %w", o.path, ferr)
		}
	}
	if cerr := o.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write spike pcap %s: %w", o.path, cerr)
	}
	if failed != nil || err != nil {
		os.Remove(o.path)
	}
	return err
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
