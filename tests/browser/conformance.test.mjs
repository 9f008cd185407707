// The conformance suite (tests/conformance/*.test.ts) in headless Chromium: each file bundled
// by esbuild from the sources, as they are (uvu and all), and run in a module Worker of a
// cross-origin isolated page, one file at a time, with the engine WASMBUS_ENGINE names (wasm or
// twin; tests/run.mjs makes one run per engine). A dedicated worker is where a browser lets a
// thread block (Atomics.wait), as the suite's Node and Deno runs do on their main thread; the
// page's own main thread, which never blocks, is the demo test's (browser.test.mjs).
//
// Each file is one test here: it passes when the file's own uvu summary says every test of it
// passed (its output is printed, prefixed, when one did not). The last test checks that the
// files together ran at least the suite's minimum (tests/min-tests.mjs, as tests/run.mjs
// checks for the Node and Deno runs), so a file that stopped loading cannot pass quietly.
//
// What the bundles change, and only for the browser: host/node.ts and host/deno.ts (Node's and
// Deno's providers) become host/none.ts, by the plugin dist/browser/wasmbus.js is built with
// (scripts/host-swap.mjs);
// host/load.ts becomes a loader that fetches /build/core.wasm (or core.hooks.wasm, for
// Bus.create({ hooks: true })) from this test's server; `process.env` is replaced by an
// object with WASMBUS_ENGINE (and WASMBUS_SEEDS, WASMBUS_STEPS when they are set). Nothing else: the core, the host and the tests are the
// suite's own. A test that needs what only Node or Deno has says so itself (where it skips it).
//
// Chromium is ./chromium.mjs's (Debian's, or WASMBUS_CHROMIUM's); without it every test here is
// skipped, with the reason printed (the one skip tests/run.mjs accepts under CI).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { MIN_TESTS } from '../min-tests.mjs';
import { hostSwap } from '../../scripts/host-swap.mjs';
import { HAS_CHROMIUM, closeAll, launch, sayWhySkipped } from './chromium.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIR = join(ROOT, 'tests', 'conformance');
const HOST = join(ROOT, 'js', 'host');
const ENGINE = process.env.WASMBUS_ENGINE === 'twin' ? 'twin' : 'wasm';
if (!['wasm', 'twin', undefined].includes(process.env.WASMBUS_ENGINE)) {
  throw new Error(`conformance in chromium: WASMBUS_ENGINE must be wasm or twin, not ${JSON.stringify(process.env.WASMBUS_ENGINE)}`);
}
/** the longest one file may run in the worker (the slowest runs in 10-30 s under Node here) */
const FILE_TIMEOUT_MS = 150000;

// WASMBUS_CONFORMANCE_ONLY (a regular expression): only the files whose names match it, and no
// minimum (for a look at one file: WASMBUS_CONFORMANCE_ONLY='^listen' npm run test:browser)
const ONLY = process.env.WASMBUS_CONFORMANCE_ONLY ? new RegExp(process.env.WASMBUS_CONFORMANCE_ONLY) : null;
const FILES = (await readdir(DIR)).filter((f) => f.endsWith('.test.ts') && (!ONLY || ONLY.test(f))).sort();

// ---------- the bundles ----------

/** host/load.ts for the browser bundles: the core from this test's server, by absolute path */
const LOADER = `
const cache = [null, null];
export function loadCore(hooks = false) {
  const k = hooks ? 1 : 0;
  return cache[k] ??= fetch(hooks ? '/build/core.hooks.wasm' : '/build/core.wasm').then((res) => {
    if (!res.ok) throw new Error('core: HTTP ' + res.status);
    return WebAssembly.compileStreaming(res);
  }).catch((e) => { cache[k] = null; throw e; });
}
export function loadCoreIfAllowed(hooks = false) {
  return loadCore(hooks).catch(() => null);
}
`;
const browserHost = hostSwap('wasmbus-conformance-browser', HOST, '.ts', { loads: [{ filter: /[\\/]js[\\/]host[\\/]load\.ts$/, contents: LOADER }] });
/**
 * Ahead of everything in a bundle: the worker's console.log (uvu's output: it keeps a reference
 * to console.log from its first line) also goes to the page, line by line.
 */
const PRELUDE = `{ const log = console.log.bind(console);
  console.log = (...a) => { log(...a); postMessage({ out: a.map(String).join(' ') }); }; }`;

/** url path -> bundle text */
const bundles = new Map();
async function bundle(file) {
  const out = await esbuild.build({
    entryPoints: [join(DIR, file)],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
    // (a test that imports a node: module does so dynamically, and only where it runs on Node)
    external: ['node:*'],
    // (the suite's environment: the engine, and the differential tests' seeds and steps if set)
    define: { 'process.env': JSON.stringify({ WASMBUS_ENGINE: ENGINE, WASMBUS_SEEDS: process.env.WASMBUS_SEEDS, WASMBUS_STEPS: process.env.WASMBUS_STEPS }) },
    banner: { js: PRELUDE },
    plugins: [browserHost],
  });
  bundles.set(`/t/${file.replace(/\.ts$/, '.js')}`, out.outputFiles[0].text);
}

// ---------- the server: the page, the bundles, the core ----------

const PAGE = `<!doctype html><meta charset="utf-8"><title>wasmbus conformance</title>
<script type="module">
/** one test file in a module Worker: its output lines, and how it ended */
window.runFile = (url, timeoutMs) => new Promise((resolve) => {
  const lines = [];
  const w = new Worker(url, { type: 'module' });
  let over = false;
  const end = (how) => { if (over) return; over = true; clearTimeout(timer); w.terminate(); resolve({ lines, how }); };
  const timer = setTimeout(() => end('timed out after ' + timeoutMs + ' ms'), timeoutMs);
  w.onmessage = (ev) => {
    if (typeof ev.data?.out !== 'string') return;
    lines.push(ev.data.out);
    // uvu's summary ends with its Duration line
    if (/^\\s*Duration:/m.test(ev.data.out)) end('done');
  };
  w.onerror = (ev) => { lines.push('worker error: ' + ev.message); ev.preventDefault(); end('error'); };
});
window.isolated = crossOriginIsolated;
</script>`;
const HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
function startServer() {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const send = (status, type, body) => { res.writeHead(status, { ...HEADERS, 'Content-Type': type }); res.end(body); };
    if (path === '/') return send(200, 'text/html; charset=utf-8', PAGE);
    if (bundles.has(path)) return send(200, 'text/javascript; charset=utf-8', bundles.get(path));
    if (path === '/build/core.wasm' || path === '/build/core.hooks.wasm') {
      try { return send(200, 'application/wasm', await readFile(join(ROOT, path))); } catch { return send(404, 'text/plain', 'not built'); }
    }
    send(404, 'text/plain', 'not found');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---------- the runs ----------

const s = suite(`conformance in chromium (${ENGINE})`);
const onChromium = (name, fn) => (HAS_CHROMIUM ? s(name, fn) : s.skip(name));
sayWhySkipped();

let server = null, context = null, page = null, profile = null, ran = 0;
async function getPage() {
  if (page) return page;
  server = await startServer();
  ({ context, profile } = await launch('wasmbus-conformance-'));
  context.setDefaultTimeout(FILE_TIMEOUT_MS + 10000);
  page = context.pages()[0] ?? await context.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  assert.ok(await page.evaluate(() => window.isolated), 'the page is cross-origin isolated (SharedArrayBuffer)');
  return page;
}

s.after(() => closeAll({ context, server, profile }));

/** uvu's count after `label:` in a file's output (its last summary), or null */
const count = (text, label) => {
  const all = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, 'gm'))];
  return all.length ? Number(all[all.length - 1][1]) : null;
};

for (const file of FILES) {
  onChromium(`chromium worker: tests/conformance/${file} (${ENGINE})`, async () => {
    if (!bundles.has(`/t/${file.replace(/\.ts$/, '.js')}`)) await bundle(file);
    const p = await getPage();
    const { lines, how } = await p.evaluate(([url, ms]) => window.runFile(url, ms), [`/t/${file.replace(/\.ts$/, '.js')}`, FILE_TIMEOUT_MS]);
    const text = lines.join('\n').replace(/\x1b\[[0-9;]*m/g, '');
    const total = count(text, 'Total'), passed = count(text, 'Passed'), skipped = count(text, 'Skipped') ?? 0;
    const ok = how === 'done' && total !== null && passed === total && total + skipped > 0;
    if (!ok || process.env.WASMBUS_CONFORMANCE_VERBOSE) console.log(lines.map((l) => `  [chromium ${file}] ${l}`).join('\n'));
    assert.is(how, 'done', `${file}: the worker ended with ${how}`);
    assert.ok(total !== null, `${file}: no uvu summary`);
    // (the failing tests' titles and messages in the assertion's own message too: CI's record
    // keeps only the tail of the run, which lost them once, stop 48)
    const fails = [...text.matchAll(/FAIL\s+(.*)\n\s*(.*)/g)].map((f) => `${f[1].trim()}: ${f[2].trim()}`).join(' | ');
    assert.is(passed, total, `${file}: ${total - passed} of ${total} failed (output above): ${fails}`);
    ran += total + skipped;
  });
}

if (!ONLY) onChromium(`chromium: the files ran the conformance suite's minimum of tests (${ENGINE})`, () => {
  const min = MIN_TESTS['tests/conformance'];
  assert.ok(ran >= min, `${ran} tests ran in Chromium, fewer than the suite's minimum of ${min} (tests/min-tests.mjs)`);
});

s.run();
