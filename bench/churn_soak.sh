#!/usr/bin/env bash
# The production churn test (cmd/netburst_exporter TestProductionChurn) for
# a long run: the exporter as deploy/ runs it (uid 65534, CAP_NET_RAW only)
# on a 1,001-interface namespace where 200 interfaces are deleted and
# re-created a minute, scraped every second, probing 20 hosts (one bound to
# a re-created vif) and capturing two re-created vifs. Run as root from the
# repository root:
#
#   bash bench/churn_soak.sh             # 30 minutes of churn
#   DURATION=2h bash bench/churn_soak.sh
#
# The test fails on a stale series, a probe or capture that does not come
# back, leaked fds or goroutines, or RSS growth beyond its bound; its last
# line gives the figures BENCHMARKS.md records: fds and goroutines after
# warm-up and at the end, RSS then and at its peak, CPU over the churn, and
# the link events, overflows and table reads the sampler saw. Everything it
# creates is removed when it ends.
set -euo pipefail
DURATION=${DURATION:-30m}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "churn_soak.sh: needs root (network namespaces)" >&2; exit 2; }
command -v setpriv >/dev/null || { echo "churn_soak.sh: needs setpriv (util-linux)" >&2; exit 2; }
echo "churn for $DURATION, started $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
NETBURST_CHURN_DURATION=$DURATION go test -count=1 -timeout 0 -run '^TestProductionChurn$' -v ./cmd/netburst_exporter >"$out" 2>&1 || status=$?
# The figures, or on failure the test's whole output.
if [ "$status" = 0 ]; then grep -E '^(--- |PASS|ok |\s+churn_test.go)' "$out"; else cat "$out"; fi
echo "ended $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
