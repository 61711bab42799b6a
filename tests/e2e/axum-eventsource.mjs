// End-to-end: Node's `eventsource` package against the axum example app (ssehub-axum).
//
//   node axum-eventsource.mjs RECONNECT_BASE SLOW_BASE
//
// RECONNECT_BASE: the app with `--tick-ms 100 --stream-ms 1500 --retry-ms 200` (every stream
//   ends after 1.5 s, and asks for reconnection after 0.2 s).
//   The EventSource must reconnect by itself three times, sending Last-Event-ID (the id of the
//   last event it had), and see every `tick N` exactly once: no hole, no duplicate, no gap event.
// SLOW_BASE: the app with its default bound (1 MiB per client). A raw client that never reads and an
//   EventSource both stream `?channel=big`; 150 events of 128 KiB are POSTed. The EventSource
//   must receive all 150 in order; the raw client, reading at last, must find its stream cut
//   off (closed) having had fewer.
// Exits 0 on success, 1 (saying why) on failure or after TIMEOUT_MS.

import net from 'node:net';
import { EventSource } from 'eventsource';

const [reconnectBase, slowBase] = process.argv.slice(2).map((b) => b.replace(/\/+$/, ''));
const TIMEOUT_MS = 50_000;
const BIG = 150;
const started = Date.now();
const log = (msg) => console.log(`[axum-eventsource +${String(Date.now() - started).padStart(5)} ms] ${msg}`);
const fail = (msg) => {
  console.error(`[axum-eventsource] FAIL: ${msg}`);
  process.exit(1);
};
setTimeout(() => fail(`timed out after ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

function reconnection() {
  return new Promise((resolve, reject) => {
    const ticks = [];
    const sent = []; // the Last-Event-ID of each connection, and the last id had before it
    let lastId = '';
    let opens = 0;
    let gaps = 0;
    const es = new EventSource(`${reconnectBase}/sse`, {
      fetch: (input, init) => {
        const h = new Headers(init?.headers);
        sent.push({ header: h.get('last-event-id'), had: lastId });
        return fetch(input, init);
      },
    });
    es.onopen = () => {
      opens += 1;
      log(`open #${opens} (Last-Event-ID sent: ${JSON.stringify(sent.at(-1)?.header)})`);
    };
    es.addEventListener('gap', () => (gaps += 1));
    es.onmessage = (e) => {
      lastId = e.lastEventId;
      const m = /^tick (\d+)$/.exec(e.data);
      if (m) ticks.push(Number(m[1]));
      if (opens >= 4 && ticks.length >= 25) {
        es.close();
        const holes = ticks.slice(1).filter((n, i) => n !== ticks[i] + 1);
        const resumed = sent.slice(1);
        if (holes.length) return reject(new Error(`ticks not contiguous: ${ticks.join(',')}`));
        if (gaps) return reject(new Error(`${gaps} gap events`));
        if (!resumed.every((s) => s.header && s.header === s.had)) {
          return reject(new Error(`reconnections did not send the last id had: ${JSON.stringify(resumed)}`));
        }
        resolve(`${ticks.length} ticks (${ticks[0]}..${ticks.at(-1)}) over ${opens} connections, each resumed with Last-Event-ID, no hole, no duplicate`);
      }
    };
  });
}

function slowClient() {
  return new Promise((resolve, reject) => {
    const url = new URL(`${slowBase}/sse?channel=big`);
    const sock = net.connect(Number(url.port), url.hostname, () => {
      sock.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
      sock.pause(); // never read, until told
    });
    sock.on('error', () => {}); // a reset is one way to be cut off
    resolve({
      drain: () =>
        new Promise((done) => {
          let text = '';
          sock.on('data', (d) => (text += d.toString('latin1')));
          sock.on('close', () => done({ closed: true, events: (text.match(/data: big /g) || []).length }));
          sock.resume();
          setTimeout(() => done({ closed: false, events: (text.match(/data: big /g) || []).length }), 15_000).unref();
        }),
    });
  });
}

async function slow() {
  const slowOne = await slowClient();
  const got = [];
  const es = new EventSource(`${slowBase}/sse?channel=big`);
  await new Promise((ok, ko) => {
    es.onopen = ok;
    es.onerror = () => ko(new Error('the reading client could not connect'));
  });
  let allIn;
  const all = new Promise((ok) => (allIn = ok));
  es.onerror = () => log('the reading client reconnects');
  es.onmessage = (e) => {
    got.push(Number(/^big (\d+) /.exec(e.data)?.[1]));
    if (got.length === BIG) allIn();
  };
  await new Promise((r) => setTimeout(r, 300)); // the raw client's request has arrived
  const pad = 'x'.repeat(128 * 1024);
  for (let n = 1; n <= BIG; n++) {
    const res = await fetch(`${slowBase}/publish?channel=big`, { method: 'POST', body: `big ${n} ${pad}` });
    if (res.status !== 201) throw new Error(`POST /publish answered ${res.status}`);
  }
  log(`published ${BIG} events of 128 KiB`);
  await Promise.race([all, new Promise((_, ko) => setTimeout(() => ko(new Error(`the reading client got ${got.length}/${BIG}`)), 20_000))]);
  es.close();
  if (!got.every((n, i) => n === i + 1)) throw new Error(`the reading client's events out of order: ${got.slice(0, 20)}`);
  const s = await slowOne.drain();
  log(`the client that never read: ${s.events} events, then ${s.closed ? 'closed' : 'still open'}`);
  if (!s.closed) throw new Error('the client that never read was not cut off');
  if (s.events >= BIG) throw new Error(`the client that never read got all ${s.events} events`);
  return `the reading client got all ${BIG} in order; the one that never read was cut off after ${s.events}`;
}

try {
  log(`PASS reconnection: ${await reconnection()}`);
  log(`PASS slow client: ${await slow()}`);
  process.exit(0);
} catch (e) {
  fail(e.message);
}
