#!/usr/bin/env bash
# Publishing over HTTP on one node, alone and through Redis (BENCHMARKS.md, "Publishing over
# HTTP"; issue 19's targets: >= 100,000 publishes/s over keep-alive connections with no streams,
# and >= 100,000 events/s per node from concurrent HTTP publishers through Redis, with Redis's CPU
# per published event).
#
#   bench/publish.sh            (REPS=3 by default; N=300000 publishes per run)
#
# Publisher: h2load (Debian's nghttp2-client), one thread, 16 keep-alive connections, 64-byte
# bodies, `POST /publish?channel=a` with a publish token. Servers, each started here on 127.0.0.1
# and killed by its PID:
#   local   `ssehub serve --no-clock --publish-token-file F` (no Redis)
#   redis   the same with `--redis URL`, on its own redis-server (port REDIS_PORT, default 18379):
#           every publish goes through the publish script into a Redis stream before it is
#           answered (the publish thread sends the publishes waiting for it in one script call)
# Publishers, per server and repetition:
#   h1      HTTP/1.1, one request at a time per connection (`--h1 -m 1`)
#   h2x10   HTTP/2 (prior knowledge), 10 concurrent streams per connection (`-m 10`)
#   h2x100  HTTP/2, 100 streams per connection (`-m 100`; Redis only: the concurrency a node's
#           publishers need to cover the Redis round trip)
# Figures: h2load's requests/s (every answer must be 2xx, or the run fails), the server's CPU
# (utime + stime of /proc/PID/stat) per publish, and for Redis its `INFO cpu` (user + sys) per
# published event and the script calls (`INFO commandstats`, evalsha) per event. Results: OUT
# (default bench/results/publish-<date>), summary.txt, a line per run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-$ROOT/bench/results/publish-$(date +%Y%m%d-%H%M%S)}
REPS=${REPS:-3}
N=${N:-300000}
REDIS_PORT=${REDIS_PORT:-18379}
HTTP_PORT=18972
for port in "$HTTP_PORT" "$REDIS_PORT"; do
    if port_in_use "$port"; then
        echo "publish.sh: port $port is in use; free it first" >&2
        exit 1
    fi
done
for tool in h2load redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "publish.sh: $tool is needed (nghttp2-client, redis-server, python3)" >&2; exit 1; }
done
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/ssehub-publish.XXXXXX)
NODE_PID=
REDIS_PID=
cleanup() {
    [[ -n $NODE_PID ]] && kill "$NODE_PID" 2>/dev/null
    [[ -n $REDIS_PID ]] && kill "$REDIS_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

printf 'publish-bench-token-%s' "$RANDOM$RANDOM" >"$TMP/token"
head -c 64 /dev/zero | tr '\0' x >"$TMP/body"
TOKEN=$(cat "$TMP/token")

log "building ssehub (release)"
(cd "$ROOT" && cargo build --release --quiet)

redis() { redis-cli -p "$REDIS_PORT" "$@" | tr -d '\r'; }
redis_cpu() { redis info cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}'; }
evalsha_calls() { redis info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p'; }

start_node() {
    "$SSEHUB" serve --addr "127.0.0.1:$HTTP_PORT" --no-clock --publish-token-file "$TMP/token" "$@" \
        >"$OUT/server-$LABEL.log" 2>&1 &
    NODE_PID=$!
    wait_port "$HTTP_PORT"
}
stop_node() { kill "$NODE_PID" 2>/dev/null || true; wait "$NODE_PID" 2>/dev/null || true; NODE_PID=; }

# run SERVER PUBLISHER REP h2load-args...: one measured run, a line in summary.txt.
run() {
    local server=$1 publisher=$2 rep=$3
    shift 3
    local hz c0 c1 r0=0 r1=0 e0=0 e1=0 out
    hz=$(getconf CLK_TCK)
    wait_quiet
    if [[ $server == redis ]]; then redis config resetstat >/dev/null; r0=$(redis_cpu); e0=$(evalsha_calls); e0=${e0:-0}; fi
    c0=$(cpu_ticks "$NODE_PID")
    out=$(h2load -n "$N" -c 16 -t 1 "$@" -d "$TMP/body" -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$HTTP_PORT/publish?channel=a")
    c1=$(cpu_ticks "$NODE_PID")
    if [[ $server == redis ]]; then r1=$(redis_cpu); e1=$(evalsha_calls); e1=${e1:-0}; fi
    echo "$out" >"$OUT/$server-$publisher-$rep.h2load.txt"
    grep -q "status codes: $N 2xx" <<<"$out" || { echo "publish.sh: not every publish was answered 2xx (see $OUT/$server-$publisher-$rep.h2load.txt)" >&2; exit 1; }
    python3 - "$server" "$publisher" "$rep" "$N" "$hz" "$c0" "$c1" "$r0" "$r1" "$e0" "$e1" "$(cut -d' ' -f1-3 /proc/loadavg)" "$out" <<'EOF' | tee -a "$OUT/summary.txt"
import re, sys
server, publisher, rep, n, hz, c0, c1, r0, r1, e0, e1, load, out = sys.argv[1:]
n, hz = int(n), int(hz)
rate = float(re.search(r"finished in [0-9.]+m?s, ([0-9.]+) req/s", out).group(1))
line = f"{server}-{publisher}-{rep}  publishes/s={rate:,.0f}  server_cpu/publish={(int(c1) - int(c0)) / hz / n * 1e6:.2f}us"
if server == "redis":
    line += f"  redis_cpu/event={(float(r1) - float(r0)) / n * 1e6:.2f}us  events/script_call={n / max(1, int(e1) - int(e0)):.1f}"
print(line + f"  load={load}")
EOF
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  kernel: $(uname -r)  nproc: $(nproc)  cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "ssehub commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock | grep -q . && echo ' (src modified)')  $(h2load --version | head -1)  $(redis-server --version | cut -d' ' -f1-3)"
    echo "runs: REPS=$REPS N=$N, h2load -c 16 -t 1, 64-byte bodies"
} | tee "$OUT/machine.txt"
: >"$OUT/summary.txt"

LABEL=local
start_node
for rep in $(seq "$REPS"); do
    run local h1 "$rep" --h1 -m 1
    run local h2x10 "$rep" -m 10
done
stop_node

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$TMP" \
    --daemonize no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
wait_port "$REDIS_PORT"
LABEL=redis
start_node --redis "redis://127.0.0.1:$REDIS_PORT" --redis-namespace "publish-bench-$$"
for rep in $(seq "$REPS"); do
    run redis h1 "$rep" --h1 -m 1
    run redis h2x10 "$rep" -m 10
    run redis h2x100 "$rep" -m 100
done
stop_node
log "results in $OUT (summary.txt)"
