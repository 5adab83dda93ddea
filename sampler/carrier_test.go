package sampler

import "testing"

func TestParseCarrierChanges(t *testing.T) {
	hdr := make([]byte, ifInfoMsgLen) // struct ifinfomsg, its fields unused here
	attr := func(typ uint16, v ...byte) []byte {
		l := nlaHdrLen + len(v)
		b := append([]byte{byte(l), byte(l >> 8), byte(typ), byte(typ >> 8)}, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	name := attr(3, 'v', 'a', 0)          // IFLA_IFNAME
	carrier := attr(35, 0x07, 0x01, 0, 0) // IFLA_CARRIER_CHANGES 263, little-endian
	cases := []struct {
		name string
		m    []byte
		n    uint32
		ok   bool
	}{
		{"after another attribute", cat(hdr, name, carrier), 263, true},
		{"with NLA_F_NESTED set", cat(hdr, attr(35|0x8000, 2, 0, 0, 0)), 2, true},
		{"absent (kernel before 3.15)", cat(hdr, name), 0, false},
		{"short value", cat(hdr, attr(35, 1, 0)), 0, false},
		{"length past the end", cat(hdr, []byte{0x40, 0, 35, 0, 1, 0, 0, 0}), 0, false},
		{"shorter than ifinfomsg", hdr[:10], 0, false},
	}
	for _, c := range cases {
		if n, ok := parseCarrierChanges(c.m); n != c.n || ok != c.ok {
			t.Errorf("%s: %d %v, want %d %v", c.name, n, ok, c.n, c.ok)
		}
	}
}

func FuzzParseCarrierChanges(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, m []byte) { parseCarrierChanges(m) })
}
