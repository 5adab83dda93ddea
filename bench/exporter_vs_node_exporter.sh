#!/usr/bin/env bash
# CPU, peak RSS and GC cycles of netburst_exporter side by side with the
# kernel's floor (a bare RTM_GETSTATS dump every 100 ms, measured before and
# after netburst in the same run) and node_exporter's netdev collector
# scraped 10 times a second, over the same network namespace. Run as root
# from the repository root:
#
#   bash bench/exporter_vs_node_exporter.sh            # MODE=all, 60 s each
#   MODE=tiers bash bench/exporter_vs_node_exporter.sh  # the default tiers' host
#   DURATION=20 bash bench/exporter_vs_node_exporter.sh
#   SCRAPE_EVERY=1 bash bench/...                       # scraped every second
#   SCRAPE_EVERY=0 bash bench/...                       # netburst unscraped
#   SCRAPE_ACCEPT=proto bash bench/...                  # protobuf scrapes (native histograms)
#   NE_DURATION=0 bash bench/...                        # no node_exporter
#   FLOOR_DURATION=0 bash bench/...                     # no floor
#   NB_ARGS="--sampler.all-fast" bash bench/...         # extra exporter flags
#   LIVE_CLIENTS=5 bash bench/...                       # 5 clients streaming the live page's data
#   NB_ENV=GOMAXPROCS=1 bash bench/...                  # exporter environment
#
# Namespaces (MODE):
#   all    1,000 interfaces whose names get a throughput histogram and are in
#          the fast set by default (veth pairs m1..m500 / n1..n500), plus 4
#          NIC-like devices with real qdiscs (eth0..eth3, 4 transmit queues
#          each: mq with pfifo_fast children, mq with tbf children, htb with a
#          class, tbf): every device sampled every 100 ms.
#   tiers  8 NIC-like devices (eth0..eth7, 4 queues, mq root with a
#          pfifo_fast child per queue, as a NIC's mq with fq_codel children)
#          and 1,000 vifs (vif1.0..vif500.0 / vif1.1..vif500.1): with the
#          default tiers the NICs at 100 ms, the vifs at 1 s.
# The NIC-like devices' peers live in a second namespace. Every device is up
# (LINKS_UP=0: the 1,000 down); IPv6 is off in the namespace, so idle devices
# send nothing and the counters stand still.
#
# Everything runs one after the other, never two at once, so no figure
# carries another's load; the load average is printed with each. CPU is the
# sum of the process's threads' run time (/proc/PID/task/*/schedstat, in ns)
# over the window, with the user/system split from /proc/PID/stat (1/100 s
# ticks); where the ticks say more (threads that ended in the window take
# their run time out of task/: node_exporter's netlink library ends the
# threads it locks), the ticks are the figure. GC cycles come from the
# exporter's own GODEBUG=gctrace=1 lines in the window (no scrape needed to
# read them). Needs iproute2, curl, go and prometheus-node-exporter (Debian
# package). Everything it creates is removed on exit.
set -euo pipefail
MODE=${MODE:-all}
DURATION=${DURATION:-60}
NE_DURATION=${NE_DURATION:-$DURATION}  # seconds of node_exporter; 0: skip it
FLOOR_DURATION=${FLOOR_DURATION:-30}   # seconds of each of the two floor runs; 0: skip them
NB_ARGS=${NB_ARGS:-}                   # extra netburst_exporter flags
NB_BIN=${NB_BIN:-}                     # a prebuilt netburst_exporter; default: build it
NB_ENV=${NB_ENV:-}                     # environment of netburst_exporter, e.g. GOMAXPROCS=1
SCRAPE_EVERY=${SCRAPE_EVERY:-15}       # seconds between scrapes of netburst; 0: none
LIVE_CLIENTS=${LIVE_CLIENTS:-0}        # clients streaming /api/v1/stream (the live page's data) during the run
SCRAPE_ACCEPT=${SCRAPE_ACCEPT:-text}   # text: what Prometheus asks by default; proto: protobuf
LINKS_UP=${LINKS_UP:-1}
NODE_EXPORTER=${NODE_EXPORTER:-prometheus-node-exporter}
NS=nbbench-$$
PEER_NS=nbbench-peer-$$
WORK=$(mktemp -d)
PIDS=()

cleanup() {
	rm -f "$WORK/run"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	sleep 1 # let the scrape loops see that $WORK/run is gone
	ip netns del "$NS" 2>/dev/null || true
	ip netns del "$PEER_NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

case "$MODE" in all | tiers) ;; *) echo "MODE=$MODE: want all or tiers" >&2; exit 2 ;; esac
command -v "$NODE_EXPORTER" >/dev/null || { echo "$NODE_EXPORTER not found (apt-get install prometheus-node-exporter)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root: it creates network namespaces" >&2; exit 1; }
case "$SCRAPE_ACCEPT" in
text) ACCEPT='application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2' ;;
proto) ACCEPT='application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,text/plain;version=0.0.4;q=0.3' ;;
*) echo "SCRAPE_ACCEPT=$SCRAPE_ACCEPT: want text or proto" >&2; exit 2 ;;
esac

if [ -n "$NB_BIN" ]; then
	cp "$NB_BIN" "$WORK/netburst_exporter"
else
	CGO_ENABLED=0 go build -trimpath -o "$WORK/netburst_exporter" ./cmd/netburst_exporter
fi

# The floor: an RTM_GETSTATS dump (IFLA_STATS_LINK_64) every 100 ms on a
# deadline schedule, in Go with raw system calls as netburst reads it, and
# nothing else. Standard library only, built in its own module.
mkdir "$WORK/floor"
cat >"$WORK/floor/main.go" <<'EOF'
// Command floor dumps every interface's 64-bit counters every 100 ms.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1<<20)
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	req := make([]byte, 16+12)
	buf := make([]byte, 64<<10)
	start := time.Now()
	for i := 1; ; i++ {
		binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
		binary.NativeEndian.PutUint16(req[4:], 94)      // RTM_GETSTATS
		binary.NativeEndian.PutUint16(req[6:], 0x301)   // NLM_F_REQUEST|NLM_F_DUMP
		binary.NativeEndian.PutUint32(req[8:], uint32(i)) // sequence
		binary.NativeEndian.PutUint32(req[16+8:], 1)    // filter_mask: IFLA_STATS_LINK_64
		if _, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&req[0])), uintptr(len(req))); e != 0 {
			fmt.Fprintln(os.Stderr, "floor: write:", e)
			os.Exit(1)
		}
		n := 0
		for done := false; !done; {
			r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
			if e != 0 {
				fmt.Fprintln(os.Stderr, "floor: recv:", e)
				os.Exit(1)
			}
			for b := buf[:r]; len(b) >= 16; {
				l := int(binary.NativeEndian.Uint32(b[0:]))
				if l < 16 || l > len(b) {
					break
				}
				switch binary.NativeEndian.Uint16(b[4:]) {
				case 3, 2: // NLMSG_DONE, NLMSG_ERROR
					done = true
				case 92: // RTM_NEWSTATS
					n++
				}
				b = b[min((l+3)&^3, len(b)):]
			}
		}
		if i == 1 {
			fmt.Printf("floor: %d interfaces a dump\n", n)
		}
		time.Sleep(time.Until(start.Add(time.Duration(i) * 100 * time.Millisecond)))
	}
}
EOF
(cd "$WORK/floor" && go mod init floor >/dev/null 2>&1 && CGO_ENABLED=0 go build -o "$WORK/floor_bin" .)

ip netns add "$NS"
ip netns add "$PEER_NS"
for ns in "$NS" "$PEER_NS"; do
	ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
# nic NAME N: a 4-queue NIC-like device whose peer is in PEER_NS, up, with
# the /30 number N.
nic() {
	echo "link add name $1 numtxqueues 4 numrxqueues 4 type veth peer name p$1 numtxqueues 4 numrxqueues 4 netns $PEER_NS"
	echo "addr add 198.18.$(($2 / 64)).$((($2 % 64) * 4 + 1))/30 dev $1"
	echo "link set $1 up"
}
{
	if [ "$MODE" = all ]; then
		for i in $(seq 1 500); do echo "link add name m$i type veth peer name n$i"; done
		for i in 0 1 2 3; do nic "eth$i" "$i"; done
	else
		for i in $(seq 1 500); do echo "link add name vif$i.0 type veth peer name vif$i.1"; done
		for i in $(seq 0 7); do nic "eth$i" "$i"; done
	fi
	if [ "$LINKS_UP" = 1 ]; then
		for i in $(seq 1 500); do
			if [ "$MODE" = all ]; then echo "link set m$i up" && echo "link set n$i up"; else echo "link set vif$i.0 up" && echo "link set vif$i.1 up"; fi
		done
	fi
} >"$WORK/batch"
ip -n "$NS" -batch "$WORK/batch"
ip -n "$PEER_NS" -o link show | awk -F': ' '$2 != "lo" { sub(/@.*/, "", $2); print "link set " $2 " up" }' >"$WORK/peers"
ip -n "$PEER_NS" -batch "$WORK/peers"
tcq() { ip netns exec "$NS" tc qdisc "$@"; }
if [ "$MODE" = all ]; then
	tcq add dev eth0 root handle 1: mq
	tcq add dev eth1 root handle 1: mq
	for q in 1 2 3 4; do tcq replace dev eth1 parent "1:$q" tbf rate 1gbit burst 64kb latency 10ms; done
	tcq add dev eth2 root handle 1: htb default 10
	ip netns exec "$NS" tc class add dev eth2 parent 1: classid 1:10 htb rate 1gbit quantum 60000
	tcq add dev eth3 root tbf rate 1gbit burst 64kb latency 10ms
else
	for i in $(seq 0 7); do tcq add dev "eth$i" root handle 1: mq; done
fi
echo "MODE=$MODE: namespace $NS: $(ip -n "$NS" -o link | wc -l) interfaces ($(ip -n "$NS" -o link | grep -c 'state UP' || true) up), $(ip netns exec "$NS" tc qdisc show | grep -vc noqueue || true) qdiscs other than noqueue"

hz=$(getconf CLK_TCK)
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
NSENTER=(nsenter --net="/run/netns/$NS" --)

# run_ns PID: the run time of the process's threads so far, in ns.
run_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%d\n", t }'; }

# measure PID LABEL SECONDS: CPU % of one core over the window (into
# $WORK/cpu.LABEL), then peak RSS (into $WORK/rss.LABEL).
measure() {
	local pid=$1 label=$2 dur=$3 u0 s0 u1 s1 w0 w1 r0 r1
	echo "$label: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat"); r0=$(run_ns "$pid"); w0=$(date +%s.%N)
	[ -z "${GCLOG:-}" ] || gc0=$(gcs)
	sleep "$dur"
	read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat"); r1=$(run_ns "$pid"); w1=$(date +%s.%N)
	[ -z "${GCLOG:-}" ] || gc1=$(gcs)
	awk -v a="$r0" -v b="$r1" -v t=$((u1 + s1 - u0 - s0)) -v hz="$hz" -v w0="$w0" -v w1="$w1" -v f="$WORK/src.$label" \
		'BEGIN { run = (b - a) / 1e9; ticks = t / hz; src = "schedstat"
		         if (ticks > 1.05 * run + 2 / hz) { run = ticks; src = "ticks: threads ended in the window" }
		         printf "%.4f\n", 100 * run / (w1 - w0); print src > f }' >"$WORK/cpu.$label"
	awk -v k="$(hwm_kib "$pid")" 'BEGIN { printf "%.1f\n", k / 1024 }' >"$WORK/rss.$label"
	printf '%-14s CPU %7.3f %% of one core over %s s (%s; user %d, system %d ticks of 1/%d s), peak RSS %6.1f MiB, load average after: %s\n' \
		"$label" "$(cat "$WORK/cpu.$label")" "$dur" "$(cat "$WORK/src.$label")" $((u1 - u0)) $((s1 - s0)) "$hz" "$(cat "$WORK/rss.$label")" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
# gcs: the number of the latest GC in netburst's gctrace lines.
gcs() { awk '/^gc [0-9]+ @/ { n = $2 } END { print n + 0 }' "$GCLOG"; }

floor() {
	[ "$FLOOR_DURATION" -gt 0 ] || return 0
	"${NSENTER[@]}" "$WORK/floor_bin" &
	local pid=$!
	PIDS+=("$pid")
	sleep 2
	measure "$pid" "floor$1" "$FLOOR_DURATION"
	kill "$pid"; wait "$pid" 2>/dev/null || true
}

floor 1

# netburst: its defaults (100 ms, the default tiers), scraped every
# SCRAPE_EVERY s as Prometheus would. A plain command (not a function) in
# the background, and env and nsenter exec in place: $! is the exporter.
touch "$WORK/run"
GCLOG="$WORK/gctrace"
env GODEBUG=gctrace=1 $NB_ENV "${NSENTER[@]}" "$WORK/netburst_exporter" --web.listen-address=127.0.0.1:9917 --log.level=warn $NB_ARGS 2>"$GCLOG" &
PIDS+=($!); nb=$!
sleep 3
if [ "$SCRAPE_EVERY" -gt 0 ]; then
	( while sleep "$SCRAPE_EVERY" && [ -e "$WORK/run" ]; do in_ns curl -s -o /dev/null -H "Accept: $ACCEPT" http://127.0.0.1:9917/metrics || true; done ) &
	PIDS+=($!)
fi
for ((c = 0; c < LIVE_CLIENTS; c++)); do
	in_ns curl -sN -o /dev/null http://127.0.0.1:9917/api/v1/stream &
	PIDS+=($!)
done
echo "netburst_exporter: defaults, scraped every ${SCRAPE_EVERY} s (0: never, Accept: $SCRAPE_ACCEPT), ${LIVE_CLIENTS} live clients, extra flags: ${NB_ARGS:-none}, environment: ${NB_ENV:-as is}"
measure "$nb" netburst "$DURATION"
echo "netburst GC cycles in the window: $((gc1 - gc0)) ($(awk -v n=$((gc1 - gc0)) -v d="$DURATION" 'BEGIN { printf "%.1f", 60 * n / d }') a minute)"
unset GCLOG
scrape_s=$(in_ns curl -s -o "$WORK/nb.prom" -w '%{time_total}' http://127.0.0.1:9917/metrics)
awk '/^netburst_sampler_interval_seconds_bucket/ { match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5); n[le] = $NF; order[++k] = le }
     /^netburst_sampler_interval_seconds_count/ { total = $NF }
     END { for (i = 1; i <= k; i++) if (n[order[i]] >= 0.99 * total) { printf "netburst sample spacing p99 <= %g s (%d samples", order[i], total; break }
           for (i = 1; i <= k; i++) { if (order[i] + 0 <= 0.1020001) c2 = n[order[i]]; if (order[i] + 0 <= 0.1050001) c5 = n[order[i]] }
           printf "; over 0.102 s: %d, over 0.105 s: %d)\n", total - c2, total - c5 }' "$WORK/nb.prom"
echo "netburst scrape of $(grep -c '^netburst_' "$WORK/nb.prom") netburst series ($(grep -c '^netburst_interface_throughput_bytes_per_second_count{.*direction="receive"' "$WORK/nb.prom") devices with a histogram): ${scrape_s} s"
kill "${PIDS[-1]}" "$nb"; wait "$nb" 2>/dev/null || true

floor 2

if [ "$NE_DURATION" -gt 0 ]; then
	# node_exporter: netdev collector only, scraped 10 times a second (a
	# scrape starts every 100 ms whether or not the previous one has
	# finished, as a 100 ms scrape interval would).
	"${NSENTER[@]}" "$NODE_EXPORTER" --collector.disable-defaults --collector.netdev --web.listen-address=127.0.0.1:9100 --log.level=error 2>/dev/null &
	PIDS+=($!); ne=$!
	sleep 2
	: >"$WORK/ne.done"
	( while [ -e "$WORK/run" ]; do { in_ns curl -s -o /dev/null http://127.0.0.1:9100/metrics && echo >>"$WORK/ne.done"; } & sleep 0.1; done ) &
	PIDS+=($!)
	c0=$(wc -l <"$WORK/ne.done")
	echo "node_exporter: netdev collector only, scraped every 100 ms"
	measure "$ne" node_exporter "$NE_DURATION"
	c1=$(wc -l <"$WORK/ne.done")
	echo "node_exporter scrapes completed in the window: $((c1 - c0)) ($(awk -v n=$((c1 - c0)) -v d="$NE_DURATION" 'BEGIN { printf "%.1f", n / d }')/s)"
fi

# Side by side.
cpu() { [ -e "$WORK/cpu.$1" ] && cat "$WORK/cpu.$1" || echo; }
awk -v nb="$(cpu netburst)" -v f1="$(cpu floor1)" -v f2="$(cpu floor2)" -v ne="$(cpu node_exporter)" \
	-v rss="$(cat "$WORK/rss.netburst")" -v gc="$((gc1 - gc0))" -v d="$DURATION" -v mode="$MODE" 'BEGIN {
	printf "summary (MODE=%s): netburst %.3f %% of a core, peak RSS %.1f MiB, %.1f GC cycles a minute", mode, nb, rss, 60 * gc / d
	if (f1 != "" && f2 != "") { f = (f1 + f2) / 2; printf "; floor %.3f %% (%.3f before, %.3f after): netburst / floor %.2fx", f, f1, f2, nb / f }
	if (ne != "" && nb > 0) printf "; node_exporter %.3f %%: node_exporter / netburst %.1fx", ne, ne / nb
	printf "\n" }'
