#!/usr/bin/env bash
# The profiles of BENCHMARKS.md ("Profile"): where ssehub's CPU goes under the fan-out and the
# high-rate loads, next to the floor peer, with `perf record` (software clock: this VM exposes
# no hardware counters) and, for instruction counts in user space, `valgrind --tool=callgrind`.
#
#   bench/profile.sh [perf] [callgrind]        (default: both)
#
# Output in OUT (default bench/results/profile-<date>): NAME.perf.data, NAME.dso.txt (user vs
# kernel share), NAME.symbols.txt (flat profile), NAME.callers.txt (call graph), and
# callgrind.out / callgrind.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-$ROOT/bench/results/profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
SERVER_PID=
BENCH_PID=
trap '[[ -n $BENCH_PID ]] && kill "$BENCH_PID" 2>/dev/null; [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null; true' EXIT

# perf_one NAME SERVER RATE CONNS: 10 s of samples in the middle of a 25 s measured run.
perf_one() {
    local name=$1 s=$2 rate=$3 conns=$4
    wait_quiet
    start_server "$s" "$rate" 64
    "$SSEHUB" bench "http://127.0.0.1:${PORT[$s]}/sse" -c "$conns" --duration 25 --warmup 3 \
        --server-pid "$SERVER_PID" --expect-rate "$rate" --json >"$OUT/$name.json" 2>"$OUT/$name.log" &
    BENCH_PID=$!
    # Connections open at 2,000/s, then the warm-up: start sampling well inside the window.
    sleep $((conns / 2000 + 10))
    log "perf record $name"
    perf record -e cpu-clock -F 1999 -g -p "$SERVER_PID" -o "$OUT/$name.perf.data" -- sleep 10 \
        2>"$OUT/$name.perf.log" >/dev/null
    # Exit status 3: the run completed short of --expect-rate; its JSON says by how much.
    wait "$BENCH_PID" || (($? == 3))
    BENCH_PID=
    stop_server
    # (`|| true`: head closing the pipe early is no failure.)
    { perf report -i "$OUT/$name.perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -20 >"$OUT/$name.dso.txt"; } || true
    { perf report -i "$OUT/$name.perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -70 >"$OUT/$name.symbols.txt"; } || true
    { perf report -i "$OUT/$name.perf.data" --children --sort symbol --stdio -g caller,0.5,callee,function,percent \
        --percent-limit 2 2>/dev/null | head -600 >"$OUT/$name.callers.txt"; } || true
    summary_line "$name" | tee -a "$OUT/summary.txt"
}

perf_all() {
    perf_one fanout-ssehub ssehub 10 10000
    perf_one fanout-floor floor 10 10000
    perf_one rate-ssehub ssehub 1000 1000
    perf_one rate-axum axum 1000 1000
}

# Callgrind: user-space instructions per delivered event at a small scale (valgrind runs the
# server some 50 times slower): 200 streams x 50 events/s, 10 s measured.
callgrind() {
    log "callgrind"
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" --dump-instr=no \
        "$SSEHUB" serve --addr "127.0.0.1:${PORT[ssehub]}" --rate 50 --size 64 >"$OUT/callgrind.server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        port_in_use "${PORT[ssehub]}" && break
        sleep 0.2
    done
    bench callgrind-run ssehub -c 200 --duration 10 --warmup 2 --expect-rate 50
    kill -INT "$SERVER_PID" # a graceful end, so that callgrind writes its profile
    wait "$SERVER_PID" || true
    SERVER_PID=
    callgrind_annotate --inclusive=no "$OUT/callgrind.out" 2>/dev/null | head -60 >"$OUT/callgrind.txt"
    callgrind_annotate --inclusive=yes "$OUT/callgrind.out" 2>/dev/null | head -60 >"$OUT/callgrind.inclusive.txt"
    summary_line callgrind-run | tee -a "$OUT/summary.txt"
}

build_all
for what in "${@:-perf callgrind}"; do
    for w in $what; do
        wait_quiet
        case $w in
            perf) perf_all ;;
            callgrind) callgrind ;;
        esac
    done
done
log "profiles in $OUT"
