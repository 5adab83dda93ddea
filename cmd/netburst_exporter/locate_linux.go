//go:build linux

package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/netburst/netburst/capture"
	"github.com/netburst/netburst/locate"
)

// openEchoDevice opens a TPACKET_V3 capture of the named interface that
// only ever sees ICMP echoes: locate.EchoFilter runs in the kernel, so a
// NIC's storage traffic costs nothing here. (capture.OpenDevice takes no
// filter of the caller's choosing, hence this small twin of it.) The ring
// is small: echoes are few.
func openEchoDevice(name string, snaplen int) (capture.Device, error) {
	lt, err := echoLinkType(name)
	if err != nil {
		return capture.Device{}, err
	}
	prog, err := locate.EchoFilter(lt, snaplen)
	if err != nil {
		return capture.Device{}, fmt.Errorf("interface %s: %w", name, err)
	}
	tp, err := afpacket.NewTPacket(afpacket.OptInterface(name), afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(1<<11), afpacket.OptBlockSize(1<<16), afpacket.OptNumBlocks(8),
		afpacket.OptPollTimeout(100*time.Millisecond), afpacket.OptBlockTimeout(10*time.Millisecond))
	if err != nil {
		return capture.Device{}, fmt.Errorf("capture %s: AF_PACKET TPACKET_V3: %w", name, err)
	}
	if err := tp.SetBPF(prog); err != nil {
		tp.Close()
		return capture.Device{}, fmt.Errorf("capture %s: attach echo filter: %w", name, err)
	}
	return capture.Device{Name: name, LinkType: lt, Source: &echoSource{tp: tp}}, nil
}

// echoSource adapts an AF_PACKET socket to capture.Source.
type echoSource struct{ tp *afpacket.TPacket }

func (s *echoSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	if errors.Is(err, afpacket.ErrTimeout) {
		return nil, ci, capture.ErrTimeout
	}
	return data, ci, err
}

func (s *echoSource) KernelStats() (packets, drops uint64, err error) {
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return 0, 0, fmt.Errorf("packet socket statistics: %w", err)
	}
	return uint64(v3.Packets()), uint64(v3.Drops()), nil
}

func (s *echoSource) Close() error {
	s.tp.Close()
	return nil
}

// echoLinkType asks the kernel (in this thread's network namespace) for the
// interface's ARPHRD type: Ethernet (and loopback) frames, or raw IP (tun,
// WireGuard).
func echoLinkType(name string) (layers.LinkType, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("interface %s: socket: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	switch t := ifr.Uint16(); t {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return layers.LinkTypeEthernet, nil
	case unix.ARPHRD_NONE:
		return layers.LinkTypeRaw, nil
	default:
		return 0, fmt.Errorf("interface %s: ARPHRD type %d: %w", name, t, capture.ErrUnsupportedLinkType)
	}
}
