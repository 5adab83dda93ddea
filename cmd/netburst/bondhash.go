package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
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
	return cmd, func(ctx context.Context, out io.Writer, warn warnFunc) error { return runBondHash(ctx, a, out, warn) }
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
	// UndecodedPackets counts a capture's frames with neither an Ethernet
	// nor an IP header decoded (an unsupported link type, a cut header):
	// nothing to hash, so they are on no slave.
	UndecodedPackets uint64 `json:"undecoded_packets"`
	// Warnings are the lines also printed on stderr: what the result leaves
	// out of the capture.
	Warnings []string `json:"warnings"`
}

func runBondHash(ctx context.Context, a *bondHashArgs, out io.Writer, warn warnFunc) error {
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
	t, err := bond.NewFlowTable(h, a.slaves, a.maxFlows)
	if err != nil {
		return usageError{err}
	}
	var (
		undecoded uint64
		warnings  = []string{}
	)
	if len(a.inputs) == 1 && looksLikeFile(a.inputs[0]) {
		var err error
		if undecoded, warnings, err = addBondFile(ctx, t, a.inputs[0]); err != nil {
			return err
		}
		for _, w := range warnings {
			warn("%s", w)
		}
	} else {
		for _, s := range a.inputs {
			f, pk, by, err := bond.ParseFlow(s)
			if err != nil {
				return usageError{err}
			}
			t.Add(&f, pk, by)
		}
	}
	res := bondHashJSON(h, a.slaves, t.Result(a.moves))
	res.UndecodedPackets, res.Warnings = undecoded, warnings
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

// addBondFile adds every frame of a capture file to t, except those with
// nothing to hash, which it counts. It fails when no frame has anything to
// hash: a link type it cannot decode.
func addBondFile(ctx context.Context, t *bond.FlowTable, path string) (undecoded uint64, warnings []string, err error) {
	r, err := openCapture(path)
	if err != nil {
		return 0, nil, err
	}
	defer r.Close()
	var (
		p      packet.Packet
		f      bond.Flow
		frames uint64
	)
	for i := 0; ; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		ok, err := r.next(&p)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			break
		}
		frames++
		if !p.HasEthernet && p.IPVersion == 0 {
			undecoded++
			continue
		}
		bond.FromPacket(&p, &f)
		t.Add(&f, 1, uint64(p.WireLen))
	}
	warnings = r.warnings("")
	if undecoded > 0 && undecoded == frames {
		return 0, nil, fmt.Errorf("%s: none of its %s could be decoded (link type %s, %d): bond-hash reads Ethernet, Linux cooked and raw IP captures",
			path, plural(frames, "frame"), r.LinkType(), uint16(r.LinkType()))
	}
	if undecoded > 0 {
		warnings = append(warnings, fmt.Sprintf("%s: %s could not be decoded (no Ethernet or IP header): they are on no slave", path, plural(undecoded, "frame")))
	}
	if warnings == nil {
		warnings = []string{}
	}
	return undecoded, warnings, nil
}

// bondHashJSON is the JSON document of a Balance.
func bondHashJSON(h bond.Hasher, slaves int, b *bond.Balance) *bondHashResult {
	res := &bondHashResult{
		Policy: h.Policy().String(), Kernel: h.Variant().String(), SlaveCount: slaves, Weight: b.Weight.String(),
		Flows: make([]bondFlowJSON, 0, len(b.Flows)), Slaves: make([]bondSlaveJSON, 0, len(b.Slaves)),
		Imbalance: b.Imbalance, Moves: make([]bondMoveJSON, 0, len(b.Moves)),
		UnlistedPackets: b.UnlistedPackets, UnlistedBytes: b.UnlistedBytes, NonIPPackets: b.NonIPPackets,
	}
	for i := range b.Flows {
		res.Flows = append(res.Flows, flowJSON(&b.Flows[i], b.Weight))
	}
	for i, s := range b.Slaves {
		res.Slaves = append(res.Slaves, bondSlaveJSON{Index: i, Packets: s.Packets, Bytes: s.Bytes, Share: s.Share})
	}
	for _, m := range b.Moves {
		jm := bondMoveJSON{Flow: m.Flow, From: m.From, To: m.To, Weight: m.Weight}
		if m.HasSrcPort {
			p := m.SrcPort
			jm.SrcPort = &p
		}
		res.Moves = append(res.Moves, jm)
	}
	return res
}

func flowJSON(f *bond.FlowStat, w bond.Weight) bondFlowJSON {
	j := bondFlowJSON{Protocol: f.Protocol(), Packets: f.Packets, Bytes: f.Bytes, Slave: f.Slave, Hash: f.Hash, weight: w.Of(f.Packets, f.Bytes)}
	if !f.IP {
		j.Src, j.Dst = net.HardwareAddr(f.SrcMAC[:]).String(), net.HardwareAddr(f.DstMAC[:]).String()
		return j
	}
	j.Src, j.Dst = f.Src.String(), f.Dst.String()
	j.SrcPort, j.DstPort = f.SrcPort, f.DstPort
	j.hasPorts = f.HasPorts
	if f.HasICMPID {
		id := f.ICMPID
		j.ICMPID = &id
	}
	if f.Proto == 50 || f.Proto == 51 {
		spi := f.SPI
		j.SPI = &spi
	}
	return j
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
	if res.UndecodedPackets > 0 {
		fmt.Fprintf(out, "(%d packet(s) not decoded: on no slave)\n", res.UndecodedPackets)
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
