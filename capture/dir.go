package capture

import (
	"errors"
	"fmt"
	"os"
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
