#!/usr/bin/env bash
# CPU per frame of netburst's always-on capture (AF_PACKET TPACKET_V3, BPF
# snap length, decoding-ready ring) against `tcpdump -w /dev/null -s 128`, both
# capturing the same veth at the same time while iperf3 sends small UDP
# datagrams (default 100 Mbit/s of 64-byte payloads, about 150-200 kpps).
# Needs root, iperf3 and tcpdump. Run from the repository root (on a shared
# machine, inside `flock /tmp/nb-bench.lock`):
#   [STREAMS=2] capture/bench/live_vs_tcpdump.sh [SECONDS] [RATE]   (RATE per iperf3 stream)
# It prints the load average before and after: other work on the machine
# shows in both tools' figures.
set -euo pipefail
secs=${1:-5}
rate=${2:-100M}
tmp=$(mktemp -d)
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
a=nbb-a$id b=nbb-b$id
cleanup() {
	ip netns pids "$a" 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip netns pids "$b" 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip netns del "$a" 2>/dev/null || true
	ip netns del "$b" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/livecap" ./capture/bench/livecap
echo "before: $(uptime)"
ip netns add "$a"
ip netns add "$b"
ip link add name "nbb$id" type veth peer name "nbc$id"
ip link set "nbb$id" netns "$a"
ip link set "nbc$id" netns "$b"
ip -n "$a" link set "nbb$id" name veth0
ip -n "$b" link set "nbc$id" name veth0
ip -n "$a" addr add 198.18.10.1/24 dev veth0
ip -n "$b" addr add 198.18.10.2/24 dev veth0
ip -n "$a" link set veth0 up
ip -n "$b" link set veth0 up
ip netns exec "$b" iperf3 -s -D -1 >/dev/null
sleep 0.3
ip netns exec "$a" iperf3 -c 198.18.10.2 -u -b "$rate" -l 64 -P "${STREAMS:-2}" -t $((secs + 60)) >/dev/null &
sleep 1
# netburst allocates (and faults in) its rings first: tcpdump starts once
# the capture runs, so both measure the same seconds of traffic.
ip netns exec "$b" "$tmp/livecap" -i veth0 -d "${secs}s" -ready "$tmp/ready" ${LIVECAP_MEMORY:+-m "$LIVECAP_MEMORY"} \
	${LIVECAP_PROFILE:+-cpuprofile "$LIVECAP_PROFILE"} >"$tmp/livecap.out" &
livecap=$!
while [ ! -e "$tmp/ready" ]; do sleep 0.05; done
ip netns exec "$b" /usr/bin/time -f 'tcpdump CPU %U user %S sys' -o "$tmp/tcpdump.time" \
	timeout -s INT "$secs" tcpdump -n -i veth0 -s 128 -w /dev/null 2>"$tmp/tcpdump.err" || true # 124: stopped by timeout
wait "$livecap"
sleep 0.5
cat "$tmp/livecap.out"
captured=$(awk '/packets captured/{print $1}' "$tmp/tcpdump.err")
dropped=$(awk '/dropped by kernel/{print $1}' "$tmp/tcpdump.err")
# /usr/bin/time first notes timeout's exit status 124: take the CPU line.
read -r _ _ u _ s _ < <(grep '^tcpdump CPU' "$tmp/tcpdump.time")
ip netns pids "$a" | xargs -r kill 2>/dev/null || true
echo "after: $(uptime)"
awk -v c="$captured" -v d="$dropped" -v u="$u" -v s="$s" -v secs="$secs" \
	'BEGIN{printf "tcpdump -w /dev/null -s 128: %d frames (%.0f pps), kernel drops %d, CPU %.2fs (user %.2fs, sys %.2fs) = %.0f ns/frame\n", c, c/secs, d, u+s, u, s, (u+s)*1e9/c}'
