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
	flag.Parse()
	if err := generate(*out, *n, *flows); err != nil {
		fmt.Fprintln(os.Stderr, "genpcap:", err)
		os.Exit(1)
	}
}

func generate(path string, n, flows int) error {
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
		if err := w.WritePacket(ci, frame); err != nil {
			return err
		}
	}
	return bw.Flush()
}
