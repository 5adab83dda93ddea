package capture

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// EchoFilter returns a classic BPF program that passes only ICMP echo
// requests and replies (IPv4 types 8 and 0, ICMPv6 types 128 and 129), at
// most snaplen bytes of each, for a capture socket of the given link type:
// Ethernet (untagged or one 802.1Q/802.1ad tag), Linux cooked (SLL) or raw
// IP. Live locate attaches it so that a busy interface's storage traffic
// never leaves the kernel. IPv4 fragments other than the first are
// dropped (they carry no ICMP header); IPv6 echoes behind extension headers
// are not recognised (ping sends none).
func EchoFilter(lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	if snaplen < 64 || snaplen > 262144 {
		return nil, fmt.Errorf("%w: echo filter snap length %d out of 64..262144", ErrFilter, snaplen)
	}
	var p asm
	switch lt {
	case layers.LinkTypeEthernet:
		p.etherType(12, 14, "")
		p.label("vlan")
		p.etherType(16, 18, "novlan")
	case layers.LinkTypeLinuxSLL:
		p.etherType(14, 16, "novlan")
	case layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		p.op(bpf.LoadAbsolute{Off: 0, Size: 1})
		p.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		p.jeq(0x40, "v4_0", "")
		p.jeq(0x60, "v6_0", "drop")
		p.ipv4(0)
		p.ipv6(0)
	default:
		return nil, fmt.Errorf("%w: no echo filter for link type %s", ErrFilter, lt)
	}
	p.label("drop")
	p.op(bpf.RetConstant{Val: 0})
	p.label("accept")
	p.op(bpf.RetConstant{Val: uint32(snaplen)})
	prog, err := p.resolve()
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble echo filter: %w", err)
	}
	return raw, nil
}

// asm is a tiny assembler with named jump targets, so that the filter is
// written as blocks instead of hand-counted skips.
type asm struct {
	ins    []asmIns
	labels map[string]int
}

type asmIns struct {
	i bpf.Instruction
	// For a conditional jump (i == nil): jump to jt when A == val, else to
	// jf ("" = the next instruction).
	val    uint32
	jt, jf string
	// jset tests A & val != 0 instead of A == val.
	jset bool
}

func (a *asm) op(i bpf.Instruction) { a.ins = append(a.ins, asmIns{i: i}) }

func (a *asm) jeq(val uint32, jt, jf string) {
	a.ins = append(a.ins, asmIns{val: val, jt: jt, jf: jf})
}

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.ins)
}

// etherType dispatches on the EtherType at off to the IPv4 and IPv6 blocks
// for a network header at l3; a VLAN tag jumps to "vlan" unless vlan is
// "novlan" (then it is dropped).
func (a *asm) etherType(off, l3 uint32, vlan string) {
	v4, v6 := fmt.Sprintf("v4_%d", l3), fmt.Sprintf("v6_%d", l3)
	a.op(bpf.LoadAbsolute{Off: off, Size: 2})
	a.jeq(0x0800, v4, "")
	if vlan == "novlan" {
		a.jeq(0x86DD, v6, "drop")
	} else {
		a.jeq(0x86DD, v6, "")
		a.jeq(0x8100, "vlan", "")
		a.jeq(0x88A8, "vlan", "drop")
	}
	// The IP blocks follow their dispatcher; the VLAN dispatcher comes
	// after the untagged blocks, reached only by a jump.
	a.ipv4(l3)
	a.ipv6(l3)
}

// ipv4 accepts an ICMP echo request or reply whose IPv4 header is at off.
func (a *asm) ipv4(off uint32) {
	a.label(fmt.Sprintf("v4_%d", off))
	a.op(bpf.LoadAbsolute{Off: off + 9, Size: 1})
	a.jeq(1, "", "drop")
	// A non-first fragment has no ICMP header.
	a.op(bpf.LoadAbsolute{Off: off + 6, Size: 2})
	a.ins = append(a.ins, asmIns{val: 0x1fff, jt: "drop", jset: true})
	a.op(bpf.LoadMemShift{Off: off})
	a.op(bpf.LoadIndirect{Off: off, Size: 1})
	a.jeq(8, "accept", "")
	a.jeq(0, "accept", "drop")
}

// ipv6 accepts an ICMPv6 echo request or reply whose IPv6 header is at off.
func (a *asm) ipv6(off uint32) {
	a.label(fmt.Sprintf("v6_%d", off))
	a.op(bpf.LoadAbsolute{Off: off + 6, Size: 1})
	a.jeq(58, "", "drop")
	a.op(bpf.LoadAbsolute{Off: off + 40, Size: 1})
	a.jeq(128, "accept", "")
	a.jeq(129, "accept", "drop")
}

// resolve turns labels into skips.
func (a *asm) resolve() ([]bpf.Instruction, error) {
	out := make([]bpf.Instruction, len(a.ins))
	skip := func(from int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok {
			return 0, fmt.Errorf("echo filter: no label %q", label)
		}
		d := to - from - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("echo filter: jump to %q out of range (%d)", label, d)
		}
		return uint8(d), nil
	}
	for n, in := range a.ins {
		if in.i != nil {
			out[n] = in.i
			continue
		}
		jt, err := skip(n, in.jt)
		if err != nil {
			return nil, err
		}
		jf, err := skip(n, in.jf)
		if err != nil {
			return nil, err
		}
		cond := bpf.JumpEqual
		if in.jset {
			cond = bpf.JumpBitsSet
		}
		out[n] = bpf.JumpIf{Cond: cond, Val: in.val, SkipTrue: jt, SkipFalse: jf}
	}
	return out, nil
}
