#!/usr/bin/env bash
# The HTTP/2 benchmarks of #15 (BENCHMARKS.md, "HTTP/2"): ssehub over HTTP/2 beside ssehub over
# HTTP/1.1 and beside nginx + nchan over HTTP/2 (TLS), measured by `ssehub bench` in one run;
# and h2load on ssehub's fallback page beside nginx serving the same page as a static file.
#
#   bench/h2.sh [SCENARIO...]      scenarios: fanout memory h2load (default: all three)
#
#   fanout   1,000 connections x 10 HTTP/2 streams x 10 events/s of 64 bytes (h2c prior knowledge,
#            and over TLS with ALPN h2), beside 10,000 HTTP/1.1 connections x 10 events/s, and
#            beside nginx + nchan over TLS with HTTP/2 (1,000 x 10); 15 s measured: server CPU per
#            delivered event, p99 latency, memory (the targets: h2 CPU per event <= 0.5 x
#            HTTP/1.1's; <= 0.5 x nginx's CPU and p99)
#   memory   1,000 h2c connections x 1 stream, then x 10 streams, one event per 100 s: RSS
#            growth per stream above its connection = (growth(x10) - growth(x1)) / 9,000 (the
#            target: <= 512 B)
#   h2load   h2load (nghttp2-client) over TLS: GET / (ssehub's fallback page) against ssehub, and
#            the same page as a static file from nginx (the target: requests/s >= nginx's)
#
# Needs nginx and its nchan module (Debian: nginx-light libnginx-mod-nchan; the system nginx
# service is not used), h2load (nghttp2-client), openssl, jq, curl, python3 (bench/publish.py
# publishes nchan's events as ssehub serve --rate does its own). Everything listens on 127.0.0.1
# only: ssehub on 18453 (TLS) or 18091 (plain, HTTP/1.1 and h2c), nginx on 18454 (TLS, h2) and
# 18099 (its publisher). Every process is started here and stopped by its PID.
#
# Environment: OUT (results, default bench/results/h2), REPS (repeats, default 1), QUIET_MAX
# (seconds to wait for an idle machine before each run, default 30: see lib.sh wait_quiet),
# RETRY_NOISY (0: keep a run that shared the machine instead of doing it again), SERVERS (which
# of the fanout runs: h1 h2 h2-tls nchan-h2-tls, default all), DURATION (seconds measured),
# H2_CONNS, H2_STREAMS and H1_CONNS (the fan-out's sizes, for a quick check of the script),
# H2LOAD_REQUESTS (default 100000).
# Every run writes LABEL.json and LABEL.log into OUT and a line into OUT/summary.txt; the tables
# are OUT/tables.md (bench/h2_tables.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-$ROOT/bench/results/h2}
REPS=${REPS:-1}
H2_CONNS=${H2_CONNS:-1000}
H2_STREAMS=${H2_STREAMS:-10}
H1_CONNS=${H1_CONNS:-10000}
H2LOAD_REQUESTS=${H2LOAD_REQUESTS:-100000}
SERVERS=${SERVERS:-h1 h2 h2-tls nchan-h2-tls}
export QUIET_MAX=${QUIET_MAX:-30}
NGINX=${NGINX:-nginx}
NCHAN_MODULE=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
declare -A URL=(
    [h1]=http://127.0.0.1:18091/sse
    [h2]=http://127.0.0.1:18091/sse
    [h2-tls]=https://127.0.0.1:18453/sse
    [nchan-h2-tls]=https://127.0.0.1:18454/sse
)
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ssehub-h2-bench.XXXXXX)
SERVER_PIDS=()
PUB_PID=
cleanup() {
    stop_all
    [[ -f $WORK/nginx/error.log ]] && cat "$WORK/nginx/error.log" >>"$OUT/nginx.error.log"
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in "$NGINX" h2load openssl jq curl python3; do
    command -v "$tool" >/dev/null || { echo "h2.sh needs $tool" >&2; exit 1; }
done
[[ -f $NCHAN_MODULE ]] || { echo "no nchan module at $NCHAN_MODULE (apt-get install libnginx-mod-nchan)" >&2; exit 1; }

# One certificate for both servers, as bench/tls.sh makes it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -addext 'basicConstraints=critical,CA:FALSE' \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/nginx/www"
# nginx's workers (nobody, when run as root) read the static page from here.
chmod 755 "$WORK"
sed -e "s|@DIR@|$WORK/nginx|g; s|@PORT@|18454|g; s|@PUB_PORT@|18099|g" \
    -e "s|@CERT@|$WORK/cert.pem|g; s|@KEY@|$WORK/key.pem|g; s|@NCHAN_MODULE@|$NCHAN_MODULE|g" \
    "$ROOT/bench/nginx/nchan-h2.conf.in" >"$WORK/nginx/nginx.conf"

# The server just started is still running: what answers on its port is not another's server.
alive() {
    kill -0 "${SERVER_PIDS[0]}" 2>/dev/null && return
    echo "the server died at start (is its port taken?); see $OUT/*.server.log" >&2
    exit 1
}

# start NAME RATE: the server behind URL[NAME], publishing RATE events/s of 64 bytes. Sets
# SERVER_PIDS (nginx: the master and its workers).
start() {
    local name=$1 rate=$2 port
    port=${URL[$name]##*:}
    port=${port%%/*}
    case $name in
        nchan*)
            "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" \
                >>"$OUT/nginx.server.log" 2>&1 &
            SERVER_PIDS=($!)
            wait_port "$port"
            wait_port 18099
            alive
            local w
            for w in $(pgrep -P "${SERVER_PIDS[0]}"); do SERVER_PIDS+=("$w"); done
            python3 "$ROOT/bench/publish.py" http://127.0.0.1:18099/pub "$rate" 64 >>"$OUT/publish.log" 2>&1 &
            PUB_PID=$!
            ;;
        *)
            local tls=()
            [[ $name == *tls ]] && tls=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
            "$SSEHUB" serve --addr "127.0.0.1:$port" --rate "$rate" --size 64 \
                --max-connections 20000 "${tls[@]}" >>"$OUT/ssehub-$name.server.log" 2>&1 &
            SERVER_PIDS=($!)
            wait_port "$port"
            alive
            ;;
    esac
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

# run LABEL NAME RATE [bench args...]: a fresh server, one load-generator run, the server
# stopped. A run that shared the machine (lib.sh noisy) is kept as LABEL.noisy-1.json and done
# again once (not with RETRY_NOISY=0); the second is kept whatever it saw (its other_cpu_s says
# how busy the machine was, and the tables show it).
run() {
    local label=$1 name=$2 rate=$3 rc
    shift 3
    local trust=()
    [[ ${URL[$name]} == https* ]] && trust=(--cacert "$WORK/cert.pem")
    for attempt in 1 2; do
        wait_quiet
        start "$name" "$rate"
        log "run $label"
        rc=0
        timeout 300 "$SSEHUB" bench "${URL[$name]}" "${trust[@]}" --json \
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

# Connections are opened at 500 a second, as bench/tls.sh does: at the default 2,000 a second
# 69 of nginx's 1,000 TLS connections timed out in their handshake on this shared machine.
fanout() {
    local h2=(--h2 -c "$H2_CONNS" --streams-per-connection "$H2_STREAMS")
    local common=(--connect-rate 500 --duration "${DURATION:-15}" --warmup 5 --expect-rate 10)
    for rep in $(seq "$REPS"); do
        for s in $SERVERS; do
            case $s in
                h1) run "fanout-$s-$rep" "$s" 10 -c "$H1_CONNS" "${common[@]}" ;;
                *) run "fanout-$s-$rep" "$s" 10 "${h2[@]}" "${common[@]}" ;;
            esac
        done
    done
}

memory() {
    for rep in $(seq "$REPS"); do
        for m in 1 "$H2_STREAMS"; do
            run "memory-h2-x$m-$rep" h2 0.01 --h2 -c "$H2_CONNS" --streams-per-connection "$m" \
                --duration "${DURATION:-5}" --warmup 2
        done
    done
}

# h2load against ssehub's / and against nginx's copy of it: requests/s, over TLS (ALPN h2),
# 10 connections x 10 streams at once, one h2load thread.
h2load_runs() {
    for rep in $(seq "$REPS"); do
        for s in h2-tls nchan-h2-tls; do
            local label="h2load-$s-$rep" base=${URL[$s]%/sse}
            wait_quiet
            start "$s" 1
            if [[ $s == h2-tls ]]; then
                # The page nginx serves is the one ssehub serves.
                curl -sk "$base/" -o "$WORK/nginx/www/index.html"
            fi
            log "run $label"
            timeout 300 h2load -n "$H2LOAD_REQUESTS" -c 10 -m 10 -t 1 "$base/" >"$OUT/$label.txt" 2>&1 || true
            stop_all
            grep -E '^finished in|^requests:|^status codes:|^traffic:' "$OUT/$label.txt" |
                tr '\n' ' ' | sed "s|^|$label  |; s|\$|\n|" | tee -a "$OUT/summary.txt"
        done
    done
}

log "building ssehub (release)"
(cd "$ROOT" && cargo build --release --quiet)
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  kernel: $(uname -r)  nproc: $(nproc)  $(rustc --version)"
    echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "ssehub commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "peer: $("$NGINX" -v 2>&1) + nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?'), $(openssl version), $(h2load --version 2>&1 | head -1)"
} | tee -a "$OUT/machine.txt"
for scenario in "${@:-fanout memory h2load}"; do
    for s in $scenario; do
        case $s in
            h2load) h2load_runs ;;
            fanout | memory) "$s" ;;
            *) echo "unknown scenario $s (fanout, memory, h2load)" >&2; exit 2 ;;
        esac
    done
done
python3 "$ROOT/bench/h2_tables.py" "$OUT" >"$OUT/tables.md"
log "results in $OUT (tables: $OUT/tables.md)"
