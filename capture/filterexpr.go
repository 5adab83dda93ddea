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
//	          | "vlan" [ VLANID ]
//	          | [ "src" | "dst" ] "host" ADDRESS
//	          | [ "src" | "dst" ] "net" PREFIX
//	          | [ "tcp" | "udp" ] [ "src" | "dst" ] "port" NUMBER
//
// As in libpcap, "vlan" matches a frame whose EtherType is 0x8100, 0x88A8 or
// 0x9100 (or, for the first "vlan", whose outer tag the kernel took out of
// the bytes: SKF_AD_VLAN_TAG_PRESENT), and every primitive written after the
// n-th "vlan" reads the frame 4n bytes further on, whatever the grouping
// (lexical, not by evaluation). The program tests the kernel's tag once and
// is compiled twice: where the kernel took the outer tag out, the first
// "vlan" reads its ID from SKF_AD_VLAN_TAG and shifts nothing. Before any
// "vlan", a tag the kernel took out is invisible and a tag in the bytes hides
// the rest. IPv6 protocols and ports are found behind up to
// maxIPv6ExtHeaders extension headers (hop-by-hop, routing, destination
// options, mobility, HIP, shim6, AH, fragment, as packet.Decoder); ports match
// TCP and UDP in IPv4 and IPv6 datagrams that are not later fragments.
type Filter struct {
	expr  string
	root  *fnode
	vlans int // "vlan" primitives in the expression
}

// String returns the expression as given.
func (f *Filter) String() string { return f.expr }

// fnode is a node of the filter's syntax tree: an and, or, not, or an
// atomic test of the frame.
type fnode struct {
	op   byte // '&', '|', '!', '1' (always), 't' (test), 'v' (vlan), 'p' (IPv6 protocol), 'P' (IPv6 port)
	a, b *fnode
	test ftest
}

// ftest is, for op 't', "the field at off of size bytes (after the IPv4
// header length for indirect tests), ANDed with mask unless it is 0, equals
// val"; for 'v', "a VLAN tag, with ID val if mask is not 0"; for 'p', "the
// IPv6 protocol behind the extension headers is val"; for 'P', "it is one of
// protos, not a later fragment, and the 16 bits at off in its header equal
// val". Offsets are those of an untagged frame: depth, the number of "vlan"
// primitives before this one, moves them (world.link).
type ftest struct {
	off      uint32
	size     int
	mask     uint32
	val      uint32
	indirect bool // off is relative to the IPv4 header's end (LoadMemShift)
	protos   []uint32
	depth    int
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
	offVLANTCI   = offIP // of a tag in the bytes, where the IP header would be
)

// maxFilterVLANs bounds the "vlan" primitives of an expression (each one
// deepens what follows by a tag; the decoder follows 8, and programs must fit
// the kernel's limit).
const maxFilterVLANs = 4

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

// proto6 is "IPv6 whose protocol, behind its extension headers, is p"
// (later fragments included, as in the decoder).
func proto6(p uint32) *fnode { return &fnode{op: 'p', test: ftest{val: p}} }

// setDepth stamps the nodes of a primitive with the "vlan" primitives
// written before it.
func setDepth(n *fnode, d int) {
	if n == nil {
		return
	}
	n.test.depth = d
	setDepth(n.a, d)
	setDepth(n.b, d)
}

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
	return &Filter{expr: expr, root: root, vlans: p.vlans}, nil
}

type fparser struct {
	toks  []string
	i     int
	depth int
	vlans int // "vlan" primitives parsed so far
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
		d := p.vlans
		n, err := p.primitive(t)
		if err == nil {
			setDepth(n, d)
		}
		return n, err
	}
}

func (p *fparser) primitive(t string) (*fnode, error) {
	var protos []uint32 // of "tcp port", "udp port"
	switch t {
	case "ip":
		return isIPv4(), nil
	case "ip6":
		return isIPv6(), nil
	case "tcp", "udp":
		pr := uint32(6)
		if t == "udp" {
			pr = 17
		}
		if q := p.peek(); q != "port" && !((q == "src" || q == "dst") && p.i+1 < len(p.toks) && p.toks[p.i+1] == "port") {
			return either(proto4(pr), proto6(pr)), nil
		}
		protos, t = []uint32{pr}, p.next()
	case "icmp":
		return proto4(1), nil
	case "icmp6":
		return proto6(58), nil
	case "vlan":
		if p.vlans++; p.vlans > maxFilterVLANs {
			return nil, fmt.Errorf("at most %d vlan primitives", maxFilterVLANs)
		}
		n := &fnode{op: 'v'}
		if arg := p.peek(); arg != "" && arg[0] >= '0' && arg[0] <= '9' {
			id, err := strconv.ParseUint(p.next(), 10, 12)
			if err != nil {
				return nil, fmt.Errorf("vlan %q: not a VLAN ID 0..4095", arg)
			}
			n.test.val, n.test.mask = uint32(id), 0x0fff
		}
		return n, nil
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
		if protos == nil {
			protos = []uint32{6, 17}
		}
		return portMatch(dir, uint32(n), protos), nil
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

// portMatch matches the source, destination or either port of protos (TCP,
// UDP or both).
func portMatch(dir string, port uint32, protos []uint32) *fnode {
	ports := func(l4 func(off uint32) *fnode) *fnode {
		switch dir {
		case "src":
			return l4(0)
		case "dst":
			return l4(2)
		}
		return either(l4(0), l4(2))
	}
	p4 := proto4(protos[0])
	for _, pr := range protos[1:] {
		p4 = either(p4, proto4(pr))
	}
	v4 := both(both(p4, match(offIPv4Frag, 2, 0x1fff, 0)),
		ports(func(off uint32) *fnode {
			return &fnode{op: 't', test: ftest{off: offIP + off, size: 2, val: port, indirect: true}}
		}))
	v6 := ports(func(off uint32) *fnode { return &fnode{op: 'P', test: ftest{off: off, val: port, protos: protos}} })
	return either(v4, v6)
}

// Program compiles the filter for a device of link type lt: the program
// returns snaplen for a frame that matches (and, with ipOnly, is IP or has a
// VLAN tag in its bytes) and 0 for the others. Only Ethernet devices take a
// filter.
//
// An expression with "vlan" tests first whether the kernel took the outer
// tag out of the frame (SKF_AD_VLAN_TAG_PRESENT) and runs one of two
// compilations of the expression: world{stripped: true} or world{}.
func (f *Filter) Program(lt layers.LinkType, snaplen int, ipOnly bool) ([]bpf.RawInstruction, error) {
	if lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%w %q: only Ethernet devices can be filtered, not link type %s", ErrFilter, f.expr, lt)
	}
	if snaplen <= 0 || snaplen > 262144 {
		return nil, fmt.Errorf("%w: snap length %d out of 1..262144", ErrFilter, snaplen)
	}
	root := f.root
	if ipOnly {
		// The EtherTypes FilterProgram's ipOnly passes, and 0x9100: what
		// the bytes start with, before any "vlan".
		et := isIPv4()
		for _, v := range []uint32{packet.EtherTypeIPv6, packet.EtherTypeVLAN, packet.EtherTypeQinQ, packet.EtherTypeQinQ2} {
			et = either(et, match(offEtherType, 2, 0, v))
		}
		root = both(et, root)
	}
	var a bpfAsm
	if f.vlans == 0 {
		genWorld(&a, root, world{}, snaplen)
	} else {
		inFrame, stripped := a.label(), a.label()
		a.op(bpf.LoadExtension{Num: bpf.ExtVLANTagPresent})
		a.jumpIf(bpf.JumpEqual, 1, bpfNext, inFrame)
		a.jump(stripped)
		a.place(inFrame)
		genWorld(&a, root, world{}, snaplen)
		a.place(stripped)
		genWorld(&a, root, world{stripped: true}, snaplen)
	}
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

// world is one compilation of an expression: stripped when the kernel took
// the frame's outer VLAN tag out of its bytes (SKF_AD_VLAN_TAG_PRESENT), so
// that the first "vlan" is that tag and shifts nothing. walks maps the link
// offsets of the IPv6 protocol and port tests to the scratch memory where
// the world's prologue left the result of the extension-header walk.
type world struct {
	stripped bool
	walks    map[uint32]uint32
}

// link is how many bytes the tags before a primitive of depth d add in
// front of its fields.
func (w world) link(d int) uint32 {
	if w.stripped && d > 0 {
		d--
	}
	return 4 * uint32(d)
}

// genWorld emits the walks the expression's IPv6 tests need, then the
// expression, returning snaplen or 0.
func genWorld(a *bpfAsm, root *fnode, w world, snaplen int) {
	w.walks = map[uint32]uint32{}
	var collect func(n *fnode)
	collect = func(n *fnode) {
		if n == nil {
			return
		}
		if n.op == 'p' || n.op == 'P' {
			if l := w.link(n.test.depth); !hasKey(w.walks, l) {
				slot := uint32(2 * len(w.walks))
				w.walks[l] = slot
				genWalk(a, l, slot)
			}
		}
		collect(n.a)
		collect(n.b)
	}
	collect(root)
	accept, reject := a.label(), a.label()
	genFilter(a, w, root, accept, reject)
	a.place(accept)
	a.op(bpf.RetConstant{Val: uint32(snaplen)})
	a.place(reject)
	a.op(bpf.RetConstant{Val: 0})
}

func hasKey(m map[uint32]uint32, k uint32) bool { _, ok := m[k]; return ok }

// maxIPv6ExtHeaders is how many IPv6 extension headers the filter walks to
// find the protocol and the ports (packet.Decoder walks 16): classic BPF has
// no loops, so the walk is unrolled, once per link offset in each world.
const maxIPv6ExtHeaders = 6

// walkNone is the protocol a walk leaves for a frame that is not IPv6 at
// its offset, is cut short in its headers or has more than
// maxIPv6ExtHeaders of them; walkLater is ORed into the protocol behind the
// fragment header of a later fragment (a protocol, no ports).
const (
	walkNone  = 0x200
	walkLater = 0x100
)

// genWalk emits the walk of the IPv6 extension headers of a frame with l
// bytes of tags: it leaves in M[slot] the protocol (walkNone if there is
// none, ORed with walkLater in a later fragment) and in M[slot+1] the
// offset of its header from the IPv6 header, with the X register as the
// running offset. Like packet.Decoder it steps over hop-by-hop (0), routing
// (43), destination options (60), mobility (135), HIP (139), shim6 (140):
// (length+1)*8 bytes, AH (51): (length+2)*4, and fragment headers (44): 8,
// and needs each header whole in the frame. Both slots are written on every
// path, as the kernel's check of scratch memory requires.
func genWalk(a *bpfAsm, l, slot uint32) {
	ip := offIP + l
	proto, off := slot, slot+1
	done, none := a.label(), a.label()
	// present: at least n bytes from the header at X, else none.
	present := func(n uint32) {
		a.op(bpf.LoadExtension{Num: bpf.ExtLen})
		a.op(bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: ip + n})
		a.jumpIfX(bpf.JumpGreaterOrEqual, bpfNext, none)
	}
	a.op(bpf.LoadAbsolute{Off: offEtherType + l, Size: 2})
	a.jumpIf(bpf.JumpEqual, packet.EtherTypeIPv6, bpfNext, none)
	a.op(bpf.LoadExtension{Num: bpf.ExtLen})
	a.jumpIf(bpf.JumpGreaterOrEqual, ip+40, bpfNext, none)
	a.op(bpf.LoadAbsolute{Off: ip + 6, Size: 1})
	a.op(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	for range maxIPv6ExtHeaders {
		// A is the type of the header at X.
		a.op(bpf.StoreScratch{Src: bpf.RegA, N: int(proto)})
		a.op(bpf.StoreScratch{Src: bpf.RegX, N: int(off)})
		ext, ah, frag, hlen := a.label(), a.label(), a.label(), a.label()
		for _, t := range []uint32{0, 43, 60, 135, 139, 140} {
			a.jumpIf(bpf.JumpEqual, t, ext, bpfNext)
		}
		a.jumpIf(bpf.JumpEqual, 51, ah, bpfNext)
		a.jumpIf(bpf.JumpEqual, 44, frag, done)
		a.place(ext)
		present(8)
		a.op(bpf.LoadIndirect{Off: ip + 1, Size: 1})
		a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1})
		a.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 3})
		a.jump(hlen)
		a.place(ah)
		present(8)
		a.op(bpf.LoadIndirect{Off: ip + 1, Size: 1})
		a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2})
		a.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
		a.jump(hlen)
		a.place(frag)
		present(8)
		first := a.label()
		a.op(bpf.LoadIndirect{Off: ip + 2, Size: 2})
		a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xfff8})
		a.jumpIf(bpf.JumpEqual, 0, first, bpfNext)
		// A later fragment: what follows its header is payload.
		a.op(bpf.LoadIndirect{Off: ip, Size: 1})
		a.op(bpf.ALUOpConstant{Op: bpf.ALUOpOr, Val: walkLater})
		a.op(bpf.StoreScratch{Src: bpf.RegA, N: int(proto)})
		a.jump(done)
		a.place(first)
		a.op(bpf.LoadConstant{Dst: bpf.RegA, Val: 8})
		a.place(hlen)
		// A is the length of the header at X: step over it.
		a.op(bpf.ALUOpX{Op: bpf.ALUOpAdd})
		a.op(bpf.StoreScratch{Src: bpf.RegA, N: int(off)})
		a.op(bpf.LoadIndirect{Off: ip, Size: 1})
		a.op(bpf.LoadScratch{Dst: bpf.RegX, N: int(off)})
		a.op(bpf.StoreScratch{Src: bpf.RegA, N: int(proto)})
		present(0)
		a.op(bpf.LoadScratch{Dst: bpf.RegA, N: int(proto)})
	}
	// Beyond the bound, the type of the next header is left as the
	// protocol: an extension header's type matches no test.
	a.op(bpf.StoreScratch{Src: bpf.RegA, N: int(proto)})
	a.op(bpf.StoreScratch{Src: bpf.RegX, N: int(off)})
	a.jump(done)
	a.place(none)
	a.op(bpf.LoadConstant{Dst: bpf.RegA, Val: walkNone})
	a.op(bpf.StoreScratch{Src: bpf.RegA, N: int(proto)})
	a.op(bpf.StoreScratch{Src: bpf.RegA, N: int(off)})
	a.place(done)
}

// genFilter emits code that jumps to t when n holds and to f when not.
func genFilter(a *bpfAsm, w world, n *fnode, t, f int) {
	switch n.op {
	case '&':
		mid := a.label()
		genFilter(a, w, n.a, mid, f)
		a.place(mid)
		genFilter(a, w, n.b, t, f)
	case '|':
		mid := a.label()
		genFilter(a, w, n.a, t, mid)
		a.place(mid)
		genFilter(a, w, n.b, t, f)
	case '!':
		genFilter(a, w, n.a, f, t)
	case '1':
		a.jump(t)
	case 't':
		ts, l := n.test, w.link(n.test.depth)
		if ts.indirect {
			a.op(bpf.LoadMemShift{Off: offIP + l})
			a.op(bpf.LoadIndirect{Off: ts.off + l, Size: ts.size})
		} else {
			a.op(bpf.LoadAbsolute{Off: ts.off + l, Size: ts.size})
		}
		if ts.mask != 0 {
			a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: ts.mask})
		}
		a.jumpIf(bpf.JumpEqual, ts.val, t, f)
	case 'v':
		ts := n.test
		if w.stripped && ts.depth == 0 {
			// The tag the kernel took out.
			if ts.mask == 0 {
				a.jump(t)
				return
			}
			a.op(bpf.LoadExtension{Num: bpf.ExtVLANTag})
		} else {
			l := w.link(ts.depth)
			tagged := t
			if ts.mask != 0 {
				tagged = a.label()
			}
			a.op(bpf.LoadAbsolute{Off: offEtherType + l, Size: 2})
			a.jumpIf(bpf.JumpEqual, packet.EtherTypeVLAN, tagged, bpfNext)
			a.jumpIf(bpf.JumpEqual, packet.EtherTypeQinQ, tagged, bpfNext)
			a.jumpIf(bpf.JumpEqual, packet.EtherTypeQinQ2, tagged, f)
			if ts.mask == 0 {
				return
			}
			a.place(tagged)
			a.op(bpf.LoadAbsolute{Off: offVLANTCI + l, Size: 2})
		}
		a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0fff})
		a.jumpIf(bpf.JumpEqual, ts.val, t, f)
	case 'p':
		a.op(bpf.LoadScratch{Dst: bpf.RegA, N: int(w.walks[w.link(n.test.depth)])})
		a.jumpIf(bpf.JumpEqual, n.test.val, t, bpfNext)
		a.jumpIf(bpf.JumpEqual, n.test.val|walkLater, t, f)
	case 'P':
		ts, l := n.test, w.link(n.test.depth)
		slot := w.walks[l]
		ports := a.label()
		a.op(bpf.LoadScratch{Dst: bpf.RegA, N: int(slot)})
		for i, pr := range ts.protos {
			miss := bpfNext
			if i == len(ts.protos)-1 {
				miss = f
			}
			a.jumpIf(bpf.JumpEqual, pr, ports, miss)
		}
		a.place(ports)
		a.op(bpf.LoadScratch{Dst: bpf.RegX, N: int(slot + 1)})
		a.op(bpf.LoadIndirect{Off: offIP + l + ts.off, Size: 2})
		a.jumpIf(bpf.JumpEqual, ts.val, t, f)
	}
}
