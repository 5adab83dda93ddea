package capture

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netburst/netburst/packet"
)

// A ring slot is a record, the frame's header summary decoded at capture
// time, followed by the frame's captured bytes (for the pcap). The record
// holds what the spike summary needs, so a window is summarised without
// decoding it again:
//
//	0  timestamp, Unix ns (int64)
//	8  wire length (uint32)
//	12 captured length (uint16)
//	14 offset of the source address in the captured bytes (uint16), the
//	   destination follows it (4 bytes later for IPv4, 16 for IPv6)
//	16 source port, 18 destination port (uint16)
//	20 IP version (0 for a frame that is not IP), 21 protocol,
//	22 flags (recHasPorts, recMACsec, recTunnel), 23 TCP flags
//
// The addresses stay in the captured bytes, where the decoder found them,
// rather than being copied into every slot. A tunnelled frame's record
// holds its inner packet and is flagged: readRecord decodes the slot's
// bytes again for the tunnel's fields (rare frames, read once per spike).
const recordHeader = 24

// Record flags.
const (
	recHasPorts = 1
	// recMACsec marks a MACsec frame (EtherType 0x88E5): encrypted, counted
	// as such by the summaries.
	recMACsec = 2
	// recTunnel marks a frame the Decoder opened a tunnel of.
	recTunnel = 4
)

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
	r := &ring{slot: slot, slots: n}
	r.buf = newRingMemory(r, n*slot)
	return r
}

// heapRingMemory returns n bytes from the Go heap, faulted in.
func heapRingMemory(n int) []byte {
	buf := make([]byte, n)
	touch(buf)
	return buf
}

// touch writes to every page of buf: the memory is reserved for the ring
// anyway, and faulting it in during the first traffic burst (when the ring
// fills for the first time) would cost the reader microseconds per page
// just when the kernel's buffer is under pressure.
func touch(buf []byte) {
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 0
	}
}

func (r *ring) at(i int) []byte {
	// i < slots and head < slots: one conditional subtraction instead of a
	// division on the per-frame path.
	j := r.head + i
	if j >= r.slots {
		j -= r.slots
	}
	o := j * r.slot
	return r.buf[o : o+r.slot : o+r.slot]
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

// reserve appends an empty slot and returns it for the caller to fill with
// fillSlot. When the ring is full the oldest record is overwritten (and
// counted in dropped) if overwrite is set, else nothing is appended (counted
// in rejected) and reserve returns nil.
func (r *ring) reserve(overwrite bool) []byte {
	if r.size == r.slots {
		if !overwrite {
			r.rejected++
			return nil
		}
		r.pop()
		r.dropped++
	}
	r.size++
	return r.at(r.size - 1)
}

// push appends a copy of another ring's slot (record and bytes).
func (r *ring) push(slot []byte, overwrite bool) {
	s := r.reserve(overwrite)
	if s == nil {
		return
	}
	n := recordHeader + int(binary.LittleEndian.Uint16(slot[12:]))
	copy(s[:n], slot[:n])
}

// vlanTag is an 802.1Q tag that the kernel took out of a frame (a NIC's or
// veth's VLAN offload) and the ring puts back, as libpcap does, so that the
// pcap and the summary see the frame as it was on the wire. The zero value
// is no tag.
type vlanTag struct {
	tpid, tci uint16
}

// fillSlot copies a frame into slot s (at most len(s)-recordHeader bytes,
// with tag reinserted after the MAC addresses when it is set, for Ethernet),
// decodes the copy with dec into the scratch Packet p and stores the
// record.
func fillSlot(s []byte, ts int64, wireLen int, data []byte, tag vlanTag, dec *packet.Decoder, p *packet.Packet) {
	room := s[recordHeader:]
	var n int
	if tag.tpid != 0 && dec.LinkType() == layers.LinkTypeEthernet && len(data) >= 12 {
		// MACs, the tag, then the rest.
		n = copy(room, data[:12])
		if len(room) >= 16 {
			binary.BigEndian.PutUint16(room[12:], tag.tpid)
			binary.BigEndian.PutUint16(room[14:], tag.tci)
			n = 16 + copy(room[16:], data[12:])
		}
		wireLen += 4
	} else {
		n = copy(room, data)
	}
	if wireLen < n {
		wireLen = n // a wire length below the captured one is impossible
	}
	binary.LittleEndian.PutUint64(s[0:], uint64(ts))
	binary.LittleEndian.PutUint32(s[8:], uint32(wireLen))
	binary.LittleEndian.PutUint16(s[12:], uint16(n))
	if dec.LinkType() == layers.LinkTypeEthernet && fastRecord(room[:n], s) {
		return
	}
	_ = dec.Decode(room[:n], gopacket.CaptureInfo{}, p) // a frame that does not decode keeps what did
	writeSummary(s, p)
}

// fastRecord writes the summary of the record of an Ethernet frame without
// VLAN tags, IP fragments or IPv6 extension headers, the bulk of the
// traffic, straight into slot s, and reports whether it did; every other
// frame takes the full Decoder. It must say exactly what the Decoder says
// (TestRecordMatchesDecoder and FuzzRecord compare them).
func fastRecord(d []byte, s []byte) bool {
	_ = s[recordHeader-1]
	if len(d) < 14 {
		return false
	}
	var (
		ipv, proto byte
		addrOff    int
		l4         int
	)
	switch binary.BigEndian.Uint16(d[12:14]) {
	case packet.EtherTypeIPv4:
		if len(d) < 34 || d[14]>>4 != 4 {
			return false
		}
		ihl := int(d[14]&0x0f) * 4
		if ihl < 20 || len(d) < 14+ihl || binary.BigEndian.Uint16(d[20:22])&0x3fff != 0 {
			return false // options cut short, or a fragment
		}
		if tl := binary.BigEndian.Uint16(d[16:18]); tl != 0 && tl < uint16(ihl) {
			return false // a bogus total length: the Decoder's call
		}
		ipv, proto, addrOff, l4 = 4, d[23], 14+12, 14+ihl
		if proto == 4 || proto == 41 || proto == 47 {
			return false // IP in IP, GRE: the Decoder opens them
		}
	case packet.EtherTypeIPv6:
		if len(d) < 54 || d[14]>>4 != 6 {
			return false
		}
		switch proto = d[20]; proto {
		case 0, 43, 44, 51, 60, 135, 139, 140:
			return false // extension headers
		case 4, 41, 47:
			return false // IP in IP, GRE: the Decoder opens them
		}
		ipv, addrOff, l4 = 6, 14+8, 54
	case packet.EtherTypeVLAN, packet.EtherTypeQinQ, packet.EtherTypeQinQ2, packet.EtherTypeMPLS, packet.EtherTypeMPLSm, packet.EtherTypePPPoE:
		return false // tags and encapsulations: the Decoder walks them
	case packet.EtherTypeMACsec:
		clear(s[14:recordHeader])
		s[22] = recMACsec
		return true
	default:
		// Not IP: nothing to summarise beyond the lengths.
		clear(s[14:recordHeader])
		return true
	}
	var sport, dport uint16
	var flags, tcpFlags byte
	switch h := d[l4:]; {
	case proto == 6 && len(h) >= 14:
		tcpFlags = h[13]
		fallthrough
	case proto == 17 && len(h) >= 8:
		sport = binary.BigEndian.Uint16(h[0:2])
		dport = binary.BigEndian.Uint16(h[2:4])
		flags = recHasPorts
		if proto == 17 && (packet.IsTunnelPort(sport) || packet.IsTunnelPort(dport)) {
			return false // VXLAN, Geneve, GTP-U: the Decoder opens them
		}
	}
	binary.LittleEndian.PutUint16(s[14:], uint16(addrOff))
	binary.LittleEndian.PutUint16(s[16:], sport)
	binary.LittleEndian.PutUint16(s[18:], dport)
	s[20], s[21], s[22], s[23] = ipv, proto, flags, tcpFlags
	return true
}

// writeSummary stores p's summary fields in slot s's record (the lengths
// and time are already there).
func writeSummary(s []byte, p *packet.Packet) {
	_ = s[recordHeader-1]
	var addrOff int
	switch p.IPVersion {
	case 4:
		addrOff = p.L3Offset + 12
	case 6:
		addrOff = p.L3Offset + 8
	}
	binary.LittleEndian.PutUint16(s[14:], uint16(addrOff))
	binary.LittleEndian.PutUint16(s[16:], p.SrcPort)
	binary.LittleEndian.PutUint16(s[18:], p.DstPort)
	s[20] = p.IPVersion
	s[21] = p.Protocol
	var flags byte
	if p.HasPorts {
		flags |= recHasPorts
	}
	if p.IPVersion == 0 && p.EtherType == packet.EtherTypeMACsec {
		flags |= recMACsec
	}
	if p.Tunnel != packet.TunnelNone {
		flags |= recTunnel
	}
	s[22] = flags
	s[23] = p.TCPFlags
}

// readRecord fills p from slot s's record, the summary fields only (see
// recordFields), and returns the captured bytes (aliasing the ring). A
// tunnelled frame's bytes are decoded again with dec, the decoder that
// made the record, for its tunnel fields.
func readRecord(s []byte, dec *packet.Decoder, p *packet.Packet) []byte {
	capLen := int(binary.LittleEndian.Uint16(s[12:]))
	data := s[recordHeader : recordHeader+capLen]
	if s[22]&recTunnel != 0 {
		_ = dec.Decode(data, gopacket.CaptureInfo{Timestamp: time.Unix(0, int64(binary.LittleEndian.Uint64(s[0:]))).UTC(),
			Length: int(binary.LittleEndian.Uint32(s[8:]))}, p)
		return data
	}
	*p = packet.Packet{
		Time:      time.Unix(0, int64(binary.LittleEndian.Uint64(s[0:]))).UTC(),
		WireLen:   int(binary.LittleEndian.Uint32(s[8:])),
		CapLen:    capLen,
		SrcPort:   binary.LittleEndian.Uint16(s[16:]),
		DstPort:   binary.LittleEndian.Uint16(s[18:]),
		IPVersion: s[20],
		Protocol:  s[21],
		HasPorts:  s[22]&recHasPorts != 0,
		TCPFlags:  s[23],
		L3Offset:  -1,
		L4Offset:  -1,
	}
	if s[22]&recMACsec != 0 {
		p.EtherType = packet.EtherTypeMACsec
	}
	off := int(binary.LittleEndian.Uint16(s[14:]))
	switch p.IPVersion {
	case 4:
		if off+8 <= len(data) {
			p.Src = netip.AddrFrom4([4]byte(data[off : off+4]))
			p.Dst = netip.AddrFrom4([4]byte(data[off+4 : off+8]))
		}
	case 6:
		if off+32 <= len(data) {
			p.Src = netip.AddrFrom16([16]byte(data[off : off+16]))
			p.Dst = netip.AddrFrom16([16]byte(data[off+16 : off+32]))
		}
	}
	return data
}

// slotTime returns the timestamp of a slot's record (Unix ns).
func slotTime(s []byte) int64 { return int64(binary.LittleEndian.Uint64(s)) }

// expire drops records older than before (Unix ns): they aged out, which is
// not a loss.
func (r *ring) expire(before int64) {
	for r.size > 0 && r.oldestTime() < before {
		r.pop()
	}
}

// get returns the slot of record i (0 is the oldest), aliasing the ring.
func (r *ring) get(i int) []byte { return r.at(i) }

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
