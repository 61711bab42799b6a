#!/usr/bin/env bash
# A resume storm through Redis: what a node sees when another node drains and its clients all
# come back at once, each with a Last-Event-ID, on channels this node does not read yet.
#
#   bench/resume.sh [SSEHUB_BINARY]
#
# Its own redis-server on 127.0.0.1:REDIS_PORT (default 18389). Node A (127.0.0.1:18095)
# publishes EVENTS events (default 200) to each of CHANNELS channels (default 8, `room0`...);
# node B (127.0.0.1:18096, `--redis` too) has never had a client. Then one load generator
# opens CLIENTS streams (default 2,000) to B at once (one load generator a channel) (no connect-rate limit, all connecting
# together), each on one channel with `Last-Event-ID` the id of that channel's tenth event, so
# every join needs Redis (B follows none of the channels) and replays EVENTS - 10 events.
# Reported per run: streams opened and refused (by status), and the set-up time p50 / p99 (the
# worst of the load generators), from the load generators' JSON. Every server is killed by its PID.
#
# Environment: OUT (results folder, default bench/results/resume), REPS (default 3), CLIENTS,
# CHANNELS, EVENTS, REDIS_PORT.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIN=${1:-$SSEHUB}
OUT=${OUT:-$ROOT/bench/results/resume}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-2000}
CHANNELS=${CHANNELS:-8}
EVENTS=${EVENTS:-200}
REDIS_PORT=${REDIS_PORT:-18389}
A=127.0.0.1:18095
B=127.0.0.1:18096
mkdir -p "$OUT"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

for rep in $(seq "$REPS"); do
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
    redis_pid=$!
    pids+=("$redis_pid")
    wait_port "$REDIS_PORT"
    url="redis://127.0.0.1:$REDIS_PORT"
    "$BIN" serve --addr "$A" --redis "$url" --publish-token t --max-connections 20000 >"$OUT/A.log" 2>&1 &
    a_pid=$!
    "$BIN" serve --addr "$B" --redis "$url" --max-connections 20000 >"$OUT/B.log" 2>&1 &
    b_pid=$!
    pids+=("$a_pid" "$b_pid")
    wait_port "${A#*:}"
    wait_port "${B#*:}"
    # EVENTS events a channel, in batches of POSTs on one keep-alive connection (curl reuses it).
    for c in $(seq 0 $((CHANNELS - 1))); do
        args=()
        for n in $(seq "$EVENTS"); do
            args+=(-s -o /dev/null -X POST -H 'Authorization: Bearer t' --data "event $n" "http://$A/publish?channel=room$c" --next)
        done
        curl "${args[@]}" -s -o /dev/null http://$A/healthz
    done
    log "rep $rep: $CLIENTS resumes on $CHANNELS channels, each from its channel's tenth event"
    # A load generator a channel, all at once; its streams resume from that channel's tenth id.
    per=$((CLIENTS / CHANNELS))
    for t in $(seq 0 $((CHANNELS - 1))); do
        tenth=$(redis-cli -p "$REDIS_PORT" --raw XRANGE "{ssehub}:channel:room$t" - + COUNT 10 | grep -E '^[0-9]+-[0-9]+$' | tail -1)
        [[ -n $tenth ]] || { echo "no entries in Redis for room$t" >&2; exit 1; }
        "$BIN" bench "http://$B/sse?channel=room$t" -c "$per" --connect-rate 1000000 --max-connecting "$per" \
            --connect-timeout 10s --warmup 0 -d 12s -H "Last-Event-ID: $tenth" --json \
            >"$OUT/rep$rep.t$t.json" 2>"$OUT/rep$rep.t$t.log" &
    done
    wait $(jobs -p | grep -v -E "^($redis_pid|$a_pid|$b_pid)$") 2>/dev/null || true
    python3 - "$OUT" "$rep" <<'EOF'
import json, sys, glob
out, rep = sys.argv[1], sys.argv[2]
opened = failed = 0
reasons, p50, p99 = {}, 0, 0
for f in sorted(glob.glob(f"{out}/rep{rep}.t*.json")):
    r = json.load(open(f))
    c = r["connections"]
    opened += c["established"]
    failed += c["failed"]
    for k, v in (c.get("failed_reasons") or {}).items():
        reasons[k] = reasons.get(k, 0) + v
    p50 = max(p50, (r.get("setup_us") or {}).get("p50") or 0)
    p99 = max(p99, (r.get("setup_us") or {}).get("p99") or 0)
print(f"rep {rep}: established {opened}, failed {failed} {reasons or ''}, set-up p50 {p50 / 1000:.0f} ms,"
      f" p99 {p99 / 1000:.0f} ms (worst thread)")
EOF
    kill "$a_pid" "$b_pid" "$redis_pid" 2>/dev/null || true
    wait "$a_pid" "$b_pid" "$redis_pid" 2>/dev/null || true
    pids=()
done
