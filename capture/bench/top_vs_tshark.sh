#!/usr/bin/env bash
# Times `netburst top` against tshark on the same generated pcap of N frames
# (default 1,000,000; 1000 flows, a quarter TCP, 128-byte snap length; with
# TUNNEL_EVERY=K every K-th frame inside VXLAN): `tshark -q -z conv,udp`, and
# tshark computing the same statistics as top (host pairs, TCP and UDP
# conversations, destination ports: `-z conv,ip -z conv,ipv6 -z conv,tcp
# -z conv,udp -z dests,tree`). Run from the repository root:
#   [TUNNEL_EVERY=K] capture/bench/top_vs_tshark.sh [N]
# Prints each tool's best wall time of RUNS runs (default 3; tshark runs once
# unless TSHARK_RUNS is set), its peak RSS, and the ratios.
set -euo pipefail
n=${1:-1000000}
runs=${RUNS:-3}
truns=${TSHARK_RUNS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/netburst" ./cmd/netburst
go build -o "$tmp/genpcap" ./capture/bench/genpcap
"$tmp/genpcap" -o "$tmp/bench.pcap" -n "$n" -tunnel-every "${TUNNEL_EVERY:-0}"
echo "file: $n frames, $(stat -c %s "$tmp/bench.pcap") bytes"

# best RUNS "label" cmd...: prints the best wall time in seconds and the peak
# RSS of the best run; leaves the time in $best.
best() {
	local count=$1 label=$2
	shift 2
	best=
	local rss=
	for _ in $(seq "$count"); do
		/usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
		read -r t m <"$tmp/time"
		if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t rss=$m; fi
	done
	printf '%-40s %8.3f s  %6.0f ns/frame  peak RSS %d MiB\n' "$label" "$best" "$(awk "BEGIN{print $best*1e9/$n}")" $((rss / 1024))
}
best "$runs" "netburst top --json" "$tmp/netburst" top --json -n 10 "$tmp/bench.pcap"
nb=$best
best "$runs" "netburst top --by conversation" "$tmp/netburst" top --by conversation -n 10 "$tmp/bench.pcap"
best "$truns" "tshark -q -z conv,udp" tshark -n -q -r "$tmp/bench.pcap" -z conv,udp
ts=$best
best "$truns" "tshark, the same statistics as top" tshark -n -q -r "$tmp/bench.pcap" -z conv,ip -z conv,ipv6 -z conv,tcp -z conv,udp -z dests,tree
all=$best
awk "BEGIN{printf \"ratio tshark -z conv,udp / netburst: %.1fx\n\", $ts/$nb}"
awk "BEGIN{printf \"ratio tshark, same statistics / netburst: %.1fx\n\", $all/$nb}"
