#!/usr/bin/env bash
# Reproduces the server benchmarks of BENCHMARKS.md: ssehub beside the reference peers (axum +
# tokio broadcast, and the single-thread "floor"), each started here, measured by `ssehub bench`.
#
#   bench/run.sh [SCENARIO...]      scenarios: fanout rate saturation idle setup (default: all)
#
# Environment: OUT (results folder, default bench/results/<date>), REPS (repeats of the key runs,
# default 3), PEERS (the peers' sources, default ../shared/peers or /work/shared/peers),
# PEERS_TARGET (their build folder, default /tmp/peers-target). Every run writes LABEL.json (the
# load generator's JSON report) and LABEL.log (its progress lines) into OUT, and a line per run
# into OUT/summary.txt, and the tables of BENCHMARKS.md into OUT/tables.md (bench/tables.py).
# The soak is bench/soak.sh, the profiles bench/profile.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}
REPS=${REPS:-3}
mkdir -p "$OUT"
SERVER_PID=
trap '[[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null; true' EXIT

record() { summary_line "$1" | tee -a "$OUT/summary.txt"; }

# 1. Fan-out: 10,000 connections, 10 events/s of 64 bytes, 20 s measured.
fanout() {
    for rep in $(seq "$REPS"); do
        for s in ssehub axum floor; do
            measure "fanout-$s-$rep" "$s" 10 -c 10000 --duration 20 --warmup 5 --expect-rate 10
            record "fanout-$s-$rep"
        done
    done
}

# 2. 1,000 connections at 1,000 events/s (1 M events/s delivered), 20 s measured.
rate() {
    for rep in $(seq "$REPS"); do
        for s in ssehub axum; do
            measure "rate-$s-$rep" "$s" 1000 -c 1000 --duration 20 --warmup 5 --expect-rate 1000
            record "rate-$s-$rep"
        done
    done
    measure "rate-floor-1" floor 1000 -c 1000 --duration 20 --warmup 5 --expect-rate 1000
    record "rate-floor-1"
}

# A run passes when p99 <= 100 ms, at least 99.5% of the expected events arrived, no numbered
# event was skipped and no stream was closed by the server.
passes() {
    jq -e '(.latency_us.p99 // 1e12) <= 100000 and (.expected.delivered_ratio // 0) >= 0.995
           and .skipped_ids == 0 and .connections.closed == 0' "$OUT/$1.json" >/dev/null
}

# 3. Saturation: 1,000 connections, the rate raised until two runs fail (SAT_RATES, or per
#    server SAT_RATES_SSEHUB / SAT_RATES_AXUM, list the steps).
saturation() {
    for s in ssehub axum; do
        local failed=0
        local rates_var=SAT_RATES_${s^^}
        for r in ${!rates_var:-${SAT_RATES:-1500 2000 3000 4000 5000 6000 8000 10000}}; do
            measure "sat-$s-$r" "$s" "$r" -c 1000 --duration 15 --warmup 5 --expect-rate "$r"
            if passes "sat-$s-$r"; then
                echo "PASS $(summary_line "sat-$s-$r")" | tee -a "$OUT/summary.txt"
            else
                echo "FAIL $(summary_line "sat-$s-$r")" | tee -a "$OUT/summary.txt"
                failed=$((failed + 1))
                # (an if, not `&&`: a false test as the loop's last command would end the
                # script under `set -e`, before the tables)
                if ((failed >= 2)); then break; fi
            fi
        done
    done
}

# After an idle run: the server's RSS 5 s and 20 s after the load generator closed everything.
after_close() {
    sleep 5
    local after5 after20
    after5=$(rss_kib "$SERVER_PID")
    sleep 15
    after20=$(rss_kib "$SERVER_PID")
    echo "{\"rss_after_close_5s_kib\": $after5, \"rss_after_close_20s_kib\": $after20, \"fds\": $(fds "$SERVER_PID")}" \
        >"$OUT/$1.after.json"
}

# 4. Idle memory: 19,000 streams with (almost) no events: one event per 100 s, keep-alive
#    comments at each server's default. RSS growth per connection, then RSS after closing.
idle() {
    for rep in $(seq "$REPS"); do
        for s in ssehub axum floor; do
            [[ $s != ssehub && $rep -gt 1 ]] && continue
            MEASURE_AFTER=after_close measure "idle-$s-$rep" "$s" 0.01 -c 19000 --duration 10 --warmup 2 \
                --connect-rate 5000
            echo "$(summary_line "idle-$s-$rep")  $(jq -r '"before=\(.server.rss_before_bytes/1024)KiB with=\(.server.rss_bytes/1024)KiB peak=\(.server.peak_rss_bytes/1024)KiB"' "$OUT/idle-$s-$rep.json")  $(jq -c . "$OUT/idle-$s-$rep.after.json")" \
                | tee -a "$OUT/summary.txt"
        done
    done
}

# 5. Connection set-up: 10,000 streams opened as fast as the load generator can (no pacing,
#    at most 512 connecting at once). Figure: streams established / (first connect attempt to
#    last response head), and each stream's set-up time (connect start to response head).
setup() {
    for rep in $(seq "$REPS"); do
        for s in ssehub axum floor; do
            measure "setup-$s-$rep" "$s" 10 -c 10000 --connect-rate 1000000000 --max-connecting 512 \
                --duration 2 --warmup 0
            record "setup-$s-$rep"
        done
    done
    # Sustained: 10,000 streams kept open while 2,000 a second are closed and reopened.
    measure "churnmax-ssehub-1" ssehub 10 -c 10000 --churn 2000 --max-connecting 512 --duration 20 --warmup 2
    record "churnmax-ssehub-1"
    jq -c '.churn' "$OUT/churnmax-ssehub-1.json" | tee -a "$OUT/summary.txt"
}

build_all
wait_quiet
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  kernel: $(uname -r)  nproc: $(nproc)  $(rustc --version)"
    echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "ssehub commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || cat "$ROOT/COMMIT" 2>/dev/null || echo '?')"
} | tee "$OUT/machine.txt"
for scenario in "${@:-fanout rate saturation idle setup}"; do
    for s in $scenario; do
        wait_quiet
        "$s"
    done
done
if command -v python3 >/dev/null; then
    python3 "$ROOT/bench/tables.py" "$OUT" >"$OUT/tables.md"
    python3 "$ROOT/bench/charts.py" "$OUT" || log "charts not redrawn" # bench/charts/servers-*.svg
fi
log "results in $OUT (tables: $OUT/tables.md)"
