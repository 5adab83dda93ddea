package prober

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ICMP message types the prober sends and understands.
const (
	icmp4EchoReply      = 0
	icmp4DestUnreach    = 3
	icmp4SourceQuench   = 4
	icmp4Echo           = 8
	icmp4TimeExceeded   = 11
	icmp4ParamProblem   = 12
	icmp6DestUnreach    = 1
	icmp6PacketTooBig   = 2
	icmp6TimeExceeded   = 3
	icmp6ParamProblem   = 4
	icmp6EchoRequest    = 128
	icmp6EchoReply      = 129
	icmpHeaderLen       = 8
	ipv4MinHeaderLen    = 20
	ipv6HeaderLen       = 40
	protoICMPv6         = 58
	protoICMP           = 1
	payloadHeaderLen    = 16
	maxPayload4         = 65535 - ipv4MinHeaderLen - icmpHeaderLen
	maxPayload6         = 65535 - icmpHeaderLen
	defaultPayload      = 56
	tokenLen            = 8
	payloadTargetOffset = tokenLen
)

// Errors of the reply parser. They are counted, never fatal.
var (
	// ErrTruncated is a packet too short for the headers it claims.
	ErrTruncated = errors.New("truncated ICMP packet")
	// ErrNotEcho is an ICMP message that is neither an echo reply nor an
	// error quoting an echo request.
	ErrNotEcho = errors.New("ICMP message is not an echo reply or an error about an echo request")
)

// Payload size limits: the payload holds the run token and target key
// (16 bytes) and must fit in one IP datagram.
const (
	// MinPayloadSize is the smallest payload the prober sends.
	MinPayloadSize = payloadHeaderLen
	// MaxPayloadSize4 is the largest IPv4 echo payload (65535 - 20 - 8).
	MaxPayloadSize4 = maxPayload4
	// MaxPayloadSize6 is the largest IPv6 echo payload without jumbograms.
	MaxPayloadSize6 = maxPayload6
)

// message is one parsed ICMP message: an echo reply, or an error whose
// quoted packet is one of our echo requests.
type message struct {
	// isError marks an ICMP error (destination unreachable, time exceeded,
	// ...); then id, seq and payload are those of the quoted request and
	// dst is its destination.
	isError bool
	typ     uint8
	code    uint8
	id      uint16
	seq     uint16
	// ttl is the reply's TTL or hop limit when the IP header was present
	// (raw IPv4), -1 otherwise.
	ttl int
	// dst is the quoted request's destination (errors only, when quoted).
	dst netip.Addr
	// payload is the echo payload (possibly truncated for errors).
	payload []byte
	// size is the ICMP message length (header and payload), as ping prints.
	size int
}

// marshalEcho writes an echo request into b (len(b) = 8 + payload size):
// header, then the run token, the target key and a fill pattern. The IPv4
// checksum is computed here; for IPv6 the kernel fills it in.
func marshalEcho(b []byte, v6 bool, id, seq uint16, token [tokenLen]byte, key uint32) {
	if v6 {
		b[0] = icmp6EchoRequest
	} else {
		b[0] = icmp4Echo
	}
	b[1] = 0
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	p := b[icmpHeaderLen:]
	copy(p, token[:])
	binary.BigEndian.PutUint32(p[payloadTargetOffset:], key)
	binary.BigEndian.PutUint32(p[payloadTargetOffset+4:], ^key)
	for i := payloadHeaderLen; i < len(p); i++ {
		p[i] = byte(i)
	}
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
}

// setSeq rewrites the sequence number of a marshalled echo request and
// fixes its IPv4 checksum incrementally, so the payload is built only once.
func setSeq(b []byte, v6 bool, seq uint16) {
	binary.BigEndian.PutUint16(b[6:], seq)
	if !v6 {
		b[2], b[3] = 0, 0
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	n := len(b) &^ 1
	for i := 0; i < n; i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)&1 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// payloadKey extracts the run token and target key of an echo payload.
// ok is false when the payload is too short or the key's check word is
// wrong (a foreign or corrupted payload).
func payloadKey(p []byte) (token [tokenLen]byte, key uint32, ok bool) {
	if len(p) < payloadHeaderLen {
		return token, 0, false
	}
	copy(token[:], p[:tokenLen])
	key = binary.BigEndian.Uint32(p[payloadTargetOffset:])
	if binary.BigEndian.Uint32(p[payloadTargetOffset+4:]) != ^key {
		return token, 0, false
	}
	return token, key, true
}

// parseMessage parses what a socket returned. withIPHeader is true for
// raw IPv4 sockets, which return the IP header too. It never panics on
// hostile input (see FuzzParseMessage).
func parseMessage(b []byte, v6, withIPHeader bool) (message, error) {
	m := message{ttl: -1}
	if withIPHeader && !v6 {
		if len(b) < ipv4MinHeaderLen {
			return m, fmt.Errorf("IPv4 header of %d bytes: %w", len(b), ErrTruncated)
		}
		ihl := int(b[0]&0x0f) * 4
		if b[0]>>4 != 4 || ihl < ipv4MinHeaderLen || len(b) < ihl {
			return m, fmt.Errorf("IPv4 header length %d of %d bytes: %w", ihl, len(b), ErrTruncated)
		}
		m.ttl = int(b[8])
		b = b[ihl:]
	}
	if len(b) < icmpHeaderLen {
		return m, fmt.Errorf("ICMP header of %d bytes: %w", len(b), ErrTruncated)
	}
	m.typ, m.code = b[0], b[1]
	m.size = len(b)
	switch {
	case !v6 && m.typ == icmp4EchoReply, v6 && m.typ == icmp6EchoReply:
		m.id = binary.BigEndian.Uint16(b[4:])
		m.seq = binary.BigEndian.Uint16(b[6:])
		m.payload = b[icmpHeaderLen:]
		return m, nil
	case !v6 && (m.typ == icmp4DestUnreach || m.typ == icmp4SourceQuench || m.typ == icmp4TimeExceeded || m.typ == icmp4ParamProblem),
		v6 && (m.typ == icmp6DestUnreach || m.typ == icmp6PacketTooBig || m.typ == icmp6TimeExceeded || m.typ == icmp6ParamProblem):
		m.isError = true
		return m, parseQuoted(&m, b[icmpHeaderLen:], v6)
	}
	return m, fmt.Errorf("ICMP type %d code %d: %w", m.typ, m.code, ErrNotEcho)
}

// parseQuoted parses the packet an ICMP error quotes: an IP header and at
// least the 8-byte header of our echo request.
func parseQuoted(m *message, q []byte, v6 bool) error {
	if v6 {
		if len(q) < ipv6HeaderLen {
			return fmt.Errorf("quoted IPv6 header of %d bytes: %w", len(q), ErrTruncated)
		}
		if q[0]>>4 != 6 || q[6] != protoICMPv6 {
			return fmt.Errorf("quoted packet is not ICMPv6: %w", ErrNotEcho)
		}
		m.dst, _ = netip.AddrFromSlice(q[24:40])
		q = q[ipv6HeaderLen:]
	} else {
		if len(q) < ipv4MinHeaderLen {
			return fmt.Errorf("quoted IPv4 header of %d bytes: %w", len(q), ErrTruncated)
		}
		ihl := int(q[0]&0x0f) * 4
		if q[0]>>4 != 4 || ihl < ipv4MinHeaderLen || len(q) < ihl {
			return fmt.Errorf("quoted IPv4 header length %d: %w", ihl, ErrTruncated)
		}
		if q[9] != protoICMP {
			return fmt.Errorf("quoted packet is not ICMP: %w", ErrNotEcho)
		}
		m.dst, _ = netip.AddrFromSlice(q[16:20])
		q = q[ihl:]
	}
	return parseQuotedEcho(m, q, v6)
}

// parseQuotedEcho parses a quoted echo request header and payload, as ICMP
// errors quote them and as datagram sockets return them from the error
// queue (without IP header).
func parseQuotedEcho(m *message, q []byte, v6 bool) error {
	if len(q) < icmpHeaderLen {
		return fmt.Errorf("quoted ICMP header of %d bytes: %w", len(q), ErrTruncated)
	}
	if (v6 && q[0] != icmp6EchoRequest) || (!v6 && q[0] != icmp4Echo) {
		return fmt.Errorf("quoted ICMP type %d: %w", q[0], ErrNotEcho)
	}
	m.id = binary.BigEndian.Uint16(q[4:])
	m.seq = binary.BigEndian.Uint16(q[6:])
	m.payload = q[icmpHeaderLen:]
	return nil
}
