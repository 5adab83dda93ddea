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
# Each process is scraped every SCRAPE_EVERY seconds during its window, as
# Prometheus would (default 15; 0: only once, at the end). With PEER=1,
# smokeping_prober (Debian package prometheus-smokeping-prober, privileged
# ICMP) then probes the same hosts at the same interval in the same
# namespace, and the script prints both programs' CPU per answered probe.
# Run as root from the repository root:
#
#   prober/bench/capacity.sh [REACHABLE] [UNREACHABLE] [DURATION_S] [INTERVAL] [STEP_S]
#   (default 1000 0 60 1s 10)
#   PEER=1 prober/bench/capacity.sh 1000 0 60 1s 30
set -euo pipefail
SCRAPE_EVERY=${SCRAPE_EVERY:-15}
PEER=${PEER:-0}
SMOKEPING=${SMOKEPING:-prometheus-smokeping-prober}
REACH=${1:-1000}
UNREACH=${2:-0}
DURATION=${3:-60}
INTERVAL=${4:-1s}
STEP=${5:-10}
TMP=$(mktemp -d /tmp/nb-capacity.XXXXXX)
A=nbc-a-$$
B=nbc-b-$$
PID=
SCRAPER=
cleanup() {
	[ -n "$SCRAPER" ] && kill "$SCRAPER" 2>/dev/null || true
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
scrape() { ip netns exec "$A" python3 -c 'import urllib.request,sys; sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:'"${PORT:-9917}"'/metrics").read().decode())'; }
scrape_every() { # port: scrape every SCRAPE_EVERY s until killed
	[ "$SCRAPE_EVERY" -gt 0 ] || return 0
	while sleep "$SCRAPE_EVERY"; do PORT=$1 scrape >/dev/null 2>&1 || true; done
}
HZ=$(getconf CLK_TCK)

# sum NAME: a metric summed over its series, from a scrape on stdin
sum() { awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $2} END {printf "%d\n", s}'; }
# answered / sent: probes answered and sent so far by the program on PORT
answered() { case "$1" in 9917) scrape | sum netburst_probe_replies_total ;; *) PORT=$1 scrape | sum smokeping_response_duration_seconds_count ;; esac; }
sent() { case "$1" in 9917) scrape | sum netburst_probe_sent_total ;; *) PORT=$1 scrape | sum smokeping_requests_total ;; esac; }

measure() { # label port command...: the program listens on 127.0.0.1:port
	local label=$1 port=$2
	shift 2
	ip netns exec "$A" env ${NB_ENV:-} "$@" &
	PID=$!
	sleep 10
	scrape_every "$port" &
	SCRAPER=$!
	local t0 r0 a0=0 s0=0 a1=0 s1=0
	t0=$(ticks "$PID")
	r0=$(rss "$PID")
	if [ "$PROBES" = 1 ]; then a0=$(PORT=$port answered "$port"); s0=$(PORT=$port sent "$port"); fi
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
	if [ "$PROBES" = 1 ]; then a1=$(PORT=$port answered "$port"); s1=$(PORT=$port sent "$port"); fi
	kill "$SCRAPER" 2>/dev/null || true
	wait "$SCRAPER" 2>/dev/null || true
	SCRAPER=
	local cpu
	cpu=$(python3 -c "a, b = '$t0'.split(), '$t1'.split(); f = lambda i: (int(b[i]) - int(a[i])) / $HZ / $DURATION * 100; print(f'{f(0):.2f}% (user {f(1):.2f}%, system {f(2):.2f}%)')")
	echo "$label: CPU ${cpu} of one core over ${DURATION}s, RSS $(rss "$PID") kB (after warm-up ${r0} kB)"
	if [ "$PROBES" = 1 ]; then
		python3 -c "c = (int('$t1'.split()[0]) - int('$t0'.split()[0])) / $HZ; a, s = $a1 - $a0, $s1 - $s0; print(f'  in the window: {s} probes sent, {a} answered ({100 * a / max(s, 1):.1f} %), {1e6 * c / max(a, 1):.1f} us of CPU per answered probe')"
		if [ "$port" = 9917 ]; then
			scrape | awk '/^netburst_probe_(sent|replies|lost|late_replies|send_errors)_total/ {split($1, a, "{"); s[a[1]] += $2} END {for (k in s) printf "  %s summed over targets: %d\n", k, s[k]}' | sort
			scrape | awk '/^netburst_probe_timestamp_source_info/ {split($1, a, "source=\""); split(a[2], b, "\""); n[b[1]]++} END {for (k in n) printf "  timestamp source %s: %d targets\n", k, n[k]}'
		fi
	fi
	kill "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
}

NB=("$TMP/netburst_exporter" --web.listen-address=127.0.0.1:9917 --log.level=warn)
# BASELINE=0 skips the sampler-only run (for long memory runs).
if [ "${BASELINE:-1}" != 0 ]; then
	PROBES=0 measure "sampler only (no probe target)" 9917 "${NB[@]}"
fi
PROBES=1 measure "netburst: $REACH reachable + $UNREACH unreachable targets every $INTERVAL" 9917 "${NB[@]}" --probe.file-sd="$TMP/targets.json" --probe.interval="$INTERVAL"
if [ "$PEER" = 1 ]; then
	# The same hosts, as arguments (IP literals: nothing is resolved).
	mapfile -t HOSTS < <(python3 -c "import json; print('\n'.join(json.load(open('$TMP/targets.json'))[0]['targets']))")
	printf '{}\n' >"$TMP/smokeping.yml"
	PROBES=1 measure "smokeping_prober: the same targets every $INTERVAL" 9374 "$SMOKEPING" --web.listen-address=127.0.0.1:9374 --log.level=warn --privileged --ping.interval="$INTERVAL" --config.file="$TMP/smokeping.yml" "${HOSTS[@]}"
fi
