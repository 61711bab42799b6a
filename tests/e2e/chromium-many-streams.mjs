// End-to-end: the browser's six-connections-per-origin limit, and HTTP/2 past it. Headless
// Chromium opens N EventSources to one origin from one page and counts how many get an event.
//
//   node chromium-many-streams.mjs BASE_URL N EXPECT
//     BASE_URL  the server (https://... for HTTP/2 by ALPN, http://... for HTTP/1.1)
//     N         EventSources to open (e.g. 20)
//     EXPECT    "all": every one must get an event, over h2 (nextHopProtocol), or
//               "six": over HTTP/1.1 exactly six may, the seventh stalls (the limit shown)
//
// The server must publish on its default stream at least once a second (`ssehub serve`'s clock).
// Exits 0 when the expectation holds; otherwise prints the reason and exits 1.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeBrowser, launch } from './browser.mjs';

const baseUrl = (process.argv[2] || '').replace(/\/+$/, '');
const n = Number(process.argv[3] || 20);
const expect = process.argv[4] || 'all';
const WAIT_MS = 8_000;
const WATCHDOG_MS = 90_000;

const started = Date.now();
const log = (msg) => console.log(`[chromium-many +${String(Date.now() - started).padStart(5)} ms] ${msg}`);
const userDataDir = mkdtempSync(join(tmpdir(), 'ssehub-e2e-many-'));
let context;

async function finish(ok, msg) {
  console[ok ? 'log' : 'error'](`[chromium-many] ${ok ? 'PASS' : 'FAIL'}: ${msg}`);
  await closeBrowser(context, userDataDir);
  process.exit(ok ? 0 : 1);
}

setTimeout(() => finish(false, `watchdog: no result after ${WATCHDOG_MS} ms`), WATCHDOG_MS);

try {
  context = await launch(userDataDir, { width: 800, height: 600 });
  const page = context.pages()[0] ?? (await context.newPage());
  // A page of the origin with no stream of its own (the demo page has one): its 404.
  const res = await page.goto(`${baseUrl}/blank`, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
  log(`GET ${baseUrl}/blank -> ${res?.status()}`);
  const result = await page.evaluate(
    async ({ n, waitMs }) => {
      const got = new Array(n).fill(false);
      const sources = [];
      for (let i = 0; i < n; i++) {
        // Distinct URLs, so that no cache or coalescing joins two of them.
        const es = new EventSource(`/sse?client=${i}`);
        es.onmessage = () => {
          got[i] = true;
        };
        sources.push(es);
      }
      const until = Date.now() + waitMs;
      while (Date.now() < until && !got.every(Boolean)) await new Promise((r) => setTimeout(r, 100));
      const protocols = [
        ...new Set(
          performance
            .getEntriesByType('resource')
            .filter((e) => e.name.includes('/sse?client='))
            .map((e) => e.nextHopProtocol),
        ),
      ];
      const nav = performance.getEntriesByType('navigation')[0]?.nextHopProtocol;
      for (const es of sources) es.close();
      return { received: got.filter(Boolean).length, protocols, nav };
    },
    { n, waitMs: WAIT_MS },
  );
  log(`result: ${JSON.stringify(result)}`);
  if (expect === 'all') {
    if (result.nav !== 'h2') await finish(false, `the page came over ${result.nav}, not h2`);
    if (result.received !== n) await finish(false, `${result.received} of ${n} EventSources got an event over h2`);
    await finish(true, `${n} of ${n} EventSources got events on one origin over h2`);
  } else {
    if (result.received !== 6) await finish(false, `over HTTP/1.1 ${result.received} of ${n} got an event, expected the browser's six`);
    await finish(true, `over HTTP/1.1 the browser stops at six of ${n} (the limit HTTP/2 removes)`);
  }
} catch (e) {
  await finish(false, e.stack || String(e));
}
