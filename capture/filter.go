package capture

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// FilterProgram returns the classic BPF program the kernel runs on every
// frame of a capture socket. Its return value is how many bytes the kernel
// copies, so the snap length is enforced in the kernel, before the ring. With
// ipOnly, an Ethernet device passes only IPv4, IPv6 and VLAN-tagged frames
// (ARP, LLDP and STP never reach user space).
func FilterProgram(lt layers.LinkType, snaplen int, ipOnly bool) ([]bpf.RawInstruction, error) {
	if snaplen <= 0 || snaplen > 262144 {
		return nil, fmt.Errorf("snap length %d out of 1..262144", snaplen)
	}
	accept := bpf.RetConstant{Val: uint32(snaplen)}
	prog := []bpf.Instruction{accept}
	if ipOnly && lt == layers.LinkTypeEthernet {
		prog = []bpf.Instruction{
			bpf.LoadAbsolute{Off: 12, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv4, SkipTrue: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv6, SkipTrue: 3},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeVLAN, SkipTrue: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeQinQ, SkipTrue: 1},
			bpf.RetConstant{Val: 0},
			accept,
		}
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble capture filter: %w", err)
	}
	return raw, nil
}
