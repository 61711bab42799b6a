#!/bin/bash
# What one idle event stream keeps on the heap, by call site (ssehub-axum/README.md, "Where a
# stream's memory goes"): runs SERVER under heaptrack, opens N idle streams with `ssehub bench`,
# stops the server while they are open (what is still allocated then is what the streams, the
# runtime and the hub hold), and prints the heap per stream by call site.
#
#   bench/heaptrack.sh SSEHUB PORT N -- SERVER ARGS...
#   bench/heaptrack.sh target/release/ssehub 18203 2000 -- target/release/examples/app 127.0.0.1:18203 --tick-ms 0
#   bench/heaptrack.sh target/release/ssehub 18202 2000 -- ../shared/peers/axum-sse/target/release/axum-sse-peer --port 18202 --rate 0
#
# Needs heaptrack (Debian: heaptrack). Build the server with line tables (the example's release
# profile has them; the peer: CARGO_PROFILE_RELEASE_DEBUG=1). Files in ${OUT:-/tmp}.
set -euo pipefail
ssehub=$1 port=$2 n=$3
shift 4
out=${OUT:-/tmp}/ssehub-axum-heaptrack-$port
here=$(dirname "$0")
rm -f "$out".zst
heaptrack -o "$out" "$@" > "$out".log 2>&1 &
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
"$ssehub" bench "http://127.0.0.1:$port/sse" -c "$n" -d 8s --warmup 1s > "$out".bench.log 2>&1 &
bench=$!
# Connections open at 2,000 a second: all of them are open well before the window ends.
sleep $(( n / 2000 + 4 ))
kill -TERM "$(pgrep -fx "$*" | head -1)"
wait "$bench" || true
for _ in $(seq 100); do grep -q "Heaptrack finished" "$out".log && break; sleep 0.2; done
heaptrack_print -f "$out".zst --print-leaks no -p no -a no -T no --flamegraph-cost-type leaked \
    -F "$out".stacks > /dev/null
python3 "$here"/heaptrack-sites.py "$out".stacks "$n" 3 24
