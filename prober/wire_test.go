package prober

import (
	"errors"
	"net/netip"
	"testing"
)

func echoReply(v6 bool, id, seq uint16, size int) []byte {
	var tok [tokenLen]byte
	copy(tok[:], "tokentok")
	b := make([]byte, icmpHeaderLen+size)
	marshalEcho(b, v6, id, seq, tok, 7)
	if v6 {
		b[0] = icmp6EchoReply
	} else {
		b[0] = icmp4EchoReply
	}
	return b
}

func ipv4Header(proto byte, dst [4]byte) []byte {
	h := make([]byte, 20)
	h[0], h[8], h[9] = 0x45, 61, proto
	copy(h[16:], dst[:])
	return h
}

func TestParseMessage(t *testing.T) {
	req4 := make([]byte, icmpHeaderLen+56)
	var tok [tokenLen]byte
	marshalEcho(req4, false, 9, 3, tok, 1)
	req6 := make([]byte, icmpHeaderLen+56)
	marshalEcho(req6, true, 9, 3, tok, 1)
	v6hdr := make([]byte, 40)
	v6hdr[0], v6hdr[6] = 0x60, protoICMPv6
	copy(v6hdr[24:], netip.MustParseAddr("2001:2::2").AsSlice())
	for _, tc := range []struct {
		name     string
		b        []byte
		v6, ipHd bool
		err      error
		check    func(t *testing.T, m message)
	}{
		{"v4 reply", echoReply(false, 9, 3, 56), false, false, nil, func(t *testing.T, m message) {
			if m.id != 9 || m.seq != 3 || len(m.payload) != 56 || m.size != 64 || m.isError {
				t.Errorf("%+v", m)
			}
		}},
		{"v4 reply with IP header", append(ipv4Header(1, [4]byte{198, 18, 0, 1}), echoReply(false, 9, 4, 56)...), false, true, nil, func(t *testing.T, m message) {
			if m.seq != 4 || m.ttl != 61 {
				t.Errorf("%+v", m)
			}
		}},
		{"v6 reply", echoReply(true, 9, 5, 100), true, false, nil, func(t *testing.T, m message) {
			if m.seq != 5 || len(m.payload) != 100 {
				t.Errorf("%+v", m)
			}
		}},
		{"v4 unreachable", append(append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, ipv4Header(1, [4]byte{198, 18, 0, 2})...), req4...), false, false, nil, func(t *testing.T, m message) {
			if !m.isError || m.typ != 3 || m.code != 1 || m.seq != 3 || m.id != 9 || m.dst != netip.MustParseAddr("198.18.0.2") {
				t.Errorf("%+v", m)
			}
		}},
		{"v6 unreachable", append(append([]byte{1, 3, 0, 0, 0, 0, 0, 0}, v6hdr...), req6...), true, false, nil, func(t *testing.T, m message) {
			if !m.isError || m.seq != 3 || m.dst != netip.MustParseAddr("2001:2::2") {
				t.Errorf("%+v", m)
			}
		}},
		{"v4 unreachable quoting 8 bytes", append(append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, ipv4Header(1, [4]byte{198, 18, 0, 2})...), req4[:8]...), false, false, nil, func(t *testing.T, m message) {
			if !m.isError || m.seq != 3 || len(m.payload) != 0 {
				t.Errorf("%+v", m)
			}
		}},
		{"unreachable quoting UDP", append(append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, ipv4Header(17, [4]byte{198, 18, 0, 2})...), req4[:8]...), false, false, ErrNotEcho, nil},
		{"unreachable quoting a reply", append(append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, ipv4Header(1, [4]byte{198, 18, 0, 2})...), echoReply(false, 1, 1, 16)...), false, false, ErrNotEcho, nil},
		{"echo request", req4, false, false, ErrNotEcho, nil},
		{"v6 type on v4", echoReply(true, 1, 1, 16), false, false, ErrNotEcho, nil},
		{"short header", []byte{0, 0, 0}, false, false, ErrTruncated, nil},
		{"empty", nil, true, false, ErrTruncated, nil},
		{"short IP header", []byte{0x45, 0, 0}, false, true, ErrTruncated, nil},
		{"bad IHL", append([]byte{0x4f}, make([]byte, 30)...), false, true, ErrTruncated, nil},
		{"IPv6 version in v4 header", append([]byte{0x65}, make([]byte, 30)...), false, true, ErrTruncated, nil},
		{"quoted header truncated", []byte{3, 1, 0, 0, 0, 0, 0, 0, 0x45, 0}, false, false, ErrTruncated, nil},
		{"quoted v6 truncated", append([]byte{1, 3, 0, 0, 0, 0, 0, 0}, v6hdr[:20]...), true, false, ErrTruncated, nil},
		{"quoted echo truncated", append(append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, ipv4Header(1, [4]byte{198, 18, 0, 2})...), req4[:5]...), false, false, ErrTruncated, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMessage(tc.b, tc.v6, tc.ipHd)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}

func TestPayloadKey(t *testing.T) {
	b := echoReply(false, 1, 2, 16)
	tok, key, ok := payloadKey(b[icmpHeaderLen:])
	if !ok || key != 7 || string(tok[:]) != "tokentok" {
		t.Fatalf("payloadKey = %q %d %v", tok, key, ok)
	}
	b[icmpHeaderLen+13] ^= 1
	if _, _, ok := payloadKey(b[icmpHeaderLen:]); ok {
		t.Fatal("corrupt check word accepted")
	}
	if _, _, ok := payloadKey(b[icmpHeaderLen : icmpHeaderLen+15]); ok {
		t.Fatal("15-byte payload accepted")
	}
}

func TestChecksum(t *testing.T) {
	b := make([]byte, icmpHeaderLen+57)
	var tok [tokenLen]byte
	marshalEcho(b, false, 0x1234, 1, tok, 99)
	if checksum(b) != 0 {
		t.Fatalf("checksum over a marshalled request is %#x, want 0", checksum(b))
	}
	setSeq(b, false, 0xfffe)
	if checksum(b) != 0 {
		t.Fatalf("checksum after setSeq is %#x, want 0", checksum(b))
	}
}

// FuzzParseMessage feeds hostile packets to the reply parser: it must
// never panic, and what it accepts must be consistent.
func FuzzParseMessage(f *testing.F) {
	var tok [tokenLen]byte
	req := make([]byte, icmpHeaderLen+16)
	marshalEcho(req, false, 1, 1, tok, 1)
	f.Add(echoReply(false, 1, 1, 56), false, false)
	f.Add(echoReply(true, 1, 1, 56), true, false)
	f.Add(append(ipv4Header(1, [4]byte{198, 18, 0, 1}), echoReply(false, 1, 1, 16)...), false, true)
	f.Add(append(append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, ipv4Header(1, [4]byte{198, 18, 0, 2})...), req...), false, false)
	f.Add([]byte{1, 3, 0, 0, 0, 0, 0, 0, 0x60}, true, false)
	f.Add([]byte{}, false, true)
	f.Fuzz(func(t *testing.T, b []byte, v6, ipHdr bool) {
		m, err := parseMessage(b, v6, ipHdr)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrNotEcho) {
				t.Fatalf("error %v is neither ErrTruncated nor ErrNotEcho", err)
			}
			return
		}
		if m.size > len(b) || len(m.payload) > len(b) {
			t.Fatalf("message larger than its packet: %+v", m)
		}
		if m.isError && len(m.payload) >= payloadHeaderLen {
			payloadKey(m.payload)
		}
		var q message
		_ = parseQuotedEcho(&q, b, v6)
	})
}
