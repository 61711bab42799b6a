// End-to-end: headless Chromium against the axum example app (ssehub-axum).
//
//   node axum-chromium.mjs RECONNECT_BASE SLOW_BASE [SCREENSHOT]
//
// RECONNECT_BASE (the app with `--tick-ms 100 --stream-ms 1500 --retry-ms 200`): the page at `/`
//   must show its EventSource reconnecting (3 connections or more) with every `tick N` once: no
//   tick missing, none twice, no gap event; the app's own route `/hello` answers beside it.
// SLOW_BASE (the app with its default bound (1 MiB per client)): a raw client that never reads and the page
//   `/?channel=big` stream the same channel while 150 events of 128 KiB are POSTed; the page must
//   count all 150, and the raw client, reading at last, find its stream cut off with fewer.
// Exits 0 on success, 1 on failure.

import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './browser.mjs';

const [reconnectBase, slowBase] = process.argv.slice(2, 4).map((b) => b.replace(/\/+$/, ''));
const screenshotPath = process.argv[4] || '/tmp/ssehub-axum.png';
const BIG = 150;
const userDataDir = mkdtempSync(join(tmpdir(), 'ssehub-e2e-axum-'));
let context;

const counters = (page) =>
  page.evaluate(() =>
    Object.fromEntries(['count', 'opens', 'holes', 'dups', 'gaps'].map((id) => [id, Number(document.getElementById(id).textContent)])),
  );

async function main() {
  context = await launch(userDataDir, { width: 900, height: 500 });
  const page = context.pages()[0] || (await context.newPage());

  // Reconnection with Last-Event-ID.
  await page.goto(`${reconnectBase}/`, { waitUntil: 'domcontentloaded', timeout: 15_000 });
  await page.waitForFunction(
    () => Number(document.getElementById('opens').textContent) >= 3 && Number(document.getElementById('count').textContent) >= 25,
    null,
    { timeout: 30_000, polling: 100 },
  );
  const c = await counters(page);
  console.log(`[axum-chromium] reconnection: ${JSON.stringify(c)}`);
  await page.screenshot({ path: screenshotPath });
  if (c.holes || c.dups || c.gaps) throw new Error(`ticks missing ${c.holes}, twice ${c.dups}, gap events ${c.gaps}`);
  const hello = await page.request.get(`${reconnectBase}/hello`);
  if (hello.status() !== 200 || !(await hello.text()).includes('hello from axum')) throw new Error('/hello did not answer');

  // A slow client cut off while the page goes on.
  const url = new URL(`${slowBase}/sse?channel=big`);
  const sock = net.connect(Number(url.port), url.hostname, () => {
    sock.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    sock.pause();
  });
  sock.on('error', () => {});
  await page.goto(`${slowBase}/?channel=big`, { waitUntil: 'domcontentloaded', timeout: 15_000 });
  await page.waitForFunction(() => Number(document.getElementById('opens').textContent) >= 1, null, { timeout: 10_000 });
  await new Promise((r) => setTimeout(r, 300));
  const pad = 'x'.repeat(128 * 1024);
  for (let n = 1; n <= BIG; n++) {
    const res = await page.request.post(`${slowBase}/publish?channel=big`, { data: `big ${n} ${pad}` });
    if (res.status() !== 201) throw new Error(`POST /publish answered ${res.status()}`);
  }
  await page.waitForFunction((n) => Number(document.getElementById('count').textContent) >= n, BIG, { timeout: 30_000, polling: 100 });
  const s = await counters(page);
  console.log(`[axum-chromium] the page, reading: ${JSON.stringify(s)}`);
  if (s.count !== BIG || s.gaps) throw new Error(`the page got ${s.count}/${BIG} events, ${s.gaps} gaps`);
  const slow = await new Promise((done) => {
    let text = '';
    sock.on('data', (d) => (text += d.toString('latin1')));
    sock.on('close', () => done({ closed: true, events: (text.match(/data: big /g) || []).length }));
    sock.resume();
    setTimeout(() => done({ closed: false, events: (text.match(/data: big /g) || []).length }), 15_000).unref();
  });
  console.log(`[axum-chromium] the client that never read: ${JSON.stringify(slow)}`);
  if (!slow.closed || slow.events >= BIG) throw new Error('the client that never read was not cut off');
  console.log(`[axum-chromium] PASS: ${c.count} ticks over ${c.opens} connections, none missing; the page got all ${BIG} big events while a client that never read was cut off after ${slow.events}; screenshot ${screenshotPath}`);
}

try {
  await main();
  await context?.close();
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(0);
} catch (e) {
  console.error(`[axum-chromium] FAIL: ${e.message}`);
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}
