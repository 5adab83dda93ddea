//go:build linux

package capture

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// TestNextBlockAllocs: taking a block from the packet ring allocates
// nothing, not even with the check that the interface is still the one of
// its name (forced here on every block, which a live ring does once a
// second), and the check keeps a live interface up.
func TestNextBlockAllocs(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("skipping: no loopback: %v", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	const size = 4096
	var ring []byte
	for range 4 {
		ring = append(ring, buildBlock(t, size, []testFrame{{ts: 1, wireLen: 60, data: make([]byte, 60)}})...)
	}
	tp := &tpacket{fd: fd, ring: ring, blockSize: size, numBlocks: 4, ifindex: lo.Index, bound: true}
	if err := tp.follow(DeviceConfig{Name: "lo", Snaplen: 128}, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	sec := uint32(1_700_000_000)
	n := testing.AllocsPerRun(1000, func() {
		// The kernel's part: hand the block over, opened a second later
		// than the last.
		sec++
		binary.NativeEndian.PutUint32(ring[tp.cur*size+v3BlockTsFirst:], sec)
		atomic.StoreUint32(tp.status(tp.cur), tpStatusUser)
		if _, err := tp.nextBlock(); err != nil {
			t.Fatal(err)
		}
		tp.releaseBlock()
	})
	if n != 0 {
		t.Errorf("%v allocations per block", n)
	}
	if st := tp.linkState(); !st.Up || tp.down || tp.checkSec != sec {
		t.Errorf("after the checks: %+v, down %v, last check at block second %d (want %d)", st, tp.down, tp.checkSec, sec)
	}
}
