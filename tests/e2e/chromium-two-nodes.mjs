// End-to-end: two `ssehub serve --redis ... --no-clock` nodes sharing channels through one Redis
// (README, "Many nodes: Redis Streams"), watched by headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core).
//
//   node chromium-two-nodes.mjs NODE_A_BASE NODE_B_BASE TOKEN [SCREENSHOT]
//     NODE_A_BASE, NODE_B_BASE  the two nodes, e.g. http://127.0.0.1:18933
//     TOKEN                     their --publish-token
//     SCREENSHOT                a PNG of node B's page (default /tmp/ssehub-two-nodes.png); node
//                               A's page goes next to it, with "-a" before ".png"
//
// 1. Opens NODE_B_BASE/ and waits until the page's EventSource is open (`#status` says "open").
// 2. POSTs `hello from A <random>` to NODE_A_BASE/publish (Authorization: Bearer TOKEN), expects
//    201 with the JSON {"id": "<ms>-<seq>"}, and waits until node B's page shows that text in
//    `#time` and as its newest `#log` entry, `#<id> hello from A <random>`.
// 3. POSTs `hello from B <random>` to node B: it must become the newest entry, the first one
//    right below it (newest first), with a larger id.
// 4. Opens NODE_A_BASE/ in a second page, POSTs `hello from B to A <random>` to node B: node A's
//    page must show it, and node B's page too.
// Each page must get exactly the events published while it is open, over one connection.
// Exits 0 on success; on failure prints the reasons, each page's DOM and console, and exits 1.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, closeBrowser, launch } from './browser.mjs';

const [nodeA, nodeB] = [process.argv[2], process.argv[3]].map((b) => (b || '').replace(/\/+$/, ''));
const token = process.argv[4];
const screenshotPath = process.argv[5] || '/tmp/ssehub-two-nodes.png';
const screenshotA = screenshotPath.replace(/(\.png)?$/i, '-a.png');
if (!nodeA || !nodeB || !token) {
  console.error('usage: node chromium-two-nodes.mjs NODE_A_BASE NODE_B_BASE TOKEN [SCREENSHOT]');
  process.exit(2);
}
const WAIT_MS = 20_000;
const PUBLISH_TIMEOUT_MS = 10_000;
// The whole run, browser start included; a wedged browser must not hang CI.
const WATCHDOG_MS = 100_000;

const started = Date.now();
const log = (msg) => console.log(`[chromium-two-nodes +${String(Date.now() - started).padStart(5)} ms] ${msg}`);

const userDataDir = mkdtempSync(join(tmpdir(), 'ssehub-e2e-two-nodes-'));
let context;
/** name -> { page, consoleLines, streamRequests } */
const pages = new Map();
let failing = false;

async function cleanup() {
  await closeBrowser(context, userDataDir);
}

async function fail(msg) {
  if (failing) return new Promise(() => {}); // the first failure reports and exits
  failing = true;
  console.error(`[chromium-two-nodes] FAIL: ${msg}`);
  for (const [name, p] of pages) {
    try {
      console.error(`[chromium-two-nodes] --- ${name}: DOM (document.documentElement.outerHTML) ---`);
      console.error(await p.page.evaluate(() => document.documentElement.outerHTML));
      console.error(`[chromium-two-nodes] --- ${name}: end DOM ---`);
    } catch (e) {
      console.error(`[chromium-two-nodes] (${name}: could not read the DOM: ${e.message})`);
    }
    console.error(`[chromium-two-nodes] ${name}: stream requests: ${JSON.stringify(p.streamRequests)}`);
    if (p.consoleLines.length) {
      console.error(`[chromium-two-nodes] --- ${name}: page console / errors ---`);
      for (const line of p.consoleLines) console.error(line);
    }
  }
  await cleanup();
  process.exit(1);
}

const watchdog = setTimeout(() => {
  fail(`watchdog: no result after ${WATCHDOG_MS} ms`);
}, WATCHDOG_MS);

/** Opens `${base}/` in `page` and waits until its EventSource is open. */
async function openDemo(name, page, base) {
  const p = { page, consoleLines: [], streamRequests: [] };
  pages.set(name, p);
  page.on('console', (m) => p.consoleLines.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => p.consoleLines.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => p.consoleLines.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/sse') p.streamRequests.push(r.url());
  });

  const url = `${base}/`;
  const res = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
  log(`${name}: GET ${url} -> ${res?.status()} ${res?.headers()['content-type'] ?? ''}`);
  if (!res || res.status() !== 200) await fail(`${name}: GET ${url} answered ${res?.status()}`);
  const title = await page.title();
  if (title !== 'ssehub demo') await fail(`${name}: title is ${JSON.stringify(title)}, expected "ssehub demo"`);
  try {
    await page.waitForFunction(() => document.querySelector('#status')?.textContent.trim() === 'open', null, {
      timeout: WAIT_MS,
      polling: 50,
    });
  } catch (e) {
    const status = await page.textContent('#status').catch(() => '?');
    await fail(`${name}: within ${WAIT_MS} ms, #status never said "open" (now ${JSON.stringify(status)}): ${e.message.split('\n')[0]}`);
  }
  log(`${name}: EventSource open (${p.streamRequests.join(', ')})`);
}

const pageState = (page) =>
  page.evaluate(() => ({
    status: document.querySelector('#status')?.textContent,
    statusClass: document.querySelector('#status')?.className,
    count: document.querySelector('#count')?.textContent,
    time: document.querySelector('#time')?.textContent,
    log: [...document.querySelectorAll('#log li')].map((li) => li.textContent),
  }));

/** POSTs `text` to `${base}/publish`; returns the id from the 201 answer. */
async function publish(name, base, text) {
  const url = `${base}/publish`;
  let res;
  let body;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/plain; charset=utf-8' },
      body: text,
      signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS),
    });
    body = await res.text();
  } catch (e) {
    await fail(`POST ${url} (${name}) failed: ${e.cause?.message ?? e.message}`);
  }
  log(`POST ${url} ${JSON.stringify(text)} -> ${res.status} ${res.headers.get('content-type') ?? ''} ${body.trim()}`);
  if (res.status !== 201) await fail(`POST ${url} (${name}) answered ${res.status} ${JSON.stringify(body)}, expected 201`);
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    await fail(`POST ${url} (${name}) answered 201 with ${JSON.stringify(body)}, not JSON`);
  }
  if (typeof json?.id !== 'string' || !/^\d+-\d+$/.test(json.id)) {
    await fail(`POST ${url} (${name}) answered ${JSON.stringify(body)}: no "id": "<ms>-<seq>"`);
  }
  return json.id;
}

/** Waits until `name`'s page shows `text` in #time and `#<id> <text>` as the newest #log entry. */
async function waitShown(name, id, text) {
  const { page } = pages.get(name);
  const entry = `#${id} ${text}`;
  try {
    await page.waitForFunction(
      ([t, e]) => document.querySelector('#time')?.textContent === t && document.querySelector('#log li')?.textContent === e,
      [text, entry],
      { timeout: WAIT_MS, polling: 50 },
    );
  } catch (e) {
    const state = await pageState(page).catch(() => '?');
    await fail(`${name}: within ${WAIT_MS} ms the page did not show #time ${JSON.stringify(text)} with newest #log entry ${JSON.stringify(entry)}; page now: ${JSON.stringify(state)} (${e.message.split('\n')[0]})`);
  }
  const state = await pageState(page);
  log(`${name}: shows ${JSON.stringify(entry)}; page: ${JSON.stringify(state)}`);
  return state;
}

/** Checks a page's #log is exactly `entries` (newest first), on one open connection. */
async function checkLog(name, state, entries) {
  const p = pages.get(name);
  const want = entries.map(([id, text]) => `#${id} ${text}`);
  if (JSON.stringify(state.log) !== JSON.stringify(want)) {
    await fail(`${name}: #log is ${JSON.stringify(state.log)}, expected exactly ${JSON.stringify(want)} (newest first)`);
  }
  if (state.count !== String(entries.length)) await fail(`${name}: #count is ${state.count}, expected ${entries.length}`);
  if (state.status !== 'open' || state.statusClass !== 'open') {
    await fail(`${name}: #status is ${JSON.stringify(state.status)} (class ${JSON.stringify(state.statusClass)}), expected "open"`);
  }
  if (p.streamRequests.length !== 1) {
    await fail(`${name}: the EventSource connected ${p.streamRequests.length} times (${p.streamRequests.join(', ')}), expected once`);
  }
  const pageErrors = p.consoleLines.filter((l) => l.startsWith('pageerror:'));
  if (pageErrors.length) await fail(`${name}: the page threw: ${pageErrors.join('; ')}`);
}

/** `<ms>-<seq>` ids in order. */
const idLess = (a, b) => {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am < bm || (am === bm && as < bs);
};

try {
  const nonce = randomBytes(6).toString('hex');
  const textA = `hello from A ${nonce}`;
  const textB = `hello from B ${nonce}`;
  const textBA = `hello from B to A ${nonce}`;

  log(`launching ${CHROMIUM} (profile ${userDataDir}); node A ${nodeA}, node B ${nodeB}`);
  context = await launch(userDataDir, { width: 900, height: 600 });
  const pageB = context.pages()[0] ?? (await context.newPage());
  await openDemo('node B page', pageB, nodeB);

  // 1. Published on node A, seen on node B.
  const idA = await publish('node A', nodeA, textA);
  let stateB = await waitShown('node B page', idA, textA);
  await checkLog('node B page', stateB, [[idA, textA]]);

  // 2. Published on node B, seen on the same page, newest first.
  const idB = await publish('node B', nodeB, textB);
  if (!idLess(idA, idB)) await fail(`the id of the second publish ${idB} is not after the first's ${idA}`);
  stateB = await waitShown('node B page', idB, textB);
  await checkLog('node B page', stateB, [
    [idB, textB],
    [idA, textA],
  ]);

  // 3. A page on node A gets what is published on node B (and so does node B's page).
  const pageA = await context.newPage();
  await openDemo('node A page', pageA, nodeA);
  const idBA = await publish('node B', nodeB, textBA);
  if (!idLess(idB, idBA)) await fail(`the id of the third publish ${idBA} is not after the second's ${idB}`);
  const stateA = await waitShown('node A page', idBA, textBA);
  await checkLog('node A page', stateA, [[idBA, textBA]]);
  stateB = await waitShown('node B page', idBA, textBA);
  await checkLog('node B page', stateB, [
    [idBA, textBA],
    [idB, textB],
    [idA, textA],
  ]);

  await pageB.screenshot({ path: screenshotPath, fullPage: true });
  await pageA.screenshot({ path: screenshotA, fullPage: true });
  log(`screenshots: ${screenshotPath} (node B), ${screenshotA} (node A)`);
  for (const [name, p] of pages) {
    if (p.consoleLines.length) log(`${name} console (not failures): ${p.consoleLines.join(' | ')}`);
  }

  clearTimeout(watchdog);
  await cleanup();
  log(`PASS: node A -> node B page (${idA}), node B -> same page (${idB}), node B -> node A page and node B page (${idBA})`);
  process.exit(0);
} catch (e) {
  await fail(e?.stack || String(e));
}
