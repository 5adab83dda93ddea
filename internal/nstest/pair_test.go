package nstest

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestPairAt(t *testing.T) {
	tests := []struct {
		n            int
		a, b, subnet string
	}{
		{0, "198.18.0.1", "198.18.0.2", "198.18.0.0/30"},
		{1, "198.18.0.5", "198.18.0.6", "198.18.0.4/30"},
		{64, "198.18.1.1", "198.18.1.2", "198.18.1.0/30"},
		{maxPairs - 1, "198.19.255.253", "198.19.255.254", "198.19.255.252/30"},
	}
	range15 := netip.MustParsePrefix("198.18.0.0/15")
	for _, tt := range tests {
		p := pairAt(tt.n, "x0", "y0")
		if p.AddrA.String() != tt.a || p.AddrB.String() != tt.b || p.Net.String() != tt.subnet {
			t.Errorf("pair %d: %v, want %s %s in %s", tt.n, p, tt.a, tt.b, tt.subnet)
		}
		if !range15.Contains(p.AddrA) || !range15.Contains(p.AddrB) {
			t.Errorf("pair %d: %v outside %v", tt.n, p, range15)
		}
	}
}

// Two pairs of a test get two subnets; the same pair made again (a device
// re-created) gets its addresses back.
func TestVethPair(t *testing.T) {
	a, b := New(t), New(t)
	p0 := VethPair(t, a, "x0", b, "y0")
	p1 := VethPair(t, a, "x1", b, "y1")
	if p0.Net == p1.Net {
		t.Fatalf("two pairs share %v", p0.Net)
	}
	if out := b.MustRun(t, "ip", "-4", "-o", "addr", "show", "dev", "y1"); !slices.Contains(strings.Fields(out), p1.CIDRB()) {
		t.Errorf("y1 lacks %s: %s", p1.CIDRB(), out)
	}
	if _, err := a.Exec("ping", "-c", "1", "-W", "5", p1.AddrB.String()); err != nil {
		t.Errorf("x1 cannot reach y1: %v", err)
	}
	a.MustRun(t, "ip", "link", "del", "dev", "x0")
	if again := VethPair(t, a, "x0", b, "y0"); again != p0 {
		t.Errorf("re-created pair %v, want %v", again, p0)
	}
}
