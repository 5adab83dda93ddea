package sampler

import (
	"errors"
	"testing"
	"time"

	"github.com/netburst/netburst/internal/nstest"
)

// The netlink qdisc source skips its dump while only noqueue qdiscs (or
// none, on devices that are down) exist and nothing changed, and dumps
// again at the first qdisc or link change, and at every reading while a
// qdisc with counters that move exists.
func TestNetlinkQdiscsSkipUnchanged(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	ns.MustRun(t, "ip", "link", "add", "name", "qa", "type", "veth", "peer", "name", "qb")
	var src QdiscSource
	if err := ns.Do(func() error {
		var err error
		src, err = NewNetlinkQdiscs()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	var dst []QdiscStat
	// read reads once and returns the kinds per device name (by ifindex
	// here: the test knows lo is 1), or nil when unchanged.
	read := func(step string) map[int32][]string {
		t.Helper()
		got, err := src.Read(dst)
		if errors.Is(err, ErrUnchanged) {
			return nil
		}
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		dst = got
		kinds := map[int32][]string{}
		for _, q := range got {
			kinds[q.Index] = append(kinds[q.Index], q.Kind)
		}
		return kinds
	}
	wantFresh := func(step string) map[int32][]string {
		t.Helper()
		k := read(step)
		if k == nil {
			t.Fatalf("%s: reading unchanged, want a fresh dump", step)
		}
		return k
	}
	wantUnchanged := func(step string) {
		t.Helper()
		if k := read(step); k != nil {
			t.Fatalf("%s: fresh reading %v, want ErrUnchanged", step, k)
		}
	}
	if k := wantFresh("first reading"); len(k) != 1 || len(k[1]) != 1 || k[1][0] != "noqueue" {
		t.Fatalf("first reading: %v, want lo's noqueue only (qa and qb are down)", k)
	}
	wantUnchanged("second reading")
	wantUnchanged("third reading")

	ns.MustRun(t, "tc", "qdisc", "add", "dev", "qa", "root", "tbf", "rate", "10mbit", "burst", "10kb", "latency", "20ms")
	k := wantFresh("after adding a tbf")
	found := false
	for _, kinds := range k {
		for _, kind := range kinds {
			found = found || kind == "tbf"
		}
	}
	if !found {
		t.Fatalf("after adding a tbf: %v has none", k)
	}
	wantFresh("with a tbf, again")
	wantFresh("with a tbf, once more")

	ns.MustRun(t, "tc", "qdisc", "del", "dev", "qa", "root")
	if k := wantFresh("after deleting the tbf"); len(k) != 1 {
		t.Fatalf("after deleting the tbf: %v, want lo's noqueue only", k)
	}
	wantUnchanged("after deleting the tbf, again")

	// Bringing the pair up attaches their default noqueue qdiscs: no TC
	// notification, but a link one.
	ns.MustRun(t, "ip", "link", "set", "qa", "up")
	ns.MustRun(t, "ip", "link", "set", "qb", "up")
	// The carrier comes up through the kernel's linkwatch, up to a second
	// later, with another link notification: let it land first.
	time.Sleep(1500 * time.Millisecond)
	if k := wantFresh("after link up"); len(k) != 3 {
		t.Fatalf("after link up: %v, want noqueue on lo, qa and qb", k)
	}
	wantUnchanged("after link up, again")
}
