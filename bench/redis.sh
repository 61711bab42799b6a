#!/usr/bin/env bash
# Scale-out through Redis: cross-node delivery latency with two ssehub nodes on one Redis, beside
# the same load on one node without Redis (issue #7's benchmark).
#
#   bench/redis.sh
#
# Scenarios, each repeated REPS times (default 3), every server fresh and killed by its PID:
#
#   two    Its own redis-server on 127.0.0.1:REDIS_PORT (default 18379, or the next free port).
#          Node A  `ssehub serve --addr 127.0.0.1:18091 --redis URL --rate 100 --size 64`
#          publishes (every event an EVALSHA into Redis, read back by both nodes' read threads);
#          node B  `ssehub serve --addr 127.0.0.1:18092 --redis URL --no-clock` only reads.
#          Two load generators at once, CLIENTS (default 1,000) on A and as many on B: B's latency is the
#          cross-node figure, A's the same node through Redis. Redis's own CPU time (and both
#          nodes', both load generators', the machine's) is sampled from /proc over an interval
#          inside the measured window (1 s after the warm-up until 1 s before the end).
#   one    One node without Redis, `ssehub serve --rate 100 --size 64` (lib.sh's start_server, on
#          port 18093): CLIENTS clients, then 2 x CLIENTS (the two-node scenario's total).
#   RATE (default 100) events/s to each client in both. Issue 19's cross-node target is
#   `CLIENTS=5000 RATE=10 OUT=bench/results/redis-5000 bench/redis.sh`: B's p99 against the
#   one node's with 10,000.
#
# Environment: OUT (results folder, default bench/results/redis), CLIENTS, RATE, REPS, DURATION (default 20),
# WARMUP (default 5), REDIS_PORT, REDIS_SERVER (default: redis-server on PATH), NOISE (see
# lib.sh's noisy). Writes into OUT, per run: LABEL.json (the load generator's report), LABEL.log
# (its progress), LABEL.server.log (the server's output); per two-node run also
# LABEL.cpu.json (the /proc samples), LABEL.redis-commandstats.txt, LABEL.stopped.txt (whether
# each node exited on SIGTERM), LABEL-{A,B}.metrics.txt (one-node runs: LABEL.metrics.txt);
# and machine.txt, redis.log, summary.txt (a line per run) and table.md (medians and ranges).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-$ROOT/bench/results/redis}
REPS=${REPS:-3}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
RATE=${RATE:-100}
CLIENTS=${CLIENTS:-1000}
REDIS_PORT=${REDIS_PORT:-18379}
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
# Ports of our own, apart from lib.sh's 18080/18081/18084: lib.sh's start_server, bench and
# measure read PORT[name], so the one-node runs use them with ssehub moved to 18093.
PORT[ssehub]=18093
PORT[nodeA]=18091
PORT[nodeB]=18092

if [[ -z $REDIS_SERVER || ! -x $REDIS_SERVER ]]; then
    echo "redis-server not found. Install it (Debian/Ubuntu: sudo apt-get install redis-server)," >&2
    echo "or point REDIS_SERVER=/path/to/redis-server at one." >&2
    exit 1
fi
command -v jq >/dev/null || { echo "jq not found (Debian/Ubuntu: sudo apt-get install jq)" >&2; exit 1; }

mkdir -p "$OUT"
HZ=$(getconf CLK_TCK)

# Every process started here, by PID; killed (by that PID) at exit.
SERVER_PID=    # lib.sh's: the one-node server
REDIS_PID= REDIS_DIR= A_PID= B_PID= GEN_A= GEN_B= STOPPED=
# Whether PID runs (not gone, not a zombie awaiting wait).
alive() {
    local state
    state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null || echo gone)
    [[ $state != Z && $state != gone ]]
}
cleanup() {
    local p
    for p in "$GEN_A" "$GEN_B" "$A_PID" "$B_PID" "$SERVER_PID" "$REDIS_PID"; do
        [[ -n $p ]] && kill "$p" 2>/dev/null
    done
    for p in "$GEN_A" "$GEN_B" "$A_PID" "$B_PID" "$SERVER_PID" "$REDIS_PID"; do
        [[ -n $p ]] || continue
        for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
        alive "$p" && kill -KILL "$p" 2>/dev/null # a node that ignores SIGTERM (see stop)
        wait "$p" 2>/dev/null || true
    done
    [[ -n $REDIS_DIR ]] && rm -rf "$REDIS_DIR"
    true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port PORT PID: until something listens on PORT (10 s at most) while PID lives.
wait_port() {
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        if port_in_use "$1"; then
            sleep 0.5 # let the probe's connection go (as lib.sh's start_server)
            return 0
        fi
        sleep 0.1
    done
    return 1
}

redis_cmd() { # redis_cmd ARGS...: through redis-cli when there is one (only for statistics)
    command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

start_redis() {
    local p
    for p in $(seq "$REDIS_PORT" $((REDIS_PORT + 20))); do
        port_in_use "$p" || break
    done
    port_in_use "$p" && { echo "no free port for Redis from $REDIS_PORT" >&2; exit 1; }
    REDIS_PORT=$p
    REDIS_DIR=$(mktemp -d /tmp/ssehub-bench-redis.XXXXXX)
    log "starting redis-server on 127.0.0.1:$REDIS_PORT"
    "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$REDIS_DIR" --daemonize no >"$OUT/redis.log" 2>&1 &
    REDIS_PID=$!
    wait_port "$REDIS_PORT" "$REDIS_PID" || { echo "redis-server did not start (see $OUT/redis.log)" >&2; exit 1; }
}

# start_node VAR LOG PORT [serve args...]: an ssehub node on 127.0.0.1:PORT, its PID in VAR.
start_node() {
    local var=$1 logf=$2 port=$3
    shift 3
    "$SSEHUB" serve --addr "127.0.0.1:$port" --max-connections 20000 "$@" >"$logf" 2>&1 &
    printf -v "$var" %s "$!"
    wait_port "$port" "${!var}" || { echo "ssehub did not start on $port (see $logf)" >&2; exit 1; }
}

# stop PIDVAR LOG: SIGTERM to the process whose PID VAR holds (as lib.sh's stop_server), and
# SIGKILL if it has not exited 10 s later (noted in LOG and in STOPPED); clears VAR.
# (Before a0560d5 a node publishing through Redis did not exit on SIGTERM; the SIGKILL and the
# note in STOPPED keep such a regression visible.)
stop() {
    local pid=${!1}
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        log "PID $pid ($2) still running 10 s after SIGTERM; SIGKILL"
        echo "# bench/redis.sh: still running 10 s after SIGTERM; killed with SIGKILL" >>"$2"
        kill -KILL "$pid" 2>/dev/null || true
        STOPPED+=" $(basename "$2" .server.log)=sigkill"
    else
        STOPPED+=" $(basename "$2" .server.log)=sigterm"
    fi
    wait "$pid" 2>/dev/null || true
    printf -v "$1" %s ""
}

# A line of the CPU samples: time, machine busy ticks, then ticks of redis, A, B, gen A, gen B.
snapshot() {
    echo "$(date +%s.%N) $(busy_ticks) $(cpu_ticks "$REDIS_PID") $(cpu_ticks "$A_PID") $(cpu_ticks "$B_PID") $(cpu_ticks "$GEN_A") $(cpu_ticks "$GEN_B")"
}

# gen VAR LABEL NODE PID: a load generator on node NODE (server PID), in the background.
gen() {
    "$SSEHUB" bench "http://127.0.0.1:${PORT[$3]}/sse" -c "$CLIENTS" --duration "$DURATION" \
        --warmup "$WARMUP" --expect-rate "$RATE" --server-pid "$4" --json \
        >"$OUT/$2.json" 2>"$OUT/$2.log" &
    printf -v "$1" %s "$!"
}

# The two-node run LABEL (LABEL-A and LABEL-B); noisy runs (anything but these five processes
# busy over NOISE of a core in the interval) are kept as *.noisy-N.* and done again, 4 tries.
two_nodes() {
    local label=$1 attempt s0 s1 ra rb url="redis://127.0.0.1:$REDIS_PORT"
    for attempt in 1 2 3 4; do
        wait_quiet
        local ns="bench-$label-$attempt" # fresh streams for every run
        start_node B_PID "$OUT/$label-B.server.log" "${PORT[nodeB]}" --redis "$url" --redis-namespace "$ns" --no-clock
        start_node A_PID "$OUT/$label-A.server.log" "${PORT[nodeA]}" --redis "$url" --redis-namespace "$ns" \
            --rate "$RATE" --size 64
        redis_cmd CONFIG RESETSTAT >/dev/null || true
        log "run $label (A: $CLIENTS clients on :${PORT[nodeA]}, B: $CLIENTS clients on :${PORT[nodeB]})"
        gen GEN_A "$label-A" nodeA "$A_PID"
        gen GEN_B "$label-B" nodeB "$B_PID"
        sleep $((WARMUP + 1))
        s0=$(snapshot)
        sleep $((DURATION - 2))
        s1=$(snapshot)
        ra=0 rb=0
        wait "$GEN_A" || ra=$?
        wait "$GEN_B" || rb=$?
        GEN_A= GEN_B=
        redis_cmd INFO commandstats >"$OUT/$label.redis-commandstats.txt" 2>&1 || true
        curl -s "http://127.0.0.1:${PORT[nodeA]}/metrics" >"$OUT/$label-A.metrics.txt" || true
        curl -s "http://127.0.0.1:${PORT[nodeB]}/metrics" >"$OUT/$label-B.metrics.txt" || true
        STOPPED=
        stop A_PID "$OUT/$label-A.server.log"
        stop B_PID "$OUT/$label-B.server.log"
        echo "${STOPPED# }" >"$OUT/$label.stopped.txt"
        sleep 1
        # Exit status 3: the run completed short of --expect-rate (a result, in the JSON).
        (((ra == 0 || ra == 3) && (rb == 0 || rb == 3))) || { echo "$label: load generator failed (A: $ra, B: $rb); see $OUT/$label-[AB].log" >&2; exit 1; }
        read -r t0 m0 r0 a0 b0 ga0 gb0 <<<"$s0"
        read -r t1 m1 r1 a1 b1 ga1 gb1 <<<"$s1"
        jq -n --argjson hz "$HZ" --argjson t "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')" \
            --argjson m $((m1 - m0)) --argjson r $((r1 - r0)) --argjson a $((a1 - a0)) --argjson b $((b1 - b0)) \
            --argjson ga $((ga1 - ga0)) --argjson gb $((gb1 - gb0)) \
            --slurpfile A "$OUT/$label-A.json" --slurpfile B "$OUT/$label-B.json" '
            def r3: . * 1000 | round / 1000;
            {interval_s: $t, redis_cpu_s: ($r / $hz), node_a_cpu_s: ($a / $hz), node_b_cpu_s: ($b / $hz),
             gen_a_cpu_s: ($ga / $hz), gen_b_cpu_s: ($gb / $hz), machine_cpu_s: ($m / $hz)}
            | .other_cpu_s = ([.machine_cpu_s - .redis_cpu_s - .node_a_cpu_s - .node_b_cpu_s
                               - .gen_a_cpu_s - .gen_b_cpu_s, 0] | max)
            | .redis_cores = (.redis_cpu_s / .interval_s)
            # Redis CPU over the measured window (its rate in the interval times the window), and
            # per event published and per event delivered (both nodes).
            | .redis_cpu_window_s = (.redis_cores * $B[0].window_s)
            | .redis_cpu_us_per_published = (.redis_cores * 1e6 / '"$RATE"')
            | .delivered_events = ($A[0].events + $B[0].events)
            | .redis_cpu_us_per_delivered = (.redis_cpu_window_s * 1e6 / .delivered_events)
            # A + B + Redis CPU per event delivered by either node.
            | .all_cpu_us_per_delivered = (($A[0].server.cpu_s + $B[0].server.cpu_s + .redis_cpu_window_s)
                                           * 1e6 / .delivered_events)
            | with_entries(.value |= (if type == "number" then r3 else . end))' >"$OUT/$label.cpu.json"
        if jq -e --argjson max "${NOISE:-0.15}" '.other_cpu_s / .interval_s > $max' "$OUT/$label.cpu.json" >/dev/null; then
            if ((attempt == 4)); then
                log "$label: still noisy after 4 attempts; kept"
                return 0
            fi
            log "$label: the machine was busy with something else ($(jq .other_cpu_s "$OUT/$label.cpu.json") s); again"
            for f in "$OUT/$label"{-A.json,-B.json,.cpu.json}; do
                mv "$f" "${f%.json}.noisy-$attempt.json"
            done
            sleep 20
            continue
        fi
        return 0
    done
}

record() { summary_line "$1" | tee -a "$OUT/summary.txt"; }

record_two() {
    record "$1-A"
    record "$1-B"
    jq -r --arg l "$1" '"\($l)  redis_cpu=\(.redis_cpu_window_s)s (\(.redis_cores * 100 | round)% of a core)  redis_cpu/published=\(.redis_cpu_us_per_published)us  redis_cpu/delivered=\(.redis_cpu_us_per_delivered)us  A+B+redis_cpu/delivered=\(.all_cpu_us_per_delivered)us  gen_cpu=\(.gen_a_cpu_s)+\(.gen_b_cpu_s)s  other_cpu=\(.other_cpu_s)s (beyond redis, both nodes and both generators, over \(.interval_s)s)  stop: \($stopped)"' \
        --arg stopped "$(cat "$OUT/$1.stopped.txt")" "$OUT/$1.cpu.json" | tee -a "$OUT/summary.txt"
}

# The one-node server's counters after its load generator (lib.sh's MEASURE_AFTER hook).
one_node_metrics() { curl -s "http://127.0.0.1:${PORT[ssehub]}/metrics" >"$OUT/$1.metrics.txt" || true; }

# one_node LABEL CLIENTS: lib.sh's measure on a fresh `ssehub serve --rate 100 --size 64`.
one_node() {
    MEASURE_AFTER=one_node_metrics measure "$1" ssehub "$RATE" -c "$2" --duration "$DURATION" --warmup "$WARMUP" --expect-rate "$RATE"
    mv "$OUT/ssehub.server.log" "$OUT/$1.server.log"
    record "$1"
}

for p in "${PORT[nodeA]}" "${PORT[nodeB]}" "${PORT[ssehub]}"; do
    port_in_use "$p" && { echo "port $p is in use; free it first" >&2; exit 1; }
done
log "building ssehub (release)"
(cd "$ROOT" && cargo build --release --quiet)
start_redis
wait_quiet
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ) ($(date))  kernel: $(uname -r)  nproc: $(nproc)  $(rustc --version)"
    echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "redis: $("$REDIS_SERVER" --version)"
    echo "ssehub commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | grep -q . && echo ' (src modified)')"
    echo "runs: REPS=$REPS DURATION=$DURATION WARMUP=$WARMUP rate=$RATE size=64 redis=127.0.0.1:$REDIS_PORT"
} | tee "$OUT/machine.txt"
: >"$OUT/summary.txt"
for rep in $(seq "$REPS"); do
    two_nodes "two-$rep"
    record_two "two-$rep"
    one_node "one-$CLIENTS-$rep" "$CLIENTS"
    one_node "one-$((2 * CLIENTS))-$rep" "$((2 * CLIENTS))"
done

# table.md: median [min–max] over the repeats (noisy runs left out).
if command -v python3 >/dev/null; then
    python3 - "$OUT" "$CLIENTS" >"$OUT/table.md" <<'EOF'
import glob, json, os, re, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
def load(pattern):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, pattern)))
            if ".noisy-" not in p]
def cell(xs, fmt):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "—"
    m = statistics.median(xs)
    return fmt(m) if len(xs) == 1 else f"{fmt(m)} [{fmt(min(xs))}–{fmt(max(xs))}]"
ms = lambda us: f"{us / 1000:.1f} ms"
pct = lambda r: f"{100 * r:.2f} %"
cpu = lambda us: f"{us:.2f} µs"
rows = [(f"B: cross-node ({n:,} clients on B; A publishes)", "two-[0-9]*-B.json"),
        (f"A: same node, through Redis ({n:,} clients on A)", "two-[0-9]*-A.json"),
        (f"one node, no Redis, {n:,} clients", f"one-{n}-[0-9]*.json"),
        (f"one node, no Redis, {2 * n:,} clients", f"one-{2 * n}-[0-9]*.json")]
print("| Run | Runs | p50 | p99 | max | Delivered | Skipped ids | Server CPU / delivered event |")
print("|---|--:|--:|--:|--:|--:|--:|--:|")
for name, pattern in rows:
    runs = load(pattern)
    if not runs:
        continue
    g = lambda f: [f(r) for r in runs]
    print(f"| {name} | {len(runs)} | {cell(g(lambda r: r['latency_us']['p50']), ms)} "
          f"| {cell(g(lambda r: r['latency_us']['p99']), ms)} | {cell(g(lambda r: r['latency_us']['max']), ms)} "
          f"| {cell(g(lambda r: (r.get('expected') or {}).get('delivered_ratio')), pct)} "
          f"| {sum(r['skipped_ids'] for r in runs)} | {cell(g(lambda r: r['server']['cpu_us_per_event']), cpu)} |")
two = load("two-[0-9]*.cpu.json")
if two:
    g = lambda k: [c[k] for c in two]
    print()
    print("| Two nodes: CPU over the window | median [range] |")
    print("|---|--:|")
    print(f"| Redis CPU over the {two[0]['interval_s'] + 2:.0f}-s window (its rate in the inner {two[0]['interval_s']:.0f} s) | {cell(g('redis_cpu_window_s'), lambda s: f'{s:.2f} s')} |")
    print(f"| Redis, share of a core | {cell(g('redis_cores'), lambda c: f'{100 * c:.1f} %')} |")
    print(f"| Redis CPU per published event | {cell(g('redis_cpu_us_per_published'), cpu)} |")
    print(f"| Redis CPU per delivered event | {cell(g('redis_cpu_us_per_delivered'), cpu)} |")
    print(f"| A + B + Redis CPU per delivered event | {cell(g('all_cpu_us_per_delivered'), cpu)} |")
    print(f"| Load generators' CPU (A + B) | {cell([c['gen_a_cpu_s'] + c['gen_b_cpu_s'] for c in two], lambda s: f'{s:.2f} s')} |")
EOF
    python3 "$ROOT/bench/charts.py" --prefix redis "$OUT" || log "chart not redrawn" # bench/charts/redis.svg (redis-N.svg for CLIENTS=N other than 1,000)
fi
log "results in $OUT (summary.txt, table.md)"
