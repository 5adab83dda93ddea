package sampler

import (
	"encoding/binary"
	"errors"
	"testing"
)

// nla builds one netlink attribute, padded to 4 bytes.
func nla(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u64s(vs ...uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint64(b[i*8:], v)
	}
	return b
}

func u32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint32(b[i*4:], v)
	}
	return b
}

// statsMsg is struct if_stats_msg for ifindex followed by attributes.
func statsMsg(ifindex uint32, attrs ...[]byte) []byte {
	b := make([]byte, 12)
	binary.NativeEndian.PutUint32(b[4:8], ifindex)
	binary.NativeEndian.PutUint32(b[8:12], 1)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// A struct rtnl_link_stats64 as a 6.x kernel sends it: 25 counters.
var linkStats64 = u64s(
	10, 20, // rx_packets, tx_packets
	1500, 2500, // rx_bytes, tx_bytes
	1, 2, // rx_errors, tx_errors
	3, 4, // rx_dropped, tx_dropped
	5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
)

func TestParseStatsMessage(t *testing.T) {
	tests := []struct {
		name    string
		msg     []byte
		want    Stat
		ok      bool
		wantErr bool
	}{
		{"64-bit link stats", statsMsg(7, nla(iflaStatsLink64, linkStats64)),
			Stat{Index: 7, Counters: Counters{RxPackets: 10, TxPackets: 20, RxBytes: 1500, TxBytes: 2500, RxErrors: 1, TxErrors: 2, RxDrops: 3, TxDrops: 4}}, true, false},
		{"older kernel's 23 counters", statsMsg(8, nla(iflaStatsLink64, linkStats64[:23*8])),
			Stat{Index: 8, Counters: Counters{RxPackets: 10, TxPackets: 20, RxBytes: 1500, TxBytes: 2500, RxErrors: 1, TxErrors: 2, RxDrops: 3, TxDrops: 4}}, true, false},
		{"other attributes around it", statsMsg(9, nla(5, []byte{1, 2, 3}), nla(iflaStatsLink64|0x8000, linkStats64), nla(6, nil)),
			Stat{Index: 9, Counters: Counters{RxPackets: 10, TxPackets: 20, RxBytes: 1500, TxBytes: 2500, RxErrors: 1, TxErrors: 2, RxDrops: 3, TxDrops: 4}}, true, false},
		{"no link stats", statsMsg(3, nla(5, []byte{1})), Stat{Index: 3}, false, false},
		{"short header", []byte{0, 0, 0}, Stat{}, false, true},
		{"truncated stats", statsMsg(4, nla(iflaStatsLink64, linkStats64[:40])), Stat{Index: 4}, false, true},
		{"attribute longer than message", append(statsMsg(5), 0xff, 0, 1, 0), Stat{Index: 5}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := parseStatsMessage(tt.msg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got != tt.want || ok != tt.ok {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// tcMsg is struct tcmsg followed by attributes.
func tcMsg(ifindex int32, handle, parent uint32, attrs ...[]byte) []byte {
	b := make([]byte, 20)
	binary.NativeEndian.PutUint32(b[4:8], uint32(ifindex))
	binary.NativeEndian.PutUint32(b[8:12], handle)
	binary.NativeEndian.PutUint32(b[12:16], parent)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func TestParseQdiscMessage(t *testing.T) {
	// TCA_STATS2 nests TCA_STATS_BASIC (bytes, packets) and
	// TCA_STATS_QUEUE (qlen, backlog, drops, requeues, overlimits).
	stats2 := append(nla(1, append(u64s(123456), u32s(789, 0)...)), nla(tcaStatsQueue, u32s(3, 4500, 17, 2, 99))...)
	kinds := kindTable{}
	q, err := parseQdiscMessage(tcMsg(5, 0x80010000, 0xffffffff, nla(tcaKind, []byte("tbf\x00")), nla(2, []byte{0, 0, 0, 0}), nla(tcaStats2|0x8000, stats2)), kinds)
	if err != nil {
		t.Fatal(err)
	}
	want := QdiscStat{Index: 5, Handle: 0x80010000, Parent: 0xffffffff, Kind: "tbf", Qlen: 3, Backlog: 4500, Drops: 17, Requeues: 2, Overlimits: 99}
	if q != want {
		t.Errorf("got %+v\nwant %+v", q, want)
	}
	if _, err := parseQdiscMessage(tcMsg(5, 0, 0, nla(tcaStats2, nla(tcaStatsQueue, u32s(1, 2)))), kinds); err == nil {
		t.Error("short TCA_STATS_QUEUE accepted")
	}
	if _, err := parseQdiscMessage(make([]byte, 10), kinds); err == nil {
		t.Error("short tcmsg accepted")
	}
	// Kinds are interned: a steady-state dump allocates no strings.
	msg := tcMsg(5, 0, 0, nla(tcaKind, []byte("tbf\x00")), nla(tcaStats2, stats2))
	if a := testing.AllocsPerRun(100, func() { _, _ = parseQdiscMessage(msg, kinds) }); a != 0 {
		t.Errorf("parseQdiscMessage allocates %v times per message", a)
	}
}

func TestWalkMessages(t *testing.T) {
	hdr := func(typ, flags uint16, seq uint32, payload []byte) []byte {
		b := make([]byte, 16, 16+len(payload))
		binary.NativeEndian.PutUint32(b[0:4], uint32(16+len(payload)))
		binary.NativeEndian.PutUint16(b[4:6], typ)
		binary.NativeEndian.PutUint16(b[6:8], flags)
		binary.NativeEndian.PutUint32(b[8:12], seq)
		return append(b, payload...)
	}
	const newStats, done, nlErr = 0x5c, 3, 2
	var got []int
	collect := func(p []byte) error { got = append(got, int(p[0])); return nil }
	// A stale message of an earlier dump, two of ours, then done.
	buf := append(append(append(hdr(newStats, 0, 6, []byte{9, 0, 0, 0}), hdr(newStats, 0, 7, []byte{1, 0, 0, 0})...), hdr(newStats, 0, 7, []byte{2, 0, 0, 0})...), hdr(done, 0, 7, []byte{0, 0, 0, 0})...)
	fin, intr, err := walkMessages(buf, 7, newStats, collect)
	if err != nil || !fin || intr || len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("walk = done %v interrupted %v err %v payloads %v", fin, intr, err, got)
	}
	// NLM_F_DUMP_INTR is reported.
	_, intr, _ = walkMessages(hdr(newStats, 0x10, 1, []byte{1, 0, 0, 0}), 1, newStats, collect)
	if !intr {
		t.Error("interrupted dump not reported")
	}
	// EOPNOTSUPP from the kernel means: use /proc/net/dev.
	_, _, err = walkMessages(hdr(nlErr, 0, 1, u32s(uint32(0x100000000-95))), 1, newStats, collect)
	if err == nil || !isUnsupported(err) {
		t.Errorf("EOPNOTSUPP: err = %v, want ErrUnsupported", err)
	}
	// A length past the buffer is an error, not a panic.
	bad := hdr(newStats, 0, 1, []byte{1, 0, 0, 0})
	binary.NativeEndian.PutUint32(bad[0:4], 1000)
	if _, _, err := walkMessages(bad, 1, newStats, collect); err == nil {
		t.Error("overlong message accepted")
	}
}

func FuzzParseStatsMessage(f *testing.F) {
	f.Add(statsMsg(7, nla(iflaStatsLink64, linkStats64)))
	f.Add(statsMsg(1, nla(5, []byte{1}), nla(iflaStatsLink64, linkStats64[:64])))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, ok, err := parseStatsMessage(b)
		if err == nil && ok && len(b) < ifStatsHdrLen+nlaHdrLen+linkStats64MinLen {
			t.Errorf("parsed %+v from %d bytes", s, len(b))
		}
	})
}

func FuzzParseQdiscMessage(f *testing.F) {
	f.Add(tcMsg(5, 1, 2, nla(tcaKind, []byte("tbf\x00")), nla(tcaStats2, nla(tcaStatsQueue, u32s(1, 2, 3, 4, 5)))))
	f.Add(make([]byte, 20))
	kinds := kindTable{}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseQdiscMessage(b, kinds)
		if len(kinds) > 256 {
			t.Fatalf("kind table grew to %d", len(kinds))
		}
	})
}

func isUnsupported(err error) bool { return errors.Is(err, ErrUnsupported) }
