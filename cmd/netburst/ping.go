package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/netburst/netburst/prober"
)

// errNoReply is returned (exit status 1) when not one probe was answered,
// as iputils ping does.
var errNoReply = errors.New("no reply received")

// pingFlags holds the ping subcommand's command line.
type pingFlags struct {
	interval, timeout string
	count             int
	iface             string
	size, ttl, tos    int
	mode              string
	csv               bool
	v4, v6            bool
	target            string
}

// registerPing adds `netburst ping`.
func registerPing(app *kingpin.Application) (*kingpin.CmdClause, runFunc) {
	f := &pingFlags{}
	cmd := app.Command("ping", "Ping one target like iputils ping, with kernel timestamps; the summary adds late replies, duplicates and RFC 3550 jitter.")
	cmd.Flag("interval", "Time between probes: seconds as iputils takes them (0.01) or a duration (10ms).").Short('i').Default("1").StringVar(&f.interval)
	cmd.Flag("count", "Stop after this many probes (0: until interrupted).").Short('c').Default("0").IntVar(&f.count)
	cmd.Flag("timeout", "Time to wait for each reply: seconds (1) or a duration (500ms); later replies are late.").Short('W').Default("1").StringVar(&f.timeout)
	cmd.Flag("interface", "Interface name (SO_BINDTODEVICE) or source address.").Short('I').StringVar(&f.iface)
	cmd.Flag("size", "Payload bytes (16..65507 for IPv4).").Short('s').Default("56").IntVar(&f.size)
	cmd.Flag("ttl", "IP TTL or IPv6 hop limit (0: system default).").Short('t').Default("0").IntVar(&f.ttl)
	cmd.Flag("tos", "IP TOS byte or IPv6 traffic class (DSCP << 2).").Short('Q').Default("0").IntVar(&f.tos)
	cmd.Flag("mode", "Socket kind: auto (datagram where net.ipv4.ping_group_range allows, else raw), datagram or raw.").Default("auto").EnumVar(&f.mode, "auto", "datagram", "raw")
	cmd.Flag("csv", "Print one `seq,rtt_seconds` line per reply; the summary follows as # comments.").BoolVar(&f.csv)
	cmd.Flag("ipv4", "Resolve the target to IPv4 only.").Short('4').BoolVar(&f.v4)
	cmd.Flag("ipv6", "Resolve the target to IPv6 only.").Short('6').BoolVar(&f.v6)
	cmd.Arg("target", "Host name or address to ping.").Required().StringVar(&f.target)
	return cmd, func(ctx context.Context, out io.Writer, _ warnFunc) error { return runPing(ctx, out, f) }
}

// parseSeconds accepts seconds as iputils does ("0.2") or a Go duration.
func parseSeconds(s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > 1e6 {
			return 0, fmt.Errorf("%q: want a non-negative number of seconds", s)
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want seconds (0.01) or a duration (10ms)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: negative", s)
	}
	return d, nil
}

func runPing(ctx context.Context, out io.Writer, f *pingFlags) error {
	interval, err := parseSeconds(f.interval)
	if err != nil {
		return usageError{fmt.Errorf("-i %w", err)}
	}
	if interval < time.Millisecond {
		return usageError{fmt.Errorf("-i %s: the interval must be at least 1ms", f.interval)}
	}
	timeout, err := parseSeconds(f.timeout)
	if err != nil {
		return usageError{fmt.Errorf("-W %w", err)}
	}
	if timeout <= 0 {
		return usageError{fmt.Errorf("-W %s: the timeout must be positive", f.timeout)}
	}
	if f.count < 0 {
		return usageError{fmt.Errorf("-c %d: the count must not be negative", f.count)}
	}
	if f.v4 && f.v6 {
		return usageError{errors.New("-4 and -6 exclude each other")}
	}
	mode, err := prober.ParseMode(f.mode)
	if err != nil {
		return usageError{err}
	}
	t := prober.Target{Name: f.target, Size: f.size, TTL: f.ttl, TOS: f.tos}
	if f.iface != "" {
		if a, err := netip.ParseAddr(f.iface); err == nil {
			t.Source = a.Unmap()
		} else {
			t.Interface = f.iface
		}
	}
	network := "ip"
	switch {
	case f.v4:
		network = "ip4"
	case f.v6:
		network = "ip6"
	case t.Source.IsValid() && t.Source.Is4():
		network = "ip4"
	case t.Source.IsValid():
		network = "ip6"
	}
	addr, err := resolveOne(ctx, network, f.target)
	if err != nil {
		return err
	}
	t.Host = addr.String()
	if err := prober.CheckSocket(addr.Is6(), mode, t.Interface); err != nil {
		// The exporter's words for the same failure: what to do first.
		if a := prober.Advice(err, t.Interface); a != "" {
			return fmt.Errorf("ping %s: %s (%w)", f.target, a, err)
		}
		return fmt.Errorf("ping %s: %w", f.target, err)
	}
	pr := &pingPrinter{out: out, csv: f.csv, min: time.Duration(math.MaxInt64)}
	p, err := prober.New(prober.Config{Interval: interval, Timeout: timeout, Mode: mode, Count: f.count, Observer: pr})
	if err != nil {
		return usageError{err}
	}
	if err := p.SetTargets([]prober.Target{t}); err != nil {
		return usageError{err}
	}
	if !f.csv {
		if addr.Is4() {
			fmt.Fprintf(out, "PING %s (%s) %d(%d) bytes of data.\n", f.target, addr, f.size, f.size+28)
		} else {
			fmt.Fprintf(out, "PING %s (%s) %d data bytes\n", f.target, addr, f.size)
		}
	}
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", f.target, err)
	}
	elapsed := time.Since(start)
	s := p.Snapshot()
	if len(s.Targets) != 1 {
		return fmt.Errorf("ping %s: prober lost its target", f.target)
	}
	pr.summary(f.target, s.Targets[0], elapsed)
	if s.Targets[0].Replies == 0 {
		return errNoReply
	}
	return nil
}

// resolveOne resolves the target as ping does: an address as is, a name
// to its first address of the wanted family.
func resolveOne(ctx context.Context, network, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if network == "ip4" && !a.Is4() || network == "ip6" && !a.Is6() {
			return netip.Addr{}, usageError{fmt.Errorf("%s is not an %s address", host, map[string]string{"ip4": "IPv4", "ip6": "IPv6"}[network])}
		}
		return a, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("%s: unknown host: %w", host, err)
	}
	return addrs[0].Unmap(), nil
}

// pingPrinter prints each outcome as iputils ping does and keeps the RTT
// sums for the summary. The prober calls it from its reader and sender
// goroutines, hence the lock.
type pingPrinter struct {
	mu   sync.Mutex
	out  io.Writer
	csv  bool
	n    int
	min  time.Duration
	max  time.Duration
	sum  float64 // seconds
	sum2 float64
}

// ObserveRTT implements prober.Observer (the sums are kept in
// ObserveResult, which sees the same replies).
func (p *pingPrinter) ObserveRTT(string, time.Duration) {}

// ObserveResult implements prober.ResultObserver.
func (p *pingPrinter) ObserveResult(r prober.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Kind == prober.ResultReply {
		p.n++
		p.min = min(p.min, r.RTT)
		p.max = max(p.max, r.RTT)
		s := r.RTT.Seconds()
		p.sum += s
		p.sum2 += s * s
	}
	if p.csv {
		if r.Kind == prober.ResultReply {
			fmt.Fprintf(p.out, "%d,%.9f\n", r.Seq, r.RTT.Seconds())
		}
		return
	}
	ttl := ""
	if r.TTL >= 0 {
		ttl = fmt.Sprintf(" ttl=%d", r.TTL)
	}
	switch r.Kind {
	case prober.ResultReply:
		fmt.Fprintf(p.out, "%d bytes from %s: icmp_seq=%d%s time=%s ms\n", r.Size, r.From, r.Seq, ttl, fmtMS(r.RTT))
	case prober.ResultDuplicate:
		fmt.Fprintf(p.out, "%d bytes from %s: icmp_seq=%d%s time=%s ms (DUP!)\n", r.Size, r.From, r.Seq, ttl, fmtMS(r.RTT))
	case prober.ResultLate:
		fmt.Fprintf(p.out, "%d bytes from %s: icmp_seq=%d%s time=%s ms (LATE)\n", r.Size, r.From, r.Seq, ttl, fmtMS(r.RTT))
	case prober.ResultLost:
		fmt.Fprintf(p.out, "no answer yet for icmp_seq=%d\n", r.Seq)
	case prober.ResultICMPError:
		fmt.Fprintf(p.out, "From %s icmp_seq=%d %s\n", r.From, r.Seq, icmpErrorText(r.Addr.Is6(), r.ICMPType, r.ICMPCode))
	case prober.ResultSendError:
		fmt.Fprintf(p.out, "ping: sendmsg: icmp_seq=%d: %v\n", r.Seq, r.Err)
	}
}

// fmtMS prints an RTT in milliseconds with iputils' precision: three
// significant decimals below 1 ms, fewer above.
func fmtMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f", ms)
	case ms >= 1:
		return fmt.Sprintf("%.2f", ms)
	}
	return fmt.Sprintf("%.3f", ms)
}

func icmpErrorText(v6 bool, typ, code uint8) string {
	if v6 {
		switch typ {
		case 1:
			switch code {
			case 0:
				return "Destination unreachable: No route"
			case 1:
				return "Destination unreachable: Administratively prohibited"
			case 3:
				return "Destination unreachable: Address unreachable"
			case 4:
				return "Destination unreachable: Port unreachable"
			}
			return fmt.Sprintf("Destination unreachable: code %d", code)
		case 2:
			return "Packet too big"
		case 3:
			return "Time exceeded: Hop limit"
		case 4:
			return "Parameter problem"
		}
		return fmt.Sprintf("ICMPv6 type %d code %d", typ, code)
	}
	switch typ {
	case 3:
		switch code {
		case 0:
			return "Destination Net Unreachable"
		case 1:
			return "Destination Host Unreachable"
		case 3:
			return "Destination Port Unreachable"
		case 4:
			return "Frag needed"
		case 13:
			return "Communication prohibited by filter"
		}
		return fmt.Sprintf("Destination Unreachable, code %d", code)
	case 4:
		return "Source Quench"
	case 11:
		return "Time to live exceeded"
	case 12:
		return "Parameter problem"
	}
	return fmt.Sprintf("ICMP type %d code %d", typ, code)
}

// summary prints iputils' closing statistics plus netburst's own line.
func (p *pingPrinter) summary(target string, ts prober.TargetStats, elapsed time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s ping statistics ---\n", target)
	loss := 0.0
	if ts.Sent > 0 {
		loss = 100 * float64(ts.Sent-ts.Replies) / float64(ts.Sent)
	}
	fmt.Fprintf(&b, "%d packets transmitted, %d received", ts.Sent, ts.Replies)
	if ts.Duplicates > 0 {
		fmt.Fprintf(&b, ", +%d duplicates", ts.Duplicates)
	}
	if ts.ICMPErrors > 0 {
		fmt.Fprintf(&b, ", +%d errors", ts.ICMPErrors)
	}
	fmt.Fprintf(&b, ", %g%% packet loss, time %dms\n", math.Round(loss*1000)/1000, elapsed.Milliseconds())
	if p.n > 0 {
		n := float64(p.n)
		avg := p.sum / n
		mdev := math.Sqrt(math.Max(0, p.sum2/n-avg*avg))
		fmt.Fprintf(&b, "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n",
			float64(p.min)/1e6, avg*1e3, float64(p.max)/1e6, mdev*1e3)
	}
	fmt.Fprintf(&b, "late %d, duplicates %d, reordered %d, jitter %.3f ms, timestamps %s\n",
		ts.Late, ts.Duplicates, ts.Reordered, float64(ts.Jitter)/1e6, ts.Source)
	text := b.String()
	if p.csv {
		text = "# " + strings.ReplaceAll(strings.TrimSuffix(text, "\n"), "\n", "\n# ") + "\n"
	}
	io.WriteString(p.out, text)
}
