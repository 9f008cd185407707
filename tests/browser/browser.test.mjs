// The browser demo (demo/browser/) in headless Chromium, driven by playwright-core, served by
// demo/serve.mjs on a free port. Plain node (no tsx): it needs build/core.wasm and dist/
// (npm run build). For each pairing of engines (page / worker) it loads the page, waits for
// window.__result and checks that messages went both ways between the page's connections and
// between the page and a module Worker, with the right bytes, ids and metadata; that the page
// is cross-origin isolated; and that nothing failed: no page error, no console error, no HTTP
// error. The server's own checks (headers, MIME types, no traversal) need no browser.
//
// Chromium is Debian's (/usr/bin/chromium, `apt-get install -y chromium`; .ci/run installs it
// when it can), or the executable named by WASMBUS_CHROMIUM. Without it the browser tests are
// skipped, with the reason printed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../demo/serve.mjs';

const CHROMIUM = process.env.WASMBUS_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'];
const RESULT_TIMEOUT_MS = 30000;

const s = suite('browser demo');

// Started on first use (not in a before hook: uvu 0.5 swallows a before hook's error).
let server = null, context = null, profile = null;
async function getServer() {
  server ??= await startServer({ port: 0 });
  return server;
}
async function getContext() {
  if (context) return context;
  const { chromium } = await import('playwright-core');
  profile = await mkdtemp(join(tmpdir(), 'wasmbus-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000, viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(RESULT_TIMEOUT_MS);
  return context;
}

s.after(async () => {
  const step = async (what, fn) => {
    try { await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error('timed out')), 15000).unref())]); }
    catch (e) { console.error(`after: ${what}: ${e}`); }
  };
  if (context) await step('close chromium', () => context.close());
  if (server) await step('close the server', () => server.close());
  if (profile) await step('remove the profile', () => rm(profile, { recursive: true, force: true }));
});

/** A raw GET (or other method) with the path sent as is (fetch would normalize `..`). */
function raw(port, path, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

// ---------- the server (no browser needed) ----------

s('server: COOP/COEP and MIME types', async () => {
  const { port } = await getServer();
  for (const [path, type] of [
    ['/demo/browser/', 'text/html; charset=utf-8'],
    ['/demo/browser/index.html', 'text/html; charset=utf-8'],
    ['/demo/browser/main.js', 'text/javascript; charset=utf-8'],
    ['/demo/serve.mjs', 'text/javascript; charset=utf-8'],
    ['/dist/js/index.js', 'text/javascript; charset=utf-8'],
    ['/build/core.wasm', 'application/wasm'],
  ]) {
    const r = await raw(port, path);
    assert.is(r.status, 200, `${path}: status`);
    assert.is(r.headers['content-type'], type, `${path}: Content-Type`);
    assert.is(r.headers['cross-origin-opener-policy'], 'same-origin', `${path}: COOP`);
    assert.is(r.headers['cross-origin-embedder-policy'], 'require-corp', `${path}: COEP`);
  }
  const wasm = await raw(port, '/build/core.wasm');
  assert.is(wasm.body.slice(0, 4), '\0asm', 'the core is served byte for byte');
  assert.is(Number(wasm.headers['content-length']), wasm.body.length);
  const head = await raw(port, '/build/core.wasm', 'HEAD');
  assert.is(head.status, 200);
  assert.is(head.body, '');
});

s('server: redirects, methods, nothing outside demo/ dist/ build/ js/', async () => {
  const { port } = await getServer();
  const root = await raw(port, '/?engine=twin');
  assert.is(root.status, 302);
  assert.is(root.headers.location, '/demo/browser/?engine=twin');
  const dir = await raw(port, '/demo/browser');
  assert.is(dir.status, 301);
  assert.is(dir.headers.location, '/demo/browser/');
  const slashes = await raw(port, '/demo//browser');
  assert.is(slashes.status, 301);
  assert.is(slashes.headers.location, '/demo/browser/', 'never a protocol-relative //host redirect');
  assert.is((await raw(port, '/demo/browser/', 'POST')).status, 405);
  for (const path of [
    '/package.json', '/.git/config', '/node_modules/uvu/package.json', '/tests/run.mjs', '/demo/',
    '/../package.json', '/demo/../package.json', '/demo/browser/../../package.json', '/dist/../../../etc/passwd',
    '/%2e%2e/package.json', '/demo/%2E%2E/package.json', '/demo/..%2fpackage.json', '/demo/..%5cpackage.json',
    '/demo%2f..%2fpackage.json', '/demo/browser/%00index.html', '/demo/%zz', '/dist/js/nothing-here.js',
  ]) {
    const r = await raw(port, path);
    assert.ok(r.status === 404 || r.status === 400, `${path}: status ${r.status}`);
    assert.not.match(r.body, /"name"|root:|\[core\]/, `${path}: leaked a file`);
  }
});

// ---------- the page in Chromium ----------

// WASMBUS_ENGINE (as in tests/run.mjs): wasm | twin (that engine on both threads) | both (default:
// the four pairings)
const ENGINE = process.env.WASMBUS_ENGINE || 'both';
const PAIRS = { both: [['wasm', 'wasm'], ['twin', 'twin'], ['wasm', 'twin'], ['twin', 'wasm']], wasm: [['wasm', 'wasm']], twin: [['twin', 'twin']] }[ENGINE];
if (!PAIRS) throw new Error(`WASMBUS_ENGINE must be wasm, twin or both, not ${JSON.stringify(ENGINE)}`);
const enc = (text) => [...new TextEncoder().encode(text)];
const ids = (n) => ({ uid: n, euid: n, suid: n, fsuid: n, gid: n, egid: n, sgid: n, fsgid: n });

/** Load the demo page, wait for window.__result; returns it with what went wrong on the way. */
async function load(query) {
  const { url } = await getServer();
  const ctx = await getContext();
  const page = await ctx.newPage();
  const problems = [];
  const fetched = [];
  let crash;
  const crashed = new Promise((_, reject) => { crash = reject; });
  crashed.catch(() => {}); // it may reject after the race below is over
  page.on('pageerror', (e) => { problems.push(`pageerror: ${e.message}`); crash(new Error(`uncaught error in the page: ${e.message}`)); });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    fetched.push({ path: new URL(r.url()).pathname, status: r.status(), type: r.headers()['content-type'] });
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  try {
    await page.goto(url + query, { timeout: RESULT_TIMEOUT_MS, waitUntil: 'load' });
    try {
      // an uncaught error ends the wait at once (the test fails either way)
      await Promise.race([page.waitForFunction(() => window.__result !== undefined, null, { timeout: RESULT_TIMEOUT_MS, polling: 50 }), crashed]);
    } catch (e) {
      const logText = await page.evaluate(() => document.getElementById('log')?.textContent ?? '').catch(() => '');
      throw new Error(`no window.__result (${e.message.split('\n')[0]})\n` +
        `page log:\n${logText}\nproblems: ${JSON.stringify(problems)}`);
    }
    const result = await page.evaluate(() => window.__result);
    const isolated = await page.evaluate(() => self.crossOriginIsolated);
    const status = await page.evaluate(() => document.getElementById('status').textContent);
    const rows = await page.evaluate(() => document.querySelectorAll('#messages tr').length);
    return { result, isolated, status, rows, problems, fetched };
  } finally {
    await page.close().catch(() => {});
  }
}

function checkMessage(d, want, what) {
  assert.is(d.src, want.src, `${what}: src`);
  assert.is(d.dst, want.dst, `${what}: dst`);
  assert.equal(d.bytes, want.bytes, `${what}: payload bytes`);
  assert.is(d.how, want.how, `${what}: received with`);
  assert.is(d.thread, want.thread, `${what}: receiving thread`);
  assert.is(d.inPlace, true, `${what}: read in place (a view of the bus memory)`);
  if (want.json !== undefined) assert.equal(d.json, want.json, `${what}: JSON`);
  if (want.creds === null) {
    assert.is(d.timestamp, null, `${what}: no TIMESTAMP (the receiver did not ask)`);
    assert.is(d.creds, null, `${what}: no CREDS (the receiver did not ask)`);
    return;
  }
  assert.equal(d.creds, want.creds, `${what}: CREDS are the sender's`);
  assert.ok(d.timestamp, `${what}: TIMESTAMP attached`);
  assert.ok(d.itemTypes.includes(0x1000) && d.itemTypes.includes(0x1001), `${what}: item types ${d.itemTypes}`);
  const mono = BigInt(d.timestamp.monotonicNs), real = BigInt(d.timestamp.realtimeNs);
  assert.ok(mono > 0n, `${what}: monotonic clock`);
  assert.ok(real > 1767225600n * 1000000000n && real < 1767225601n * 1000000000n, `${what}: the mocked realtime clock (2026-01-01)`);
  assert.match(d.timestamp.realtime, /^2026-01-01T00:00:00\.\d{9}Z$/, `${what}: realtime as ISO`);
}

if (!existsSync(CHROMIUM)) {
  console.log(`browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set WASMBUS_CHROMIUM)`);
  for (const [e, w] of PAIRS) s.skip(`chromium: page on ${e}, worker on ${w}`);
} else {
  for (const [e, w] of PAIRS) {
    s(`chromium: page on ${e}, worker on ${w}`, async () => {
      const t0 = performance.now();
      const { result: r, isolated, status, rows, problems, fetched } = await load(`?engine=${e}${w === e ? '' : `&worker=${w}`}`);
      assert.is(r.error, null, `the page failed: ${r.error}`);
      assert.is(r.ok, true);
      assert.equal(problems, [], 'no page error, console error or failed request');
      assert.is(isolated, true, 'crossOriginIsolated');
      assert.is(r.crossOriginIsolated, true);
      assert.is(r.engine, e);
      assert.is(r.workerEngine, w);
      assert.is(r.worker.engine, w, 'the worker joined on the engine asked for');
      assert.match(status, /^OK: 8 messages/);
      assert.is(rows, 8, 'every message is shown');
      const core = fetched.find((f) => f.path === '/build/core.wasm');
      assert.ok(core, 'loadCore() fetched /build/core.wasm (from dist/js/host/load.js)');
      assert.is(core.status, 200);
      assert.is(core.type, 'application/wasm');

      const { alice, bob, main, worker } = r.ids;
      assert.equal([alice, bob, main, worker].sort(), [...new Set([alice, bob, main, worker])].sort(), 'four distinct ids');
      assert.match(r.busId, /^[0-9a-f]{32}$/);

      // the page's two connections
      assert.is(r.local.length, 3);
      checkMessage(r.local[0], { src: alice, dst: bob, bytes: enc('hello, bob'), how: 'recvAsync', thread: 'page', creds: ids(1000) }, 'alice → bob text');
      assert.is(r.local[0].text, 'hello, bob');
      const question = { question: 'how many copies?', n: 42 };
      checkMessage(r.local[1], { src: alice, dst: bob, bytes: enc(JSON.stringify(question)), json: question, how: 'recvAsync', thread: 'page', creds: ids(1000) }, 'alice → bob JSON');
      checkMessage(r.local[2], { src: bob, dst: alice, bytes: [0xde, 0xad, 0xbe, 0xef], how: 'recvAsync', thread: 'page', creds: null }, 'bob → alice bytes');

      // page → worker, as the worker received them (the first in a blocking recvWait)
      assert.is(r.toWorker.length, 2);
      checkMessage(r.toWorker[0], { src: main, dst: worker, bytes: enc('ping from the main thread'), how: 'recvWait', thread: 'worker', creds: ids(1000) }, 'main → worker text');
      const sixteen = Array.from({ length: 16 }, (_, i) => i * 17);
      checkMessage(r.toWorker[1], { src: main, dst: worker, bytes: sixteen, how: 'recvAsync', thread: 'worker', creds: ids(1000) }, 'main → worker bytes');

      // worker → page, with the worker's credentials
      assert.is(r.fromWorker.length, 3);
      checkMessage(r.fromWorker[0], { src: worker, dst: main, bytes: enc('pong: ping from the main thread'), how: 'recvAsync', thread: 'page', creds: ids(2000) }, 'worker → main text');
      checkMessage(r.fromWorker[1], { src: worker, dst: main, bytes: sixteen.slice().reverse(), how: 'recvAsync', thread: 'page', creds: ids(2000) }, 'worker → main bytes');
      const report = { from: 'worker', engine: w, received: 2 };
      checkMessage(r.fromWorker[2], { src: worker, dst: main, bytes: enc(JSON.stringify(report)), json: report, how: 'recvAsync', thread: 'page', creds: ids(2000) }, 'worker → main JSON');

      // one sequence for the whole bus, both threads: 1 and 2 for alice's messages, 3 for bob's
      // (it carries no TIMESTAMP), then increasing. Not necessarily without gaps: SEND takes its
      // number before it locks the receiver, so a send that finds the lock taken (WOULDBLOCK,
      // here when the other thread is in recv on that connection) and is run again takes another.
      const seqs = [r.local[0], r.local[1], ...r.toWorker, ...r.fromWorker].map((d) => d.timestamp.seqnum);
      assert.equal(seqs.slice(0, 2), [1, 2], 'the first sequence numbers');
      assert.ok(seqs[2] > 3 && seqs.every((n, i) => i === 0 || n > seqs[i - 1]), `sequence numbers increase: ${seqs}`);

      assert.is(r.pageRecvWait, 'EOPNOTSUPP', 'recvWait refuses to block the page');
      assert.is(r.workerLeft, true, 'the worker left the bus by itself (bus.close() in the worker)');
      console.log(`  [${e}/${w}] page done in ${r.ms} ms, test in ${Math.round(performance.now() - t0)} ms; seqnums ${seqs.join(' ')}`);
    });
  }
}

s.run();
