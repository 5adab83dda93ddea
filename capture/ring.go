package capture

import "encoding/binary"

// recordHeader is a ring slot's header: timestamp (Unix ns), wire length,
// captured length.
const recordHeader = 8 + 4 + 2

// ring is a bounded FIFO of captured frames in fixed-size slots of one byte
// slice: no pointer per packet for the garbage collector to scan, no
// allocation per packet. A slot holds at most snaplen bytes of a frame.
type ring struct {
	buf        []byte
	slot       int
	slots      int
	head, size int // head is the oldest record's slot
	// headSeq is the sequence number of the oldest record: records keep
	// their number while the ring moves, so a reader that let go of the
	// lock can tell which of its records were overwritten meanwhile.
	headSeq uint64
	// dropped counts records pushed out by the byte bound before they aged
	// out; rejected counts records refused by a full ring that does not
	// overwrite.
	dropped, rejected uint64
}

// newRing returns a ring of at most memory bytes for frames of up to snaplen
// bytes (at least one slot).
func newRing(memory int64, snaplen int) *ring {
	slot := recordHeader + snaplen
	n := int(memory / int64(slot))
	if n < 1 {
		n = 1
	}
	buf := make([]byte, n*slot)
	// Touch every page now: the memory is reserved for the ring anyway, and
	// faulting it in during the first traffic burst (when the ring fills
	// for the first time) would cost the reader microseconds per page just
	// when the kernel's buffer is under pressure.
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 0
	}
	return &ring{buf: buf, slot: slot, slots: n}
}

func (r *ring) at(i int) []byte {
	// i < slots and head < slots: one conditional subtraction instead of a
	// division on the per-frame path.
	j := r.head + i
	if j >= r.slots {
		j -= r.slots
	}
	o := j * r.slot
	return r.buf[o : o+r.slot]
}

// pop drops the oldest record.
func (r *ring) pop() {
	r.headSeq++
	r.head++
	if r.head == r.slots {
		r.head = 0
	}
	r.size--
}

// push appends a frame. When the ring is full the oldest record is
// overwritten (and counted in dropped) if overwrite is set, else the new one
// is refused (and counted in rejected).
func (r *ring) push(ts int64, wireLen int, data []byte, overwrite bool) {
	if r.size == r.slots {
		if !overwrite {
			r.rejected++
			return
		}
		r.pop()
		r.dropped++
	}
	r.size++
	s := r.at(r.size - 1)
	if wireLen < len(data) {
		wireLen = len(data) // a wire length below the captured one is impossible
	}
	if len(data) > r.slot-recordHeader {
		data = data[:r.slot-recordHeader]
	}
	binary.LittleEndian.PutUint64(s[0:], uint64(ts))
	binary.LittleEndian.PutUint32(s[8:], uint32(wireLen))
	binary.LittleEndian.PutUint16(s[12:], uint16(len(data)))
	copy(s[recordHeader:], data)
}

// expire drops records older than before (Unix ns): they aged out, which is
// not a loss.
func (r *ring) expire(before int64) {
	for r.size > 0 && r.oldestTime() < before {
		r.pop()
	}
}

// get returns record i (0 is the oldest). data aliases the ring.
func (r *ring) get(i int) (ts int64, wireLen int, data []byte) {
	s := r.at(i)
	n := int(binary.LittleEndian.Uint16(s[12:]))
	return int64(binary.LittleEndian.Uint64(s[0:])), int(binary.LittleEndian.Uint32(s[8:])), s[recordHeader : recordHeader+n]
}

// oldestTime returns the oldest record's timestamp (Unix ns); the ring must
// not be empty.
func (r *ring) oldestTime() int64 {
	return int64(binary.LittleEndian.Uint64(r.buf[r.head*r.slot:]))
}

// reset empties the ring and its counters.
func (r *ring) reset() {
	r.headSeq += uint64(r.size)
	r.head, r.size, r.dropped, r.rejected = 0, 0, 0, 0
}
