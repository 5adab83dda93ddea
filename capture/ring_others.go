//go:build !linux

package capture

// newRingMemory returns n bytes for r's slots, in the Go heap.
func newRingMemory(r *ring, n int) []byte { return heapRingMemory(n) }
