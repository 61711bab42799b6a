#!/usr/bin/env bash
# Decoding speed beside eventsource-parser on Node, in one run (BENCHMARKS.md, "Codec"; the
# issue 19 target: >= 2 GB/s, and >= 3.5 x eventsource-parser, on 64-byte events with id lines).
#
#   bench/decode.sh            (ROUNDS=3 by default; SECONDS_NODE=3)
#
# The stream is criterion's `typical` workload (benches/codec.rs): 2,000 events
# `id: N\ndata: <64 bytes>\n\n`, 160,890 bytes, which the bench writes to a file
# (SSEHUB_DECODE_STREAM) so that Node reads the very same bytes. Both sides feed it in 64 KiB
# chunks to one reused decoder and read every event. Each round runs, one after the other,
#   ssehub   `cargo bench --bench codec -- typical/decode` (criterion's median time per pass, from
#            target/criterion/typical/decode/new/estimates.json)
#   node     bench/decode_node.mjs on the file: eventsource-parser fed strings decoded beforehand
#            ("parser", the ratio's peer) and fed through a TextDecoder ("textdecoder")
# and prints both figures (decimal GB/s) with the load average before each; at the end the
# medians over the rounds and the ratio ssehub / eventsource-parser (parser). A shared machine
# moves both sides: the ratio within a round is the figure to quote.
#
# Needs cargo, node >= 20 and the npm packages of tests/e2e (`npm ci` there; installed here if
# missing), python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
SECONDS_NODE=${SECONDS_NODE:-3}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STREAM=$(mktemp /tmp/ssehub-decode-stream.XXXXXX)
trap 'rm -f "$STREAM" "$STREAM.rounds"' EXIT

command -v node >/dev/null || { echo "decode.sh: node (>= 20) is needed" >&2; exit 1; }
if [[ ! -e $ROOT/tests/e2e/node_modules/eventsource-parser/package.json ]]; then
    echo "decode.sh: installing tests/e2e's npm packages (npm ci)" >&2
    (cd "$ROOT/tests/e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >&2)
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src benches || echo '+changes'), $(nproc) cores, $(date -u +%FT%TZ)"
(cd "$ROOT" && cargo bench --bench codec --no-run --quiet 2>/dev/null)

results=()
for round in $(seq 1 "$ROUNDS"); do
    l1=$(load)
    (cd "$ROOT" && SSEHUB_DECODE_STREAM=$STREAM cargo bench --quiet --bench codec -- typical/decode >/dev/null 2>&1)
    rust=$(python3 -c 'import json,os,sys; e=json.load(open(sys.argv[1])); print(os.path.getsize(sys.argv[2]) / e["median"]["point_estimate"])' \
        "$TARGET/criterion/typical/decode/new/estimates.json" "$STREAM")
    l2=$(load)
    node_json=$(node "$ROOT/bench/decode_node.mjs" "$STREAM" "$SECONDS_NODE")
    results+=("$rust $node_json")
    python3 - "$round" "$rust" "$l1" "$l2" "$node_json" <<'EOF'
import json, sys
r, rust, l1, l2, n = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
print(f"round {r}: ssehub {rust:.2f} GB/s (load {l1}) | {n['peer']} on node {n['node']}: "
      f"parser {n['parser_gbps']:.2f} GB/s, with TextDecoder {n['textdecoder_gbps']:.2f} GB/s "
      f"(load {l2}) | ratio {rust / n['parser_gbps']:.2f} x (vs TextDecoder {rust / n['textdecoder_gbps']:.2f} x)")
EOF
done

printf '%s\n' "${results[@]}" >"$STREAM.rounds"
python3 - "$STREAM.rounds" <<'EOF'
import json, statistics, sys
rows = [(float(l.split(" ", 1)[0]), json.loads(l.split(" ", 1)[1])) for l in open(sys.argv[1]) if l.strip()]
rust = statistics.median(r for r, _ in rows)
parser = statistics.median(n["parser_gbps"] for _, n in rows)
td = statistics.median(n["textdecoder_gbps"] for _, n in rows)
ratios = ", ".join(f"{r / n['parser_gbps']:.2f}" for r, n in rows)
first = rows[0][1]
print(f"median of {len(rows)} rounds ({first['bytes']} bytes, {first['events']} events): "
      f"ssehub {rust:.2f} GB/s, eventsource-parser {parser:.2f} GB/s (with TextDecoder {td:.2f} GB/s); "
      f"ratio {rust / parser:.2f} x (per round: {ratios})")
EOF
