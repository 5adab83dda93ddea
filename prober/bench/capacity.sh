#!/usr/bin/env bash
# capacity.sh: CPU and memory of netburst_exporter probing many targets.
#
# Namespace A runs the exporter; namespace B answers for every address of
# 198.18.128.0/22 (a local route on lo, so one veth carries them all) and
# silently drops 198.18.136.0/22 (a blackhole: targets that never answer).
# The exporter probes REACHABLE + UNREACHABLE targets from a file_sd file at
# --probe.interval=INTERVAL. CPU is the exporter's utime+stime over the
# run (after a 10 s warm-up), as % of one core; a run without probe
# targets gives the sampler's own share. RSS is printed every STEP seconds.
# Run as root from the repository root:
#
#   prober/bench/capacity.sh [REACHABLE] [UNREACHABLE] [DURATION_S] [INTERVAL] [STEP_S]
#   (default 1000 0 60 1s 10)
set -euo pipefail
REACH=${1:-1000}
UNREACH=${2:-0}
DURATION=${3:-60}
INTERVAL=${4:-1s}
STEP=${5:-10}
TMP=$(mktemp -d /tmp/nb-capacity.XXXXXX)
A=nbc-a-$$
B=nbc-b-$$
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null || true
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CGO_ENABLED=0 go build -o "$TMP/netburst_exporter" ./cmd/netburst_exporter

ip netns add "$A"
ip netns add "$B"
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip link add name "nbca$$" type veth peer name "nbcb$$"
ip link set "nbca$$" netns "$A"
ip link set "nbcb$$" netns "$B"
ip -n "$A" link set "nbca$$" name a0
ip -n "$B" link set "nbcb$$" name b0
ip -n "$A" addr add 198.18.202.1/30 dev a0
ip -n "$B" addr add 198.18.202.2/30 dev b0
ip -n "$A" link set a0 up
ip -n "$B" link set b0 up
ip -n "$A" route add 198.18.128.0/20 via 198.18.202.2
ip -n "$B" route add local 198.18.128.0/22 dev lo
ip -n "$B" route add blackhole 198.18.136.0/22

python3 - "$REACH" "$UNREACH" >"$TMP/targets.json" <<'EOF'
import ipaddress, json, sys
r, u = int(sys.argv[1]), int(sys.argv[2])
reach = [str(ipaddress.ip_address("198.18.128.0") + i) for i in range(1, r + 1)]
dead = [str(ipaddress.ip_address("198.18.136.0") + i) for i in range(1, u + 1)]
json.dump([{"targets": reach + dead}], sys.stdout)
EOF

ticks() { awk '{print $14 + $15, $14, $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
scrape() { ip netns exec "$A" python3 -c 'import urllib.request,sys; sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:9917/metrics").read().decode())'; }
HZ=$(getconf CLK_TCK)

measure() { # label args...
	local label=$1
	shift
	ip netns exec "$A" env ${NB_ENV:-} "$TMP/netburst_exporter" --web.listen-address=127.0.0.1:9917 --log.level=warn "$@" &
	PID=$!
	sleep 10
	local t0 r0
	t0=$(ticks "$PID")
	r0=$(rss "$PID")
	echo "$label: RSS after warm-up ${r0} kB" >&2
	local left=$DURATION
	while [ "$left" -gt 0 ]; do
		local s=$((left < STEP ? left : STEP))
		sleep "$s"
		left=$((left - s))
		echo "$label: t=$((DURATION - left))s RSS $(rss "$PID") kB" >&2
	done
	local t1
	t1=$(ticks "$PID")
	local cpu
	cpu=$(python3 -c "a, b = '$t0'.split(), '$t1'.split(); f = lambda i: (int(b[i]) - int(a[i])) / $HZ / $DURATION * 100; print(f'{f(0):.2f}% (user {f(1):.2f}%, system {f(2):.2f}%)')")
	echo "$label: CPU ${cpu} of one core over ${DURATION}s, RSS $(rss "$PID") kB (after warm-up ${r0} kB)"
	if [ "$#" -gt 0 ]; then
		scrape | awk '/^netburst_probe_(sent|replies|lost|late_replies|send_errors)_total/ {split($1, a, "{"); s[a[1]] += $2} END {for (k in s) printf "  %s summed over targets: %d\n", k, s[k]}' | sort
		scrape | awk '/^netburst_probe_timestamp_source_info/ {split($1, a, "source=\""); split(a[2], b, "\""); n[b[1]]++} END {for (k in n) printf "  timestamp source %s: %d targets\n", k, n[k]}'
	fi
	kill "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
}

# BASELINE=0 skips the sampler-only run (for long memory runs).
if [ "${BASELINE:-1}" != 0 ]; then
	measure "sampler only (no probe target)"
fi
measure "$REACH reachable + $UNREACH unreachable targets every $INTERVAL" --probe.file-sd="$TMP/targets.json" --probe.interval="$INTERVAL"
