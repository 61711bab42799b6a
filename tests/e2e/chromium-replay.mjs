// End-to-end: resumption in a real browser. `examples/replay.rs` drops every stream every 1.5 s;
// the page's EventSource must reconnect by itself, send Last-Event-ID, and show every event
// with no gap and no duplicate.
//
//   node chromium-replay.mjs BASE_URL [SCREENSHOT]
//
// Waits until the page has opened its stream at least 3 times and counted at least 30 events,
// then checks gaps == 0 and duplicates == 0, takes a screenshot and exits 0 (1 on failure).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './browser.mjs';

const baseUrl = (process.argv[2] || 'http://127.0.0.1:18981').replace(/\/+$/, '');
const screenshotPath = process.argv[3] || '/tmp/ssehub-replay.png';
const userDataDir = mkdtempSync(join(tmpdir(), 'ssehub-e2e-replay-'));
let context;

const counters = async (page) =>
  page.evaluate(() =>
    Object.fromEntries(['count', 'last', 'opens', 'gaps', 'dups'].map((id) => [id, document.getElementById(id).textContent])),
  );

async function main() {
  context = await launch(userDataDir, { width: 900, height: 400 });
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(`${baseUrl}/`, { waitUntil: 'domcontentloaded', timeout: 15_000 });
  await page.waitForFunction(
    () => Number(document.getElementById('opens').textContent) >= 3 && Number(document.getElementById('count').textContent) >= 30,
    null,
    { timeout: 30_000, polling: 100 },
  );
  const c = await counters(page);
  console.log(`[chromium-replay] ${JSON.stringify(c)}`);
  await page.screenshot({ path: screenshotPath });
  if (c.gaps !== '0' || c.dups !== '0') throw new Error(`gaps ${c.gaps}, duplicates ${c.dups}`);
  console.log(`[chromium-replay] PASS: ${c.count} events over ${c.opens} connections, no gap, no duplicate; screenshot ${screenshotPath}`);
}

const watchdog = setTimeout(() => {
  console.error('[chromium-replay] FAIL: watchdog');
  process.exit(1);
}, 90_000);
try {
  await main();
  clearTimeout(watchdog);
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
} catch (e) {
  console.error(`[chromium-replay] FAIL: ${e.message}`);
  try { if (context) console.error(JSON.stringify(await counters(context.pages()[0]))); } catch {}
  try { if (context) await context.close(); } catch {}
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}
