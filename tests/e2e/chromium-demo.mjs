// End-to-end: the demo page of `ssehub serve` in headless Chromium (Debian's /usr/bin/chromium),
// driven by playwright-core (no browser download: the system Chromium is used).
//
//   node chromium-demo.mjs [SCREENSHOT] [BASE_URL]
//     SCREENSHOT  where to write a PNG of the page (default /tmp/ssehub-demo.png)
//     BASE_URL    the server (default: $SSEHUB_BASE_URL, else http://127.0.0.1:18931)
//
// Opens BASE_URL/, waits until the page's EventSource is open (`#status` says "open") and has
// received at least 2 events (`#count` >= 2), checks `#time` shows an ISO date near now and that
// it matches the newest `#log` entry, takes the screenshot and exits 0. On failure it prints the
// reason, the page's DOM and its console, and exits 1.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, closeBrowser, launch } from './browser.mjs';

const screenshotPath = process.argv[2] || '/tmp/ssehub-demo.png';
const baseUrl = (process.argv[3] || process.env.SSEHUB_BASE_URL || 'http://127.0.0.1:18931').replace(/\/+$/, '');
const WAIT_MS = 20_000;
const MAX_SKEW_MS = 60_000;
// The whole run, browser start included; a wedged browser must not hang CI.
const WATCHDOG_MS = 90_000;

const started = Date.now();
const log = (msg) => console.log(`[chromium-demo +${String(Date.now() - started).padStart(5)} ms] ${msg}`);

const userDataDir = mkdtempSync(join(tmpdir(), 'ssehub-e2e-chromium-'));
const consoleLines = [];
let context;
let page;

async function cleanup() {
  await closeBrowser(context, userDataDir);
}

async function fail(msg) {
  console.error(`[chromium-demo] FAIL: ${msg}`);
  if (page) {
    try {
      console.error('[chromium-demo] --- DOM (document.documentElement.outerHTML) ---');
      console.error(await page.evaluate(() => document.documentElement.outerHTML));
      console.error('[chromium-demo] --- end DOM ---');
    } catch (e) {
      console.error(`[chromium-demo] (could not read the DOM: ${e.message})`);
    }
  }
  if (consoleLines.length) {
    console.error('[chromium-demo] --- page console / errors ---');
    for (const line of consoleLines) console.error(line);
  }
  await cleanup();
  process.exit(1);
}

const watchdog = setTimeout(() => {
  fail(`watchdog: no result after ${WATCHDOG_MS} ms`);
}, WATCHDOG_MS);

try {
  log(`launching ${CHROMIUM} (profile ${userDataDir})`);
  context = await launch(userDataDir, { width: 900, height: 600 });
  log(`browser ${context.browser()?.version() ?? '(persistent context)'}`);
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => consoleLines.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => consoleLines.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));

  const url = `${baseUrl}/`;
  const res = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
  log(`GET ${url} -> ${res?.status()} ${res?.headers()['content-type'] ?? ''}`);
  if (!res || res.status() !== 200) await fail(`GET ${url} answered ${res?.status()}`);
  const title = await page.title();
  if (title !== 'ssehub demo') await fail(`title is ${JSON.stringify(title)}, expected "ssehub demo"`);

  try {
    await page.waitForFunction(
      () =>
        document.querySelector('#status')?.textContent.trim() === 'open' &&
        Number(document.querySelector('#count')?.textContent) >= 2,
      null,
      { timeout: WAIT_MS, polling: 100 },
    );
  } catch (e) {
    const status = await page.textContent('#status').catch(() => '?');
    const count = await page.textContent('#count').catch(() => '?');
    await fail(`within ${WAIT_MS} ms, #status never said "open" with #count >= 2 (now status=${JSON.stringify(status)}, count=${JSON.stringify(count)}): ${e.message.split('\n')[0]}`);
  }

  const state = await page.evaluate(() => ({
    path: document.querySelector('#path')?.textContent,
    status: document.querySelector('#status')?.textContent,
    statusClass: document.querySelector('#status')?.className,
    count: document.querySelector('#count')?.textContent,
    time: document.querySelector('#time')?.textContent,
    log: [...document.querySelectorAll('#log li')].map((li) => li.textContent),
  }));
  log(`page: ${JSON.stringify(state)}`);

  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
  if (!iso.test(state.time ?? '')) await fail(`#time ${JSON.stringify(state.time)} is not an ISO date`);
  const shown = Date.parse(state.time);
  if (Math.abs(shown - Date.now()) > MAX_SKEW_MS) await fail(`#time ${state.time} is far from now (${new Date().toISOString()})`);
  if (state.statusClass !== 'open') await fail(`#status class is ${JSON.stringify(state.statusClass)}, expected "open"`);
  if (state.log.length < 2) await fail(`#log has ${state.log.length} entries, expected >= 2`);
  // Entries read "#<event id> <data>": the server numbers its events (for Last-Event-ID replay).
  const entry = /^#(\d+) (\d+)$/;
  const [newest, previous] = state.log.map((line) => line.match(entry));
  if (!newest || !previous) await fail(`#log entries ${JSON.stringify(state.log.slice(0, 2))} are not "#<id> <ms>"`);
  if (Number(newest[2]) !== shown) await fail(`newest #log entry ${JSON.stringify(state.log[0])} does not match #time ${state.time} (${shown})`);
  // Ids are 19-digit numbers (start time in ms x 10^6 + n): past a double's precision.
  if (BigInt(newest[1]) !== BigInt(previous[1]) + 1n) await fail(`event ids ${previous[1]}, ${newest[1]} are not consecutive`);
  const pageErrors = consoleLines.filter((l) => l.startsWith('pageerror:'));
  if (pageErrors.length) await fail(`the page threw: ${pageErrors.join('; ')}`);

  await page.screenshot({ path: screenshotPath, fullPage: true });
  log(`screenshot: ${screenshotPath}`);
  if (consoleLines.length) log(`page console (not failures): ${consoleLines.join(' | ')}`);

  clearTimeout(watchdog);
  await cleanup();
  log(`PASS: #status=open, #count=${state.count}, #time=${state.time}`);
  process.exit(0);
} catch (e) {
  await fail(e?.stack || String(e));
}
