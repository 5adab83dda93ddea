package prober

import (
	"net/netip"
	"testing"
	"time"
)

// nopConn sends nothing: benchmarks measure the prober's own work.
type nopConn struct{}

func (nopConn) send([]byte, netip.Addr, *sendOptions) error { return nil }
func (nopConn) run(handler)                                 {}
func (nopConn) batched() bool                               { return false }
func (nopConn) drain(handler)                               {}
func (nopConn) close() error                                { return nil }
func (nopConn) ipHeader() bool                              { return false }
func (nopConn) info() SocketInfo                            { return SocketInfo{Mode: ModeRaw, EchoID: 7} }
func (nopConn) link(bool) linkStatus                        { return linkOK }

// BenchmarkProbeCycle is one probe's whole userspace cost without the
// syscalls: schedule bookkeeping, marshalling, the transmit stamp, reply
// parsing, matching, RTT accounting (jitter, peaks, median, spike check)
// and the observer call.
func BenchmarkProbeCycle(b *testing.B) {
	p, err := New(Config{Interval: 10 * time.Millisecond, Timeout: time.Second, Observer: nopObserver{}})
	if err != nil {
		b.Fatal(err)
	}
	p.open = func(bool, Mode, string, uint16) (conn, error) { return nopConn{}, nil }
	if err := p.SetTargets([]Target{{Name: "t", Host: "198.18.0.2"}}); err != nil {
		b.Fatal(err)
	}
	var st *targetState
	for _, s := range *p.targets.Load() {
		st = s
	}
	c, _ := p.conn(false, "")
	from := netip.MustParseAddr("198.18.0.2")
	reply := make([]byte, icmpHeaderLen+defaultPayload)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now := p.mono()
		p.probe(st, now)
		seq := st.nextSeq - 1
		copy(reply, st.pkt)
		reply[0] = icmp4EchoReply
		reply[6], reply[7] = byte(seq>>8), byte(seq)
		tx := time.Now().UnixNano()
		p.onTxStamp(c, uint32(st.key)<<16|uint32(seq), tx)
		p.onMessage(c, from, reply, tx+50_000, true, 64)
	}
}

type nopObserver struct{}

func (nopObserver) ObserveRTT(string, time.Duration) {}

func BenchmarkParseMessage(b *testing.B) {
	r := echoReply(false, 1, 2, 56)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := parseMessage(r, false, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot1000 is a scrape's read of 1,000 targets.
func BenchmarkSnapshot1000(b *testing.B) {
	p, err := New(Config{Interval: time.Second, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ts := make([]Target, 1000)
	for i := range ts {
		ts[i] = Target{Host: netip.AddrFrom4([4]byte{198, 18, byte(128 + i/256), byte(i)}).String()}
	}
	if err := p.SetTargets(ts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.Snapshot()
	}
}
