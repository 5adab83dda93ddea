package sampler

import (
	"fmt"

	"github.com/prometheus/procfs"
)

// procNetDev reads /proc/net/dev: the fallback where the kernel refuses
// RTM_GETSTATS (kernels before 4.7, some sandboxes). It is slower and
// allocates per reading, and knows interfaces by name only.
type procNetDev struct {
	fs procfs.FS
}

// NewProcNetDev returns a stats source reading procRoot/net/dev (procRoot
// is usually /proc). It fails if the file cannot be read now.
func NewProcNetDev(procRoot string) (StatsSource, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("open procfs at %s: %w", procRoot, err)
	}
	p := &procNetDev{fs: fs}
	if _, err := p.Read(nil); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *procNetDev) Read(dst []Stat) ([]Stat, error) {
	dev, err := p.fs.NetDev()
	if err != nil {
		return dst[:0], fmt.Errorf("read net/dev: %w", err)
	}
	dst = dst[:0]
	for name, l := range dev {
		dst = append(dst, Stat{Name: name, Counters: Counters{
			RxBytes: l.RxBytes, TxBytes: l.TxBytes,
			RxPackets: l.RxPackets, TxPackets: l.TxPackets,
			RxErrors: l.RxErrors, TxErrors: l.TxErrors,
			RxDrops: l.RxDropped, TxDrops: l.TxDropped,
		}})
	}
	return dst, nil
}

func (p *procNetDev) Name() string { return "procfs" }

func (p *procNetDev) Close() error { return nil }
