package bond

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ipProtoNames names the IP protocols of FLOWs (ParseFlow, which also
// takes "icmp6") and of FlowKey.Protocol.
var ipProtoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 33: "dccp", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6", 132: "sctp", 136: "udplite"}

// ParseFlow parses a FLOW, PROTO:SRC[:PORT]-DST[:PORT][,KEY=VALUE...]
// (docs/bond.md), into the flow the hash reads and the packets and bytes it
// stands for (packets=, default 1; bytes=, default 0).
func ParseFlow(s string) (f Flow, packets, bytes uint64, err error) {
	bad := func(format string, args ...any) (Flow, uint64, uint64, error) {
		return f, 0, 0, fmt.Errorf("FLOW %q: %s (form: PROTO:SRC[:PORT]-DST[:PORT][,key=value...], e.g. tcp:198.18.0.1:40000-198.18.0.2:7000)", s, fmt.Sprintf(format, args...))
	}
	body, opts, _ := strings.Cut(s, ",")
	protoName, rest, ok := strings.Cut(body, ":")
	if !ok {
		return bad("no protocol")
	}
	proto, known := ipProtoNumber(strings.ToLower(protoName))
	if !known {
		n, err := strconv.ParseUint(protoName, 10, 8)
		if err != nil {
			return bad("unknown protocol %q", protoName)
		}
		proto = uint8(n)
	}
	srcS, dstS, ok := strings.Cut(rest, "-")
	if !ok {
		return bad("no '-' between source and destination")
	}
	hasPorts := proto == 6 || proto == 17 || proto == 132 || proto == 33 || proto == 136
	src, sp, err := parseEndpoint(srcS, hasPorts)
	if err != nil {
		return bad("source: %v", err)
	}
	dst, dp, err := parseEndpoint(dstS, hasPorts)
	if err != nil {
		return bad("destination: %v", err)
	}
	if src.Is4() != dst.Is4() {
		return bad("source and destination are of different address families")
	}
	h := Header{Valid: true, Src: src, Dst: dst, Proto: proto}
	if hasPorts {
		h.HasL4, h.Ports = true, uint32(sp)<<16|uint32(dp)
	}
	if proto == 1 || proto == 58 {
		h.HasICMP = true
		h.ICMPType = 8
		if proto == 58 {
			h.ICMPType = 128
		}
	}
	f.EtherType = etherTypeIPv4
	if src.Is6() {
		f.EtherType = etherTypeIPv6
	}
	packets = 1
	var prio uint64
	if opts != "" {
		for _, kv := range strings.Split(opts, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return bad("option %q is not key=value", kv)
			}
			var err error
			var n uint64
			switch k {
			case "smac", "dmac":
				var mac net.HardwareAddr
				if mac, err = net.ParseMAC(v); err == nil && len(mac) != 6 {
					err = errors.New("not a 6-byte MAC address")
				}
				if err == nil && k == "smac" {
					copy(f.SrcMAC[:], mac)
				} else if err == nil {
					copy(f.DstMAC[:], mac)
				}
			case "vlan":
				if n, err = strconv.ParseUint(v, 10, 12); err == nil {
					f.HasVLAN, f.VLANTCI = true, f.VLANTCI&0xf000|uint16(n)
				}
			case "prio":
				if prio, err = strconv.ParseUint(v, 10, 3); err == nil {
					f.VLANTCI = f.VLANTCI&0x0fff | uint16(prio)<<13
				}
			case "packets":
				packets, err = strconv.ParseUint(v, 10, 64)
			case "bytes":
				bytes, err = strconv.ParseUint(v, 10, 64)
			case "type", "code":
				if !h.HasICMP {
					return bad("%s= needs protocol icmp or icmpv6", k)
				}
				if n, err = strconv.ParseUint(v, 10, 8); err == nil && k == "type" {
					h.ICMPType = uint8(n)
				} else if err == nil {
					h.ICMPCode = uint8(n)
				}
			case "id":
				if !h.HasICMP {
					return bad("id= needs protocol icmp or icmpv6")
				}
				if n, err = strconv.ParseUint(v, 0, 16); err == nil {
					h.ICMPID = uint16(n)
				}
			case "spi":
				if proto != 50 && proto != 51 {
					return bad("spi= needs protocol esp or ah")
				}
				if n, err = strconv.ParseUint(v, 0, 32); err == nil {
					h.HasL4, h.Ports = true, uint32(n)
				}
			case "frag":
				var b bool
				if b, err = strconv.ParseBool(v); err == nil {
					h.Fragment = b
				}
			default:
				return bad("unknown option %q (smac, dmac, vlan, prio, packets, bytes, type, code, id, spi, frag)", k)
			}
			if err != nil {
				return bad("option %s: %v", k, err)
			}
		}
	}
	if prio != 0 && !f.HasVLAN {
		return bad("prio= needs vlan=")
	}
	f.Net, f.Encap, f.EncapOK = h, h, true
	if src.Is6() && h.Fragment {
		f.Net.Proto = protoIPv6Fragment
	}
	return f, packets, bytes, nil
}

// ipProtoNumber is the protocol of a FLOW's protocol name.
func ipProtoNumber(name string) (uint8, bool) {
	if name == "icmp6" {
		return 58, true
	}
	for p, n := range ipProtoNames {
		if n == name {
			return p, true
		}
	}
	return 0, false
}

// parseEndpoint parses ADDR, ADDR:PORT, [V6ADDR] or [V6ADDR]:PORT.
func parseEndpoint(s string, wantPort bool) (netip.Addr, uint16, error) {
	host, portS := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return netip.Addr{}, 0, errors.New("missing ']'")
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return netip.Addr{}, 0, fmt.Errorf("unexpected %q after ']'", rest)
			}
			portS = rest[1:]
		}
	case strings.Count(s, ":") == 1:
		host, portS, _ = strings.Cut(s, ":")
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	addr = addr.Unmap()
	if addr.Zone() != "" {
		return netip.Addr{}, 0, errors.New("zones are not part of a flow")
	}
	if wantPort != (portS != "") {
		if wantPort {
			return netip.Addr{}, 0, errors.New("port missing")
		}
		return netip.Addr{}, 0, errors.New("this protocol has no ports")
	}
	var port uint64
	if portS != "" {
		if port, err = strconv.ParseUint(portS, 10, 16); err != nil {
			return netip.Addr{}, 0, fmt.Errorf("port: %w", err)
		}
	}
	return addr, uint16(port), nil
}
