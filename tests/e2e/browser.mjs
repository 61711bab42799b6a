// Headless Debian Chromium for the end-to-end tests, through playwright-core (the system
// browser: no download). The flags keep it off the network it cannot reach here.

import { rmSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** A persistent context on a fresh profile directory, with the given viewport. */
export function launch(userDataDir, viewport) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // More, from the environment (the HTTPS test passes the certificate's key to trust).
      ...(process.env.E2E_CHROMIUM_ARGS || '').split(' ').filter(Boolean),
    ],
  });
}

/** Closes the context (if the browser is still there) and removes its profile directory. */
export async function closeBrowser(context, userDataDir) {
  try {
    if (context) await context.close();
  } catch {
    // The browser may already be gone.
  }
  rmSync(userDataDir, { recursive: true, force: true });
}
