#!/usr/bin/env bash
# The soak of BENCHMARKS.md: `ssehub serve --rate 10` with 10,000 streams open while the load
# generator closes and reopens 500 of them a second, for 10 minutes. The server's RSS, open
# descriptors and /metrics gauges are sampled every 30 s into OUT/soak-samples.tsv; the load
# generator's report is OUT/soak.json (progress lines, once a second, in OUT/soak.log).
#
#   bench/soak.sh                   SOAK_SECONDS (default 600), SOAK_CHURN (500), SOAK_CONNS (10000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-$ROOT/bench/results/soak-$(date +%Y%m%d-%H%M%S)}
SECONDS_TOTAL=${SOAK_SECONDS:-600}
CHURN=${SOAK_CHURN:-500}
CONNS=${SOAK_CONNS:-10000}
mkdir -p "$OUT"
SERVER_PID=
BENCH_PID=
trap '[[ -n $BENCH_PID ]] && kill "$BENCH_PID" 2>/dev/null; [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null; true' EXIT

metric() { curl -s "http://127.0.0.1:${PORT[ssehub]}/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
sample() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(rss_kib "$SERVER_PID")" "$(fds "$SERVER_PID")" \
        "$(metric ssehub_streams)" "$(metric ssehub_connections)" "$(metric ssehub_connections_accepted_total)" \
        "$(metric ssehub_slow_clients_dropped_total)" "$(ss -tan state time-wait | wc -l)" \
        | tee -a "$OUT/soak-samples.tsv"
}

build_all
wait_quiet
start_server ssehub 10 64
printf 'elapsed_s\trss_kib\tfds\tstreams\tconnections\taccepted_total\tslow_dropped_total\ttime_wait\n' \
    | tee "$OUT/soak-samples.tsv"
sample before
"$SSEHUB" bench "http://127.0.0.1:${PORT[ssehub]}/sse" -c "$CONNS" --churn "$CHURN" \
    --duration "$SECONDS_TOTAL" --warmup 5 --server-pid "$SERVER_PID" --json \
    >"$OUT/soak.json" 2>"$OUT/soak.log" &
BENCH_PID=$!
start=$(date +%s)
# The window opens once all connections are up (about 5 s at the default connect rate).
for ((t = 30; t <= SECONDS_TOTAL + 10; t += 30)); do
    sleep $((start + t - $(date +%s)))
    kill -0 "$BENCH_PID" 2>/dev/null || break
    sample "$t"
done
wait "$BENCH_PID"
BENCH_PID=
sleep 5
sample after-close-5s
sleep 15
sample after-close-20s
stop_server
summary_line soak | tee "$OUT/summary.txt"
jq -c '{churn, closed: .connections.closed_reasons, failed: .connections.failed_reasons}' "$OUT/soak.json" \
    | tee -a "$OUT/summary.txt"
