// eventsource-parser (the parser of Node's `eventsource` package) decoding the bytes that
// ssehub's codec bench decodes: the peer figure of bench/decode.sh (BENCHMARKS.md, "Codec").
//
//   node bench/decode_node.mjs STREAM_FILE [SECONDS]
//
// STREAM_FILE is the `typical` stream written by `benches/codec.rs` (SSEHUB_DECODE_STREAM=path):
// 2,000 events `id: N\ndata: <64 bytes>\n\n`. It is fed as the Rust bench feeds it, in 64 KiB
// chunks to one reused parser (`reset()` after each pass), and the callback reads every event
// (count and total data length), as the Rust callback does. Two figures, in decimal GB/s of the
// stream's bytes:
//   parser         the chunks decoded to strings beforehand, so only `parser.feed` is timed
//                  (eventsource-parser takes strings; the strictest comparison for ssehub);
//   textdecoder    bytes -> TextDecoder (streaming) -> parser.feed, what a client does with the
//                  bytes it reads (ssehub's decoder takes bytes and validates UTF-8 itself).
// Each figure: 1 s of warm-up, then SECONDS (default 3) of samples of whole passes; the median
// time per pass. Prints one JSON object on stdout.
import { readFileSync } from 'node:fs';

const here = new URL('.', import.meta.url);
const parserUrl = new URL('../tests/e2e/node_modules/eventsource-parser/dist/index.js', here);
const pkgUrl = new URL('../tests/e2e/node_modules/eventsource-parser/package.json', here);

const [file, secondsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/decode_node.mjs STREAM_FILE [SECONDS]');
  process.exit(2);
}
let createParser;
let version;
try {
  ({ createParser } = await import(parserUrl));
  version = JSON.parse(readFileSync(pkgUrl, 'utf8')).version;
} catch (err) {
  console.error(`eventsource-parser not found (${err.message}): run \`npm ci\` in tests/e2e`);
  process.exit(2);
}
const seconds = Number(secondsArg ?? 3);
const CHUNK = 64 * 1024;

const bytes = readFileSync(file);
const byteChunks = [];
for (let i = 0; i < bytes.length; i += CHUNK) byteChunks.push(bytes.subarray(i, i + CHUNK));
const textDecoder = new TextDecoder('utf-8');
const strChunks = byteChunks.map((c, i) => textDecoder.decode(c, { stream: i + 1 < byteChunks.length }));

let count = 0;
let total = 0;
const parser = createParser({
  onEvent(ev) {
    count += 1;
    total += ev.data.length;
  },
});

function passParser() {
  for (const s of strChunks) parser.feed(s);
  parser.reset();
}

function passTextDecoder() {
  const dec = new TextDecoder('utf-8');
  for (const c of byteChunks) parser.feed(dec.decode(c, { stream: true }));
  parser.feed(dec.decode());
  parser.reset();
}

// The median seconds per pass of `pass`.
function measure(pass) {
  const end = (s) => process.hrtime.bigint() + BigInt(Math.round(s * 1e9));
  for (const stop = end(1); process.hrtime.bigint() < stop; ) pass();
  const samples = [];
  for (const stop = end(seconds); process.hrtime.bigint() < stop; ) {
    const t0 = process.hrtime.bigint();
    pass();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[samples.length >> 1], passes: samples.length };
}

// Sanity: one pass sees every event.
count = 0;
passParser();
const events = count;
if (events === 0) {
  console.error('no events decoded: is the file an event stream?');
  process.exit(1);
}

const parserRun = measure(passParser);
const tdRun = measure(passTextDecoder);
console.log(
  JSON.stringify({
    peer: `eventsource-parser ${version}`,
    node: process.version,
    bytes: bytes.length,
    events,
    parser_gbps: bytes.length / parserRun.median / 1e9,
    parser_passes: parserRun.passes,
    textdecoder_gbps: bytes.length / tdRun.median / 1e9,
    textdecoder_passes: tdRun.passes,
    checksum: total,
  }),
);
