// End-to-end: a browser's EventSource sends its JWT in a cookie to a hub on another origin
// (README, "Authorization"), in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core).
//
//   node chromium-auth.mjs HUB_BASE APP_PORT OTHER_PORT TOKEN PUBLISH_TOKEN
//     HUB_BASE       `ssehub serve --jwt-secret ... --cors-origin http://127.0.0.1:APP_PORT
//                    --publish-token PUBLISH_TOKEN --no-clock`, e.g. http://127.0.0.1:18941
//     APP_PORT       this script serves the application's page here (the allowed origin)
//     OTHER_PORT     and the same page here (an origin the hub does not allow)
//     TOKEN          a JWT the hub accepts, granting `subscribe` on room-1 (and nothing else)
//     PUBLISH_TOKEN  the hub's --publish-token
//
// The pages are on other origins than the hub (another port: cross-origin, same site, so the
// cookie, SameSite=Lax, goes along). The cookie `ssehub_token=TOKEN` is set for the hub's host.
// 1. The app's page opens `new EventSource(HUB/sse?channel=room-1, {withCredentials: true})`: it
//    must open (200 with Access-Control-Allow-Origin: the app's origin and
//    Access-Control-Allow-Credentials: true), and show an event POSTed to the hub.
// 2. The same page without `withCredentials`: no cookie, so 401, and the EventSource fails.
// 3. With credentials on room-2 (not in the token): 403, the EventSource fails.
// 4. The page on the other origin, with credentials: CORS refuses it (no Allow-Origin for it).
// Exits 0 on success; on failure prints the reasons and the pages' consoles, and exits 1.

import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeBrowser, launch } from './browser.mjs';

const [hubArg, appPort, otherPort, token, publishToken] = process.argv.slice(2);
const hub = (hubArg || '').replace(/\/+$/, '');
if (!hub || !appPort || !otherPort || !token || !publishToken) {
  console.error('usage: node chromium-auth.mjs HUB_BASE APP_PORT OTHER_PORT TOKEN PUBLISH_TOKEN');
  process.exit(2);
}
const WAIT_MS = 15_000;
const WATCHDOG_MS = 90_000;
const started = Date.now();
const log = (msg) => console.log(`[chromium-auth +${String(Date.now() - started).padStart(5)} ms] ${msg}`);

// The application's page: opens the stream the query asks for and reports in #status / #log.
const PAGE = `<!doctype html><meta charset="utf-8"><title>app</title>
<p id="status">connecting</p><ul id="log"></ul>
<script>
  const q = new URLSearchParams(location.search);
  const url = ${JSON.stringify(hub)} + '/sse?channel=' + encodeURIComponent(q.get('channel'));
  const es = new EventSource(url, { withCredentials: q.get('credentials') === '1' });
  const status = document.getElementById('status');
  es.onopen = () => { status.textContent = 'open'; };
  es.onerror = () => { status.textContent = es.readyState === EventSource.CLOSED ? 'failed' : 'retrying'; };
  es.onmessage = (e) => {
    const li = document.createElement('li');
    li.textContent = e.data;
    document.getElementById('log').prepend(li);
  };
</script>`;

const servers = [appPort, otherPort].map((port) => {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(PAGE);
  });
  server.listen(Number(port), '127.0.0.1');
  return server;
});

const userDataDir = mkdtempSync(join(tmpdir(), 'ssehub-e2e-auth-'));
let context;
const consoleLines = [];
let failing = false;

async function cleanup() {
  for (const s of servers) s.close();
  await closeBrowser(context, userDataDir);
}

async function fail(msg) {
  if (failing) return new Promise(() => {});
  failing = true;
  console.error(`[chromium-auth] FAIL: ${msg}`);
  for (const line of consoleLines) console.error(line);
  await cleanup();
  process.exit(1);
}

setTimeout(() => fail(`watchdog: no result after ${WATCHDOG_MS} ms`), WATCHDOG_MS).unref();

/** Opens the page at `port` with `query`; waits until #status is one of `want`; returns the page and the hub's answer head. */
async function open(port, query, want) {
  const page = await context.newPage();
  page.on('console', (m) => consoleLines.push(`[${port}?${query}] console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[${port}?${query}] error: ${e.message}`));
  let answer = null;
  page.on('response', (r) => {
    if (r.url().startsWith(hub + '/sse')) answer = { status: r.status(), headers: r.headers() };
  });
  await page.goto(`http://127.0.0.1:${port}/?${query}`);
  try {
    await page.waitForFunction((w) => w.includes(document.getElementById('status').textContent), want, {
      timeout: WAIT_MS,
    });
  } catch {
    const status = await page.evaluate(() => document.getElementById('status').textContent);
    await fail(`page ${port}?${query}: #status is ${JSON.stringify(status)}, not one of ${JSON.stringify(want)}`);
  }
  return { page, answer, status: await page.evaluate(() => document.getElementById('status').textContent) };
}

try {
  context = await launch(userDataDir, { width: 800, height: 600 });
  const hubUrl = new URL(hub);
  await context.addCookies([
    { name: 'ssehub_token', value: token, domain: hubUrl.hostname, path: '/', httpOnly: true, sameSite: 'Lax' },
  ]);

  // 1. With credentials, from the allowed origin: open, and an event arrives.
  const ok = await open(appPort, 'channel=room-1&credentials=1', ['open']);
  const origin = `http://127.0.0.1:${appPort}`;
  if (!ok.answer || ok.answer.status !== 200) await fail(`the stream answered ${JSON.stringify(ok.answer)}`);
  if (ok.answer.headers['access-control-allow-origin'] !== origin)
    await fail(`Access-Control-Allow-Origin is ${ok.answer.headers['access-control-allow-origin']}, not ${origin}`);
  if (ok.answer.headers['access-control-allow-credentials'] !== 'true')
    await fail('no Access-Control-Allow-Credentials: true');
  log(`with the cookie: open (200, Allow-Origin ${origin}, Allow-Credentials true)`);
  const text = `hello ${Math.random().toString(36).slice(2)}`;
  const res = await fetch(`${hub}/publish?channel=room-1`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${publishToken}` },
    body: text,
  });
  if (res.status !== 201) await fail(`POST /publish answered ${res.status}: ${await res.text()}`);
  try {
    await ok.page.waitForFunction((t) => document.querySelector('#log li')?.textContent === t, text, {
      timeout: WAIT_MS,
    });
  } catch {
    await fail(`the page did not show ${JSON.stringify(text)}`);
  }
  log(`the page shows the event published: ${text}`);

  // 2. Without credentials: no cookie, 401, the EventSource fails for good.
  const anon = await open(appPort, 'channel=room-1&credentials=0', ['failed']);
  if (!anon.answer || anon.answer.status !== 401) await fail(`without credentials: ${JSON.stringify(anon.answer)}`);
  log('without withCredentials: 401, the EventSource failed');

  // 3. A channel outside the token: 403.
  const other = await open(appPort, 'channel=room-2&credentials=1', ['failed']);
  if (!other.answer || other.answer.status !== 403) await fail(`room-2: ${JSON.stringify(other.answer)}`);
  log('a channel outside the token: 403, the EventSource failed');

  // 4. An origin the hub does not allow: CORS refuses the stream (whatever the status).
  const foreign = await open(otherPort, 'channel=room-1&credentials=1', ['failed']);
  if (foreign.answer && foreign.answer.headers['access-control-allow-origin'])
    await fail(`another origin was allowed: ${JSON.stringify(foreign.answer.headers)}`);
  log('another origin: refused by CORS');

  await cleanup();
  console.log('[chromium-auth] PASS: cookie + withCredentials across origins, 401 / 403 / CORS refusals');
  process.exit(0);
} catch (e) {
  await fail(e.stack || String(e));
}
