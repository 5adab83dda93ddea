package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	out := flag.String("o", "bench.pcap", "output file")
	n := flag.Int("n", 1_000_000, "frames")
	flows := flag.Int("flows", 1000, "distinct flows (every fourth TCP, the rest UDP)")
	tunnelEvery := flag.Int("tunnel-every", 0, "put every k-th frame inside VXLAN (UDP 4789, VNI 100-107, underlay 198.18.200.1 -> 198.18.200.2); 0 for none")
	flag.Parse()
	if err := generate(*out, *n, *flows, *tunnelEvery); err != nil {
		fmt.Fprintln(os.Stderr, "genpcap:", err)
		os.Exit(1)
	}
}

func generate(path string, n, flows, tunnelEvery int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(128, layers.LinkTypeEthernet); err != nil {
		return err
	}
	// One template frame; per frame only addresses, ports and lengths change.
	buf := gopacket.NewSerializeBuffer()
	err = gopacket.SerializeLayers(buf, gopacket.SerializeOptions{},
		&layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{198, 18, 0, 1}, DstIP: []byte{198, 19, 0, 1}},
		&layers.UDP{}, gopacket.Payload(make([]byte, 128-42)))
	if err != nil {
		return err
	}
	frame := buf.Bytes()
	// The tunnelled template: the same inner frame after an underlay
	// Ethernet/IPv4/UDP/VXLAN header of 50 bytes, cut at the snap length.
	under := gopacket.NewSerializeBuffer()
	err = gopacket.SerializeLayers(under, gopacket.SerializeOptions{},
		&layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 1, 1}, DstMAC: []byte{2, 0, 0, 0, 1, 2}, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{198, 18, 200, 1}, DstIP: []byte{198, 18, 200, 2}},
		&layers.UDP{SrcPort: 50000, DstPort: 4789}, gopacket.Payload{0x08, 0, 0, 0, 0, 0, 100, 0})
	if err != nil {
		return err
	}
	outer := append([]byte(nil), under.Bytes()[:50]...) // without the Ethernet minimum's padding
	tunnelled := make([]byte, 128)
	base := time.Unix(1700000000, 0)
	for i := 0; i < n; i++ {
		fl := (i * 7919) % flows
		wire := 128 + (i*37)%1372
		binary.BigEndian.PutUint16(frame[16:], uint16(wire-14)) // IP total length
		frame[23] = 17                                          // UDP
		if fl%4 == 0 {
			frame[23] = 6 // every fourth flow is TCP: same port offsets
		}
		frame[28], frame[29] = byte(fl>>8), byte(fl)                // source 198.18.x.y
		frame[32], frame[33] = byte(fl%50), 1                       // destination 198.19.x.1
		binary.BigEndian.PutUint16(frame[34:], uint16(41000+fl))    // source port
		binary.BigEndian.PutUint16(frame[36:], uint16(31000+fl%20)) // destination port
		binary.BigEndian.PutUint16(frame[38:], uint16(wire-34))     // UDP length
		frame[46] = 0x50                                            // TCP data offset, if TCP
		frame[47] = 0x10                                            // TCP ACK
		frame[48], frame[49] = 0xff, 0xff                           // TCP window
		ci := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * 10 * time.Microsecond), CaptureLength: len(frame), Length: wire}
		data := frame
		if tunnelEvery > 0 && i%tunnelEvery == 0 {
			copy(tunnelled, outer)
			copy(tunnelled[len(outer):], frame)
			owire := wire + len(outer)
			binary.BigEndian.PutUint16(tunnelled[16:], uint16(owire-14))    // outer IP total length
			binary.BigEndian.PutUint16(tunnelled[34:], uint16(50000+fl%64)) // entropy source port
			binary.BigEndian.PutUint16(tunnelled[38:], uint16(owire-34))    // outer UDP length
			tunnelled[48] = byte(100 + fl%8)                                // VNI
			data, ci.Length, ci.CaptureLength = tunnelled, owire, len(tunnelled)
		}
		if err := w.WritePacket(ci, data); err != nil {
			return err
		}
	}
	return bw.Flush()
}
