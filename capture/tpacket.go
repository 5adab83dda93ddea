package capture

import (
	"encoding/binary"

	"github.com/netburst/netburst/packet"
)

// The TPACKET_V3 ring layout (linux/if_packet.h), read directly from the
// mmap'd blocks: gopacket's afpacket reads the same fields, but through a
// mutex, interface calls, atomics and a CaptureInfo per frame, which cost
// more than everything else netburst does with a frame (BENCHMARKS.md).
// The kernel writes these fields in the machine's byte order.
//
// A block starts with tpacket_block_desc: version, offset_to_priv, then
// tpacket_hdr_v1 (block_status, num_pkts, offset_to_first_pkt, blk_len,
// seq_num, ts_first_pkt, ts_last_pkt). Each frame starts with
// tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len,
// tp_status, tp_mac, tp_net, then hv1 (tp_rxhash, tp_vlan_tci,
// tp_vlan_tpid) and padding.
const (
	v3BlockStatus  = 8
	v3BlockNumPkts = 12
	v3BlockFirst   = 16
	v3BlockTsFirst = 32 // ts_first_pkt.ts_sec: when the kernel opened the block
	v3BlockHdrLen  = 48

	v3FrameNext    = 0
	v3FrameSec     = 4
	v3FrameNsec    = 8
	v3FrameSnaplen = 12
	v3FrameLen     = 16
	v3FrameStatus  = 20
	v3FrameMac     = 24
	v3FrameVLANTCI = 32
	v3FrameTPID    = 36
	v3FrameHdrLen  = 48

	// Block and frame status bits.
	tpStatusKernel    = 0
	tpStatusUser      = 1
	tpStatusVLANValid = 0x10
	tpStatusTPIDValid = 0x40
)

// v3Frame is one frame of a TPACKET_V3 block. data aliases the block.
type v3Frame struct {
	data []byte
	// ts is the kernel's timestamp, Unix ns; wireLen the frame's length on
	// the wire (tp_len), at least len(data).
	ts      int64
	wireLen int
	// vlan is the 802.1Q tag the NIC or veth took out of the frame's
	// bytes (zero when none).
	vlan vlanTag
}

// v3Walker walks the frames of one retired TPACKET_V3 block. It trusts no
// offset: a header that points outside the block ends the walk instead of
// reading past it.
type v3Walker struct {
	b    []byte
	left int
	off  int
}

// reset starts a walk of block.
func (w *v3Walker) reset(block []byte) {
	w.b, w.left, w.off = block, 0, 0
	if len(block) < v3BlockHdrLen {
		return
	}
	w.left = int(binary.NativeEndian.Uint32(block[v3BlockNumPkts:]))
	w.off = int(binary.NativeEndian.Uint32(block[v3BlockFirst:]))
}

// next fills f with the next frame and reports whether there was one.
func (w *v3Walker) next(f *v3Frame) bool {
	if w.left <= 0 {
		return false
	}
	off := w.off
	if off < v3BlockHdrLen || off > len(w.b)-v3FrameHdrLen {
		w.left = 0
		return false
	}
	h := w.b[off : off+v3FrameHdrLen]
	start := off + int(binary.NativeEndian.Uint16(h[v3FrameMac:]))
	end := start + int(binary.NativeEndian.Uint32(h[v3FrameSnaplen:]))
	if start < off+v3FrameHdrLen || end > len(w.b) || end < start {
		w.left = 0
		return false
	}
	f.data = w.b[start:end:end]
	f.ts = int64(binary.NativeEndian.Uint32(h[v3FrameSec:]))*1e9 + int64(binary.NativeEndian.Uint32(h[v3FrameNsec:]))
	f.wireLen = int(binary.NativeEndian.Uint32(h[v3FrameLen:]))
	status := binary.NativeEndian.Uint32(h[v3FrameStatus:])
	f.vlan = vlanTag{}
	if status&tpStatusVLANValid != 0 {
		f.vlan = vlanTag{tpid: packet.EtherTypeVLAN, tci: uint16(binary.NativeEndian.Uint32(h[v3FrameVLANTCI:]))}
		if tpid := binary.NativeEndian.Uint16(h[v3FrameTPID:]); status&tpStatusTPIDValid != 0 && tpid != 0 {
			f.vlan.tpid = tpid
		}
	}
	w.left--
	next := int(binary.NativeEndian.Uint32(h[v3FrameNext:]))
	if next == 0 {
		w.left = 0
	}
	w.off = off + next
	return true
}
