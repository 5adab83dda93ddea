package capture

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/netburst/netburst/packet"
)

// ErrFilter is wrapped by every error of ParseFilter and Filter.Program.
var ErrFilter = errors.New("capture filter")

// Filter is a parsed capture filter expression (docs/capture.md): a small
// subset of tcpdump's language that compiles to a classic BPF program the
// kernel runs before a frame reaches the ring.
//
//	expr      = term { "or" term }
//	term      = factor { "and" factor }
//	factor    = "not" factor | "(" expr ")" | primitive
//	primitive = "ip" | "ip6" | "tcp" | "udp" | "icmp" | "icmp6"
//	          | [ "src" | "dst" ] "host" ADDRESS
//	          | [ "src" | "dst" ] "net" PREFIX
//	          | [ "src" | "dst" ] "port" NUMBER
//
// Frames are Ethernet without VLAN tags in the bytes (a tag that VLAN
// offload or the receiving kernel took out is not seen by the filter). Ports
// match TCP and UDP in IPv4 (first fragments and unfragmented datagrams) and
// in IPv6 without extension headers.
type Filter struct {
	expr string
	root *fnode
}

// String returns the expression as given.
func (f *Filter) String() string { return f.expr }

// fnode is a node of the filter's syntax tree: an and, or, not, or an
// atomic test of one field of the frame.
type fnode struct {
	op   byte // '&', '|', '!', 't' (test), '1' (always)
	a, b *fnode
	test ftest
}

// ftest is "the field at off of size bytes (after the IPv4 header length
// for indirect tests), ANDed with mask unless it is 0, equals val".
type ftest struct {
	off      uint32
	size     int
	mask     uint32
	val      uint32
	indirect bool // off is relative to the IPv4 header's end (LoadMemShift)
}

// Frame offsets of untagged Ethernet frames.
const (
	offEtherType = 12
	offIP        = 14
	offIPv4Proto = offIP + 9
	offIPv4Frag  = offIP + 6
	offIPv4Src   = offIP + 12
	offIPv4Dst   = offIP + 16
	offIPv6Next  = offIP + 6
	offIPv6Src   = offIP + 8
	offIPv6Dst   = offIP + 24
	offIPv6L4    = offIP + 40
)

// match, both, either and negate build the syntax tree.
func match(off uint32, size int, mask, val uint32) *fnode {
	return &fnode{op: 't', test: ftest{off: off, size: size, mask: mask, val: val}}
}
func both(a, b *fnode) *fnode   { return &fnode{op: '&', a: a, b: b} }
func either(a, b *fnode) *fnode { return &fnode{op: '|', a: a, b: b} }
func negate(a *fnode) *fnode    { return &fnode{op: '!', a: a} }

func isIPv4() *fnode { return match(offEtherType, 2, 0, packet.EtherTypeIPv4) }
func isIPv6() *fnode { return match(offEtherType, 2, 0, packet.EtherTypeIPv6) }

func proto4(p uint32) *fnode { return both(isIPv4(), match(offIPv4Proto, 1, 0, p)) }
func proto6(p uint32) *fnode { return both(isIPv6(), match(offIPv6Next, 1, 0, p)) }

// ParseFilter parses a filter expression (see Filter). The empty expression
// is an error: no filter is the absence of one.
func ParseFilter(expr string) (*Filter, error) {
	p := &fparser{toks: strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(expr))}
	if len(p.toks) == 0 {
		return nil, fmt.Errorf("%w: empty expression", ErrFilter)
	}
	root, err := p.expr()
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrFilter, expr, err)
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("%w %q: unexpected %q", ErrFilter, expr, p.toks[p.i])
	}
	return &Filter{expr: expr, root: root}, nil
}

type fparser struct {
	toks  []string
	i     int
	depth int
}

func (p *fparser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *fparser) next() string {
	t := p.peek()
	if t != "" {
		p.i++
	}
	return t
}

// maxFilterDepth bounds nesting, so that a hostile expression cannot
// exhaust the stack.
const maxFilterDepth = 32

func (p *fparser) expr() (*fnode, error) {
	if p.depth++; p.depth > maxFilterDepth {
		return nil, errors.New("nested too deep")
	}
	defer func() { p.depth-- }()
	n, err := p.term()
	for err == nil && p.peek() == "or" {
		p.next()
		var b *fnode
		if b, err = p.term(); err == nil {
			n = either(n, b)
		}
	}
	return n, err
}

func (p *fparser) term() (*fnode, error) {
	n, err := p.factor()
	for err == nil && p.peek() == "and" {
		p.next()
		var b *fnode
		if b, err = p.factor(); err == nil {
			n = both(n, b)
		}
	}
	return n, err
}

func (p *fparser) factor() (*fnode, error) {
	switch t := p.next(); t {
	case "not":
		if p.depth++; p.depth > maxFilterDepth {
			return nil, errors.New("nested too deep")
		}
		defer func() { p.depth-- }()
		n, err := p.factor()
		if err != nil {
			return nil, err
		}
		return negate(n), nil
	case "(":
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, errors.New("missing )")
		}
		return n, nil
	case "":
		return nil, errors.New("unexpected end")
	default:
		return p.primitive(t)
	}
}

func (p *fparser) primitive(t string) (*fnode, error) {
	switch t {
	case "ip":
		return isIPv4(), nil
	case "ip6":
		return isIPv6(), nil
	case "tcp":
		return either(proto4(6), proto6(6)), nil
	case "udp":
		return either(proto4(17), proto6(17)), nil
	case "icmp":
		return proto4(1), nil
	case "icmp6":
		return proto6(58), nil
	}
	dir := ""
	if t == "src" || t == "dst" {
		dir, t = t, p.next()
	}
	arg := p.next()
	if arg == "" || arg == "(" || arg == ")" {
		return nil, fmt.Errorf("%s needs an argument", strings.TrimSpace(dir+" "+t))
	}
	switch t {
	case "host":
		a, err := netip.ParseAddr(arg)
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", arg, err)
		}
		return addrMatch(dir, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())), nil
	case "net":
		pfx, err := netip.ParsePrefix(arg)
		if err != nil {
			return nil, fmt.Errorf("net %q: %w", arg, err)
		}
		if pfx.Addr().Is4In6() {
			return nil, fmt.Errorf("net %q: an IPv4-mapped prefix matches no frame", arg)
		}
		return addrMatch(dir, pfx.Masked()), nil
	case "port":
		n, err := strconv.ParseUint(arg, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: not a number 0..65535", arg)
		}
		return portMatch(dir, uint32(n)), nil
	}
	if dir != "" {
		return nil, fmt.Errorf("%s %s: want host, net or port after %s", dir, t, dir)
	}
	return nil, fmt.Errorf("unknown primitive %q", t)
}

// addrMatch matches the source, destination or either address against pfx.
func addrMatch(dir string, pfx netip.Prefix) *fnode {
	side := func(off4, off6 uint32) *fnode {
		if pfx.Addr().Is4() {
			return prefixTest(off4, pfx)
		}
		return prefixTest(off6, pfx)
	}
	var n *fnode
	switch dir {
	case "src":
		n = side(offIPv4Src, offIPv6Src)
	case "dst":
		n = side(offIPv4Dst, offIPv6Dst)
	default:
		n = either(side(offIPv4Src, offIPv6Src), side(offIPv4Dst, offIPv6Dst))
	}
	if pfx.Addr().Is4() {
		return both(isIPv4(), n)
	}
	return both(isIPv6(), n)
}

// prefixTest compares the address at off with pfx, one 32-bit word at a time
// (words beyond the prefix are not compared; a /0 prefix always holds).
func prefixTest(off uint32, pfx netip.Prefix) *fnode {
	b := pfx.Addr().AsSlice()
	n := &fnode{op: '1'}
	for w := 0; w*32 < pfx.Bits(); w++ {
		word := uint32(b[4*w])<<24 | uint32(b[4*w+1])<<16 | uint32(b[4*w+2])<<8 | uint32(b[4*w+3])
		var mask uint32 // 0: the whole word
		if rest := pfx.Bits() - 32*w; rest < 32 {
			mask = ^uint32(0) << (32 - rest)
			word &= mask
		}
		t := match(off+uint32(4*w), 4, mask, word)
		if w == 0 {
			n = t
		} else {
			n = both(n, t)
		}
	}
	return n
}

// portMatch matches the source, destination or either TCP/UDP port.
func portMatch(dir string, port uint32) *fnode {
	ports := func(l4 func(off uint32) *fnode) *fnode {
		switch dir {
		case "src":
			return l4(0)
		case "dst":
			return l4(2)
		}
		return either(l4(0), l4(2))
	}
	v4 := both(both(either(proto4(6), proto4(17)), match(offIPv4Frag, 2, 0x1fff, 0)),
		ports(func(off uint32) *fnode {
			return &fnode{op: 't', test: ftest{off: offIP + off, size: 2, val: port, indirect: true}}
		}))
	v6 := both(either(proto6(6), proto6(17)), ports(func(off uint32) *fnode { return match(offIPv6L4+off, 2, 0, port) }))
	return either(v4, v6)
}

// Program compiles the filter for a device of link type lt: the program
// returns snaplen for a frame that matches (and, with ipOnly, is IP) and 0
// for the others. Only Ethernet devices take a filter.
func (f *Filter) Program(lt layers.LinkType, snaplen int, ipOnly bool) ([]bpf.RawInstruction, error) {
	if lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%w %q: only Ethernet devices can be filtered, not link type %s", ErrFilter, f.expr, lt)
	}
	if snaplen <= 0 || snaplen > 262144 {
		return nil, fmt.Errorf("%w: snap length %d out of 1..262144", ErrFilter, snaplen)
	}
	root := f.root
	if ipOnly {
		root = both(either(isIPv4(), isIPv6()), root)
	}
	var a bpfAsm
	accept, reject := a.label(), a.label()
	genFilter(&a, root, accept, reject)
	a.place(accept)
	a.op(bpf.RetConstant{Val: uint32(snaplen)})
	a.place(reject)
	a.op(bpf.RetConstant{Val: 0})
	prog, err := a.program()
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrFilter, f.expr, err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("%w %q: assemble: %w", ErrFilter, f.expr, err)
	}
	return raw, nil
}

// genFilter emits code that jumps to t when n holds and to f when not.
func genFilter(a *bpfAsm, n *fnode, t, f int) {
	switch n.op {
	case '&':
		mid := a.label()
		genFilter(a, n.a, mid, f)
		a.place(mid)
		genFilter(a, n.b, t, f)
	case '|':
		mid := a.label()
		genFilter(a, n.a, t, mid)
		a.place(mid)
		genFilter(a, n.b, t, f)
	case '!':
		genFilter(a, n.a, f, t)
	case '1':
		a.jump(t)
	case 't':
		ts := n.test
		if ts.indirect {
			a.op(bpf.LoadMemShift{Off: offIP})
			a.op(bpf.LoadIndirect{Off: ts.off, Size: ts.size})
		} else {
			a.op(bpf.LoadAbsolute{Off: ts.off, Size: ts.size})
		}
		if ts.mask != 0 {
			a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: ts.mask})
		}
		a.jumpIf(bpf.JumpEqual, ts.val, t, f)
	}
}
