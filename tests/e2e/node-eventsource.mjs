// End-to-end: Node's `eventsource` package (a WHATWG EventSource on fetch) against `ssehub serve`.
//
//   node node-eventsource.mjs [URL]      (default: $SSEHUB_URL, else http://127.0.0.1:18931/sse)
//
// Connects to the stock demo stream, which sends the time in milliseconds since the epoch once
// a second, receives at least MIN_EVENTS events and checks that each one's data is a plausible
// millisecond timestamp (digits only, near the local clock), strictly increasing, with sane
// gaps. Exits 0 on success; on failure, or after TIMEOUT_MS, prints why and exits 1.

import { EventSource } from 'eventsource';

const url = process.argv[2] || process.env.SSEHUB_URL || 'http://127.0.0.1:18931/sse';
const MIN_EVENTS = 3;
const TIMEOUT_MS = 15_000;
// The clock is this machine's, like ours; allow generous skew for a loaded CI box.
const MAX_SKEW_MS = 60_000;
// Events come once a second, on the second; a gap is about 1000 ms normally.
const MAX_GAP_MS = 5_000;

const started = Date.now();
const events = [];
let opened = false;
let contentType = null;
let finished = false;

function log(msg) {
  console.log(`[node-eventsource +${String(Date.now() - started).padStart(5)} ms] ${msg}`);
}

function finish(ok, msg) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  es.close();
  if (ok) {
    log(`PASS: ${msg}`);
    process.exit(0);
  }
  console.error(`[node-eventsource] FAIL: ${msg}`);
  console.error(`[node-eventsource]   url=${url} opened=${opened} content-type=${contentType}`);
  console.error(`[node-eventsource]   events so far: ${JSON.stringify(events.map((e) => e.data))}`);
  process.exit(1);
}

const timer = setTimeout(
  () => finish(false, `timed out after ${TIMEOUT_MS} ms with ${events.length}/${MIN_EVENTS} events`),
  TIMEOUT_MS,
);

// Wrap fetch to see the response head the package got (it does not expose it otherwise).
const es = new EventSource(url, {
  fetch: async (input, init) => {
    const res = await fetch(input, init);
    contentType = res.headers.get('content-type');
    log(`response ${res.status}, content-type: ${contentType}`);
    return res;
  },
});

es.onopen = () => {
  opened = true;
  log('open');
  if (!contentType || !contentType.toLowerCase().startsWith('text/event-stream')) {
    finish(false, `content-type is ${JSON.stringify(contentType)}, not text/event-stream`);
  }
};

es.onerror = (err) => {
  // The package reconnects on its own after a dropped stream; a stream the server refuses or
  // never answers ends up here with readyState CLOSED. Either way, the demo stream must not
  // drop while we listen.
  const detail = [err?.code && `code ${err.code}`, err?.message].filter(Boolean).join(': ');
  finish(false, `EventSource error (readyState ${es.readyState})${detail ? ` — ${detail}` : ''}`);
};

es.onmessage = (ev) => {
  const receivedAt = Date.now();
  events.push({ data: ev.data, type: ev.type, lastEventId: ev.lastEventId, receivedAt });
  log(`event #${events.length}: data=${JSON.stringify(ev.data)} lastEventId=${JSON.stringify(ev.lastEventId)}`);

  if (ev.type !== 'message') return finish(false, `event type ${JSON.stringify(ev.type)}, expected "message"`);
  if (!/^\d{13}$/.test(ev.data)) {
    return finish(false, `data ${JSON.stringify(ev.data)} is not a 13-digit millisecond timestamp`);
  }
  const ms = Number(ev.data);
  if (Math.abs(ms - receivedAt) > MAX_SKEW_MS) {
    return finish(false, `timestamp ${ms} (${new Date(ms).toISOString()}) is ${ms - receivedAt} ms off the local clock`);
  }
  if (events.length > 1) {
    const prev = Number(events[events.length - 2].data);
    if (!(ms > prev)) return finish(false, `timestamps not increasing: ${prev} then ${ms}`);
    if (ms - prev > MAX_GAP_MS) return finish(false, `gap of ${ms - prev} ms between events (expected about 1000)`);
  }
  if (events.length >= MIN_EVENTS) {
    const gaps = events.slice(1).map((e, i) => Number(e.data) - Number(events[i].data));
    finish(true, `${events.length} events, increasing ms timestamps, gaps ${gaps.join(', ')} ms`);
  }
};
