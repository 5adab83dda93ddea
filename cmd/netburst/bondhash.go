package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"

	"github.com/netburst/netburst/bond"
	"github.com/netburst/netburst/packet"
)

// bondHashMaxSlaves bounds --slaves: far above any real bond, low enough to
// keep the per-slave tables small.
const bondHashMaxSlaves = 1024

// bondHashArgs holds bond-hash's parsed command line.
type bondHashArgs struct {
	policy   string
	slaves   int
	kernel   string
	json     bool
	top      int
	maxFlows int
	moves    int
	inputs   []string
}

func registerBondHash(app *kingpin.Application) (*kingpin.CmdClause, runFunc) {
	a := &bondHashArgs{}
	cmd := app.Command("bond-hash", "Which bond slave each flow leaves on, computed as the kernel's transmit hash policy does, per-slave totals, imbalance and which flows to move. Input: one pcap/pcapng file, or FLOW arguments such as tcp:198.18.0.1:40000-198.18.0.2:7000 (see docs/bond.md).")
	cmd.Flag("policy", "xmit_hash_policy: "+strings.Join(bond.PolicyNames(), ", ")+".").Required().StringVar(&a.policy)
	cmd.Flag("slaves", "Number of usable slaves (1-1024).").Required().IntVar(&a.slaves)
	cmd.Flag("kernel", "Kernel whose formulas to use: current, "+strings.Join(bond.VariantNames(), ", ")+" (first release of each variant).").Default("current").StringVar(&a.kernel)
	cmd.Flag("json", "Write the result as JSON (schema in docs/bond.md).").BoolVar(&a.json)
	cmd.Flag("top", "Flows listed in text output, heaviest first (0: all).").Default("20").IntVar(&a.top)
	cmd.Flag("max-flows", "Distinct flows kept from a capture; packets of further flows count in the slave totals only.").Default("100000").IntVar(&a.maxFlows)
	cmd.Flag("moves", "Most flow moves suggested to even the slaves out.").Default("5").IntVar(&a.moves)
	cmd.Arg("input", "FILE.pcap, or one or more FLOWs.").Required().StringsVar(&a.inputs)
	return cmd, func(ctx context.Context, out io.Writer) error { return runBondHash(ctx, a, out) }
}

// bondFlowKey identifies one directional flow and the slave it took; a flow
// whose packets hash differently (fragments) gets one entry per slave.
type bondFlowKey struct {
	etherType        uint16
	proto            uint8
	ip               bool
	src, dst         netip.Addr
	srcMAC, dstMAC   [6]byte
	srcPort, dstPort uint16
	hasPorts         bool
	spi              uint32 // ESP and AH
	icmp             bool
	icmpID           uint16
	slave            int
}

// bondFlowJSON is one entry of the "flows" array.
type bondFlowJSON struct {
	Protocol string  `json:"protocol"`
	Src      string  `json:"src"`
	SrcPort  uint16  `json:"src_port"`
	Dst      string  `json:"dst"`
	DstPort  uint16  `json:"dst_port"`
	ICMPID   *uint16 `json:"icmp_id,omitempty"`
	SPI      *uint32 `json:"spi,omitempty"`
	Packets  uint64  `json:"packets"`
	Bytes    uint64  `json:"bytes"`
	Slave    int     `json:"slave"`
	Hash     uint32  `json:"hash"`

	weight   uint64
	hasPorts bool
	flow     bond.Flow
}

// bondSlaveJSON is one entry of the "slaves" array.
type bondSlaveJSON struct {
	Index   int     `json:"index"`
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
	Share   float64 `json:"share"`
}

// bondMoveJSON is one suggested move.
type bondMoveJSON struct {
	Flow   int    `json:"flow"`
	From   int    `json:"from"`
	To     int    `json:"to"`
	Weight uint64 `json:"weight"`
	// SrcPort is a source port that would put the flow on To, for policies
	// that hash ports (absent otherwise or when none exists).
	SrcPort *uint16 `json:"src_port,omitempty"`
}

// bondHashResult is the JSON document.
type bondHashResult struct {
	Policy          string          `json:"policy"`
	Kernel          string          `json:"kernel"`
	SlaveCount      int             `json:"slave_count"`
	Weight          string          `json:"weight"`
	Flows           []bondFlowJSON  `json:"flows"`
	Slaves          []bondSlaveJSON `json:"slaves"`
	Imbalance       float64         `json:"imbalance"`
	Moves           []bondMoveJSON  `json:"moves"`
	UnlistedPackets uint64          `json:"unlisted_packets"`
	UnlistedBytes   uint64          `json:"unlisted_bytes"`
	NonIPPackets    uint64          `json:"non_ip_packets"`
}

func runBondHash(ctx context.Context, a *bondHashArgs, out io.Writer) error {
	policy, err := bond.ParsePolicy(a.policy)
	if err != nil {
		return usageError{err}
	}
	variant, err := bond.ParseVariant(a.kernel)
	if err != nil {
		return usageError{err}
	}
	h, err := bond.NewHasher(policy, variant)
	if err != nil {
		return usageError{err}
	}
	if a.slaves < 1 || a.slaves > bondHashMaxSlaves {
		return usageError{fmt.Errorf("--slaves %d: must be between 1 and %d", a.slaves, bondHashMaxSlaves)}
	}
	if a.top < 0 || a.moves < 0 || a.maxFlows < 1 {
		return usageError{errors.New("--top and --moves must be >= 0, --max-flows >= 1")}
	}
	agg := newBondAggregate(h, a.slaves, a.maxFlows)
	if len(a.inputs) == 1 && looksLikeFile(a.inputs[0]) {
		if err := agg.addFile(ctx, a.inputs[0]); err != nil {
			return err
		}
	} else {
		for _, s := range a.inputs {
			f, pk, by, err := parseFlowArg(s)
			if err != nil {
				return usageError{err}
			}
			agg.add(&f, pk, by)
		}
	}
	res := agg.result(a.moves)
	if a.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return writeBondHashText(out, res, a.top)
}

// looksLikeFile tells a capture file from a FLOW: FLOWs always hold
// "PROTO:" and a "-" between endpoints, files exist.
func looksLikeFile(s string) bool {
	if st, err := os.Stat(s); err == nil && st.Mode().IsRegular() {
		return true
	}
	for _, ext := range []string{".pcap", ".pcapng", ".cap", ".gz"} {
		if strings.HasSuffix(s, ext) {
			return true
		}
	}
	return false
}

// bondAggregate sums packets and bytes per flow and slave.
type bondAggregate struct {
	h        bond.Hasher
	n        int
	maxFlows int
	index    map[bondFlowKey]int
	flows    []bondFlowJSON
	slaves   []bondSlaveJSON
	unlisted [2]uint64
	nonIP    uint64
}

func newBondAggregate(h bond.Hasher, n, maxFlows int) *bondAggregate {
	g := &bondAggregate{h: h, n: n, maxFlows: maxFlows, index: map[bondFlowKey]int{}, slaves: make([]bondSlaveJSON, n)}
	for i := range g.slaves {
		g.slaves[i].Index = i
	}
	return g
}

func (g *bondAggregate) addFile(ctx context.Context, path string) error {
	r, err := packet.OpenFile(path)
	if err != nil {
		return err
	}
	defer r.Close()
	var p packet.Packet
	var f bond.Flow
	for i := 0; ; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		bond.FromPacket(&p, &f)
		g.add(&f, 1, uint64(p.WireLen))
	}
}

func (g *bondAggregate) add(f *bond.Flow, packets, bytes uint64) {
	hash := g.h.Hash(f)
	slave := int(hash % uint32(g.n))
	g.slaves[slave].Packets += packets
	g.slaves[slave].Bytes += bytes
	k := flowKeyOf(f, slave)
	if !k.ip {
		g.nonIP += packets
	}
	i, ok := g.index[k]
	if !ok {
		if len(g.flows) >= g.maxFlows {
			g.unlisted[0] += packets
			g.unlisted[1] += bytes
			return
		}
		i = len(g.flows)
		g.index[k] = i
		g.flows = append(g.flows, newFlowJSON(k, f, hash))
	}
	g.flows[i].Packets += packets
	g.flows[i].Bytes += bytes
}

func flowKeyOf(f *bond.Flow, slave int) bondFlowKey {
	k := bondFlowKey{etherType: f.EtherType, slave: slave}
	h := &f.Net
	if !h.Valid {
		h = &f.Encap
	}
	if !h.Valid {
		k.srcMAC, k.dstMAC = f.SrcMAC, f.DstMAC
		return k
	}
	k.ip, k.proto, k.src, k.dst = true, h.Proto, h.Src, h.Dst
	switch {
	case !h.HasL4 || h.Fragment:
	case h.Proto == 50 || h.Proto == 51:
		k.spi = h.Ports
	default:
		k.hasPorts, k.srcPort, k.dstPort = true, uint16(h.Ports>>16), uint16(h.Ports)
	}
	if h.HasICMP && (h.Proto == 1 || h.Proto == 58) {
		k.icmp, k.icmpID = true, h.ICMPID
	}
	return k
}

func newFlowJSON(k bondFlowKey, f *bond.Flow, hash uint32) bondFlowJSON {
	j := bondFlowJSON{Slave: k.slave, Hash: hash, flow: *f}
	if !k.ip {
		j.Protocol = etherTypeName(k.etherType)
		j.Src, j.Dst = net.HardwareAddr(k.srcMAC[:]).String(), net.HardwareAddr(k.dstMAC[:]).String()
		return j
	}
	j.Protocol = ipProtoName(k.proto)
	j.Src, j.Dst = k.src.String(), k.dst.String()
	j.SrcPort, j.DstPort = k.srcPort, k.dstPort
	j.hasPorts = k.hasPorts
	if k.icmp {
		id := k.icmpID
		j.ICMPID = &id
	}
	if k.proto == 50 || k.proto == 51 {
		spi := k.spi
		j.SPI = &spi
	}
	return j
}

var ipProtoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 33: "dccp", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6", 132: "sctp", 136: "udplite"}

func ipProtoName(p uint8) string {
	if n, ok := ipProtoNames[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

func etherTypeName(et uint16) string {
	switch et {
	case 0x0806:
		return "arp"
	case 0x8100, 0x88a8:
		return "vlan"
	}
	return fmt.Sprintf("ethertype-0x%04x", et)
}

// result finishes the aggregate: shares, imbalance and suggested moves.
func (g *bondAggregate) result(maxMoves int) *bondHashResult {
	res := &bondHashResult{
		Policy: g.h.Policy().String(), Kernel: g.h.Variant().String(), SlaveCount: g.n,
		Flows: g.flows, Slaves: g.slaves, Moves: []bondMoveJSON{},
		UnlistedPackets: g.unlisted[0], UnlistedBytes: g.unlisted[1], NonIPPackets: g.nonIP,
	}
	if res.Flows == nil {
		res.Flows = []bondFlowJSON{}
	}
	byBytes := false
	for _, s := range g.slaves {
		if s.Bytes > 0 {
			byBytes = true
		}
	}
	res.Weight = "packets"
	if byBytes {
		res.Weight = "bytes"
	}
	load := make([]uint64, g.n)
	var total uint64
	for i, s := range g.slaves {
		load[i] = s.Packets
		if byBytes {
			load[i] = s.Bytes
		}
		total += load[i]
	}
	for i := range res.Flows {
		res.Flows[i].weight = res.Flows[i].Packets
		if byBytes {
			res.Flows[i].weight = res.Flows[i].Bytes
		}
	}
	if total > 0 {
		var busiest uint64
		for i, l := range load {
			res.Slaves[i].Share = float64(l) / float64(total)
			busiest = max(busiest, l)
		}
		res.Imbalance = float64(busiest) / (float64(total) / float64(g.n))
	}
	res.Moves = suggestMoves(g.h, res.Flows, load, maxMoves)
	return res
}

// suggestMoves is a greedy rebalancing: while moves remain, take the most
// and the least loaded slave and move, from the former to the latter, the
// listed flow whose weight is closest to half their difference, provided it
// is smaller than the difference (so the pair's larger load shrinks). Each
// flow moves at most once. It is a hint about which flows matter, not an
// optimum.
func suggestMoves(h bond.Hasher, flows []bondFlowJSON, load []uint64, maxMoves int) []bondMoveJSON {
	moves := []bondMoveJSON{}
	load = append([]uint64(nil), load...)
	moved := make([]bool, len(flows))
	for len(moves) < maxMoves && len(load) > 1 {
		hi, lo := 0, 0
		for i, l := range load {
			if l > load[hi] {
				hi = i
			}
			if l < load[lo] {
				lo = i
			}
		}
		diff := load[hi] - load[lo]
		best := -1
		var bestDist uint64
		for i := range flows {
			w := flows[i].weight
			if moved[i] || flows[i].Slave != hi || w == 0 || w >= diff {
				continue
			}
			dist := absDiff(2*w, diff)
			if best < 0 || dist < bestDist {
				best, bestDist = i, dist
			}
		}
		if best < 0 {
			break
		}
		moved[best] = true
		w := flows[best].weight
		load[hi] -= w
		load[lo] += w
		m := bondMoveJSON{Flow: best, From: hi, To: lo, Weight: w}
		if p, ok := portFor(h, &flows[best], lo, len(load)); ok {
			m.SrcPort = &p
		}
		moves = append(moves, m)
	}
	return moves
}

// portFor finds the nearest source port above the flow's own that would
// hash it onto slave to, for policies that hash ports.
func portFor(h bond.Hasher, fj *bondFlowJSON, to, n int) (uint16, bool) {
	f := fj.flow
	hd := &f.Net
	if h.Policy() == bond.Encap34 {
		hd = &f.Encap
	} else if h.Policy() != bond.Layer34 {
		return 0, false
	}
	if !hd.Valid || !hd.HasL4 || hd.Fragment {
		return 0, false
	}
	sp := uint16(hd.Ports >> 16)
	for d := 1; d < 65536; d++ {
		p := sp + uint16(d)
		hd.Ports = uint32(p)<<16 | hd.Ports&0xffff
		if h.Slave(&f, n) == to {
			return p, true
		}
	}
	return 0, false
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

func writeBondHashText(out io.Writer, res *bondHashResult, top int) error {
	var packets, bytes uint64
	for _, s := range res.Slaves {
		packets += s.Packets
		bytes += s.Bytes
	}
	fmt.Fprintf(out, "policy %s, kernel %s, %d slave(s): %d flow(s), %d packet(s), %d byte(s)\n\n",
		res.Policy, res.Kernel, res.SlaveCount, len(res.Flows), packets, bytes)
	order := make([]int, len(res.Flows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return res.Flows[order[a]].weight > res.Flows[order[b]].weight })
	if top > 0 && len(order) > top {
		order = order[:top]
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tSLAVE\tPROTO\tSOURCE\tDESTINATION\tPACKETS\tBYTES\t")
	for _, i := range order {
		f := res.Flows[i]
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%d\t%d\t\n", i, f.Slave, f.Protocol, endpoint(f.Src, f.SrcPort, f, true), endpoint(f.Dst, f.DstPort, f, false), f.Packets, f.Bytes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(order) < len(res.Flows) {
		fmt.Fprintf(out, "(%d more flow(s); --top 0 lists all)\n", len(res.Flows)-len(order))
	}
	if res.UnlistedPackets > 0 {
		fmt.Fprintf(out, "(%d packet(s), %d byte(s) beyond --max-flows counted in the totals only)\n", res.UnlistedPackets, res.UnlistedBytes)
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "SLAVE\tPACKETS\tBYTES\tSHARE(%s)\t\n", res.Weight)
	for _, s := range res.Slaves {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f%%\t\n", s.Index, s.Packets, s.Bytes, 100*s.Share)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nimbalance (busiest slave / mean): %.2f\n", res.Imbalance)
	for _, m := range res.Moves {
		f := res.Flows[m.Flow]
		fmt.Fprintf(out, "move flow #%d %s %s -> %s (%d %s) from slave %d to slave %d", m.Flow, f.Protocol,
			endpoint(f.Src, f.SrcPort, f, true), endpoint(f.Dst, f.DstPort, f, false), m.Weight, res.Weight, m.From, m.To)
		if m.SrcPort != nil {
			fmt.Fprintf(out, " (e.g. source port %d)", *m.SrcPort)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func endpoint(addr string, port uint16, f bondFlowJSON, src bool) string {
	switch {
	case f.ICMPID != nil && src:
		return fmt.Sprintf("%s id %d", addr, *f.ICMPID)
	case !f.hasPorts:
		return addr
	case strings.Contains(addr, ":"):
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

// flowProtos maps FLOW protocol names to numbers.
var flowProtos = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132, "dccp": 33, "udplite": 136,
	"icmp": 1, "icmpv6": 58, "icmp6": 58, "esp": 50, "ah": 51, "gre": 47}

// parseFlowArg parses PROTO:SRC[:PORT]-DST[:PORT][,KEY=VALUE...] into a
// flow and its packet and byte counts (docs/bond.md).
func parseFlowArg(s string) (bond.Flow, uint64, uint64, error) {
	var f bond.Flow
	bad := func(format string, args ...any) (bond.Flow, uint64, uint64, error) {
		return f, 0, 0, fmt.Errorf("FLOW %q: %s (form: PROTO:SRC[:PORT]-DST[:PORT][,key=value...], e.g. tcp:198.18.0.1:40000-198.18.0.2:7000)", s, fmt.Sprintf(format, args...))
	}
	body, opts, _ := strings.Cut(s, ",")
	protoName, rest, ok := strings.Cut(body, ":")
	if !ok {
		return bad("no protocol")
	}
	proto, known := flowProtos[strings.ToLower(protoName)]
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
	h := bond.Header{Valid: true, Src: src, Dst: dst, Proto: proto}
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
	f.EtherType = 0x0800
	if src.Is6() {
		f.EtherType = 0x86DD
	}
	packets, bytes := uint64(1), uint64(0)
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
		f.Net.Proto = 44 // what bond_flow_ip sees: the fragment header
	}
	return f, packets, bytes, nil
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
