package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// PrepareDir makes dir ready for spike pcaps before the capture starts: it
// creates it (mode 0700) if it is missing, and creates and removes a probe
// file in it, so that a directory the exporter cannot write to is an error
// at start rather than the first spike's lost pcap. A later failure (a full
// disk) is still counted and logged per pcap.
func PrepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".netburst-probe-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	name := f.Name()
	err = f.Close()
	if rerr := os.Remove(name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		// A file that can be created but not removed leaves retention
		// unable to bound the directory.
		return fmt.Errorf("cannot remove files: %w", rerr)
	}
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	return nil
}

// filePrefix and fileSuffix mark the pcaps this package writes, so that
// retention never removes anything else in the directory.
const (
	filePrefix = "netburst-"
	fileSuffix = ".pcap"
)

// retain removes the oldest of this package's pcaps in Dir beyond MaxFiles
// or MaxBytes and records what is left.
func (c *Capture) retain() {
	entries, err := os.ReadDir(c.cfg.Dir)
	if err != nil {
		return
	}
	type file struct {
		name string
		size int64
	}
	var files []file
	var total int64
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, filePrefix) || !strings.HasSuffix(n, fileSuffix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{n, info.Size()})
		total += info.Size()
	}
	// Names start with the UTC time, so name order is age order.
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	for len(files) > 0 && ((c.cfg.MaxFiles > 0 && len(files) > c.cfg.MaxFiles) || (c.cfg.MaxBytes > 0 && total > c.cfg.MaxBytes)) {
		if err := os.Remove(filepath.Join(c.cfg.Dir, files[0].name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			break
		}
		total -= files[0].size
		files = files[1:]
	}
	c.mu.Lock()
	c.files, c.filesBytes = len(files), total
	c.mu.Unlock()
}
