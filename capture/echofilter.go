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
// never leaves the kernel. Echoes inside VXLAN and Geneve over IPv4 pass
// too (udpTunnel), as a hypervisor's underlay carries them. IPv4 fragments
// other than the first are dropped (they carry no ICMP header); IPv6
// echoes behind extension headers are not recognised (ping sends none).
func EchoFilter(lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	if snaplen < 64 || snaplen > 262144 {
		return nil, fmt.Errorf("%w: echo filter snap length %d out of 64..262144", ErrFilter, snaplen)
	}
	g := echoGen{}
	g.drop, g.accept = g.a.label(), g.a.label()
	switch lt {
	case layers.LinkTypeEthernet:
		vlan := g.a.label()
		g.etherType(12, 14, vlan)
		g.a.place(vlan)
		g.etherType(16, 18, g.drop)
	case layers.LinkTypeLinuxSLL:
		g.etherType(14, 16, g.drop)
	case layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		v4, v6 := g.a.label(), g.a.label()
		g.a.op(bpf.LoadAbsolute{Off: 0, Size: 1})
		g.a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		g.a.jumpIf(bpf.JumpEqual, 0x40, v4, bpfNext)
		g.a.jumpIf(bpf.JumpEqual, 0x60, v6, g.drop)
		g.ipv4(0, v4)
		g.ipv6(0, v6)
	default:
		return nil, fmt.Errorf("%w: no echo filter for link type %s", ErrFilter, lt)
	}
	g.a.place(g.drop)
	g.a.op(bpf.RetConstant{Val: 0})
	g.a.place(g.accept)
	g.a.op(bpf.RetConstant{Val: uint32(snaplen)})
	prog, err := g.a.program()
	if err != nil {
		return nil, fmt.Errorf("echo filter: %w", err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble echo filter: %w", err)
	}
	return raw, nil
}

// echoGen writes the echo filter's blocks; drop and accept are its two
// exits.
type echoGen struct {
	a            bpfAsm
	drop, accept int
}

// etherType dispatches on the EtherType at off to the IPv4 and IPv6 blocks
// for a network header at l3; a VLAN tag jumps to vlan (drop: tagged frames
// are dropped).
func (g *echoGen) etherType(off, l3 uint32, vlan int) {
	v4, v6 := g.a.label(), g.a.label()
	g.a.op(bpf.LoadAbsolute{Off: off, Size: 2})
	g.a.jumpIf(bpf.JumpEqual, 0x0800, v4, bpfNext)
	if vlan == g.drop {
		g.a.jumpIf(bpf.JumpEqual, 0x86DD, v6, g.drop)
	} else {
		g.a.jumpIf(bpf.JumpEqual, 0x86DD, v6, bpfNext)
		g.a.jumpIf(bpf.JumpEqual, 0x8100, vlan, bpfNext)
		g.a.jumpIf(bpf.JumpEqual, 0x88A8, vlan, g.drop)
	}
	// The IP blocks follow their dispatcher; the VLAN dispatcher comes
	// after the untagged blocks, reached only by a jump.
	g.ipv4(l3, v4)
	g.ipv6(l3, v6)
}

// ipv4 is the block at label at that accepts an ICMP echo request or reply
// whose IPv4 header is at off, or one inside a UDP tunnel (udpTunnel).
func (g *echoGen) ipv4(off uint32, at int) {
	udp := g.a.label()
	g.a.place(at)
	// A non-first fragment has no ICMP or UDP header.
	g.a.op(bpf.LoadAbsolute{Off: off + 6, Size: 2})
	g.a.jumpIf(bpf.JumpBitsSet, 0x1fff, g.drop, bpfNext)
	g.a.op(bpf.LoadAbsolute{Off: off + 9, Size: 1})
	g.a.jumpIf(bpf.JumpEqual, 17, udp, bpfNext)
	g.a.jumpIf(bpf.JumpEqual, 1, bpfNext, g.drop)
	g.a.op(bpf.LoadMemShift{Off: off})
	g.a.op(bpf.LoadIndirect{Off: off, Size: 1})
	g.a.jumpIf(bpf.JumpEqual, 8, g.accept, bpfNext)
	g.a.jumpIf(bpf.JumpEqual, 0, g.accept, g.drop)
	g.udpTunnel(off, udp)
}

// udpTunnel is the block at label at that accepts an ICMP or ICMPv6 echo
// inside VXLAN (UDP destination port 4789 or 8472, the VNI flag set) or
// Geneve (6081, version 0, carrying Ethernet) in the UDP datagram of the
// IPv4 header at off: a hypervisor's underlay carries its VMs' pings so.
// X holds the outer header's length, then Geneve's options too, then the
// inner IPv4 header's length; the inner Ethernet frame is untagged.
func (g *echoGen) udpTunnel(off uint32, at int) {
	vxlan, geneve, inner, in4, in6 := g.a.label(), g.a.label(), g.a.label(), g.a.label(), g.a.label()
	g.a.place(at)
	g.a.op(bpf.LoadMemShift{Off: off})
	g.a.op(bpf.LoadIndirect{Off: off + 2, Size: 2})
	g.a.jumpIf(bpf.JumpEqual, 4789, vxlan, bpfNext)
	g.a.jumpIf(bpf.JumpEqual, 8472, vxlan, bpfNext)
	g.a.jumpIf(bpf.JumpEqual, 6081, geneve, g.drop)
	g.a.place(geneve)
	g.a.op(bpf.LoadIndirect{Off: off + 8, Size: 1})
	g.a.jumpIf(bpf.JumpBitsSet, 0xc0, g.drop, bpfNext) // version 0 only
	g.a.op(bpf.LoadIndirect{Off: off + 10, Size: 2})
	g.a.jumpIf(bpf.JumpEqual, 0x6558, bpfNext, g.drop)
	g.a.op(bpf.LoadIndirect{Off: off + 8, Size: 1})
	g.a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x3f})
	g.a.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	g.a.op(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	g.a.op(bpf.TAX{}) // X: past the options, Geneve's 8 fixed bytes as VXLAN's
	g.a.jump(inner)
	g.a.place(vxlan)
	g.a.op(bpf.LoadIndirect{Off: off + 8, Size: 1})
	g.a.jumpIf(bpf.JumpBitsSet, 0x08, inner, g.drop)
	// The inner Ethernet frame after UDP's and the tunnel's 8 bytes each.
	eth := off + 16
	ip := eth + 14
	g.a.place(inner)
	g.a.op(bpf.LoadIndirect{Off: eth + 12, Size: 2})
	g.a.jumpIf(bpf.JumpEqual, 0x0800, in4, bpfNext)
	g.a.jumpIf(bpf.JumpEqual, 0x86DD, in6, g.drop)
	g.a.place(in4)
	g.a.op(bpf.LoadIndirect{Off: ip + 6, Size: 2})
	g.a.jumpIf(bpf.JumpBitsSet, 0x1fff, g.drop, bpfNext)
	g.a.op(bpf.LoadIndirect{Off: ip + 9, Size: 1})
	g.a.jumpIf(bpf.JumpEqual, 1, bpfNext, g.drop)
	g.a.op(bpf.LoadIndirect{Off: ip, Size: 1})
	g.a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	g.a.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	g.a.op(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	g.a.op(bpf.TAX{})
	g.a.op(bpf.LoadIndirect{Off: ip, Size: 1})
	g.a.jumpIf(bpf.JumpEqual, 8, g.accept, bpfNext)
	g.a.jumpIf(bpf.JumpEqual, 0, g.accept, g.drop)
	g.a.place(in6)
	g.a.op(bpf.LoadIndirect{Off: ip + 6, Size: 1})
	g.a.jumpIf(bpf.JumpEqual, 58, bpfNext, g.drop)
	g.a.op(bpf.LoadIndirect{Off: ip + 40, Size: 1})
	g.a.jumpIf(bpf.JumpEqual, 128, g.accept, bpfNext)
	g.a.jumpIf(bpf.JumpEqual, 129, g.accept, g.drop)
}

// ipv6 is the block at label at that accepts an ICMPv6 echo request or
// reply whose IPv6 header is at off.
func (g *echoGen) ipv6(off uint32, at int) {
	g.a.place(at)
	g.a.op(bpf.LoadAbsolute{Off: off + 6, Size: 1})
	g.a.jumpIf(bpf.JumpEqual, 58, bpfNext, g.drop)
	g.a.op(bpf.LoadAbsolute{Off: off + 40, Size: 1})
	g.a.jumpIf(bpf.JumpEqual, 128, g.accept, bpfNext)
	g.a.jumpIf(bpf.JumpEqual, 129, g.accept, g.drop)
}
