#!/usr/bin/env bash
# The TLS benchmarks of #14 (BENCHMARKS.md, "TLS"): ssehub over TLS beside plain ssehub and beside
# nginx + nchan (over TLS and plain, the same nginx), all measured by `ssehub bench` in one run.
#
#   bench/tls.sh [SCENARIO...]      scenarios: fanout idle handshakes (default: all three)
#
#   fanout      10,000 streams x 10 events/s of 64 bytes, 15 s measured: server CPU per delivered
#               event (the target: ssehub TLS <= 1.25 x plain ssehub and <= 0.6 x nginx+nchan TLS)
#   idle        19,000 streams held, one event per 100 s: RSS growth per stream (the target: TLS
#               <= 4 KiB per stream above plain)
#   handshakes  full TLS handshakes a second (no resumption), 32 being set up at once, the server
#               pinned to CPU 1 and the load generator to CPU 0, so that both servers get the same
#               single core (the target: ssehub >= nginx)
#
# Needs nginx and its nchan module (Debian: apt-get install nginx-light libnginx-mod-nchan; the
# system nginx service is not used), openssl, jq, python3 (bench/publish.py publishes nchan's
# events, as ssehub serve --rate does its own) and taskset. Everything listens on 127.0.0.1 only:
# ssehub on 18443 (TLS) or 18090, nginx on 18444 (TLS), 18082 (plain) and 18089 (its publisher).
# Every process is started here and stopped by its PID.
#
# Environment: OUT (results, default bench/results/tls), REPS (repeats, default 3; IDLE_REPS for
# the idle runs, default 2, of which nginx's only the first), QUIET_MAX
# (seconds to wait for an idle machine before each run, default 30: see lib.sh wait_quiet),
# RETRY_NOISY (0: keep a run that shared the machine instead of doing it again);
# SERVERS (which of ssehub-tls ssehub nchan-tls nchan to run, default all; the handshake runs
# take the TLS ones); for a quick check of the script itself, FANOUT_CONNS, IDLE_CONNS and
# DURATION (seconds measured) shrink the runs.
# Streams are opened at 500 a second: nginx + nchan spends about 0.9 ms of CPU on a full
# handshake here, and at the load generator's default 2,000 a second on this shared 2-core machine
# its handshakes time out faster than they complete (10,000 streams were not open after 2 min).
# A run that has not finished after 300 s is stopped and kept as LABEL.failed.json.
# Every run writes LABEL.json and LABEL.log into OUT and a line into OUT/summary.txt; the tables
# are OUT/tables.md (bench/tls_tables.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-$ROOT/bench/results/tls}
REPS=${REPS:-3}
IDLE_REPS=${IDLE_REPS:-2}
FANOUT_CONNS=${FANOUT_CONNS:-10000}
IDLE_CONNS=${IDLE_CONNS:-19000}
SERVERS=${SERVERS:-ssehub-tls ssehub nchan-tls nchan}
export QUIET_MAX=${QUIET_MAX:-30}
NGINX=${NGINX:-nginx}
NCHAN_MODULE=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
declare -A URL=(
    [ssehub-tls]=https://127.0.0.1:18443/sse
    [ssehub]=http://127.0.0.1:18090/sse
    [nchan-tls]=https://127.0.0.1:18444/sse
    [nchan]=http://127.0.0.1:18082/sse
)
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ssehub-tls-bench.XXXXXX)
SERVER_PIDS=()
PUB_PID=
cleanup() {
    stop_all
    # nginx's error log (nchan's crashes show there) is kept beside the results.
    [[ -f $WORK/nginx/error.log ]] && cat "$WORK/nginx/error.log" >>"$OUT/nginx.error.log"
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in "$NGINX" openssl jq python3 taskset; do
    command -v "$tool" >/dev/null || { echo "tls.sh needs $tool" >&2; exit 1; }
done
[[ -f $NCHAN_MODULE ]] || { echo "no nchan module at $NCHAN_MODULE (apt-get install libnginx-mod-nchan)" >&2; exit 1; }

# One certificate for both servers: ECDSA P-256, self-signed, for 127.0.0.1 (an end-entity
# certificate, CA:FALSE, which the load generator trusts with --cacert).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -addext 'basicConstraints=critical,CA:FALSE' \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/nginx"
sed -e "s|@DIR@|$WORK/nginx|g; s|@PORT@|18444|g; s|@PLAIN_PORT@|18082|g; s|@PUB_PORT@|18089|g" \
    -e "s|@CERT@|$WORK/cert.pem|g; s|@KEY@|$WORK/key.pem|g; s|@NCHAN_MODULE@|$NCHAN_MODULE|g" \
    "$ROOT/bench/nginx/nchan-tls.conf.in" >"$WORK/nginx/nginx.conf"

# start NAME RATE [PIN]: the server behind URL[NAME], publishing RATE events/s of 64 bytes;
# PIN, if given, is the CPU list it runs on. Sets SERVER_PIDS (nginx: the master and its workers).
start() {
    local name=$1 rate=$2 pin=${3:-} port
    local run=()
    [[ -n $pin ]] && run=(taskset -c "$pin")
    port=${URL[$name]##*:}
    port=${port%%/*}
    case $name in
        ssehub*)
            local tls=()
            [[ $name == *tls ]] && tls=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
            "${run[@]}" "$SSEHUB" serve --addr "127.0.0.1:$port" --rate "$rate" --size 64 \
                --max-connections 20000 "${tls[@]}" >>"$OUT/$name.server.log" 2>&1 &
            SERVER_PIDS=($!)
            wait_port "$port"
            alive
            ;;
        nchan*)
            "${run[@]}" "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" \
                >>"$OUT/nginx.server.log" 2>&1 &
            SERVER_PIDS=($!)
            wait_port "$port"
            wait_port 18089
            alive
            local w
            for w in $(pgrep -P "${SERVER_PIDS[0]}"); do SERVER_PIDS+=("$w"); done
            python3 "$ROOT/bench/publish.py" http://127.0.0.1:18089/pub "$rate" 64 >>"$OUT/publish.log" 2>&1 &
            PUB_PID=$!
            ;;
    esac
}

# The server just started is still running: what answers on its port is not another's server.
alive() {
    kill -0 "${SERVER_PIDS[0]}" 2>/dev/null && return
    echo "the server died at start (is its port taken?); see $OUT/*.server.log" >&2
    exit 1
}

stop_all() {
    [[ -n $PUB_PID ]] && { kill "$PUB_PID" 2>/dev/null || true; wait "$PUB_PID" 2>/dev/null || true; }
    PUB_PID=
    if ((${#SERVER_PIDS[@]})); then
        kill "${SERVER_PIDS[0]}" 2>/dev/null || true
        wait "${SERVER_PIDS[0]}" 2>/dev/null || true
    fi
    SERVER_PIDS=()
    sleep 1
}

# run LABEL NAME RATE [PIN] [bench args...]: a fresh server, one load-generator run, the server
# stopped. A run that shared the machine (lib.sh noisy) is kept as LABEL.noisy-N.json and done
# again once (not with RETRY_NOISY=0); the second one is kept whatever it saw (its other_cpu_s
# says how busy the machine was, and the tables show it).
run() {
    local label=$1 name=$2 rate=$3 pin=$4 rc
    shift 4
    local gen=()
    [[ -n $pin ]] && gen=(taskset -c 0)
    for attempt in 1 2; do
        wait_quiet
        start "$name" "$rate" "$pin"
        log "run $label"
        rc=0
        local trust=()
        [[ $name == *tls && " $* " != *" --insecure "* ]] && trust=(--cacert "$WORK/cert.pem")
        timeout 300 "${gen[@]}" "$SSEHUB" bench "${URL[$name]}" "${trust[@]}" --json \
            $(printf -- '--server-pid %s ' "${SERVER_PIDS[@]}") "$@" >"$OUT/$label.json" 2>"$OUT/$label.log" || rc=$?
        stop_all
        if ((rc != 0 && rc != 3)); then
            log "$label: the load generator failed (exit $rc); see $OUT/$label.log"
            mv "$OUT/$label.json" "$OUT/$label.failed.json"
            return 0
        fi
        if ((attempt == 1 && ${RETRY_NOISY:-1})) && noisy "$label"; then
            log "$label: the machine was busy with something else ($(jq .other_cpu_s "$OUT/$label.json") s); again"
            mv "$OUT/$label.json" "$OUT/$label.noisy-1.json"
            continue
        fi
        break
    done
    summary_line "$label" | tee -a "$OUT/summary.txt"
}

fanout() {
    for rep in $(seq "$REPS"); do
        for s in $SERVERS; do
            run "fanout-$s-$rep" "$s" 10 "" -c "$FANOUT_CONNS" --connect-rate 500 \
                --duration "${DURATION:-15}" --warmup 5 --expect-rate 10
        done
    done
}

idle() {
    for rep in $(seq "$IDLE_REPS"); do
        for s in $SERVERS; do
            [[ $s == nchan* && $rep -gt 1 ]] && continue
            run "idle-$s-$rep" "$s" 0.01 "" -c "$IDLE_CONNS" --connect-rate 500 \
                --duration "${DURATION:-10}" --warmup 2
        done
    done
}

handshakes() {
    for rep in $(seq "$REPS"); do
        for s in $SERVERS; do
            [[ $s == *tls ]] || continue
            run "handshakes-$s-$rep" "$s" 1 1 -c 32 --handshakes --insecure --duration "${DURATION:-10}" --warmup 2
            jq -c '{handshakes, tls}' "$OUT/handshakes-$s-$rep.json" | tee -a "$OUT/summary.txt"
        done
    done
}

log "building ssehub (release)"
(cd "$ROOT" && cargo build --release --quiet)
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  kernel: $(uname -r)  nproc: $(nproc)  $(rustc --version)"
    echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "ssehub commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "peer: $("$NGINX" -v 2>&1) + nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?'), $(openssl version)"
    echo "kTLS: tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || echo '?')"
} | tee -a "$OUT/machine.txt"
for scenario in "${@:-fanout idle handshakes}"; do
    for s in $scenario; do
        "$s"
    done
done
python3 "$ROOT/bench/tls_tables.py" "$OUT" >"$OUT/tables.md"
python3 "$ROOT/bench/charts.py" --prefix tls "$OUT" || log "charts not redrawn" # bench/charts/tls-*.svg
log "results in $OUT (tables: $OUT/tables.md)"
