//go:build linux

package capture

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// newRingMemory returns n bytes for r's slots, mapped outside the Go heap
// (in transparent huge pages where the system allows them) and faulted in,
// and unmaps them when r is collected. Outside the heap, tens of MiB of
// ring neither trigger a collection when they are allocated nor double the
// heap the collector lets the rest of the exporter grow to (GOGC is
// relative to the live heap); the ring holds no pointers, so the collector
// has nothing to find there anyway. If the mapping fails, the ring lives
// in the heap.
func newRingMemory(r *ring, n int) []byte {
	buf, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return heapRingMemory(n)
	}
	// Fewer TLB misses on a ring written from end to end; a refusal only
	// costs those.
	_ = unix.Madvise(buf, unix.MADV_HUGEPAGE)
	// Fault the pages in from user space rather than with MAP_POPULATE:
	// on a virtual machine with shadow page tables, pages the kernel
	// populated still fault into the hypervisor on their first user
	// access, which would then fall on the reader.
	touch(buf)
	runtime.AddCleanup(r, func(b []byte) { _ = unix.Munmap(b) }, buf)
	return buf
}
