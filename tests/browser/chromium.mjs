// chromium: what the browser tests share about the browser itself: which Chromium, its flags,
// a persistent context in a profile of its own, and the after-hook that ends it all (each step
// bounded, so that a browser that does not close cannot hang the run).
//
// Chromium is Debian's (/usr/bin/chromium, `apt-get install -y chromium`; .ci/run installs it
// when it can), or the executable named by WASMBUS_CHROMIUM. Without it the browser tests are
// skipped, with the reason printed (the one skip tests/run.mjs accepts under CI).
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.WASMBUS_CHROMIUM || '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);
/** headless, no sandbox (CI runs as root), nothing that would reach the network */
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'];
/** the longest one step of the after-hook may take */
const CLOSE_STEP_MS = 15000;

/** Print, once per file, why its Chromium tests are skipped (nothing where Chromium is there). */
export function sayWhySkipped() {
  if (!HAS_CHROMIUM) console.log(`browser tests skipped: chromium not installed at ${CHROMIUM} (apt-get install -y chromium, or set WASMBUS_CHROMIUM)`);
}

/**
 * A persistent Chromium context in a new temporary profile (its name begins with `prefix`):
 * { context, profile }. `options` go to playwright's launchPersistentContext.
 */
export async function launch(prefix, options = {}) {
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(join(tmpdir(), prefix));
  try {
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000, ...options });
    return { context, profile };
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The after-hook's work: close the context, then the server, then remove the profile; each
 * step bounded by CLOSE_STEP_MS, its failure printed and the next step taken all the same.
 * Any of them may be null. `server` is a node:http Server, or demo/serve.mjs's handle (whose
 * close() returns a promise).
 */
export async function closeAll({ context, server, profile }) {
  const step = async (what, fn) => {
    try { await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error('timed out')), CLOSE_STEP_MS).unref())]); }
    catch (e) { console.error(`after: ${what}: ${e}`); }
  };
  if (context) await step('close chromium', () => context.close());
  if (server) {
    const http = typeof server.closeAllConnections === 'function';
    await step('close the server', () => (http ? new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) : server.close()));
  }
  if (profile) await step('remove the profile', () => rm(profile, { recursive: true, force: true }));
}
