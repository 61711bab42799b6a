# Shared helpers of bench/run.sh, bench/soak.sh and bench/profile.sh (sourced, not run).
#
# Servers run on 127.0.0.1 only: ssehub on 18080, the axum peer on 18081, the floor peer on 18084.
# Every server is started here, its PID kept, and killed by that PID alone.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The reference peers (read-only sources; built into a target dir of our own).
PEERS=${PEERS:-}
if [[ -z $PEERS ]]; then
    for p in "$ROOT/../shared/peers" /work/shared/peers; do
        [[ -d $p/floor ]] && { PEERS=$(cd "$p" && pwd); break; }
    done
fi
PEERS_TARGET=${PEERS_TARGET:-/tmp/peers-target}
SSEHUB=$ROOT/target/release/ssehub
AXUM=$PEERS_TARGET/release/axum-sse-peer
FLOOR=$PEERS_TARGET/release/floor
declare -A PORT=([ssehub]=18080 [axum]=18081 [floor]=18084)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build_all() {
    log "building ssehub (release)"
    (cd "$ROOT" && cargo build --release --quiet)
    [[ -n $PEERS ]] || { echo "peers not found: set PEERS=/path/to/shared/peers" >&2; exit 1; }
    for p in floor axum-sse; do
        log "building peer $p"
        CARGO_TARGET_DIR=$PEERS_TARGET cargo build --release --quiet --manifest-path "$PEERS/$p/Cargo.toml"
    done
}

# CPU ticks the machine has spent busy since boot (all CPUs; /proc/stat).
busy_ticks() {
    local _cpu user nice system idle iowait irq softirq steal _rest
    read -r _cpu user nice system idle iowait irq softirq steal _rest </proc/stat
    echo $((user + nice + system + irq + softirq + steal))
}

# Waits (up to QUIET_MAX seconds, default 30 min) until no fuzzer runs on the machine and it is
# idle (under a fifth of a core busy over 3 s): figures taken while another process burns a core
# are worthless on 2 cores.
wait_quiet() {
    local waited=0 hz a b
    hz=$(getconf CLK_TCK)
    while true; do
        if pgrep -f 'fuzz/target' >/dev/null || pgrep -f 'cargo fuzz' >/dev/null || pgrep -f -- '-max_total_time=' >/dev/null; then
            log "a fuzzer is running; waiting 30 s"
            sleep 30
            waited=$((waited + 30))
        else
            a=$(busy_ticks)
            sleep 3
            b=$(busy_ticks)
            ((b - a <= 3 * hz / 5)) && return
            log "the machine is busy ($((100 * (b - a) / (3 * hz)))% of a core); waiting 10 s"
            sleep 10
            waited=$((waited + 13))
        fi
        ((waited >= ${QUIET_MAX:-1800})) && { log "still busy after ${waited} s; measuring anyway"; return; }
    done
}

# port_in_use PORT: whether something listens on 127.0.0.1:PORT (a connection is tried).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# CPU ticks (user + system) of process PID so far; 0 once it is gone.
cpu_ticks() {
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# wait_port PORT: until something listens on 127.0.0.1:PORT (10 s at most; then the script
# exits), and half a second more (for the probe's connection to go).
wait_port() {
    for _ in $(seq 100); do
        port_in_use "$1" && { sleep 0.5; return; }
        sleep 0.1
    done
    echo "nothing listening on $1" >&2
    exit 1
}

# start_server NAME RATE SIZE [extra args...]: starts it, waits for its port, sets SERVER_PID.
start_server() {
    local name=$1 rate=$2 size=$3
    shift 3
    local port=${PORT[$name]}
    case $name in
        ssehub) "$SSEHUB" serve --addr "127.0.0.1:$port" --rate "$rate" --size "$size" \
                    --max-connections 20000 "$@" >"$OUT/$name.server.log" 2>&1 & ;;
        axum) "$AXUM" --port "$port" --rate "$rate" --size "$size" >"$OUT/$name.server.log" 2>&1 & ;;
        floor) "$FLOOR" --port "$port" --rate "$rate" --size "$size" >"$OUT/$name.server.log" 2>&1 & ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do
        if port_in_use "$port"; then
            sleep 0.5 # let the probe's connection go; the baseline RSS is sampled by bench
            return
        fi
        sleep 0.1
    done
    echo "$name did not start listening on $port" >&2
    kill "$SERVER_PID"
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    sleep 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }

# bench LABEL NAME [bench args...]: runs the load generator against server NAME (SERVER_PID),
# JSON to $OUT/LABEL.json, progress to $OUT/LABEL.log. Exit status 3 (the run completed, but
# --expect-rate was not met) is a result to record, not a failure: the tables judge it.
bench() {
    local label=$1 name=$2 rc=0
    shift 2
    log "run $label"
    "$SSEHUB" bench "http://127.0.0.1:${PORT[$name]}/sse" --server-pid "$SERVER_PID" --json "$@" \
        >"$OUT/$label.json" 2>"$OUT/$label.log" || rc=$?
    ((rc == 0 || rc == 3)) || { log "$label: the load generator failed (exit $rc); see $OUT/$label.log"; return "$rc"; }
}

# Whether run LABEL shared the machine with something else: over its window, the CPU busy on
# anything but the server and the load generator passed NOISE cores (default 0.15).
noisy() {
    jq -e --argjson max "${NOISE:-0.15}" '(.other_cpu_s // 0) / (.window_s + 1e-9) > $max' \
        "$OUT/$1.json" >/dev/null
}

# measure LABEL NAME RATE [bench args...]: a fresh server NAME publishing RATE events/s of 64
# bytes, one load-generator run, the server stopped; a run that shared the machine (see noisy)
# is kept as LABEL.noisy-N.json and done again, up to 3 times. MEASURE_AFTER, if set, is run
# (with the server still up) after the load generator, for extra samples.
measure() {
    local label=$1 name=$2 rate=$3
    shift 3
    for attempt in 1 2 3 4; do
        wait_quiet
        start_server "$name" "$rate" 64
        bench "$label" "$name" "$@"
        [[ -n ${MEASURE_AFTER:-} ]] && "$MEASURE_AFTER" "$label"
        stop_server
        noisy "$label" || return 0
        if ((attempt == 4)); then
            log "$label: still noisy after 4 attempts; kept"
            return 0
        fi
        log "$label: the machine was busy with something else ($(jq .other_cpu_s "$OUT/$label.json") s); again"
        mv "$OUT/$label.json" "$OUT/$label.noisy-$attempt.json"
        sleep 20
    done
}

# One line of the key figures of a run's JSON.
summary_line() {
    jq -r --arg l "$1" '[$l,
        "conns=\(.connections.established)/\(.connections.requested) failed=\(.connections.failed) closed=\(.connections.closed)",
        "ev/s=\(.events_per_sec)",
        "delivered=\(.expected.delivered_ratio // "-")",
        "skipped_ids=\(.skipped_ids)",
        "per_conn=\(.per_connection_events.fewest // "-")..\(.per_connection_events.most // "-")",
        "p50=\(.latency_us.p50 // "-")us p99=\(.latency_us.p99 // "-")us max=\(.latency_us.max // "-")us",
        "cpu/ev=\(.server.cpu_us_per_event // "-")us srv_cpu=\(.server.cpu_s)s gen_cpu=\(.loadgen_cpu_s)s",
        "rss/conn=\(.server.rss_growth_per_connection_bytes // "-")B",
        "fill=\(.fill.streams_per_sec // "-")/s setup_p99=\(.setup_us.p99 // "-")us",
        "other_cpu=\(.other_cpu_s)s"] | join("  ")' "$OUT/$1.json"
}
