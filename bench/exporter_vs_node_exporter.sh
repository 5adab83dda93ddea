#!/usr/bin/env bash
# CPU and memory of netburst_exporter sampling every 100 ms, side by side
# with node_exporter's netdev collector scraped 10 times a second, over the
# same network namespace of 1,000 interfaces. Run as root from the
# repository root:
#
#   bash bench/exporter_vs_node_exporter.sh            # 60 s each
#   DURATION=20 bash bench/exporter_vs_node_exporter.sh
#   SCRAPE_EVERY=0 bash bench/exporter_vs_node_exporter.sh   # netburst unscraped
#   NE_DURATION=30 bash bench/exporter_vs_node_exporter.sh    # node_exporter 30 s
#   NE_DURATION=0 bash bench/exporter_vs_node_exporter.sh     # netburst only
#   NB_ARGS="--sampler.qdisc-every=0" bash bench/...          # extra exporter flags
#   NB_ENV=GOMAXPROCS=1 bash bench/...                        # exporter environment
#
# The two exporters run one after the other, never together, so neither's
# figure carries the other's load; the load average is printed with each.
# Needs iproute2, curl and prometheus-node-exporter (Debian package). Prints
# each exporter's CPU as a percentage of one core, its peak RSS, the ratio,
# netburst's sample-spacing p99 (from its own histogram) and the time of a
# netburst scrape. Everything it creates is removed on exit.
set -euo pipefail
DURATION=${DURATION:-60}
NE_DURATION=${NE_DURATION:-$DURATION} # seconds of node_exporter; 0: skip it
NB_ARGS=${NB_ARGS:-}                  # extra netburst_exporter flags
NB_BIN=${NB_BIN:-}                    # a prebuilt netburst_exporter; default: build it
NB_ENV=${NB_ENV:-}                    # environment of netburst_exporter, e.g. GOMAXPROCS=1
PAIRS=${PAIRS:-500}
SCRAPE_EVERY=${SCRAPE_EVERY:-15} # seconds between scrapes of netburst; 0: none
NODE_EXPORTER=${NODE_EXPORTER:-prometheus-node-exporter}
NS=nbbench-$$
WORK=$(mktemp -d)
PIDS=()

cleanup() {
	rm -f "$WORK/run"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	sleep 1 # let the scrape loops see that $WORK/run is gone
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v "$NODE_EXPORTER" >/dev/null || { echo "$NODE_EXPORTER not found (apt-get install prometheus-node-exporter)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root: it creates a network namespace" >&2; exit 1; }

if [ -n "$NB_BIN" ]; then
	cp "$NB_BIN" "$WORK/netburst_exporter"
else
	CGO_ENABLED=0 go build -trimpath -o "$WORK/netburst_exporter" ./cmd/netburst_exporter
fi

ip netns add "$NS"
ip -n "$NS" link set lo up
for i in $(seq 0 $((PAIRS - 1))); do echo "link add name veth${i}a type veth peer name veth${i}b"; done >"$WORK/batch"
ip -n "$NS" -batch "$WORK/batch"
echo "namespace $NS: $(ip -n "$NS" -o link | wc -l) interfaces"

hz=$(getconf CLK_TCK)
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
NSENTER=(nsenter --net="/run/netns/$NS" --)

# measure PID LABEL: CPU % of one core over DURATION seconds, then peak RSS.
measure() {
	local pid=$1 label=$2 dur=$3 u0 s0 u1 s1 w0 w1
	echo "$label: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat"); w0=$(date +%s.%N)
	sleep "$dur"
	read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat"); w1=$(date +%s.%N)
	awk -v a=$((u0 + s0)) -v b=$((u1 + s1)) -v hz="$hz" -v w0="$w0" -v w1="$w1" \
		'BEGIN { printf "%.4f\n", 100 * (b - a) / hz / (w1 - w0) }' >"$WORK/cpu.$label"
	printf '%-14s CPU %7.3f %% of one core over %s s (user %d, system %d ticks of 1/%d s), peak RSS %6.1f MiB, load average after: %s\n' \
		"$label" "$(cat "$WORK/cpu.$label")" "$dur" $((u1 - u0)) $((s1 - s0)) "$hz" \
		"$(awk -v k="$(hwm_kib "$pid")" 'BEGIN { print k / 1024 }')" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# netburst: 100 ms sampling, scraped every SCRAPE_EVERY s as Prometheus would.
# A plain command (not a function) in the background, and env and nsenter
# exec in place: $! is the exporter itself.
touch "$WORK/run"
env $NB_ENV "${NSENTER[@]}" "$WORK/netburst_exporter" --web.listen-address=127.0.0.1:9917 --log.level=warn $NB_ARGS &
PIDS+=($!); nb=$!
sleep 3
if [ "$SCRAPE_EVERY" -gt 0 ]; then
	( while sleep "$SCRAPE_EVERY" && [ -e "$WORK/run" ]; do in_ns curl -s -o /dev/null http://127.0.0.1:9917/metrics || true; done ) &
	PIDS+=($!)
fi
echo "netburst_exporter: 100 ms sampling, scraped every ${SCRAPE_EVERY} s (0: never), extra flags: ${NB_ARGS:-none}, environment: ${NB_ENV:-as is}"
measure "$nb" netburst "$DURATION"
scrape_s=$(in_ns curl -s -o "$WORK/nb.prom" -w '%{time_total}' http://127.0.0.1:9917/metrics)
awk '/^netburst_sampler_interval_seconds_bucket/ { match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5); n[le] = $NF; order[++k] = le }
     /^netburst_sampler_interval_seconds_count/ { total = $NF }
     END { for (i = 1; i <= k; i++) if (n[order[i]] >= 0.99 * total) { printf "netburst sample spacing p99 <= %g s (%d samples", order[i], total; break }
           for (i = 1; i <= k; i++) { if (order[i] + 0 <= 0.1020001) c2 = n[order[i]]; if (order[i] + 0 <= 0.1050001) c5 = n[order[i]] }
           printf "; over 0.102 s: %d, over 0.105 s: %d)\n", total - c2, total - c5 }' "$WORK/nb.prom"
echo "netburst scrape of $(grep -c '^netburst_' "$WORK/nb.prom") netburst series: ${scrape_s} s"
kill "${PIDS[-1]}" "$nb"; wait "$nb" 2>/dev/null || true
[ "$NE_DURATION" -gt 0 ] || exit 0

# node_exporter: netdev collector only, scraped 10 times a second (a scrape
# starts every 100 ms whether or not the previous one has finished, as a
# 100 ms scrape interval would).
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
awk -v a="$(cat "$WORK/cpu.node_exporter")" -v b="$(cat "$WORK/cpu.netburst")" 'BEGIN { if (b > 0) printf "node_exporter / netburst CPU: %.1fx\n", a / b }'
