package nstest

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

// pairBase is where VethPair's subnets start: RFC 2544's benchmarking
// range, 198.18.0.0/15, has room for 32,768 of its /30s.
var pairBase = netip.MustParseAddr("198.18.0.0")

const maxPairs = 1 << 15

// Pair is a veth pair made by VethPair, with an IPv4 address on each end.
type Pair struct {
	// A and B are the devices' names, A in the first namespace and B in
	// the second.
	A, B string
	// AddrA and AddrB are their addresses, the first and second host of Net.
	AddrA, AddrB netip.Addr
	// Net is the pair's /30.
	Net netip.Prefix
}

// CIDRA and CIDRB are the ends' addresses with Net's length, as "ip addr
// add" takes them.
func (p Pair) CIDRA() string { return netip.PrefixFrom(p.AddrA, p.Net.Bits()).String() }
func (p Pair) CIDRB() string { return netip.PrefixFrom(p.AddrB, p.Net.Bits()).String() }

// APort and BPort are "address:port" of an end, for net.Dial and flags.
func (p Pair) APort(port int) string { return netip.AddrPortFrom(p.AddrA, uint16(port)).String() }
func (p Pair) BPort(port int) string { return netip.AddrPortFrom(p.AddrB, uint16(port)).String() }

// plans numbers each test's pairs: test -> pair -> its /30's index.
var plans = struct {
	sync.Mutex
	m map[testing.TB]map[string]int
}{m: map[testing.TB]map[string]int{}}

// VethPair creates a veth pair as Veth does (aName in a, bName in b, both
// up) and gives each end an address. The n-th pair of a test (t, counted
// from 0) gets the n-th /30 of 198.18.0.0/15, A its first host and B its
// second: 198.18.0.1 and .2, then .5 and .6, and so on. So the addresses
// are the same on every run, no two pairs of one test share a subnet, and
// a pair created again between the same namespaces under the same names (a
// device deleted and re-created) gets its addresses back. A subtest numbers
// its own pairs from 0: it should join namespaces of its own. Both ends
// need a namespace the test made: these addresses stay inside test hosts.
func VethPair(t testing.TB, a *NS, aName string, b *NS, bName string) Pair {
	t.Helper()
	if a == nil || b == nil {
		t.Fatal("VethPair: both ends need a namespace made by New")
	}
	key := a.Name + "/" + aName + " " + b.Name + "/" + bName
	plans.Lock()
	plan, ok := plans.m[t]
	if !ok {
		plan = map[string]int{}
		plans.m[t] = plan
		t.Cleanup(func() {
			plans.Lock()
			delete(plans.m, t)
			plans.Unlock()
		})
	}
	n, ok := plan[key]
	if !ok {
		n = len(plan)
		plan[key] = n
	}
	plans.Unlock()
	if n >= maxPairs {
		t.Fatalf("VethPair: more than %d pairs in one test", maxPairs)
	}
	p := pairAt(n, aName, bName)
	Veth(t, a, aName, b, bName)
	a.MustRun(t, "ip", "addr", "add", p.CIDRA(), "dev", aName)
	b.MustRun(t, "ip", "addr", "add", p.CIDRB(), "dev", bName)
	return p
}

// pairAt returns the addresses of the n-th pair.
func pairAt(n int, aName, bName string) Pair {
	base := pairBase.As4()
	off := uint32(n) * 4
	base[1] += byte(off >> 16)
	base[2] += byte(off >> 8)
	base[3] += byte(off)
	netAddr := netip.AddrFrom4(base)
	p := Pair{A: aName, B: bName, Net: netip.PrefixFrom(netAddr, 30)}
	p.AddrA = netAddr.Next()
	p.AddrB = p.AddrA.Next()
	return p
}

func (p Pair) String() string {
	return fmt.Sprintf("%s %s - %s %s", p.A, p.CIDRA(), p.B, p.CIDRB())
}
