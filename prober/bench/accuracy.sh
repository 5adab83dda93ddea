#!/usr/bin/env bash
# accuracy.sh: how close each pinger's RTT is to the wire.
#
# Two network namespaces joined by a veth pair (198.18.200.1 <-> .2). For
# each pinger (netburst ping, iputils ping, pro-bing: the library behind
# smokeping_prober), tcpdump with nanosecond timestamps records the echo
# requests and replies on the sending interface; the wire RTT of each seq
# is reply time - request time there. The script prints p50/p99/max of
# |RTT reported - wire RTT|, on an idle machine and with both cores kept
# busy by spinning shells. Run as root from the repository root:
#
#   prober/bench/accuracy.sh [COUNT] [INTERVAL_SECONDS]   (default 2000 0.01)
#
# Needs: go, ip, tcpdump, tshark, iputils ping, python3. pro-bing is built in
# a throw-away module from the Go module proxy; it is not a dependency of
# netburst.
set -euo pipefail
COUNT=${1:-2000}
INTERVAL=${2:-0.01}
ROOT=$(pwd)
TMP=$(mktemp -d /tmp/nb-accuracy.XXXXXX)
A=nbb-a-$$
B=nbb-b-$$
SPIN=()
cleanup() {
	for p in "${SPIN[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building netburst and a pro-bing pinger in $TMP" >&2
CGO_ENABLED=0 go build -o "$TMP/netburst" ./cmd/netburst
mkdir "$TMP/probing"
cat >"$TMP/probing/main.go" <<'EOF'
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

func main() {
	count := flag.Int("c", 100, "count")
	interval := flag.Duration("i", 10*time.Millisecond, "interval")
	flag.Parse()
	p, err := probing.NewPinger(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p.SetPrivileged(true)
	p.Count, p.Interval, p.Timeout = *count, *interval, time.Duration(*count)*(*interval)+5*time.Second
	p.OnRecv = func(pkt *probing.Packet) { fmt.Printf("%d,%.9f\n", pkt.Seq, pkt.Rtt.Seconds()) }
	if err := p.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
EOF
(cd "$TMP/probing" && go mod init probingbench >/dev/null 2>&1 && go get github.com/prometheus-community/pro-bing@latest >/dev/null 2>&1 && CGO_ENABLED=0 go build -o ../probing-ping .)
PROBING_VERSION=$(cd "$TMP/probing" && go list -m -f '{{.Version}}' github.com/prometheus-community/pro-bing)

ip netns add "$A"
ip netns add "$B"
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip link add name "nbba$$" type veth peer name "nbbb$$"
ip link set "nbba$$" netns "$A"
ip link set "nbbb$$" netns "$B"
ip -n "$A" link set "nbba$$" name a0
ip -n "$B" link set "nbbb$$" name b0
ip -n "$A" addr add 198.18.200.1/30 dev a0
ip -n "$B" addr add 198.18.200.2/30 dev b0
ip -n "$A" link set a0 up
ip -n "$B" link set b0 up
ip netns exec "$A" ping -c 2 -i 0.2 -q 198.18.200.2 >/dev/null

run_tool() { # condition tool
	local pcap="$TMP/$1-$2.pcap" out="$TMP/$1-$2.out"
	ip netns exec "$A" tcpdump -i a0 -n -s 128 --time-stamp-precision=nano -w "$pcap" icmp 2>/dev/null &
	local td=$!
	sleep 1
	case $2 in
	netburst) ip netns exec "$A" "$TMP/netburst" ping --csv -c "$COUNT" -i "$INTERVAL" 198.18.200.2 >"$out" ;;
	iputils) ip netns exec "$A" ping -c "$COUNT" -i "$INTERVAL" 198.18.200.2 >"$out" ;;
	pro-bing) ip netns exec "$A" "$TMP/probing-ping" -c "$COUNT" -i "${INTERVAL}s" 198.18.200.2 >"$out" ;;
	esac
	sleep 0.5
	kill -INT "$td"
	wait "$td" 2>/dev/null || true
	tshark -r "$pcap" -T fields -e frame.time_epoch -e icmp.type -e icmp.ident -e icmp.seq >"$pcap.txt" 2>/dev/null
}

for cond in idle busy; do
	if [ "$cond" = busy ]; then
		for _ in 1 2; do
			sh -c 'while :; do :; done' &
			SPIN+=($!)
		done
	fi
	for tool in netburst iputils pro-bing; do
		echo "running $tool ($cond): $COUNT probes every ${INTERVAL}s" >&2
		run_tool "$cond" "$tool"
	done
	if [ "$cond" = busy ]; then
		for p in "${SPIN[@]}"; do kill "$p"; done
		SPIN=()
	fi
done

python3 - "$TMP" "$COUNT" "$INTERVAL" "$PROBING_VERSION" <<'EOF'
import re, sys
tmp, count, interval, pbv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def ns(s):
    whole, _, frac = s.partition('.')
    return int(whole) * 10**9 + int((frac + '000000000')[:9])

def wire(path):
    req, rep = {}, {}
    for line in open(path):
        f = line.split('\t')
        if len(f) < 4 or not f[3].strip():
            continue
        t, typ, ident, seq = ns(f[0]), f[1], f[2].split(',')[0], int(f[3].split(',')[0])
        key = (ident, seq)
        if typ == '8':
            req.setdefault(key, t)
        elif typ == '0':
            rep.setdefault(key, t)
    out = {}
    for k, t in req.items():
        if k in rep:
            out.setdefault(k[1], []).append(rep[k] - t)
    return out

def tool(path, kind):
    out = {}
    for line in open(path):
        if kind == 'iputils':
            m = re.search(r'icmp_seq=(\d+) .*time=([\d.]+) ms', line)
            if m:
                out[int(m.group(1))] = round(float(m.group(2)) * 1e6)
        else:
            m = re.match(r'^(\d+),([\d.]+)$', line.strip())
            if m:
                out[int(m.group(1))] = ns(m.group(2))
    return out

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]

print(f"| condition | pinger | replies matched | median wire RTT | p50 \\|RTT - wire\\| | p99 | max |")
print("|---|---|---|---|---|---|---|")
for cond in ('idle', 'busy'):
    for t in ('netburst', 'iputils', 'pro-bing'):
        w = wire(f"{tmp}/{cond}-{t}.pcap.txt")
        r = tool(f"{tmp}/{cond}-{t}.out", t)
        d, wr = [], []
        for seq, rtt in r.items():
            if seq in w and len(w[seq]) == 1:
                d.append(abs(rtt - w[seq][0]))
                wr.append(w[seq][0])
        if not d:
            print(f"| {cond} | {t} | 0 | - | - | - | - |")
            continue
        us = lambda x: f"{x/1000:.1f} us"
        print(f"| {cond} | {t} | {len(d)}/{count} | {us(pct(wr, .5))} | {us(pct(d, .5))} | {us(pct(d, .99))} | {us(max(d))} |")
print(f"\n{count} probes every {interval}s per pinger; pro-bing {pbv}; iputils prints whole microseconds, so its error has a 0.5 us rounding floor.")
EOF
