package capture

import (
	"context"
	"errors"
	"time"

	"github.com/netburst/netburst/packet"
)

// kernelStatsEvery is how often a reader refreshes the kernel's counters.
const kernelStatsEvery = time.Second

// statsFlushEvery is how many frames a reader counts locally before
// publishing its counters: atomics per frame would cost more than the ring.
const statsFlushEvery = 64

// blockSource is a Source that also hands over the kernel's frames a
// TPACKET_V3 block at a time (the Linux packet socket does). The reader
// prefers it: one lock, one poll and one counter update per block instead
// of per frame.
type blockSource interface {
	// nextBlock returns the next block of frames (ErrTimeout when none came
	// within the poll timeout); it stays valid until releaseBlock.
	nextBlock() ([]byte, error)
	// releaseBlock hands the block back to the kernel.
	releaseBlock()
}

// reader is one device's reader state: counters published every
// statsFlushEvery frames, and the scratch Packet of the capture-time
// decoding.
type reader struct {
	d   *device
	pre int64

	packets, bytes, ringDropped, freezeDropped uint64

	lastStats              time.Time
	basePackets, baseDrops uint64

	p packet.Packet
}

func (rd *reader) flush() {
	d := rd.d
	d.packets.Add(rd.packets)
	d.bytes.Add(rd.bytes)
	d.ringDropped.Add(rd.ringDropped)
	d.freezeDropped.Add(rd.freezeDropped)
	rd.packets, rd.bytes, rd.ringDropped, rd.freezeDropped = 0, 0, 0, 0
}

// kernelStats refreshes the kernel's counters about once a second.
func (rd *reader) kernelStats() {
	if now := time.Now(); now.Sub(rd.lastStats) >= kernelStatsEvery {
		rd.lastStats = now
		if packets, drops, err := rd.d.Source.KernelStats(); err == nil && drops >= rd.baseDrops && packets >= rd.basePackets {
			rd.d.kernelPackets.Store(packets - rd.basePackets)
			rd.d.kernelDrops.Store(drops - rd.baseDrops)
		}
	}
}

// store ages the ring, then decodes the frame into a new slot. The caller
// holds d.mu.
func (rd *reader) store(ts int64, wireLen int, data []byte, tag vlanTag) {
	d := rd.d
	rd.packets++
	rd.bytes += uint64(wireLen)
	cutoff := ts - rd.pre
	if d.frozen && d.fromNs < cutoff {
		cutoff = d.fromNs // a spike window does not age out
	}
	r := d.ring
	r.expire(cutoff)
	if r.size == r.slots {
		rd.ringDropped++
		if d.frozen {
			if old := r.oldestTime(); old >= d.fromNs && old <= d.untilNs {
				rd.freezeDropped++
				d.windowDropped++
			}
		}
	}
	fillSlot(r.reserve(true), ts, wireLen, data, tag, d.decoder, &rd.p)
}

// readFailed counts a failed read and waits a little: the interface
// vanished or went down, and may come back.
func (rd *reader) readFailed(ctx context.Context) {
	rd.flush()
	rd.d.readErrors.Add(1)
	select {
	case <-ctx.Done():
	case <-time.After(100 * time.Millisecond):
	}
}

func (c *Capture) read(ctx context.Context, d *device) {
	rd := &reader{d: d, pre: int64(c.cfg.Pre), lastStats: time.Now()}
	// Drops before the reader runs are not the capture's: count from here
	// (OpenDevice's socket only binds on its first read; another Source
	// may have been receiving since it was opened).
	rd.basePackets, rd.baseDrops, _ = d.Source.KernelStats()
	defer rd.flush()
	if bs, ok := d.Source.(blockSource); ok {
		rd.readBlocks(ctx, bs)
		return
	}
	for n := 0; ; n++ {
		// ctx.Err takes a lock: look every 64 frames and on every timeout.
		if n&63 == 0 && ctx.Err() != nil {
			return
		}
		data, ci, err := d.Source.ZeroCopyReadPacketData()
		if n&1023 == 0 || err != nil {
			rd.kernelStats()
		}
		if errors.Is(err, ErrTimeout) {
			rd.flush()
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if err != nil {
			rd.readFailed(ctx)
			continue
		}
		d.mu.Lock()
		rd.store(ci.Timestamp.UnixNano(), ci.Length, data, vlanTag{})
		d.mu.Unlock()
		if rd.packets >= statsFlushEvery {
			rd.flush()
		}
	}
}

// readBlocks is read for a blockSource: per block, one wait, one lock and
// one counter update; per frame, only the ring and the decoder.
func (rd *reader) readBlocks(ctx context.Context, bs blockSource) {
	d := rd.d
	var (
		w v3Walker
		f v3Frame
	)
	for ctx.Err() == nil {
		block, err := bs.nextBlock()
		rd.kernelStats()
		if errors.Is(err, ErrTimeout) {
			continue
		}
		if err != nil {
			rd.readFailed(ctx)
			continue
		}
		w.reset(block)
		d.mu.Lock()
		for w.next(&f) {
			rd.store(f.ts, max(f.wireLen, len(f.data)), f.data, f.vlan)
		}
		d.mu.Unlock()
		bs.releaseBlock()
		rd.flush()
	}
}
