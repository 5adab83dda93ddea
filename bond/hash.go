package bond

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Policy is a bonding xmit_hash_policy (balance-xor, 802.3ad and, with
// tlb_dynamic_lb=0, balance-tlb/alb).
type Policy uint8

// The kernel's transmit hash policies, numbered as in
// include/uapi/linux/if_bonding.h (BOND_XMIT_POLICY_*).
const (
	Layer2     Policy = 0
	Layer34    Policy = 1
	Layer23    Policy = 2
	Encap23    Policy = 3
	Encap34    Policy = 4
	VLANSrcMAC Policy = 5
)

var policyNames = [...]string{
	Layer2:     "layer2",
	Layer34:    "layer3+4",
	Layer23:    "layer2+3",
	Encap23:    "encap2+3",
	Encap34:    "encap3+4",
	VLANSrcMAC: "vlan+srcmac",
}

// String returns the policy's sysfs name (e.g. "layer3+4").
func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// PolicyNames lists the valid policy names in the kernel's order.
func PolicyNames() []string { return append([]string(nil), policyNames[:]...) }

// ErrUnknownPolicy is returned by ParsePolicy for a name the kernel does
// not know.
var ErrUnknownPolicy = errors.New("unknown xmit hash policy")

// ParsePolicy parses a policy as sysfs writes it ("layer3+4"), also
// accepting the sysfs "layer3+4 1" form and the bare number.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(s)
	name, num, _ := strings.Cut(s, " ")
	for i, n := range policyNames {
		if name == n || (num == "" && name == fmt.Sprint(i)) {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (valid: %s)", ErrUnknownPolicy, s, strings.Join(policyNames[:], ", "))
}

// Variant selects which kernel's formulas Hash reproduces. The formulas
// changed several times; each variant is named after the first mainline
// release that computes it (stable backports blur these boundaries, see
// docs/bond.md).
type Variant uint8

// The kernel variants, oldest first. Current is the default.
const (
	// Legacy is bond_xmit_hash_policy_l2/l23/l34 of 3.9-3.12: per-policy
	// formulas, no folding, IPv4 addresses reduced to their low 16 bits.
	// Older kernels differ in that IPv6 fell back to layer2 (IPv6 hashing
	// came with commit 6b923cb7188d) and only TCP and UDP carried ports.
	Legacy Variant = iota
	// V3_13 is commit 32819dc18348 (3.13): one bond_xmit_hash, addresses
	// XORed whole (IPv6 through ipv6_addr_hash), folded by >>16 and >>8;
	// the layer2 part is the last bytes of the MACs only.
	V3_13
	// V3_17 is commit ce04d63502ca (3.17): the layer2 part also XORs the
	// EtherType as read from the frame (network byte order).
	V3_17
	// V4_15 is commit b5f862180d70 (4.15): the folded hash of every
	// IP-based policy is shifted right by one.
	V4_15
	// V5_5 is commits 58deb77cc52d and df98be06c94d (5.5): layer3+4 hashes
	// ICMP echo on its {type, code, id} word, ICMP errors on the header they
	// quote. The echo id is taken in network byte order.
	V5_5
	// V5_12 takes the ICMP echo id in host byte order (commit
	// a25f82228542, "flow_dissector: fix byteorder of dissected ICMP ID")
	// and adds vlan+srcmac (commit 7b8fc0103bb5).
	V5_12
	// V5_15 XORs the EtherType in host byte order (be16_to_cpu, from the
	// bonding XDP support, commit 9e2ee5c7e7c3).
	V5_15
	// V5_18 is commit 49aefd131739 (5.18, 2022): the right shift applies
	// only to layer3+4 and encap3+4, no longer to layer2+3 and encap2+3.
	V5_18
	// Current is the variant of today's kernels.
	Current = V5_18
)

var variantNames = [...]string{
	Legacy: "legacy",
	V3_13:  "3.13",
	V3_17:  "3.17",
	V4_15:  "4.15",
	V5_5:   "5.5",
	V5_12:  "5.12",
	V5_15:  "5.15",
	V5_18:  "5.18",
}

// String returns the variant's name as ParseVariant accepts it.
func (v Variant) String() string {
	if int(v) < len(variantNames) {
		return variantNames[v]
	}
	return fmt.Sprintf("variant(%d)", uint8(v))
}

// VariantNames lists the valid variant names, oldest first.
func VariantNames() []string { return append([]string(nil), variantNames[:]...) }

// ErrUnknownVariant is returned by ParseVariant for an unknown name.
var ErrUnknownVariant = errors.New("unknown kernel variant")

// ParseVariant parses a variant name ("5.18", "legacy", "current").
func ParseVariant(s string) (Variant, error) {
	s = strings.TrimSpace(s)
	if s == "current" || s == "" {
		return Current, nil
	}
	for i, n := range variantNames {
		if s == n {
			return Variant(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (valid: current, %s)", ErrUnknownVariant, s, strings.Join(variantNames[:], ", "))
}

// ErrPolicyNotInVariant is returned by NewHasher when the chosen kernel
// does not have the policy (encap* before 3.13, vlan+srcmac before 5.12).
var ErrPolicyNotInVariant = errors.New("policy does not exist in that kernel")

// Header is one IP header and what follows it, as the kernel's hash reads
// them.
type Header struct {
	// Valid is set when an IP header (version given by the addresses) was
	// present and complete.
	Valid bool
	// Src and Dst are the addresses (both IPv4 or both IPv6).
	Src, Dst netip.Addr
	// Proto is the protocol the kernel continues with: the IPv4 protocol,
	// or for IPv6 the header's own Next Header field (bond_flow_ip does not
	// walk extension headers; the flow dissector behind encap* does, and
	// Flow.Encap then holds the final one).
	Proto uint8
	// Fragment is set for any IP fragment, first included: the kernel
	// hashes fragments without ports.
	Fragment bool
	// HasL4 is set when the four bytes at the protocol's ports offset were
	// present; Ports holds them big-endian (source port << 16 | destination
	// port for TCP/UDP/SCTP/DCCP/UDP-Lite, the SPI for ESP and AH).
	HasL4 bool
	Ports uint32
	// HasICMP is set for an ICMP/ICMPv6 header (Proto 1 or 58) of at least
	// 8 bytes; ICMPID is the identifier field as a number (host order).
	HasICMP            bool
	ICMPType, ICMPCode uint8
	ICMPID             uint16
}

// Flow is what the bonding driver's transmit hash reads from one packet.
// Fill it with ParseFrame (from the frame's bytes, exact), FromPacket (from
// a packet.Packet summary) or ParseFlow (from a FLOW argument).
type Flow struct {
	// DstMAC and SrcMAC are the Ethernet addresses.
	DstMAC, SrcMAC [6]byte
	// EtherType is h_proto of the Ethernet header as the bond sees it: a
	// VLAN device above a bond hands it the tag out of band, so this is the
	// type after the tag (0x0800, 0x86DD, 0x0806 ...).
	EtherType uint16
	// HasVLAN and VLANTCI are the out-of-band tag (skb->vlan_tci: priority
	// << 13 | DEI << 12 | VLAN ID) that vlan+srcmac hashes.
	HasVLAN bool
	VLANTCI uint16
	// Net is the network header the layer2+3 and layer3+4 policies read.
	Net Header
	// Quoted is the IP header (and its first 8 bytes of payload) quoted by
	// an ICMP or ICMPv6 error in Net, if any: since 5.5 the kernel hashes
	// the error like the flow that caused it.
	Quoted Header
	// Encap is the innermost network/transport header the kernel's flow
	// dissector reaches (through VLAN tags in the frame, IPIP, SIT, IPv6
	// extension headers, GRE and GRE-carried Ethernet); EncapOK is false
	// when it could not dissect the packet at all. encap2+3 and encap3+4
	// read it. For a packet without tunnel it equals Net, except for IPv6
	// extension headers.
	Encap   Header
	EncapOK bool
}

// Hasher computes the transmit hash of one policy under one kernel
// variant. Its zero value is layer2 on the legacy kernel; use NewHasher.
type Hasher struct {
	policy  Policy
	variant Variant
}

// NewHasher returns a Hasher for policy as variant computes it.
func NewHasher(p Policy, v Variant) (Hasher, error) {
	if int(p) >= len(policyNames) {
		return Hasher{}, fmt.Errorf("%w %d", ErrUnknownPolicy, p)
	}
	if int(v) >= len(variantNames) {
		return Hasher{}, fmt.Errorf("%w %d", ErrUnknownVariant, v)
	}
	if (p == Encap23 || p == Encap34) && v < V3_13 || p == VLANSrcMAC && v < V5_12 {
		return Hasher{}, fmt.Errorf("%w: %s needs kernel %s or later, not %s", ErrPolicyNotInVariant, p,
			map[Policy]string{Encap23: "3.13", Encap34: "3.13", VLANSrcMAC: "5.12"}[p], v)
	}
	return Hasher{policy: p, variant: v}, nil
}

// Policy returns the hasher's policy.
func (h Hasher) Policy() Policy { return h.policy }

// Variant returns the hasher's kernel variant.
func (h Hasher) Variant() Variant { return h.variant }

// Slave returns the index, among n usable slaves, of the slave the flow
// leaves on: hash mod n, as bond_xmit_3ad_xor_slave_get picks it from the
// usable-slaves array (legacy kernels took hash mod all slaves and walked
// forward to the first usable one). It returns -1 when n <= 0.
func (h Hasher) Slave(f *Flow, n int) int {
	if n <= 0 {
		return -1
	}
	return slaveOf(h.Hash(f), n)
}

// slaveOf is the index of the slave that hash picks among n > 0.
func slaveOf(hash uint32, n int) int { return int(hash % uint32(n)) }

// Hash returns the kernel's transmit hash of f. Multi-byte fields the
// kernel loads from packet memory as native integers are loaded
// little-endian, as on x86-64 and arm64 (the hash differs on big-endian
// hosts). It allocates nothing.
func (h Hasher) Hash(f *Flow) uint32 {
	if h.variant == Legacy {
		return h.legacyHash(f)
	}
	if h.policy == VLANSrcMAC {
		return vlanSrcMACHash(f)
	}
	if h.policy == Layer2 {
		return h.ethHash(f)
	}
	var k keys
	if !h.dissect(f, &k) {
		return h.ethHash(f)
	}
	var hash uint32
	switch {
	case h.policy == Layer23 || h.policy == Encap23:
		hash = h.ethHash(f)
	case k.icmpID != 0:
		// memcpy(&hash, &flow.icmp, 4): bytes {type, code, id (u16 as
		// stored)}, read as a little-endian u32.
		hash = uint32(k.icmpType) | uint32(k.icmpCode)<<8 | uint32(k.icmpID)<<16
	default:
		// memcpy(&hash, &flow.ports.ports, 4): the four port bytes as on
		// the wire, read as a little-endian u32.
		hash = le32(k.ports)
	}
	hash ^= k.dst ^ k.src
	hash ^= hash >> 16
	hash ^= hash >> 8
	if h.variant >= V5_18 {
		if h.policy == Layer34 || h.policy == Encap34 {
			hash >>= 1
		}
	} else if h.variant >= V4_15 {
		hash >>= 1
	}
	return hash
}

// keys is the part of the kernel's struct flow_keys the hash reads.
type keys struct {
	src, dst           uint32 // flow_get_u32_src/dst
	ports              uint32 // big-endian word as on the wire
	icmpType, icmpCode uint8
	icmpID             uint16 // as stored in flow_dissector_key_icmp
}

// ethHash is bond_eth_hash: h_dest[5] ^ h_source[5] (^ h_proto since 3.17).
func (h Hasher) ethHash(f *Flow) uint32 {
	v := uint32(f.DstMAC[5] ^ f.SrcMAC[5])
	switch {
	case h.variant >= V5_15:
		v ^= uint32(f.EtherType) // be16_to_cpu(h_proto)
	case h.variant >= V3_17:
		v ^= uint32(swap16(f.EtherType)) // __be16 h_proto used as a number
	}
	return v
}

// vlanSrcMACHash is bond_vlan_srcmac_hash: vlan ^ srcmac_vendor ^ srcmac_dev.
func vlanSrcMACHash(f *Flow) uint32 {
	vendor := uint32(f.SrcMAC[0])<<16 | uint32(f.SrcMAC[1])<<8 | uint32(f.SrcMAC[2])
	dev := uint32(f.SrcMAC[3])<<16 | uint32(f.SrcMAC[4])<<8 | uint32(f.SrcMAC[5])
	var vlan uint32
	if f.HasVLAN {
		vlan = uint32(f.VLANTCI)
	}
	return vlan ^ vendor ^ dev
}

// dissect is bond_flow_dissect: it fills k and reports whether the packet
// could be dissected (else the kernel falls back to the layer2 hash).
func (h Hasher) dissect(f *Flow, k *keys) bool {
	if h.policy == Encap23 || h.policy == Encap34 {
		if !f.EncapOK {
			return false
		}
		e := &f.Encap
		if e.Valid {
			k.src, k.dst = addr32(e.Src), addr32(e.Dst)
			if !e.Fragment && e.HasL4 && portsOffset(e.Proto) >= 0 {
				k.ports = e.Ports
			}
			if h.variant >= V5_5 && !e.Fragment && e.HasICMP && (e.Proto == 1 || e.Proto == 58) {
				h.icmpKey(e, k)
			}
		}
		return true
	}
	l34 := h.policy == Layer34
	if !f.Net.Valid || !ipEtherType(f.EtherType, f.Net.Src) {
		return false
	}
	ipProto := flowIP(&f.Net, k, l34)
	if h.variant < V5_5 || (ipProto != 1 && ipProto != 58) {
		return true
	}
	// ICMP (since 5.5): the type/code/id key, and for errors the quoted
	// header's addresses and ports.
	if f.Net.HasICMP {
		h.icmpKey(&f.Net, k)
	}
	if ipProto == 1 && !icmpIsErr(k.icmpType) || ipProto == 58 && !icmpv6IsErr(k.icmpType) {
		return true
	}
	if !f.Quoted.Valid || !ipEtherType(f.EtherType, f.Quoted.Src) {
		// bond_flow_ip on the quoted header fails: layer2 fallback.
		return false
	}
	flowIP(&f.Quoted, k, l34)
	return true
}

// flowIP is bond_flow_ip for a valid header: addresses, and the ports word
// when l34 and the protocol has one. It returns the kernel's ip_proto
// (-1 for an IPv4 fragment).
func flowIP(hd *Header, k *keys, l34 bool) int {
	k.src, k.dst = addr32(hd.Src), addr32(hd.Dst)
	ipProto := int(hd.Proto)
	if hd.Fragment && (hd.Src.Is4() || !ipv6ExtHeader(hd.Proto)) {
		// An IPv4 fragment leaves ip_proto at -1 (a quoted one: at the
		// outer ICMP, which has no ports either); an IPv6 fragment's Next
		// Header is an extension header, which has none.
		ipProto = -1
	}
	if l34 && ipProto >= 0 {
		k.ports = 0
		if !hd.Fragment && hd.HasL4 && portsOffset(uint8(ipProto)) >= 0 {
			k.ports = hd.Ports
		}
	}
	return ipProto
}

// ipv6ExtHeader reports whether p is an IPv6 extension header the flow
// dissector walks (hop-by-hop, routing, fragment, destination options).
func ipv6ExtHeader(p uint8) bool { return p == 0 || p == 43 || p == 44 || p == 60 }

// icmpKey is skb_flow_get_icmp_tci: type, code and, for the types that
// carry one, the identifier (0 replaced by 1, so that 0 means "none").
func (h Hasher) icmpKey(hd *Header, k *keys) {
	k.icmpType, k.icmpCode, k.icmpID = hd.ICMPType, hd.ICMPCode, 0
	if !icmpHasID(hd.ICMPType) {
		return
	}
	id := hd.ICMPID
	if h.variant < V5_12 {
		id = swap16(id) // stored as read from the wire
	}
	if id == 0 {
		id = 1
	}
	k.icmpID = id
}

// legacyHash is bond_xmit_hash_policy_l2/_l23/_l34 of 3.10-3.12, before
// the "% count".
func (h Hasher) legacyHash(f *Flow) uint32 {
	l2 := uint32(f.DstMAC[5] ^ f.SrcMAC[5])
	n := &f.Net
	if h.policy == Layer2 || !n.Valid || !ipEtherType(f.EtherType, n.Src) {
		return l2
	}
	if n.Src.Is4() {
		s, d := n.Src.As4(), n.Dst.As4()
		// ntohl(saddr ^ daddr) & 0xffff: the low 16 bits of the addresses
		// read big-endian, i.e. their last two bytes.
		a := uint32(s[2]^d[2])<<8 | uint32(s[3]^d[3])
		if h.policy == Layer23 {
			return a ^ l2
		}
		var l4 uint32
		if !n.Fragment && n.HasL4 && portsOffset(n.Proto) >= 0 {
			l4 = n.Ports>>16 ^ n.Ports&0xffff // ntohs(l4[0] ^ l4[1])
		}
		return l4 ^ a
	}
	// IPv6: s6_addr32[1..3] XORed as native words, folded by 24, 16, 8.
	s, d := n.Src.As16(), n.Dst.As16()
	var v uint32
	for i := 4; i < 16; i += 4 {
		v ^= le32b(s[i:i+4]) ^ le32b(d[i:i+4])
	}
	if h.policy == Layer23 {
		v ^= v>>24 ^ v>>16 ^ v>>8
		return v ^ l2
	}
	var l4 uint32
	if n.HasL4 && portsOffset(n.Proto) >= 0 {
		l4 = n.Ports>>16 ^ n.Ports&0xffff
	}
	v ^= l4
	v ^= v>>24 ^ v>>16 ^ v>>8
	return v
}

// ipEtherType reports whether et announces the address family of a.
func ipEtherType(et uint16, a netip.Addr) bool {
	return et == 0x0800 && a.Is4() || et == 0x86DD && a.Is6() && !a.Is4In6()
}

// portsOffset is proto_ports_offset: where the 4 bytes hashed as "ports"
// start in the transport header, or -1.
func portsOffset(proto uint8) int {
	switch proto {
	case 6, 17, 33, 50, 132, 136: // TCP, UDP, DCCP, ESP (SPI), SCTP, UDP-Lite
		return 0
	case 51: // AH: SPI
		return 4
	}
	return -1
}

// icmpHasID is the flow dissector's icmp_has_id (checked for ICMP and
// ICMPv6 alike).
func icmpHasID(t uint8) bool {
	switch t {
	case 8, 0, 13, 14, 128, 129: // echo, echo reply, timestamp, timestamp reply, ICMPv6 echo request/reply
		return true
	}
	return false
}

// icmpIsErr is icmp_is_err.
func icmpIsErr(t uint8) bool {
	switch t {
	case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
		return true
	}
	return false
}

// icmpv6IsErr is icmpv6_is_err.
func icmpv6IsErr(t uint8) bool { return t >= 1 && t <= 4 }

// addr32 is flow_get_u32_src/dst: the IPv4 address as a native word, or
// ipv6_addr_hash (the XOR of the four native words) of an IPv6 one.
func addr32(a netip.Addr) uint32 {
	if a.Is4() {
		b := a.As4()
		return le32b(b[:])
	}
	b := a.As16()
	return le32b(b[0:4]) ^ le32b(b[4:8]) ^ le32b(b[8:12]) ^ le32b(b[12:16])
}

// le32b loads 4 bytes as a little-endian word (a native load on x86-64).
func le32b(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// le32 loads the big-endian word w, as stored in memory, natively.
func le32(w uint32) uint32 {
	return w>>24 | w>>8&0xff00 | w<<8&0xff0000 | w<<24
}

func swap16(v uint16) uint16 { return v>>8 | v<<8 }
