package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netburst/netburst/packet"
	"github.com/netburst/netburst/packet/packettest"
)

// testFrame is a frame to lay out in a synthetic TPACKET_V3 block.
type testFrame struct {
	ts      int64
	wireLen int
	data    []byte
	vlan    vlanTag
}

// v3MacOff is where the kernel puts a frame's bytes after its
// tpacket3_hdr (plus the sockaddr_ll it leaves room for), aligned.
const v3MacOff = 80

// buildBlock lays frames out as the kernel does in a TPACKET_V3 block of
// size bytes: block descriptor, then each frame's tpacket3_hdr at a 16-byte
// aligned offset, linked by tp_next_offset (0 for the last).
func buildBlock(t testing.TB, size int, frames []testFrame) []byte {
	t.Helper()
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[v3BlockStatus:], tpStatusUser)
	ne.PutUint32(b[v3BlockNumPkts:], uint32(len(frames)))
	ne.PutUint32(b[v3BlockFirst:], v3BlockHdrLen)
	off := v3BlockHdrLen
	for i, f := range frames {
		next := (v3MacOff + len(f.data) + 15) &^ 15
		if off+next > size {
			t.Fatalf("frame %d does not fit in a %d-byte block", i, size)
		}
		h := b[off:]
		if i < len(frames)-1 {
			ne.PutUint32(h[v3FrameNext:], uint32(next))
		}
		ne.PutUint32(h[v3FrameSec:], uint32(f.ts/1e9))
		ne.PutUint32(h[v3FrameNsec:], uint32(f.ts%1e9))
		ne.PutUint32(h[v3FrameSnaplen:], uint32(len(f.data)))
		ne.PutUint32(h[v3FrameLen:], uint32(f.wireLen))
		ne.PutUint16(h[v3FrameMac:], v3MacOff)
		if f.vlan.tpid != 0 {
			ne.PutUint32(h[v3FrameStatus:], tpStatusVLANValid|tpStatusTPIDValid)
			ne.PutUint32(h[v3FrameVLANTCI:], uint32(f.vlan.tci))
			ne.PutUint16(h[v3FrameTPID:], f.vlan.tpid)
		}
		copy(h[v3MacOff:], f.data)
		off += next
	}
	return b
}

func TestV3Walker(t *testing.T) {
	frames := []testFrame{
		{ts: 1_700_000_000_123_456_789, wireLen: 1500, data: udpFrame(t, 7000, 100)},
		{ts: 1_700_000_000_223_456_789, wireLen: 60, data: udpFrame(t, 53, 10), vlan: vlanTag{tpid: 0x88a8, tci: 0x2005}},
		{ts: 1_700_000_001_000_000_000, wireLen: 42, data: udpFrame(t, 1, 0)},
	}
	block := buildBlock(t, 4096, frames)
	var (
		w v3Walker
		f v3Frame
		n int
	)
	for w.reset(block); w.next(&f); n++ {
		want := frames[n]
		if f.ts != want.ts || f.wireLen != want.wireLen || string(f.data) != string(want.data) || f.vlan != want.vlan {
			t.Errorf("frame %d: ts %d wire %d %d bytes vlan %+v, want %d %d %d %+v",
				n, f.ts, f.wireLen, len(f.data), f.vlan, want.ts, want.wireLen, len(want.data), want.vlan)
		}
	}
	if n != len(frames) {
		t.Errorf("walked %d frames, want %d", n, len(frames))
	}
}

// TestV3WalkerHostile corrupts a block's offsets and lengths: the walk
// must stop inside the block, never panic or read past it.
func TestV3WalkerHostile(t *testing.T) {
	good := buildBlock(t, 1024, []testFrame{{ts: 1, wireLen: 60, data: udpFrame(t, 1, 10)}, {ts: 2, wireLen: 60, data: udpFrame(t, 2, 10)}})
	ne := binary.NativeEndian
	tests := []struct {
		name  string
		mod   func(b []byte)
		limit int
	}{
		{"short block", nil, 0},
		{"num_pkts beyond the frames", func(b []byte) { ne.PutUint32(b[v3BlockNumPkts:], 1000) }, 2},
		{"first frame past the end", func(b []byte) { ne.PutUint32(b[v3BlockFirst:], 1020) }, 0},
		{"first frame inside the descriptor", func(b []byte) { ne.PutUint32(b[v3BlockFirst:], 4) }, 0},
		{"snaplen past the end", func(b []byte) { ne.PutUint32(b[v3BlockHdrLen+v3FrameSnaplen:], 1<<31) }, 0},
		{"mac inside the header", func(b []byte) { ne.PutUint16(b[v3BlockHdrLen+v3FrameMac:], 4) }, 0},
		{"next offset past the end", func(b []byte) { ne.PutUint32(b[v3BlockHdrLen+v3FrameNext:], 1<<31-1) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			if tt.mod == nil {
				b = b[:20]
			} else {
				tt.mod(b)
			}
			var (
				w v3Walker
				f v3Frame
				n int
			)
			for w.reset(b); w.next(&f); n++ {
				if n > tt.limit {
					break
				}
			}
			if n != tt.limit {
				t.Errorf("walked %d frames, want %d", n, tt.limit)
			}
		})
	}
}

// FuzzV3Walker walks arbitrary bytes as a block: no panic, every frame
// inside the block.
func FuzzV3Walker(f *testing.F) {
	f.Add(buildBlock(f, 512, []testFrame{{ts: 1, wireLen: 60, data: make([]byte, 60)}, {ts: 2, wireLen: 60, data: make([]byte, 42)}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			w  v3Walker
			fr v3Frame
		)
		for w.reset(b); w.next(&fr); {
			if len(fr.data) > len(b) {
				t.Fatalf("frame of %d bytes in a block of %d", len(fr.data), len(b))
			}
		}
	})
}

// TestFillSlotVLAN checks that a tag the kernel took out is put back: the
// ring's bytes, the decoded record and the wire length are the frame's as
// it was on the wire.
func TestFillSlotVLAN(t *testing.T) {
	tagged := serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Priority: 1, Type: layers.EthernetTypeIPv4},
		ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 7000}, payload)
	untagged := append(append([]byte(nil), tagged[:12]...), tagged[16:]...)
	dec, _ := packet.NewDecoder(layers.LinkTypeEthernet)
	s := make([]byte, recordHeader+128)
	var p packet.Packet
	fillSlot(s, 7, len(untagged), untagged, vlanTag{tpid: 0x8100, tci: 0x2005}, dec, &p)
	if p.NumVLANs != 1 || p.VLANs[0] != 5 || !p.HasPorts || p.DstPort != 7000 {
		t.Errorf("decoded %+v", p)
	}
	data := readRecord(s, dec, &p)
	if string(data) != string(tagged) || p.WireLen != len(tagged) || p.CapLen != len(tagged) {
		t.Errorf("slot holds %x (wire %d), want %x", data, p.WireLen, tagged)
	}
	// A snap length that cuts the frame keeps the first bytes, tag included.
	s = make([]byte, recordHeader+20)
	fillSlot(s, 7, len(untagged), untagged, vlanTag{tpid: 0x8100, tci: 0x2005}, dec, &p)
	if data := readRecord(s, dec, &p); string(data) != string(tagged[:20]) || p.WireLen != len(tagged) {
		t.Errorf("cut slot holds %x (wire %d), want %x", data, p.WireLen, tagged[:20])
	}
}

// recordFields keeps the fields of a Packet that a ring record carries:
// what the spike summary reads.
func recordFields(p *packet.Packet) packet.Packet {
	r := packet.Packet{
		Time: p.Time, WireLen: p.WireLen, CapLen: p.CapLen, IPVersion: p.IPVersion, Src: p.Src, Dst: p.Dst,
		Protocol: p.Protocol, HasPorts: p.HasPorts, SrcPort: p.SrcPort, DstPort: p.DstPort, TCPFlags: p.TCPFlags,
		L3Offset: -1, L4Offset: -1,
	}
	if p.IPVersion == 0 && p.EtherType == packet.EtherTypeMACsec {
		r.EtherType = packet.EtherTypeMACsec // the one EtherType a record keeps
	}
	r.Tunnel, r.HasTunnelID, r.TunnelID = p.Tunnel, p.HasTunnelID, p.TunnelID
	r.Outer.Src, r.Outer.Dst = p.Outer.Src, p.Outer.Dst
	return r
}

// checkRecord stores frame in a slot as the reader does and requires the
// record read back to equal the decoder's Packet in every field a record
// carries.
func checkRecord(t testing.TB, dec *packet.Decoder, frame []byte, ts int64, wireLen, snaplen int) {
	t.Helper()
	s := make([]byte, recordHeader+snaplen)
	var scratch, got, want packet.Packet
	fillSlot(s, ts, wireLen, frame, vlanTag{}, dec, &scratch)
	data := readRecord(s, dec, &got)
	kept := frame[:min(len(frame), snaplen)]
	if string(data) != string(kept) {
		t.Fatalf("slot bytes %x, want %x", data, kept)
	}
	_ = dec.Decode(kept, gopacket.CaptureInfo{Timestamp: time.Unix(0, ts).UTC(), Length: max(wireLen, len(kept))}, &want)
	if recordFields(&got) != recordFields(&want) {
		t.Fatalf("record %+v\ndecoder %+v", recordFields(&got), recordFields(&want))
	}
}

// TestRecordMatchesDecoder: for the committed pcaps (every link type and
// header the decoder knows) and generated frames, the record the reader
// keeps says what the decoder says.
func TestRecordMatchesDecoder(t *testing.T) {
	n := 0
	paths, _ := filepath.Glob("../testdata/pcap/*.pcap*")
	if len(paths) == 0 {
		t.Fatal("no fixture pcaps in ../testdata/pcap")
	}
	for _, path := range paths {
		readRawFrames(t, path, func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
			dec, err := packet.NewDecoder(lt)
			if err != nil {
				return
			}
			checkRecord(t, dec, data, ci.Timestamp.UnixNano(), ci.Length, 128)
			checkRecord(t, dec, data, ci.Timestamp.UnixNano(), ci.Length, 40)
			n++
		})
	}
	dec, _ := packet.NewDecoder(layers.LinkTypeEthernet)
	for _, fr := range append(benchFrames(t), recordFrames(t)...) {
		for cut := 0; cut <= len(fr); cut++ {
			checkRecord(t, dec, fr[:cut], 1, 1500, 128)
			n++
		}
	}
	t.Logf("%d frames checked", n)
}

// readRawFrames calls fn with each frame of a pcap or pcapng file as it is
// stored, and its link type: the bytes a ring record is built from.
func readRawFrames(t *testing.T, path string, fn func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		t.Fatal(err)
	}
	var (
		src interface {
			ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		}
		fileLT layers.LinkType
	)
	if binary.LittleEndian.Uint32(magic) == 0x0A0D0D0A { // a pcapng section header
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatal(err)
		}
		src = ng
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			t.Fatal(err)
		}
		src, fileLT = pr, pr.LinkType()
	}
	for {
		data, ci, err := src.ZeroCopyReadPacketData()
		if err != nil {
			return
		}
		lt := fileLT
		if len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = l
			}
		}
		fn(data, ci, lt)
	}
}

// recordFrames are generated frames on both sides of the fast path's
// limits: fragments, options, extension headers, tags, ICMP, non-IP.
func recordFrames(t testing.TB) [][]byte {
	first := ip4(layers.IPProtocolUDP)
	first.Flags = layers.IPv4MoreFragments
	later := ip4(layers.IPProtocolUDP)
	later.FragOffset = 100
	opts := ip4(layers.IPProtocolTCP)
	opts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	return [][]byte{
		serialize(t, eth(layers.EthernetTypeIPv4), first, udp(), payload),
		serialize(t, eth(layers.EthernetTypeIPv4), later, payload),
		serialize(t, eth(layers.EthernetTypeIPv4), opts, tcp(), payload),
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 2}),
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolGRE), payload),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), tcp(), payload),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, payload),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), gopacket.Payload{17, 0, 1, 4, 0, 0, 0, 0}, udp(), payload),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), frag6(6, 0, true, 9), tcp()),
		serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolUDP), udp(), payload),
		serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: macA, SourceProtAddress: v4A, DstHwAddress: macB, DstProtAddress: v4B}),
		// an IPv4 header with the IPv6 version nibble, and the reverse
		append(serialize(t, eth(layers.EthernetTypeIPv4)), 0x65, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 0, 1, 0, 2, 0, 8, 0, 0),
		append(serialize(t, eth(layers.EthernetTypeIPv6)), make([]byte, 48)...),
		// MACsec, counted as such.
		serialize(t, eth(layers.EthernetType(0x88E5)), gopacket.Payload{0x2c, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}),
		// MPLS and PPPoE take the Decoder; so does a bogus total length.
		serialize(t, eth(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 5, StackBottom: true, TTL: 64}, ip4(layers.IPProtocolTCP), tcp(), payload),
		serialize(t, eth(layers.EthernetTypePPPoESession), gopacket.Payload{0x11, 0, 0, 1, 0, 0, 0, 0x57}, ip6(layers.IPProtocolUDP), udp(), payload),
		append(serialize(t, eth(layers.EthernetTypeIPv4)), 0x45, 0, 0, 12, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 0, 1, 0, 2, 0, 8, 0, 0),
		// Tunnels take the Decoder, and their records its tunnel fields.
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), packettest.OuterUDP(4789), packettest.VXLAN(100),
			eth(layers.EthernetTypeIPv4), packettest.InnerIP4(layers.IPProtocolTCP), packettest.InnerTCP(), payload),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), packettest.OuterUDP(6081), packettest.Geneve(0x0800, 5, 1),
			packettest.InnerIP4(layers.IPProtocolUDP), udp(), payload),
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolGRE), packettest.GRE(0x6558, false, 9, false),
			eth(layers.EthernetTypeIPv6), packettest.InnerIP6(layers.IPProtocolTCP), packettest.InnerTCP(), payload),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv4), packettest.InnerIP4(layers.IPProtocolTCP), packettest.InnerTCP(), payload),
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolIPv6), packettest.InnerIP6(layers.IPProtocolUDP), udp(), payload),
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 2152, DstPort: 2152}, packettest.GTPU(1, 44, false),
			packettest.InnerIP4(layers.IPProtocolUDP), udp(), payload),
	}
}

// linkTypeSLL2 is Linux cooked capture v2, which gopacket does not name.
const linkTypeSLL2 layers.LinkType = 276

// FuzzRecord: for any frame of any link type, the record equals the
// decoder's Packet in the fields it carries.
func FuzzRecord(f *testing.F) {
	for _, fr := range benchFrames(f) {
		f.Add(uint8(0), fr)
	}
	f.Add(uint8(3), serialize(f, ip6(layers.IPProtocolUDP), udp(), payload))
	for _, fr := range recordFrames(f) {
		f.Add(uint8(0), fr)
	}
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, linkTypeSLL2,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6}
	f.Fuzz(func(t *testing.T, li uint8, frame []byte) {
		dec, _ := packet.NewDecoder(links[int(li)%len(links)])
		checkRecord(t, dec, frame, 1_700_000_000_000_000_001, 9000, 128)
	})
}

// blockSourceFake replays prebuilt TPACKET_V3 blocks, moving their
// timestamps on by the replay's length each round, then cancels.
type blockSourceFake struct {
	blocks   [][]byte
	i, n     int
	span     int64
	cancel   context.CancelFunc
	released int
}

func (s *blockSourceFake) nextBlock() ([]byte, error) {
	if s.n == 0 {
		s.cancel()
		return nil, ErrTimeout
	}
	s.n--
	b := s.blocks[s.i]
	if s.i++; s.i == len(s.blocks) {
		s.i = 0
	}
	var w v3Walker
	for w.reset(b); w.off != 0 && w.left > 0; {
		// Shift each frame's time by one round: the ring ages as live.
		h := b[w.off:]
		sec := binary.NativeEndian.Uint32(h[v3FrameSec:])
		binary.NativeEndian.PutUint32(h[v3FrameSec:], sec+uint32(s.span/1e9))
		w.left--
		next := int(binary.NativeEndian.Uint32(h[v3FrameNext:]))
		if next == 0 {
			break
		}
		w.off += next
	}
	return b, nil
}

func (s *blockSourceFake) releaseBlock() { s.released++ }
func (s *blockSourceFake) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return nil, gopacket.CaptureInfo{}, ErrTimeout
}
func (s *blockSourceFake) KernelStats() (uint64, uint64, error) { return 0, 0, nil }
func (s *blockSourceFake) Close() error                         { return nil }

// benchBlocks builds blocks of 1 MiB with 64-byte UDP datagrams (106-byte
// frames, as the live benchmark sends) 7.5 us apart, covering 4 s so that
// the 2 s ring ages frames out as it would live.
func benchBlocks(t testing.TB) (blocks [][]byte, perBlock int, span int64) {
	frame := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 40000, DstPort: 5201}, make(gopacket.Payload, 64))
	const gap = 7500
	perBlock = (1<<20 - v3BlockHdrLen) / ((v3MacOff + len(frame) + 15) &^ 15)
	ts := time.Now().UnixNano()
	for span = 0; span < 4e9; span += int64(perBlock) * gap {
		fs := make([]testFrame, perBlock)
		for i := range fs {
			fs[i] = testFrame{ts: ts, wireLen: len(frame), data: frame}
			ts += gap
		}
		blocks = append(blocks, buildBlock(t, 1<<20, fs))
	}
	// Whole seconds, so that the replay only moves tp_sec.
	span = (span + 1e9 - 1) / 1e9 * 1e9
	return blocks, perBlock, span
}

// BenchmarkCaptureBlocks measures the live reader's per-frame work on
// TPACKET_V3 blocks as the kernel fills them, without a kernel: block walk,
// ring ageing, copy into the ring, capture-time decoding into the record,
// with the default 64 MiB ring and 2 s history. ns/op is per frame.
func BenchmarkCaptureBlocks(b *testing.B) {
	blocks, perBlock, span := benchBlocks(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &blockSourceFake{blocks: blocks, n: (b.N + perBlock - 1) / perBlock, span: span, cancel: cancel}
	c, err := New(Config{}, []Device{{Name: "bench", LinkType: layers.LinkTypeEthernet, Source: src}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	c.read(ctx, c.devices[0])
	b.StopTimer()
	st := c.Stats().Devices[0]
	if st.Packets != uint64(src.released*perBlock) || src.released == 0 {
		b.Fatalf("read %d frames in %d blocks, want %d per block", st.Packets, src.released, perBlock)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(st.Packets), "ns/frame")
}

// TestCaptureBlocks runs the block reader over synthetic blocks and checks
// the counters and the ring: every frame read, none dropped, the ring
// holding the last Pre of them, decoded.
func TestCaptureBlocks(t *testing.T) {
	frame := udpFrame(t, 7000, 20)
	var blocks [][]byte
	ts := int64(1_700_000_000_000_000_000)
	for b := 0; b < 4; b++ {
		fs := make([]testFrame, 10)
		for i := range fs {
			fs[i] = testFrame{ts: ts, wireLen: 1000, data: frame}
			ts += int64(10 * time.Millisecond)
		}
		blocks = append(blocks, buildBlock(t, 4096, fs))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &blockSourceFake{blocks: blocks, n: 4, cancel: cancel}
	c, err := New(Config{Pre: 195 * time.Millisecond}, []Device{{Name: "t", LinkType: layers.LinkTypeEthernet, Source: src}})
	if err != nil {
		t.Fatal(err)
	}
	c.read(ctx, c.devices[0])
	st := c.Stats().Devices[0]
	if st.Packets != 40 || st.Bytes != 40000 || st.RingDropped != 0 || src.released != 4 {
		t.Errorf("stats %+v, %d blocks released", st, src.released)
	}
	r := c.devices[0].ring
	// The newest frame is at 390 ms: 195 ms of history keeps 200..390 ms.
	if r.size != 20 {
		t.Errorf("ring holds %d frames, want 20", r.size)
	}
	var p packet.Packet
	readRecord(r.get(0), c.devices[0].decoder, &p)
	if p.Time.UnixNano() != 1_700_000_000_200_000_000 || p.DstPort != 7000 || !p.HasPorts || p.WireLen != 1000 {
		t.Errorf("oldest record %+v", p)
	}
}

// TestReaderStoreAllocs: storing a frame (ring ageing, copy, tag
// reinsertion, capture-time decoding on the fast path and the full
// decoder's) allocates nothing.
func TestReaderStoreAllocs(t *testing.T) {
	c, err := New(Config{Memory: 1 << 20}, []Device{{Name: "t", LinkType: layers.LinkTypeEthernet, Source: newFakeSource()}})
	if err != nil {
		t.Fatal(err)
	}
	rd := &reader{d: c.devices[0], pre: int64(time.Second)}
	frames := append(benchFrames(t), recordFrames(t)...)
	ts := time.Now().UnixNano()
	for i, fr := range frames {
		tag := vlanTag{}
		if i%2 == 1 {
			tag = vlanTag{tpid: packet.EtherTypeVLAN, tci: 7}
		}
		if n := testing.AllocsPerRun(100, func() {
			ts += 1000
			rd.store(ts, 1500, fr, tag)
		}); n != 0 {
			t.Errorf("frame %d: %v allocations per stored frame", i, n)
		}
	}
}
