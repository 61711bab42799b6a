// End-to-end: a drain behind nginx (README, "Deployment"), with Node's `eventsource` package.
//
//   node drain-eventsource.mjs PROXY_URL PUBLISH_URL TOKEN NODE_A_PID
//
// Opens CLIENTS EventSources through the proxy (which spreads them over nodes A and B), publishes
// an event through node B's publish endpoint every PACE_MS, sends SIGTERM to node A once every
// client has had events, goes on publishing a while, then stops and checks that every client
// got every event once and in order: the clients on A were drained, reconnected through the
// proxy (A refuses connections now, so nginx goes to B) with Last-Event-ID, and resumed there.
// Exits 0 on success; on failure, or after TIMEOUT_MS, prints why and exits 1.

import { EventSource } from 'eventsource';

const [proxyUrl, publishUrl, token, pidA] = process.argv.slice(2);
const CLIENTS = 50;
const PACE_MS = 100;
const AFTER_TERM_MS = 5_000;
const TIMEOUT_MS = 40_000;

const started = Date.now();
const log = (msg) => console.log(`[drain-eventsource +${String(Date.now() - started).padStart(5)} ms] ${msg}`);
const fail = (msg) => {
  console.error(`[drain-eventsource] FAIL: ${msg}`);
  process.exit(1);
};
setTimeout(() => fail(`not done within ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

const clients = [];
for (let i = 0; i < CLIENTS; i++) {
  const c = { ids: [], opens: 0, es: new EventSource(proxyUrl) };
  c.es.onopen = () => c.opens++;
  c.es.onmessage = (e) => c.ids.push(e.lastEventId);
  c.es.onerror = () => {};
  clients.push(c);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, cond, ms = 15_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const published = [];
let publishing = true;
async function publisher() {
  while (publishing) {
    const res = await fetch(publishUrl, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: String(published.length),
    });
    const body = await res.text();
    if (res.status !== 201) fail(`publish answered ${res.status}: ${body}`);
    published.push(JSON.parse(body).id);
    await sleep(PACE_MS);
  }
}

await until('every client to open', () => clients.every((c) => c.opens === 1));
log(`${CLIENTS} EventSources open through the proxy`);
const publishDone = publisher();
await until('events on every client', () => clients.every((c) => c.ids.length >= 3));
process.kill(Number(pidA), 'SIGTERM');
log(`SIGTERM to node A (pid ${pidA})`);
await sleep(AFTER_TERM_MS);
publishing = false;
await publishDone;
const last = published[published.length - 1];
await until('every client to have the last event', () => clients.every((c) => c.ids[c.ids.length - 1] === last));
let moved = 0;
for (const [i, c] of clients.entries()) {
  const want = published.join(',');
  if (c.ids.join(',') !== want) {
    fail(`client ${i} (opened ${c.opens}×): got ${c.ids.length} events, ${published.length} published\n  got  ${c.ids}\n  want ${want}`);
  }
  if (c.opens > 1) moved++;
}
for (const c of clients) c.es.close();
if (moved === 0) fail('no client was moved: did node A drain?');
log(`PASS: ${published.length} events, every one once and in order on all ${CLIENTS} clients; ${moved} moved from A to B`);
process.exit(0);
