package capture

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/netburst/netburst/packet/packettest"
)

// ipPacket serialises an IPv4 or IPv6 packet with the given transport.
func ipPacket(t *testing.T, v6 bool, proto uint8, l4 ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	var ls []gopacket.SerializableLayer
	var ip gopacket.NetworkLayer
	if v6 {
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(proto), SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	} else {
		ip = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocol(proto), SrcIP: net.IPv4(198, 18, 0, 1), DstIP: net.IPv4(198, 18, 0, 2)}
	}
	for _, l := range l4 {
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := c.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
		}
	}
	ls = append(ls, ip.(gopacket.SerializableLayer))
	ls = append(ls, l4...)
	ls = append(ls, gopacket.Payload(make([]byte, 56)))
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func echoEth(etype uint16, payload []byte) []byte {
	h := make([]byte, 14)
	binary.BigEndian.PutUint16(h[12:], etype)
	return append(h, payload...)
}

func echoVLAN(tpid, etype uint16, payload []byte) []byte {
	h := make([]byte, 18)
	binary.BigEndian.PutUint16(h[12:], tpid)
	binary.BigEndian.PutUint16(h[14:], 42)
	binary.BigEndian.PutUint16(h[16:], etype)
	return append(h, payload...)
}

func echoSLL(etype uint16, payload []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[14:], etype)
	return append(h, payload...)
}

func TestEchoFilter(t *testing.T) {
	echo4 := ipPacket(t, false, 1, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1})
	reply4 := ipPacket(t, false, 1, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 1, Seq: 1})
	unreach4 := ipPacket(t, false, 1, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)})
	udp4 := ipPacket(t, false, 17, &layers.UDP{SrcPort: 1, DstPort: 7000})
	echo6 := ipPacket(t, true, 58, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	reply6 := ipPacket(t, true, 58, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(129, 0)}, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	ns6 := ipPacket(t, true, 58, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)})
	tcp6 := ipPacket(t, true, 6, &layers.TCP{SrcPort: 1, DstPort: 7000})
	// An IPv4 header with 4 bytes of options: the ICMP type is at 24.
	opts4 := append([]byte(nil), echo4[:20]...)
	opts4[0] = 0x46
	opts4 = append(append(opts4, 1, 1, 1, 0), echo4[20:]...)
	// A non-first fragment whose payload happens to start with 8.
	frag4 := append([]byte(nil), echo4...)
	binary.BigEndian.PutUint16(frag4[6:], 185)
	// A first fragment (MF set, offset 0) still has the ICMP header.
	first4 := append([]byte(nil), echo4...)
	binary.BigEndian.PutUint16(first4[6:], 0x2000)
	arp := echoEth(0x0806, make([]byte, 28))
	// Echoes inside overlays, as a hypervisor's underlay carries them.
	inEth := echoEth
	tunnel := func(port uint16, hdr gopacket.Payload, inner []byte) []byte {
		return echoEth(0x0800, ipPacket(t, false, 17, &layers.UDP{SrcPort: 50000, DstPort: layers.UDPPort(port)}, hdr, gopacket.Payload(inner)))
	}
	vxlanEcho := tunnel(4789, packettest.VXLAN(100), inEth(0x0800, echo4))
	linuxVXLANReply := tunnel(8472, packettest.VXLAN(7), inEth(0x0800, reply4))
	vxlanEcho6 := tunnel(4789, packettest.VXLAN(1), inEth(0x86DD, echo6))
	vxlanOpts := tunnel(4789, packettest.VXLAN(1), inEth(0x0800, opts4))
	genevePlain := tunnel(6081, packettest.Geneve(0x6558, 5, 0), inEth(0x0800, echo4))
	geneveOpts := tunnel(6081, packettest.Geneve(0x6558, 5, 3), inEth(0x86DD, reply6))
	vxlanUDP := tunnel(4789, packettest.VXLAN(100), inEth(0x0800, udp4))
	vxlanUnreach := tunnel(4789, packettest.VXLAN(100), inEth(0x0800, unreach4))
	vxlanFrag := tunnel(4789, packettest.VXLAN(100), inEth(0x0800, frag4))
	vxlanNoFlag := tunnel(4789, gopacket.Payload{0, 0, 0, 0, 0, 0, 100, 0}, inEth(0x0800, echo4))
	geneveIP := tunnel(6081, packettest.Geneve(0x0800, 5, 0), echo4) // IP straight in Geneve: not followed
	otherPort := tunnel(4790, packettest.VXLAN(100), inEth(0x0800, echo4))
	vxlanTagged := tunnel(4789, packettest.VXLAN(100), echoVLAN(0x8100, 0x0800, echo4))

	for _, tc := range []struct {
		name  string
		lt    layers.LinkType
		frame []byte
		pass  bool
	}{
		{"eth echo request", layers.LinkTypeEthernet, echoEth(0x0800, echo4), true},
		{"eth echo reply", layers.LinkTypeEthernet, echoEth(0x0800, reply4), true},
		{"eth unreachable", layers.LinkTypeEthernet, echoEth(0x0800, unreach4), false},
		{"eth udp", layers.LinkTypeEthernet, echoEth(0x0800, udp4), false},
		{"eth ipv4 options", layers.LinkTypeEthernet, echoEth(0x0800, opts4), true},
		{"eth non-first fragment", layers.LinkTypeEthernet, echoEth(0x0800, frag4), false},
		{"eth first fragment", layers.LinkTypeEthernet, echoEth(0x0800, first4), true},
		{"eth echo6 request", layers.LinkTypeEthernet, echoEth(0x86DD, echo6), true},
		{"eth echo6 reply", layers.LinkTypeEthernet, echoEth(0x86DD, reply6), true},
		{"eth neighbour solicitation", layers.LinkTypeEthernet, echoEth(0x86DD, ns6), false},
		{"eth tcp6", layers.LinkTypeEthernet, echoEth(0x86DD, tcp6), false},
		{"eth arp", layers.LinkTypeEthernet, arp, false},
		{"vlan echo", layers.LinkTypeEthernet, echoVLAN(0x8100, 0x0800, reply4), true},
		{"qinq-tpid echo6", layers.LinkTypeEthernet, echoVLAN(0x88A8, 0x86DD, echo6), true},
		{"vlan udp", layers.LinkTypeEthernet, echoVLAN(0x8100, 0x0800, udp4), false},
		{"truncated", layers.LinkTypeEthernet, echoEth(0x0800, echo4[:16]), false},
		{"vxlan echo", layers.LinkTypeEthernet, vxlanEcho, true},
		{"vxlan 8472 reply", layers.LinkTypeEthernet, linuxVXLANReply, true},
		{"vxlan echo6", layers.LinkTypeEthernet, vxlanEcho6, true},
		{"vxlan inner ipv4 options", layers.LinkTypeEthernet, vxlanOpts, true},
		{"geneve echo", layers.LinkTypeEthernet, genevePlain, true},
		{"geneve options echo6 reply", layers.LinkTypeEthernet, geneveOpts, true},
		{"vxlan udp", layers.LinkTypeEthernet, vxlanUDP, false},
		{"vxlan unreachable", layers.LinkTypeEthernet, vxlanUnreach, false},
		{"vxlan inner non-first fragment", layers.LinkTypeEthernet, vxlanFrag, false},
		{"vxlan without its VNI flag", layers.LinkTypeEthernet, vxlanNoFlag, false},
		{"geneve carrying ip", layers.LinkTypeEthernet, geneveIP, false},
		{"udp 4790", layers.LinkTypeEthernet, otherPort, false},
		{"vxlan inner tag", layers.LinkTypeEthernet, vxlanTagged, false},
		{"vxlan cut before the icmp type", layers.LinkTypeEthernet, vxlanEcho[:14+20+8+8+14+20], false},
		{"sll vxlan echo", layers.LinkTypeLinuxSLL, echoSLL(0x0800, vxlanEcho[14:]), true},
		{"vlan vxlan echo", layers.LinkTypeEthernet, echoVLAN(0x8100, 0x0800, vxlanEcho[14:]), true},
		{"sll echo", layers.LinkTypeLinuxSLL, echoSLL(0x0800, echo4), true},
		{"sll echo6", layers.LinkTypeLinuxSLL, echoSLL(0x86DD, reply6), true},
		{"sll udp", layers.LinkTypeLinuxSLL, echoSLL(0x0800, udp4), false},
		{"raw echo", layers.LinkTypeRaw, echo4, true},
		{"raw echo6", layers.LinkTypeRaw, echo6, true},
		{"raw udp", layers.LinkTypeRaw, udp4, false},
		{"raw garbage", layers.LinkTypeRaw, []byte{0x00, 1, 2, 3}, false},
		{"ipv4 link echo", layers.LinkTypeIPv4, reply4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := EchoFilter(tc.lt, 128)
			if err != nil {
				t.Fatal(err)
			}
			prog := make([]bpf.Instruction, len(raw))
			for i, r := range raw {
				prog[i] = r.Disassemble()
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("filter rejected by the BPF VM: %v", err)
			}
			n, err := vm.Run(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			// The kernel keeps min(return value, frame length) bytes.
			want := 0
			if tc.pass {
				want = 128
			}
			if n != want {
				t.Errorf("filter returned %d, want %d", n, want)
			}
		})
	}
}

func TestEchoFilterErrors(t *testing.T) {
	for _, tc := range []struct {
		lt      layers.LinkType
		snaplen int
	}{
		{layers.LinkTypeEthernet, 10},
		{layers.LinkTypeEthernet, 1 << 20},
		{layers.LinkTypeIEEE802_11, 128},
	} {
		if _, err := EchoFilter(tc.lt, tc.snaplen); !errors.Is(err, ErrFilter) {
			t.Errorf("EchoFilter(%s, %d) error %v, want ErrFilter", tc.lt, tc.snaplen, err)
		}
	}
}
