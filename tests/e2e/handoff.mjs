// End-to-end: the hand-off example (examples/handoff.rs), an application with its own std-only
// HTTP server that gives `/sse` to ssehub with `Server::adopt`, read by real clients at once:
// Node's `eventsource`, headless Chromium (the example's own page), and a raw socket that never
// reads.
//
//   node handoff.mjs BASE_URL [SCREENSHOT]     (the example runs with HANDOFF_TICK_MS=200)
//
// 1. the application's own routes answer (`/hello`, `/` with its page);
// 2. ticks arrive in Node and in the browser, with ids;
// 3. a new EventSource sent `Last-Event-ID` of an earlier tick gets exactly the ticks after it;
// 4. `/drop` ends every stream: Node's and the browser's EventSource reconnect by themselves
//    with Last-Event-ID and count no gap and no duplicate;
// 5. a client that never reads is dropped during `/burst` (16 MiB to every stream), counted as
//    slow in `/stats`, while Node and the browser carry on with no error and no gap.
// Exits 0 when all hold; prints why and exits 1 otherwise (a watchdog ends it at 60 s).

import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSource } from 'eventsource';
import { launch, closeBrowser } from './browser.mjs';

const base = (process.argv[2] || 'http://127.0.0.1:18990').replace(/\/+$/, '');
const screenshot = process.argv[3] || '/tmp/ssehub-handoff.png';
const userDataDir = mkdtempSync(join(tmpdir(), 'ssehub-e2e-handoff-'));
const started = Date.now();
const log = (msg) => console.log(`[handoff +${String(Date.now() - started).padStart(5)} ms] ${msg}`);
let context;
const cleanups = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, cond, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}
async function text(path) {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}
async function stats() {
  const { body } = await text('/stats');
  const m = body.match(/^streams (\d+) slow_dropped (\d+) accepted (\d+)/);
  if (!m) throw new Error(`/stats answered ${JSON.stringify(body)}`);
  return { streams: Number(m[1]), slowDropped: Number(m[2]), accepted: Number(m[3]) };
}

/** A Node EventSource that records its ticks (numbers, ids), opens, errors, gaps, duplicates. */
function nodeClient(name, lastEventId) {
  const c = { name, ticks: [], ids: [], opens: 0, errors: 0, gaps: 0, dups: 0 };
  c.es = new EventSource(`${base}/sse`, {
    // Only the first request carries our header; reconnections carry the package's own.
    fetch: (input, opts = {}) => {
      const headers = new Headers(opts.headers);
      if (lastEventId && c.opens === 0) headers.set('Last-Event-ID', lastEventId);
      return fetch(input, { ...opts, headers });
    },
  });
  c.es.onopen = () => { c.opens += 1; };
  c.es.onerror = () => { c.errors += 1; };
  c.es.addEventListener('gap', () => { c.gaps += 1; });
  c.es.addEventListener('tick', (e) => {
    const n = Number(e.data);
    const last = c.ticks.at(-1);
    if (last !== undefined && n <= last) c.dups += 1;
    else if (last !== undefined && n !== last + 1) c.gaps += 1;
    c.ticks.push(n);
    c.ids.push(e.lastEventId);
  });
  cleanups.push(() => c.es.close());
  return c;
}

const pageCounters = (page) =>
  page.evaluate(() =>
    Object.fromEntries(['count', 'last', 'opens', 'gaps', 'dups'].map((id) => [id, Number(document.getElementById(id).textContent) || 0])),
  );

async function main() {
  // 1. The application's own routes.
  const hello = await text('/hello');
  if (hello.status !== 200 || !hello.body.startsWith('hello from the application')) {
    throw new Error(`/hello answered ${hello.status} ${JSON.stringify(hello.body)}`);
  }
  const nope = await text('/nope');
  if (nope.status !== 404) throw new Error(`/nope answered ${nope.status}, not 404 (the application's own)`);
  log('own routes: /hello 200, /nope 404');

  // 2. Ticks in Node and in the browser.
  const node = nodeClient('node');
  context = await launch(userDataDir, { width: 900, height: 400 });
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded', timeout: 15_000 });
  await until('3 ticks in Node', () => node.ticks.length >= 3);
  await until('3 ticks in Chromium', async () => (await pageCounters(page)).count >= 3);
  if (!node.ids.every((id) => /^\d+$/.test(id))) throw new Error(`ticks without numeric ids: ${node.ids}`);
  log(`ticks: node ${node.ticks.slice(0, 3)}..., chromium ${JSON.stringify(await pageCounters(page))}`);

  // 3. An explicit resume: Last-Event-ID of the first tick Node saw.
  const [from, fromId] = [node.ticks[0], node.ids[0]];
  const resumed = nodeClient('resumed', fromId);
  await until('5 ticks after the resume', () => resumed.ticks.length >= 5);
  resumed.es.close();
  if (resumed.ticks[0] !== from + 1 || resumed.gaps || resumed.dups) {
    throw new Error(`resumed after tick ${from} (id ${fromId}) with ${resumed.ticks.slice(0, 8)}, gaps ${resumed.gaps}, dups ${resumed.dups}`);
  }
  log(`resume: Last-Event-ID ${fromId} (tick ${from}) -> ${resumed.ticks.slice(0, 5)}...`);

  // 4. Every stream ended by the server: both EventSources reconnect with Last-Event-ID.
  const before = { node: node.ticks.length, page: await pageCounters(page) };
  const drop = await text('/drop');
  log(`/drop: ${drop.body.trim()}`);
  await until('Node to reconnect and go on', () => node.opens >= 2 && node.ticks.length >= before.node + 5);
  await until('Chromium to reconnect and go on', async () => {
    const c = await pageCounters(page);
    return c.opens >= 2 && c.count >= before.page.count + 5;
  });
  const afterDrop = await pageCounters(page);
  if (node.gaps || node.dups) throw new Error(`Node after reconnecting: gaps ${node.gaps}, dups ${node.dups}`);
  if (afterDrop.gaps || afterDrop.dups) throw new Error(`Chromium after reconnecting: ${JSON.stringify(afterDrop)}`);
  log(`reconnected without loss: node ${node.opens} opens, ${node.ticks.length} ticks; chromium ${JSON.stringify(afterDrop)}`);

  // 5. A client that never reads, through the same hand-off, then a burst to everyone.
  const slow = net.connect(new URL(base).port, '127.0.0.1');
  cleanups.push(() => slow.destroy());
  slow.on('error', () => {});
  slow.pause();
  slow.write('GET /sse HTTP/1.1\r\nHost: x\r\n\r\n');
  await until('three streams (node, chromium, the slow one)', async () => (await stats()).streams === 3);
  const s0 = await stats();
  const opens = { node: node.opens, page: afterDrop.opens };
  const burst = await text('/burst');
  log(`/burst: ${burst.body.trim()}`);
  await until('the slow client to be dropped', async () => (await stats()).slowDropped > s0.slowDropped, 15_000);
  const beforeTicks = { node: node.ticks.length, page: (await pageCounters(page)).count };
  await until('Node to carry on', () => node.ticks.length >= beforeTicks.node + 3);
  await until('Chromium to carry on', async () => (await pageCounters(page)).count >= beforeTicks.page + 3);
  const s1 = await stats();
  const end = await pageCounters(page);
  if (s1.streams !== 2) throw new Error(`${s1.streams} streams after the drop, expected 2 (node, chromium)`);
  if (node.opens !== opens.node || node.gaps || node.dups) {
    throw new Error(`Node was disturbed by the burst: opens ${opens.node} -> ${node.opens}, gaps ${node.gaps}, dups ${node.dups}`);
  }
  if (end.opens !== opens.page || end.gaps || end.dups) {
    throw new Error(`Chromium was disturbed by the burst: ${JSON.stringify(end)} (opens were ${opens.page})`);
  }
  log(`slow client dropped (slow_dropped ${s0.slowDropped} -> ${s1.slowDropped}); node and chromium carry on: ${JSON.stringify(end)}`);
  await page.screenshot({ path: screenshot });
  log(`PASS: routes, ticks, resume, reconnection, slow client; screenshot ${screenshot}`);
}

const watchdog = setTimeout(() => {
  console.error('[handoff] FAIL: watchdog (60 s)');
  process.exit(1);
}, 60_000);
let ok = false;
try {
  await main();
  ok = true;
} catch (e) {
  console.error(`[handoff] FAIL: ${e.message}`);
}
clearTimeout(watchdog);
for (const f of cleanups) f();
await closeBrowser(context, userDataDir);
process.exit(ok ? 0 : 1);
