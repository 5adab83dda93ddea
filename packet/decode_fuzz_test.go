package packet

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// FuzzDecode feeds arbitrary frames of every supported link type to the
// decoder (seeds: plain, tagged, IPv6 extension headers, fragments, MPLS,
// PPPoE, and every tunnel of tunnelFrames). It must never panic, must only
// return the package's typed errors, must keep offsets inside the frame,
// and where gopacket's full decoder decodes an unfragmented packet cleanly
// and opens as many IP-in-something layers, both must agree on the
// innermost addresses and ports.
func FuzzDecode(f *testing.F) {
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, linkTypeSLL2,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6}
	seeds := [][]byte{
		serialize(f, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp(), payload),
		serialize(f, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), payload),
		serialize(f, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 2, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 3, Type: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 2}),
		serialize(f, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), gopacket.Payload{44, 0, 1, 4, 0, 0, 0, 0},
			frag6(6, 0, true, 9), tcp()),
		serialize(f, ip6(layers.IPProtocolIPv6Fragment), frag6(17, 8, false, 9), payload),
		serialize(f, eth(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 100, TTL: 64}, &layers.MPLS{Label: 200, StackBottom: true, TTL: 64},
			ip4(layers.IPProtocolTCP), tcp(), payload),
		serialize(f, eth(layers.EthernetTypePPPoESession), &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 7},
			&layers.PPP{PPPType: layers.PPPTypeIPv6}, ip6(layers.IPProtocolUDP), udp(), payload),
		{},
	}
	for _, c := range tunnelFrames(f) {
		seeds = append(seeds, c.frame)
	}
	for i, s := range seeds {
		f.Add(uint8(i%len(links)), s)
		f.Add(uint8(0), s)
	}
	f.Fuzz(func(t *testing.T, li uint8, frame []byte) {
		lt := links[int(li)%len(links)]
		d, err := NewDecoder(lt)
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		err = d.Decode(frame, gopacket.CaptureInfo{}, &p)
		if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("untyped error %v", err)
		}
		if p.L3Offset > len(frame) || p.L4Offset > len(frame) {
			t.Fatalf("offsets %d, %d beyond frame of %d", p.L3Offset, p.L4Offset, len(frame))
		}
		if p.IPVersion != 0 && p.IPVersion != 4 && p.IPVersion != 6 {
			t.Fatalf("IPVersion %d", p.IPVersion)
		}
		if p.HasPorts && p.FragmentOffset != 0 {
			t.Fatal("ports on a later fragment")
		}
		// gopacket reads EtherType 0xFFFF as raw IP, which no standard
		// does: compare real IP frames only.
		if err != nil || p.IPVersion == 0 || p.Fragment() || p.NumVLANs > 0 || lt != layers.LinkTypeEthernet {
			return
		}
		compareGopacket(t, frame, &p)
	})
}

// compareGopacket checks p against gopacket's own decoding of an Ethernet
// frame, when gopacket decoded it without error: the innermost IP layer
// and the transport after it, when gopacket opened as many tunnels (it
// knows no VXLAN on 8472, ignores the VXLAN flags and GTP-U's message
// type: a different count is a different reading, not a bug of either).
func compareGopacket(t *testing.T, frame []byte, p *Packet) {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.NoCopy)
	if pkt.ErrorLayer() != nil {
		return
	}
	var (
		src, dst netip.Addr
		ips      int
		l4       gopacket.Layer
	)
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.Ethernet:
			if l.EthernetType == 0xffff { // raw IP to gopacket, to no standard
				return
			}
		case *layers.Geneve:
			if len(l.Contents) != 8+int(l.OptionsLength) {
				// gopacket lets the last option run past the header's
				// option length; RFC 8926 (and Wireshark) end the header there.
				return
			}
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
			ips, l4 = ips+1, nil
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
			ips, l4 = ips+1, nil
		case *layers.TCP, *layers.UDP:
			if l4 == nil {
				l4 = l
			}
		}
	}
	if ips == 0 || ips != int(p.Tunnels)+1 {
		return
	}
	if p.Tunnel == TunnelERSPAN && !p.HasTunnelID {
		// gopacket reads an ERSPAN header after GRE without a sequence
		// number too; Wireshark (and netburst) take it as type I, with
		// the mirrored frame right after GRE.
		return
	}
	if src != p.Src || dst != p.Dst {
		t.Fatalf("addresses %v -> %v, gopacket says %v -> %v", p.Src, p.Dst, src, dst)
	}
	switch l := l4.(type) {
	case *layers.TCP:
		if !p.HasPorts || p.SrcPort != uint16(l.SrcPort) || p.DstPort != uint16(l.DstPort) {
			t.Fatalf("tcp ports %v %d -> %d, gopacket says %d -> %d", p.HasPorts, p.SrcPort, p.DstPort, l.SrcPort, l.DstPort)
		}
	case *layers.UDP:
		if !p.HasPorts || p.SrcPort != uint16(l.SrcPort) || p.DstPort != uint16(l.DstPort) {
			t.Fatalf("udp ports %v %d -> %d, gopacket says %d -> %d", p.HasPorts, p.SrcPort, p.DstPort, l.SrcPort, l.DstPort)
		}
	}
}
