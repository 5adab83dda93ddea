package sampler

import (
	"testing"
	"time"
)

// /proc/net/dev is the fallback source: it names devices, and the sampler
// works without a link table.
func TestProcNetDevFallback(t *testing.T) {
	src, err := NewProcNetDev("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	stats, err := src.Read(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Counters{
		"lo":   {RxBytes: 620321, TxBytes: 620321, RxPackets: 4102, TxPackets: 4102},
		"eth0": {RxBytes: 112589191, TxBytes: 441821, RxPackets: 80420, TxPackets: 3311, RxErrors: 2, TxErrors: 1, RxDrops: 5, TxDrops: 3},
	}
	if len(stats) != len(want) {
		t.Fatalf("read %d devices, want %d: %+v", len(stats), len(want), stats)
	}
	for _, st := range stats {
		if st.Counters != want[st.Name] || st.Index != 0 {
			t.Errorf("%s: %+v, want %+v", st.Name, st.Counters, want[st.Name])
		}
	}
	s, err := New(Config{Stats: src})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(100, 0)
	s.Step(now, stats, nil, 0)
	for i := range stats {
		stats[i].RxBytes += 50000
	}
	s.Step(now.Add(100*time.Millisecond), stats, nil, 0)
	var snap Snapshot
	s.Snapshot(&snap)
	if snap.Source != "procfs" || len(snap.Devices) != 2 {
		t.Fatalf("snapshot: source %q, %d devices", snap.Source, len(snap.Devices))
	}
	for _, d := range snap.Devices {
		if d.Bytes[Receive] != want[d.Name].RxBytes+50000 {
			t.Errorf("%s: bytes %d, want %d", d.Name, d.Bytes[Receive], want[d.Name].RxBytes+50000)
		}
	}
	if _, err := NewProcNetDev(t.TempDir()); err == nil {
		t.Error("a procfs without net/dev was accepted")
	}
}
