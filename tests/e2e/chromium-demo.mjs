// End-to-end: the demo page of `ssehub serve` in headless Chromium (Debian's /usr/bin/chromium),
// driven by playwright-core (no browser download: the system Chromium is used).
//
//   node chromium-demo.mjs [SCREENSHOT] [BASE_URL]
//     SCREENSHOT  where to write a PNG of the page (default /tmp/ssehub-demo.png)
//     BASE_URL    the server (default: $SSEHUB_BASE_URL, else http://127.0.0.1:18931)
//
// Opens BASE_URL/ and checks what a newcomer sees:
//   * the page says what is happening: the server pushes the time every second, and how to try
//     it (`curl -N BASE_URL/sse`, with the real host);
//   * the first event arrives within ~1 s of the page's script starting, and it is one the
//     server published *before* the stream opened (the page resumes after the event before the
//     newest, so the server replays the newest at once: the page is never blank for a second);
//   * `#time` is the newest event's time in the browser's local format (toLocaleTimeString),
//     not an ISO/UTC string, and `#date` its local date;
//   * the `#log` entries read "#<id> <ms> = <local time>", newest first, with ids kept as
//     strings (19 digits, past a double's precision) that increase by one.
// Then it takes the screenshot and exits 0. On failure it prints the reason, the page's DOM and
// its console, and exits 1.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, closeBrowser, launch } from './browser.mjs';

const screenshotPath = process.argv[2] || '/tmp/ssehub-demo.png';
const baseUrl = (process.argv[3] || process.env.SSEHUB_BASE_URL || 'http://127.0.0.1:18931').replace(/\/+$/, '');
const WAIT_MS = 20_000;
const MAX_SKEW_MS = 60_000;
// "At once": well under the clock's one second.
const FIRST_EVENT_MS = 1_000;
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

  const state = await page.evaluate(() => {
    const newestData = document.querySelector('#log li .data')?.textContent ?? '';
    const when = new Date(Number(newestData));
    return {
      about: document.querySelector('#about')?.textContent.replace(/\s+/g, ' ').trim(),
      curl: document.querySelector('#curl')?.textContent,
      path: document.querySelector('#path')?.textContent,
      status: document.querySelector('#status')?.textContent,
      statusClass: document.querySelector('#status')?.className,
      count: document.querySelector('#count')?.textContent,
      time: document.querySelector('#time')?.textContent,
      date: document.querySelector('#date')?.textContent,
      // What this browser's locale and time zone make of the newest event's time.
      localTime: when.toLocaleTimeString(),
      localDate: when.toLocaleDateString(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
      log: [...document.querySelectorAll('#log li')].map((li) => ({
        text: li.textContent,
        id: li.querySelector('.id')?.textContent,
        data: li.querySelector('.data')?.textContent,
        shown: li.querySelector('.shown')?.textContent,
        // The browser's own local rendering of the data's time (its locale, not Node's).
        local: new Date(Number(li.querySelector('.data')?.textContent)).toLocaleTimeString(),
      })),
      timings: window.ssehubDemo,
    };
  });
  log(`page: ${JSON.stringify(state)}`);

  // What it is, and how to try it.
  if (!/pushes the current time down it every second/.test(state.about ?? '')) await fail(`#about ${JSON.stringify(state.about)} does not say the server pushes the time every second`);
  const curl = `curl -N ${baseUrl}/sse`;
  if (state.curl !== curl) await fail(`#curl is ${JSON.stringify(state.curl)}, expected ${JSON.stringify(curl)} (the real host)`);
  if (state.statusClass !== 'open') await fail(`#status class is ${JSON.stringify(state.statusClass)}, expected "open"`);

  // At once on connect: the first event came quickly, and had been published before the page opened.
  const t = state.timings ?? {};
  if (!(typeof t.firstEventAfterMs === 'number' && t.firstEventAfterMs < FIRST_EVENT_MS)) await fail(`the first event came ${t.firstEventAfterMs} ms after the page opened, not within ${FIRST_EVENT_MS} ms`);
  if (!(Number(t.firstData) <= t.openedAt)) await fail(`the first event (${t.firstData}) was not published before the page opened (${t.openedAt}): not the replayed newest event`);
  if (!/[?&]lastEventId=\d+/.test(t.streamUrl ?? '')) await fail(`the stream was opened as ${JSON.stringify(t.streamUrl)}, without ?lastEventId=`);

  // Local time, not UTC/ISO.
  if (/\d{4}-\d{2}-\d{2}T|Z$|\.000/.test(state.time ?? '')) await fail(`#time ${JSON.stringify(state.time)} looks like an ISO/UTC string`);
  if (state.time !== state.localTime) await fail(`#time ${JSON.stringify(state.time)} is not the newest event's local time ${JSON.stringify(state.localTime)}`);
  if (!(state.date ?? '').startsWith(state.localDate)) await fail(`#date ${JSON.stringify(state.date)} does not start with the local date ${JSON.stringify(state.localDate)}`);
  const newestMs = Number(state.log[0]?.data);
  if (!(Math.abs(newestMs - Date.now()) < MAX_SKEW_MS)) await fail(`the newest event ${state.log[0]?.data} is far from now (${Date.now()})`);

  // The events as they arrive, with their ids as strings, increasing by one.
  if (state.log.length < 2) await fail(`#log has ${state.log.length} entries, expected >= 2`);
  for (const entry of state.log) {
    const m = /^#(\d{19})$/.exec(entry.id ?? '');
    if (!m) await fail(`#log entry ${JSON.stringify(entry.text)}: the id ${JSON.stringify(entry.id)} is not "#" and 19 digits`);
    const want = `#${m[1]} ${entry.data} = ${entry.local}`;
    if (entry.text !== want) await fail(`#log entry ${JSON.stringify(entry.text)}, expected ${JSON.stringify(want)}`);
  }
  const ids = state.log.map((e) => BigInt(e.id.slice(1)));
  for (let i = 1; i < ids.length; i++) {
    if (ids[i - 1] !== ids[i] + 1n) await fail(`event ids ${ids[i]}, ${ids[i - 1]} (older, newer) are not consecutive`);
  }
  const pageErrors = consoleLines.filter((l) => l.startsWith('pageerror:'));
  if (pageErrors.length) await fail(`the page threw: ${pageErrors.join('; ')}`);

  await page.screenshot({ path: screenshotPath, fullPage: true });
  log(`screenshot: ${screenshotPath}`);
  if (consoleLines.length) log(`page console (not failures): ${consoleLines.join(' | ')}`);

  clearTimeout(watchdog);
  await cleanup();
  log(`PASS: #status=open, #count=${state.count}, #time=${state.time}, first event after ${Math.round(t.firstEventAfterMs)} ms`);
  process.exit(0);
} catch (e) {
  await fail(e?.stack || String(e));
}
