package capture

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/netburst/netburst/packet"
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
	var a bpfAsm
	if ipOnly && lt == layers.LinkTypeEthernet {
		accept := a.label()
		a.op(bpf.LoadAbsolute{Off: 12, Size: 2})
		for _, et := range []uint32{packet.EtherTypeIPv4, packet.EtherTypeIPv6, packet.EtherTypeVLAN, packet.EtherTypeQinQ} {
			a.jumpIf(bpf.JumpEqual, et, accept, bpfNext)
		}
		a.op(bpf.RetConstant{Val: 0})
		a.place(accept)
	}
	a.op(bpf.RetConstant{Val: uint32(snaplen)})
	prog, err := a.program()
	if err != nil {
		return nil, fmt.Errorf("capture filter: %w", err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble capture filter: %w", err)
	}
	return raw, nil
}
