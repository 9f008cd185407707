// The browser demo (demo/browser/) in headless Chromium, driven by playwright-core, served by
// demo/serve.mjs on a free port. Plain node (no tsx): it needs build/core.wasm and dist/
// (npm run build). For each pairing of engines (page / workers) it loads the page with three
// module Workers, waits for window.__result and checks: the workers live at once on their own
// thread slots and connections, with different mocked credentials; every message (page <->
// worker, worker <-> worker) read in place, with a TIMESTAMP, the sender's CREDS and its own
// sequence number; the page never blocks (recvWait: EOPNOTSUPP). Then it clicks the button that
// terminates worker-2 and checks the recovery (its thread slot freed by recoverThread, its
// connection closed: ENXIO; the survivors still heard), then "add a worker", which must join
// into the freed thread slot and be heard. A page's conn.listen under a flood from a worker
// (below): every message, in order, the page's timers still running. Also: the page is cross-origin isolated, and nothing
// failed (no page error, no console error, no HTTP error). Every wait is bounded; closing the
// page ends its workers. The server's own checks (headers, MIME types, no traversal) need no
// browser.
//
// Which Chromium, its flags, its profile and the after-hook's cleanup are ./chromium.mjs's
// (shared with conformance.test.mjs); without Chromium the browser tests are skipped, with the
// reason printed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import { startServer } from '../../demo/serve.mjs';
import { HAS_CHROMIUM, closeAll, launch, sayWhySkipped } from './chromium.mjs';

const RESULT_TIMEOUT_MS = 30000;

const s = suite('browser demo');
/** a test that needs Chromium (skipped where it is not installed: the log above the first says so) */
const onChromium = (name, fn) => (HAS_CHROMIUM ? s(name, fn) : s.skip(name));

// Started on first use (not in a before hook: uvu 0.5 swallows a before hook's error).
let server = null, context = null, profile = null;
async function getServer() {
  server ??= await startServer({ port: 0 });
  return server;
}
async function getContext() {
  if (context) return context;
  ({ context, profile } = await launch('wasmbus-chromium-', { viewport: { width: 1280, height: 900 } }));
  context.setDefaultTimeout(RESULT_TIMEOUT_MS);
  return context;
}

s.after(() => closeAll({ context, server, profile }));

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
const ids = (uid, gid) => ({ uid, euid: uid, suid: uid, fsuid: uid, gid, egid: gid, sgid: gid, fsgid: gid });
const WAIT_MS = 15000;

/**
 * Open the demo page, wait for window.__result, run `fn({ page, r, until, problems, fetched })`,
 * and close the page (which ends its workers) whatever happens. `until(what, pred)` waits, at
 * most WAIT_MS, for `pred()` to hold in the page and returns window.__result then.
 */
async function withPage(query, fn) {
  const { url } = await getServer();
  const ctx = await getContext();
  const page = await ctx.newPage();
  const problems = [];
  const fetched = [];
  let crash;
  const crashed = new Promise((_, reject) => { crash = reject; });
  crashed.catch(() => {}); // it may reject after the races below are over
  page.on('pageerror', (e) => { problems.push(`pageerror: ${e.message}`); crash(new Error(`uncaught error in the page: ${e.message}`)); });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    fetched.push({ path: new URL(r.url()).pathname, status: r.status(), type: r.headers()['content-type'] });
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  const until = async (what, pred) => {
    try {
      // an uncaught error in the page, or the page's own failure, ends the wait at once
      const failed = () => window.__result?.error != null;
      await Promise.race([
        page.waitForFunction(`(${pred})() || (${failed})()`, null, { timeout: WAIT_MS, polling: 50 }),
        crashed,
      ]);
    } catch (e) {
      const logText = await page.evaluate(() => document.getElementById('log')?.textContent ?? '').catch(() => '');
      throw new Error(`${what}: ${e.message.split('\n')[0]}\npage log:\n${logText}\nproblems: ${JSON.stringify(problems)}`);
    }
    const r = await page.evaluate(() => window.__result);
    assert.is(r.error, null, `${what}: the page failed: ${r.error}`);
    return r;
  };
  try {
    await page.goto(url + query, { timeout: RESULT_TIMEOUT_MS, waitUntil: 'load' });
    const r = await until('window.__result', () => window.__result !== undefined);
    return await fn({ page, r, until, problems, fetched });
  } finally {
    await page.close().catch(() => {});
  }
}

/** Every message: read in place, with a TIMESTAMP, the sender's CREDS, its own seqnum. */
function checkMessages(r, credsOf) {
  assert.ok(r.messages.length > 0, 'messages');
  const seqs = new Set();
  for (const d of r.messages) {
    const what = `${d.receiver} <- :1.${d.src} (${d.kind} ${JSON.stringify(d.json ?? d.text ?? d.bytes)})`;
    assert.is(d.inPlace, true, `${what}: read in place (a view of the receiver's pool in the bus memory)`);
    assert.ok(d.poolOffset >= 0 && d.poolOffset < 65536, `${what}: pool offset ${d.poolOffset}`);
    assert.ok(credsOf.has(d.src), `${what}: a known sender`);
    assert.equal(d.creds, credsOf.get(d.src), `${what}: CREDS are the sender's (mocked)`);
    assert.ok(d.timestamp, `${what}: TIMESTAMP attached`);
    assert.ok(d.itemTypes.includes(0x1000) && d.itemTypes.includes(0x1001), `${what}: item types ${d.itemTypes}`);
    // the demo's MockProviders read the real clocks (realClock: true): REALTIME is the wall clock
    const real = Number(BigInt(d.timestamp.realtimeNs) / 1000000n);
    assert.ok(Math.abs(real - Date.now()) < 10 * 60 * 1000, `${what}: the real realtime clock (${d.timestamp.realtime}, now ${new Date().toISOString()})`);
    assert.match(d.timestamp.realtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/, `${what}: realtime as ISO`);
    assert.ok(!seqs.has(d.timestamp.seqnum), `${what}: sequence number ${d.timestamp.seqnum} seen twice`);
    seqs.add(d.timestamp.seqnum);
    assert.is(d.how, d.receiver === 'page' ? 'recvAsync' : 'recvWait', `${what}: received with`);
  }
}

if (!HAS_CHROMIUM) {
  sayWhySkipped();
  for (const [e, w] of PAIRS) s.skip(`chromium: page on ${e}, workers on ${w}`);
} else {
  for (const [e, w] of PAIRS) {
    s(`chromium: page on ${e}, 3 workers on ${w}; terminate one, recover it, add one`, async () => {
      const t0 = performance.now();
      await withPage(`?engine=${e}${w === e ? '' : `&worker=${w}`}&interval=100`, async ({ page, r, until, problems, fetched }) => {
        assert.is(r.ok, true);
        assert.equal(problems, [], 'no page error, console error or failed request');
        assert.is(await page.evaluate(() => self.crossOriginIsolated), true, 'crossOriginIsolated');
        assert.is(r.crossOriginIsolated, true);
        assert.is(r.engine, e);
        assert.is(r.workerEngine, w);
        assert.match(r.busId, /^[0-9a-f]{32}$/);
        assert.is(r.pageRecvWait, 'EOPNOTSUPP', 'recvWait refuses to block the page');
        const core = fetched.find((f) => f.path === '/build/core.wasm');
        assert.ok(core, 'loadCore() fetched /build/core.wasm (from dist/js/host/load.js)');
        assert.is(core.status, 200);
        assert.is(core.type, 'application/wasm');

        // three workers live at once: their own thread slots, connections and mocked identities
        assert.equal(r.workers.map((x) => x.name), ['worker-1', 'worker-2', 'worker-3']);
        assert.ok(r.workers.every((x) => x.state === 'live' && x.engine === w), 'live, on the engine asked for');
        const wids = r.workers.map((x) => x.id);
        assert.is(new Set([r.page.id, ...wids]).size, 4, 'four distinct connection ids');
        assert.equal(r.workers.map((x) => x.threadSlot).sort(), [1, 2, 3], 'thread slots 1..3 (the page has 0)');
        r.workers.forEach((x, i) => assert.equal(x.creds, ids(2001 + i, 3001 + i), `${x.name}: its mocked identity`));
        assert.equal(r.page.creds, ids(1000, 1000));
        const credsOf = new Map([[r.page.id, r.page.creds], ...r.workers.map((x) => [x.id, x.creds])]);
        checkMessages(r, credsOf);
        // the page heard every worker; every worker heard the page and a peer (16 bytes)
        r.workers.forEach((x, i) => assert.is(x.busName, `org.example.Worker${i + 1}`, `${x.name}: found by its name`));
        for (const x of r.workers) {
          assert.ok(r.messages.some((d) => d.receiver === 'page' && d.src === x.id && d.kind === 'dbus' && d.json.type === 'signal' && d.json.member === 'Relayed'), `the page heard ${x.name}'s Relayed signal`);
          assert.ok(r.messages.some((d) => d.receiver === x.name && d.src === r.page.id && d.kind === 'dbus' && d.json.type === 'method_call' && d.json.member === 'Tick'), `${x.name} got the page's Tick call`);
          assert.ok(r.messages.some((d) => d.receiver === x.name && wids.includes(d.src) && d.src !== x.id && d.kind === 'bytes' && d.size === 16), `${x.name} heard a peer`);
        }
        assert.ok(r.replies > 0, 'the page got Tick replies');
        assert.match(r.lastReply, /^tock \d+ from worker-\d$/);
        assert.ok(r.relayed > 0, "the page's onSignal handler ran");
        const uidsOnPage = new Set(r.messages.filter((d) => d.receiver === 'page').map((d) => d.creds.uid));
        assert.ok([2001, 2002, 2003].every((u) => uidsOnPage.has(u)), `the page saw three senders' uids: ${[...uidsOnPage]}`);
        assert.is(await page.locator('#conns tr').count(), 4, 'a row per connection');
        assert.is(await page.locator('button[data-terminate]').count(), 3, 'a terminate button per worker');
        assert.ok(await page.locator('#messages tr').count() > 0, 'messages shown');

        // terminate worker-2: the page recovers its thread slot, which closes its connection
        const w2 = r.workers[1];
        await page.click('button[data-terminate="worker-2"]');
        const r2 = await until('the recovery, then both survivors heard', () => {
          const rec = window.__result.recoveries[0];
          // its name's NAME_REMOVE, unless the bus dropped it for the page (best effort, under lock contention)
          return rec?.done && rec.heardAfter['worker-1'] > 0 && rec.heardAfter['worker-3'] > 0 && (rec.nameRemove !== null || window.__result.dropped > 0);
        });
        const rec = r2.recoveries[0];
        assert.is(rec.name, 'worker-2');
        assert.is(rec.threadSlot, w2.threadSlot, 'recoverThread(token) found and freed its thread slot');
        assert.is(rec.connClosed, true, 'its connection slot was closed (generation bumped)');
        assert.is(rec.sendAfter, 'ENXIO', 'a send to its id: ENXIO');
        if (rec.nameRemove !== null) assert.is(rec.nameRemove, 'org.example.Worker2', 'the page saw NAME_REMOVE of its name');
        else console.log(`  [${e}/${w}] the NAME_REMOVE was dropped for the page (lock contention; dropped ${r2.dropped})`);
        assert.ok(r2.nameRemoves.every((x) => x.name === 'org.example.Worker2' && x.oldOwner === w2.id), JSON.stringify(r2.nameRemoves));
        assert.is(rec.liveConnsAfter, rec.liveConnsBefore - 1, 'one connection fewer on the bus');
        assert.is(r2.workers[1].state, 'recovered');
        const gone = page.locator('#conns tr.gone');
        assert.is(await gone.count(), 1, 'its row shows it gone');
        assert.match(await gone.textContent(), /worker-2.*gone \(recovered\)/);
        assert.is(await page.locator('button[data-terminate="worker-2"]').count(), 0);
        for (const f of r2.sendFailures) {
          assert.ok(f.code === 'ESRCH' || f.code === 'ENXIO', `${f.from}: ${f.what}: ${f.code}`);
          assert.is(f.dst, w2.busName, `${f.from}: only sends to the dead worker's name fail`);
        }

        // the bus stays usable: a new worker joins into the freed thread slot and is heard
        assert.is(await page.locator('#spawn').isDisabled(), false, 'a thread slot is free again');
        await page.click('#spawn');
        const r3 = await until('worker-4 heard', () => {
          const w4 = window.__result.workers[3];
          return w4?.state === 'live' && window.__result.messages.some((d) => d.receiver === 'page' && d.src === w4.id);
        });
        const w4 = r3.workers[3];
        assert.is(w4.name, 'worker-4');
        assert.is(w4.threadSlot, w2.threadSlot, 'the recovered thread slot is taken again');
        assert.ok(w4.id > Math.max(...wids), 'a new connection id (ids are never reused)');
        credsOf.set(w4.id, ids(2004, 3004));
        checkMessages(r3, credsOf);
        assert.equal(problems, [], 'no page error, console error or failed request');
        console.log(`  [${e}/${w}] ready in ${r.readyMs} ms, recoverThread ${rec.ms} ms, ${r3.total} messages, ` +
          `test ${Math.round(performance.now() - t0)} ms`);
      });
    });
  }
}

// ---------- dead workers: the Web Locks death signal (bus.watchLock) ----------
// A module worker (a blob: script importing /dist/js/index.js) joins a bus of its own made in
// the demo page; Bus.join holds its liveness lock (a web Worker: by default, until it ends).
// The page never calls recoverThread itself: bus.watchLock(handle), started before the worker
// joins, recovers it once the lock is granted. Figures are printed, never asserted.
const WORKER_SRC = (origin) => `const hp = new Promise((r) => { self.onmessage = (e) => r(e.data); });
const { Bus, MockProvider } = await import('${origin}/dist/js/index.js');
const { handle, engine, liveness } = await hp;
const bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: 3 }), liveness });
const c = bus.connect({ description: 'deathlock' });
const name = bus.livenessLockName(handle.token);
const cmd = new Promise((r) => { self.onmessage = (e) => r(e.data); });
self.postMessage({ id: c.id, slot: bus.engine.threadSlot, held: (await navigator.locks.query()).held.some((l) => l.name === name) });
const m = await cmd;
if (m === 'throw') throw new Error('deathlock: a top-level throw, on purpose');
if (m === 'close') self.close();
`;

/** In the page: a bus, a watched worker; `act` ends it ('terminate' | 'close' | 'throw'). */
async function deathInPage(page, engine, act) {
  return page.evaluate(async ({ engine, act, src }) => {
    const { Bus, MockProvider } = await import('/dist/js/index.js');
    const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { threads: 4, connections: 8, poolMax: 65536, names: 16, matches: 16, replies: 16 } });
    const main = bus.connect();
    const h = bus.handle();
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    const errors = [];
    w.onerror = (e) => { errors.push(e.message); e.preventDefault(); };
    const ac = new AbortController();
    const watched = bus.watchLock(h, { signal: ac.signal });
    const bounded = (p, ms, what) => Promise.race([p, new Promise((_, j) => setTimeout(() => j(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);
    const sendCode = (dst) => { try { main.send(dst, null); return 'sent'; } catch (e) { return e.code; } };
    const out = { errors };
    try {
      w.postMessage({ handle: h, engine });
      out.ready = await bounded(new Promise((r) => { w.onmessage = (e) => r(e.data); }), 15000, 'the worker to join');
      out.liveBefore = bus.engine.liveConns();
      const t0 = performance.now();
      if (act === 'terminate') w.terminate(); else w.postMessage(act);
      if (act === 'throw') {
        // an uncaught error does not end a browser worker: it is alive, its lock held
        await bounded(new Promise((r) => { const t = setInterval(() => { if (errors.length) { clearInterval(t); r(); } }, 10); }), 15000, 'the error event');
        out.heldAfterThrow = (await navigator.locks.query()).held.some((l) => l.name === bus.livenessLockName(h.token));
        out.sendAfterThrow = sendCode(out.ready.id);
        out.slotAfterThrow = bus.check({ locksFree: false }).length;
        w.terminate();
      }
      out.result = await bounded(watched, 15000, 'watchLock() after the death');
      out.noticedMs = performance.now() - t0;
      out.sendAfter = sendCode(out.ready.id);
      out.liveAfter = bus.engine.liveConns();
      out.again = bus.recoverThread(h.token);
      out.check = bus.check();
      // the freed thread slot is taken again
      const h2 = bus.handle();
      const w2 = new Worker(url, { type: 'module' });
      w2.postMessage({ handle: h2, engine });
      out.next = await bounded(new Promise((r) => { w2.onmessage = (e) => r(e.data); }), 15000, 'the next worker to join');
      w2.terminate();
      out.nextResult = await bounded(bus.watchLock(h2), 15000, 'watchLock() of the next worker');
    } finally {
      ac.abort();
      w.terminate();
      URL.revokeObjectURL(url);
    }
    return out;
  }, { engine, act, src: WORKER_SRC(new URL(page.url()).origin) });
}

/** In the page: a worker that joins with liveness: false, watched before and after its join. */
async function noLockInPage(page, engine) {
  return page.evaluate(async ({ engine, src }) => {
    const { Bus, MockProvider } = await import('/dist/js/index.js');
    const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { threads: 4, connections: 8, poolMax: 65536, names: 16, matches: 16, replies: 16 } });
    const main = bus.connect();
    const h = bus.handle();
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    const ac = new AbortController();
    const bounded = (p, ms, what) => Promise.race([p, new Promise((_, j) => setTimeout(() => j(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);
    const shown = (r) => ({ slot: r.slot, aborted: r.aborted, code: r.error?.code, message: r.error?.message });
    const out = {};
    try {
      const early = bus.watchLock(h, { signal: ac.signal });
      w.postMessage({ handle: h, engine, liveness: false });
      out.ready = await bounded(new Promise((r) => { w.onmessage = (e) => r(e.data); }), 15000, 'the worker to join');
      out.early = shown(await bounded(early, 15000, 'the watch started before the join'));
      out.late = shown(await bounded(bus.watchLock(h, { signal: ac.signal }), 15000, 'the watch started after it'));
      out.live = bus.engine.liveConns();
      try { main.send(out.ready.id, null); out.send = 'sent'; } catch (e) { out.send = e.code; }
      w.terminate();
      out.recovered = await bounded(bus.recoverThreadAsync(h.token), 15000, 'recoverThreadAsync after terminate()');
      out.check = bus.check();
    } finally {
      ac.abort();
      w.terminate();
      URL.revokeObjectURL(url);
    }
    return out;
  }, { engine, src: WORKER_SRC(new URL(page.url()).origin) });
}

// A module worker that joins (its lock held until it ends), leaves cleanly, and joins again
// with the same handle when told ('rejoin'): posts { slot, held } after each join, { left }.
const REJOIN_SRC = (origin) => `const next = () => new Promise((r) => { self.onmessage = (e) => r(e.data); });
const first = next(); // (set before the import: the handle may come while it loads)
const { Bus, MockProvider } = await import('${origin}/dist/js/index.js');
const { handle, engine } = await first;
let bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: 4 }) });
let c = bus.connect({ description: 'rejoin' });
const name = bus.livenessLockName(handle.token);
const held = async () => (await navigator.locks.query()).held.some((l) => l.name === name);
self.postMessage({ slot: bus.engine.threadSlot, held: await held() });
for (;;) {
  const m = await next();
  if (m === 'leave') { c.close(); bus.close(); self.postMessage({ left: true, held: await held() }); }
  if (m === 'rejoin') {
    try {
      bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: 4 }) });
      c = bus.connect({ description: 'rejoin' });
      self.postMessage({ slot: bus.engine.threadSlot, held: await held() });
    } catch (e) { self.postMessage({ error: e.code, message: e.message }); }
  }
}
`;

/** In the page: a worker joins, leaves, is watched, joins again, is watched again and terminated. */
async function rejoinInPage(page, engine) {
  return page.evaluate(async ({ engine, src }) => {
    const { Bus, MockProvider } = await import('/dist/js/index.js');
    const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { threads: 4, connections: 8, poolMax: 65536, names: 16, matches: 16, replies: 16 } });
    const h = bus.handle();
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    const ac = new AbortController();
    const bounded = (p, ms, what) => Promise.race([p, new Promise((_, j) => setTimeout(() => j(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);
    const reply = () => bounded(new Promise((r) => { w.onmessage = (e) => r(e.data); }), 15000, 'the worker');
    const shown = (r) => ({ slot: r.slot, code: r.error?.code });
    const out = {};
    try {
      w.postMessage({ handle: h, engine });
      out.first = await reply();
      w.postMessage('leave');
      out.left = await reply();
      out.afterLeave = shown(await bounded(bus.watchLock(h, { signal: ac.signal }), 15000, 'the watch after the leave'));
      w.postMessage('rejoin');
      out.again = await reply();
      out.liveness = bus.stats().threads.list.find((t) => t.token === h.token)?.liveness;
      const watched = bus.watchLock(h, { signal: ac.signal });
      w.terminate();
      out.afterEnd = shown(await bounded(watched, 15000, 'the watch after terminate()'));
      out.check = bus.check();
    } finally {
      ac.abort();
      w.terminate();
      URL.revokeObjectURL(url);
    }
    return out;
  }, { engine, src: REJOIN_SRC(new URL(page.url()).origin) });
}

const DEATH_ENGINE = PAIRS[0][0];
if (!HAS_CHROMIUM) {
  s.skip('chromium: a module worker leaves and rejoins with its handle');
  for (const what of ['terminate()', 'self.close()', 'a top-level throw']) s.skip(`chromium: watchLock after ${what}`);
  s.skip('chromium: watchLock of a live worker without a liveness lock');
} else {
  s(`chromium: a module worker that left (its lock held until it ends) is { slot: -1 } to a watch at once, rejoins with its handle (no EBUSY), and is recovered once terminated (${DEATH_ENGINE})`, async () => {
    // (outside audits, stop 28: the watch waited for the worker's end, and the rejoin failed with EBUSY)
    await withPage(`?engine=${DEATH_ENGINE}&interval=100`, async ({ page, problems }) => {
      const r = await rejoinInPage(page, DEATH_ENGINE);
      assert.is(r.first.held, true);
      assert.equal(r.left, { left: true, held: true }, 'its lock kept after the leave');
      assert.equal(r.afterLeave, { slot: -1, code: undefined }, 'the watch of a thread that left');
      assert.is(r.again.error, undefined, `the rejoin: ${r.again.message}`);
      assert.is(r.again.held, true);
      assert.is(r.liveness, true, 'its liveness word: it holds the lock');
      assert.equal(r.afterEnd, { slot: r.again.slot, code: undefined }, 'recovered once terminated');
      assert.equal(r.check, [], 'the bus is consistent');
      assert.equal(problems, [], 'no page error, console error or failed request');
    });
  });

  s(`chromium: watchLock of a live worker that joined without a liveness lock: EOPNOTSUPP, before or after its join; it lives on (${DEATH_ENGINE})`, async () => {
    // (before stop 28 the grant was immediate and the live worker was recovered: an outside audit, stop 26)
    await withPage(`?engine=${DEATH_ENGINE}&interval=100`, async ({ page, problems }) => {
      const r = await noLockInPage(page, DEATH_ENGINE);
      assert.is(r.ready.held, false, 'joined without a liveness lock');
      for (const what of ['early', 'late']) {
        assert.is(r[what].slot, -1, what);
        assert.is(r[what].aborted, undefined, what);
        assert.is(r[what].code, 'EOPNOTSUPP', what);
        assert.match(r[what].message, /holds no liveness lock/, what);
      }
      assert.is(r.live, 2, 'its connection stayed open');
      assert.is(r.send, 'sent', 'and takes messages');
      assert.is(r.recovered, r.ready.slot, 'recovered by hand once terminated');
      assert.equal(r.check, [], 'the bus is consistent');
      assert.equal(problems, [], 'no page error, console error or failed request');
    });
  });

  for (const [act, what] of [['terminate', 'terminate()'], ['close', 'self.close()'], ['throw', 'a top-level throw']]) {
    s(`chromium: watchLock after ${what}: the worker's lock is granted, its thread recovered (${DEATH_ENGINE})`, async () => {
      await withPage(`?engine=${DEATH_ENGINE}&interval=100`, async ({ page, problems }) => {
        const r = await deathInPage(page, DEATH_ENGINE, act);
        assert.is(r.ready.held, true, 'Bus.join in a module worker holds its liveness lock');
        if (act === 'throw') {
          assert.equal(r.errors.length, 1, 'one error event');
          assert.is(r.heldAfterThrow, true, 'a worker whose top level threw lives on (its lock held): not declared dead');
          assert.is(r.sendAfterThrow, 'sent', 'its connection is still open');
        } else {
          assert.equal(r.errors, []);
        }
        assert.is(r.result.error, undefined, String(r.result.error));
        assert.is(r.result.slot, r.ready.slot, 'its thread slot was recovered');
        assert.is(r.sendAfter, 'ENXIO', 'its connection is gone');
        assert.is(r.liveAfter, r.liveBefore - 1);
        assert.is(r.again, -1, 'only once');
        assert.equal(r.check, [], 'the bus is consistent');
        assert.is(r.next.slot, r.ready.slot, 'the next worker joins into the freed slot');
        assert.is(r.nextResult.slot, r.next.slot);
        assert.equal(problems, [], 'no page error, console error or failed request');
        console.log(`  [${DEATH_ENGINE}] ${what}: watchLock noticed and recovered it ${r.noticedMs.toFixed(1)} ms after ${act === 'throw' ? 'terminate()' : 'the death'}`);
      });
    });
  }
}

// ---------- a page's synchronous command and a dead lock holder ----------
// A module worker dies inside a send to the page's connection (the fault hook, a hooks build),
// holding that connection's lock, and stays alive (its liveness lock held: nothing to recover
// yet). The page's synchronous recv() needs the lock: it spins at most PAGE_LOCK_WAIT_MS
// (50 ms), not LOCK_WAIT_MS (1 s: an outside audit, stop 43, saw a page frozen for the second
// and the recovery held back as long), fails with EDEADLK, and works again once the worker is
// terminated and watchLock has recovered it.
const LOCKDEATH_SRC = (origin) => `const hp = new Promise((r) => { self.onmessage = (e) => r(e.data); });
const { Bus, MockProvider } = await import('${origin}/dist/js/index.js');
const { handle, engine, dst } = await hp;
const bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: 7 }) });
const c = bus.connect({ description: 'lockdeath' });
bus.engine.setFault(1, true);
try { c.send(dst, new Uint8Array(64)); self.postMessage({ error: 'the send did not die' }); }
catch (e) { self.postMessage({ died: true, code: e.code ?? String(e) }); }
`;

async function lockDeathInPage(page, engine) {
  return page.evaluate(async ({ engine, src }) => {
    const { Bus, MockProvider, abi } = await import('/dist/js/index.js');
    const bus = await Bus.create({ engine, hooks: true, provider: new MockProvider(), limits: { threads: 4, connections: 8, poolMax: 65536, names: 16, matches: 16, replies: 16 } });
    const main = bus.connect();
    const h = bus.handle();
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    const ac = new AbortController();
    const watched = bus.watchLock(h, { signal: ac.signal });
    const bounded = (p, ms, what) => Promise.race([p, new Promise((_, j) => setTimeout(() => j(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);
    const out = { page: abi.PAGE_LOCK_WAIT_MS, sync: bus.engine.syncLockWaitMs };
    try {
      w.postMessage({ handle: h, engine, dst: main.id });
      out.died = await bounded(new Promise((r) => { w.onmessage = (e) => r(e.data); }), 15000, 'the worker to die inside its send');
      const t0 = performance.now();
      try { main.recv(); out.recv = 'returned'; } catch (e) { out.recv = e.code ?? String(e); }
      out.recvMs = performance.now() - t0;
      w.terminate();
      out.result = await bounded(watched, 15000, 'watchLock() after terminate()');
      const m = main.recv();
      out.after = m === null ? 'null' : 'a message';
      if (m) m.free();
      out.check = bus.check();
      main.close();
      bus.shutdown();
    } finally {
      ac.abort();
      w.terminate();
      URL.revokeObjectURL(url);
    }
    return out;
  }, { engine, src: LOCKDEATH_SRC(new URL(page.url()).origin) });
}

if (!HAS_CHROMIUM) s.skip('chromium: a page\'s synchronous recv() on a lock held by a dead worker');
else {
  s(`chromium: a page's synchronous recv() on a lock held by a worker that died inside a send: EDEADLK after PAGE_LOCK_WAIT_MS, not a second; recovered afterwards (${DEATH_ENGINE})`, async () => {
    await withPage(`?engine=${DEATH_ENGINE}&interval=100`, async ({ page, problems }) => {
      const r = await lockDeathInPage(page, DEATH_ENGINE);
      assert.equal(r.died, { died: true, code: r.died.code }, JSON.stringify(r.died));
      assert.is(r.sync, r.page, 'a page\'s main thread may not block: its synchronous bound is PAGE_LOCK_WAIT_MS');
      assert.is(r.recv, 'EDEADLK');
      // (the bound in force, not a speed: 50 ms against the 1000 ms of a thread that may block)
      assert.ok(r.recvMs < 500, `the page spun ${r.recvMs.toFixed(1)} ms (the bound is ${r.page} ms)`);
      assert.is(r.result.error, undefined, String(r.result.error));
      assert.ok(r.result.slot >= 0, 'the worker\'s thread recovered');
      assert.is(r.after, 'null', 'the connection works again, its half-made message undone');
      assert.equal(r.check, []);
      assert.equal(problems, [], 'no page error, console error or failed request');
      console.log(`  [${DEATH_ENGINE}] a page's recv() on a dead holder's lock: EDEADLK after ${r.recvMs.toFixed(1)} ms`);
    });
  });
}

// conn.listen on the page under a flood: a module worker sends N numbered 64-byte messages as
// fast as its sends go through (send, and sendAsync when the page's pool or queue is full),
// the page's listener checks each one's number and works HANDLER_MS on it, so that the worker
// keeps the queue full and the listener's turns end on their time budget, each followed by a
// yield to the page's event loop (js/listen.ts, yieldTurn: a MessageChannel message in a
// browser). The listener must get every message in order, let the page's timers run (a 10 ms
// interval keeps ticking), and leave nothing behind. The rate is printed, never asserted.
const HANDLER_MS = 0.003;
const FLOOD_SRC = (origin) => `const hp = new Promise((r) => { self.onmessage = (e) => r(e.data); });
const { Bus, MockProvider } = await import('${origin}/dist/js/index.js');
const { handle, engine, dst, n } = await hp;
const bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: 5 }) });
const c = bus.connect({ description: 'flood' });
const p = new Uint8Array(64), v = new DataView(p.buffer);
let waits = 0;
for (let i = 0; i < n; i++) {
  v.setUint32(0, i, true);
  try { c.send(dst, p); } catch (e) { if (e.code !== 'ENOBUFS' && e.code !== 'EXFULL') throw e; waits++; await c.sendAsync(dst, p, { timeout: 10000 }); }
}
self.postMessage({ waits });
`;

async function floodInPage(page, engine, n) {
  return page.evaluate(async ({ engine, n, src, work }) => {
    const { Bus, MockProvider } = await import('/dist/js/index.js');
    const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { threads: 4, connections: 8 } });
    const main = bus.connect({ description: 'page' });
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    const errors = [];
    w.onerror = (e) => { errors.push(e.message); e.preventDefault(); };
    const bounded = (p, ms, what) => Promise.race([p, new Promise((_, j) => setTimeout(() => j(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);
    const out = { errors, outOfOrder: 0, received: 0 };
    let ticks = 0, first = 0, last = 0;
    const iv = setInterval(() => { if (out.received > 0 && out.received < n) ticks++; }, 10);
    try {
      let next = 0;
      let l;
      const all = new Promise((resolve) => {
        l = main.listen((m) => {
          const i = new DataView(m.payload.buffer, m.payload.byteOffset, 4).getUint32(0, true);
          if (i !== next) out.outOfOrder++;
          const t = performance.now(); while (performance.now() - t < work); // the handler's own work
          next = i + 1;
          if (out.received++ === 0) first = performance.now();
          if (out.received === n) { last = performance.now(); l.stop(); resolve(); }
        });
      });
      const sent = new Promise((r) => { w.onmessage = (e) => r(e.data); });
      w.postMessage({ handle: bus.handle(), engine, dst: main.id, n });
      await bounded(all, 60000, `the listener to get ${n} messages`);
      await bounded(l.done, 5000, 'listener.done');
      out.worker = await bounded(sent, 10000, 'the worker to finish');
      out.ms = last - first;
      out.ticks = ticks;
      out.queued = main.queued;
      out.poolUsed = main.poolUsed;
      out.check = bus.check({ locksFree: false });
    } finally {
      clearInterval(iv);
      w.terminate();
      URL.revokeObjectURL(url);
    }
    return out;
  }, { engine, n, src: FLOOD_SRC(new URL(page.url()).origin), work: HANDLER_MS });
}

onChromium(`chromium: conn.listen on the page under a flood from a worker: every message in order, timers still run (${DEATH_ENGINE})`, async () => {
  await withPage(`?engine=${DEATH_ENGINE}&interval=100`, async ({ page, problems }) => {
    const N = 200000;
    const r = await floodInPage(page, DEATH_ENGINE, N);
    assert.equal(r.errors, []);
    assert.is(r.received, N, 'every message');
    assert.is(r.outOfOrder, 0, 'in order');
    assert.ok(r.ms < 100 || r.ticks > 0, `the page's 10 ms interval ran during the ${r.ms.toFixed(0)} ms flood (ticks: ${r.ticks})`);
    assert.is(r.queued, 0);
    assert.is(r.poolUsed, 0, 'every message freed as its handler returned');
    assert.equal(r.check, [], 'the bus is consistent');
    assert.equal(problems, [], 'no page error, console error or failed request');
    console.log(`  [${DEATH_ENGINE}] a page listener under a flood: ${Math.round(N / r.ms * 1000).toLocaleString('en')} msg/s, its 10 ms interval ticked ${r.ticks} times in ${r.ms.toFixed(0)} ms, the worker waited for room ${r.worker.waits} times`);
  });
});

// A page's sendAsync that meets the receiver's lock taken (held here by the page's own,
// LIVE thread id, as a worker descheduled in the middle of a command would hold it): the page
// may not block, so each try spins on the lock word, at most engine.asyncLockWaitMs
// (SPIN_LOCK_WAIT_MS, 0.5 ms, where a worker that may block waits ASYNC_LOCK_WAIT_MS, 5 ms),
// then lets the page's event loop run until the next try. Before stop 22 a page spun 5 ms
// per try, counting loads instead of reading the clock: an outside audit measured 6-28 ms.
// The sends must all arrive in order once the lock is free; the figures are printed, and
// only a hang guard is asserted on them.
const IDLE_SRC = (origin) => `const hp = new Promise((r) => { self.onmessage = (e) => r(e.data); });
const { Bus, MockProvider, abi: A } = await import('${origin}/dist/js/index.js');
const { handle, engine } = await hp;
const bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: 7 }) });
const e = bus.engine;
self.postMessage(e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_ID) >>> 2]);
`;

async function lockedInPage(page, engine) {
  return page.evaluate(async ({ engine, src }) => {
    const { Bus, MockProvider, abi: A } = await import('/dist/js/index.js');
    const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { threads: 4, connections: 8 } });
    const b = bus.connect(), s = bus.connect();
    const e = bus.engine, word = (e.connAddr(b.slot) + A.CONN_LOCK) >>> 2;
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    const bounded = (p, ms, what) => Promise.race([p, new Promise((_, j) => setTimeout(() => j(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);
    const out = { asyncLockWaitMs: e.asyncLockWaitMs, spinLockWaitMs: A.SPIN_LOCK_WAIT_MS, calls: [], got: [] };
    let gap = 0, lastTick = performance.now(), iv = null, took = false;
    try {
      // a LIVE worker's thread id (it idles in its event loop): the lock looks held by it
      const joined = new Promise((r) => { w.onmessage = (ev) => r(ev.data); });
      w.postMessage({ handle: bus.handle(), engine });
      const holder = await bounded(joined, 15000, 'the worker to join');
      // (the clock starts with the interval: set when the function began, it counted the
      // worker's start and join, 1.0-1.7 s, as the page's longest stall)
      lastTick = performance.now();
      iv = setInterval(() => { const t = performance.now(); gap = Math.max(gap, t - lastTick); lastTick = t; }, 1);
      took = Atomics.compareExchange(e.u32, word, 0, holder) === 0;
      out.took = took;
      const ps = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        ps.push(s.sendAsync(b.id, new TextEncoder().encode(String(i)), { timeout: 10000 }));
        out.calls.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 5));
      }
      Atomics.store(e.u32, word, 0);
      took = false;
      await bounded(Promise.all(ps), 15000, 'the sends');
      out.maxGapMs = gap;
      for (let m; (m = b.recv()) !== null;) { out.got.push(m.text()); m.free(); }
      out.check = bus.check();
    } finally {
      if (iv !== null) clearInterval(iv);
      if (took) Atomics.store(e.u32, word, 0);
      w.terminate();
      URL.revokeObjectURL(url);
    }
    return out;
  }, { engine, src: IDLE_SRC(new URL(page.url()).origin) });
}

onChromium(`chromium: a page's sendAsync against a taken lock spins at most SPIN_LOCK_WAIT_MS per try, and its sends arrive in order (${DEATH_ENGINE})`, async () => {
  await withPage(`?engine=${DEATH_ENGINE}&interval=100`, async ({ page, problems }) => {
    const r = await lockedInPage(page, DEATH_ENGINE);
    assert.ok(r.took, 'the lock was free to take');
    assert.is(r.asyncLockWaitMs, r.spinLockWaitMs, "a page's event-loop waits spin SPIN_LOCK_WAIT_MS per try");
    assert.equal(r.got, Array.from({ length: 20 }, (_, i) => String(i)), 'every send, in call order');
    assert.equal(r.check, [], 'the bus is consistent');
    assert.equal(problems, [], 'no page error, console error or failed request');
    const calls = [...r.calls].sort((a, b) => a - b);
    assert.ok(calls[calls.length - 1] < 1000, `no sendAsync() call held the page for a LOCK_WAIT_MS (${calls[calls.length - 1].toFixed(1)} ms)`);
    console.log(`  [${DEATH_ENGINE}] a page's sendAsync() against a taken lock: the call held the page ${calls[10].toFixed(2)} ms (median), ${calls[calls.length - 1].toFixed(2)} ms at most; the page's 1 ms interval's longest gap ${r.maxGapMs.toFixed(1)} ms`);
  });
});

// A worker that does not return to its event loop (here: a send loop) is stopped by Chromium's
// terminate() only about 2 s later, and until then it keeps using the bus (docs/RUNTIMES.md,
// "Death signals": an outside audit saw 4.26 M messages reach the page in that time). The page
// cuts it off at once with bus.recoverThreadAsync(token), from its event loop: the recovery
// resolves well before the 2 s, the page's event loop never stalls on it, and no message of
// the zombie arrives afterwards.
const ZOMBIE_SRC = (origin) => `const hp = new Promise((r) => { self.onmessage = (e) => r(e.data); });
const { Bus, MockProvider } = await import('${origin}/dist/js/index.js');
const { handle, engine, dst } = await hp;
const bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: 9 }) });
const c = bus.connect({ description: 'zombie' });
self.postMessage('joined');
const p = new Uint8Array(64);
for (;;) { try { c.send(dst, p); } catch (e) { if (e.code !== 'ENOBUFS' && e.code !== 'EXFULL') throw e; } }
`;

async function zombieInPage(page, engine) {
  return page.evaluate(async ({ engine, src }) => {
    const { Bus, MockProvider } = await import('/dist/js/index.js');
    const bus = await Bus.create({ engine, provider: new MockProvider(), limits: { threads: 4, connections: 8 } });
    const main = bus.connect({ description: 'page' });
    const h = bus.handle();
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    const errors = [];
    w.onerror = (e) => { errors.push(e.message); e.preventDefault(); };
    const bounded = (p, ms, what) => Promise.race([p, new Promise((_, j) => setTimeout(() => j(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);
    const drain = () => { let n = 0; for (let m; (m = main.recv()) !== null; n++) m.free(); return n; };
    const out = { errors };
    try {
      const joined = new Promise((r) => { w.onmessage = (e) => r(e.data); });
      w.postMessage({ handle: h, engine, dst: main.id });
      await bounded(joined, 15000, 'the worker to join');
      // its send loop under way
      await bounded(new Promise((r) => { const t = setInterval(() => { if (main.queued > 0) { clearInterval(t); r(); } }, 5); }), 15000, 'its first messages');
      let gap = 0, lastTick = performance.now();
      const iv = setInterval(() => { const t = performance.now(); gap = Math.max(gap, t - lastTick); lastTick = t; }, 1);
      w.terminate();
      const t0 = performance.now();
      out.slot = await bounded(bus.recoverThreadAsync(h.token), 15000, 'recoverThreadAsync');
      out.recoverMs = performance.now() - t0;
      clearInterval(iv);
      out.maxGapMs = gap;
      out.before = drain();
      await new Promise((r) => setTimeout(r, 300)); // the zombie runs on (Chromium: ~2 s)
      out.after = drain();
      out.check = bus.check();
    } finally {
      w.terminate();
      URL.revokeObjectURL(url);
    }
    return out;
  }, { engine, src: ZOMBIE_SRC(new URL(page.url()).origin) });
}

onChromium(`chromium: recoverThreadAsync cuts off a terminated worker still running its send loop, without stalling the page (${DEATH_ENGINE})`, async () => {
  await withPage(`?engine=${DEATH_ENGINE}&interval=100`, async ({ page, problems }) => {
    const r = await zombieInPage(page, DEATH_ENGINE);
    assert.ok(r.slot >= 0, `recovered (slot ${r.slot})`);
    assert.ok(r.recoverMs < 1500, `before Chromium stops the worker (${r.recoverMs.toFixed(0)} ms)`);
    assert.ok(r.maxGapMs < 60, `the page's event loop ran during the recovery (longest gap ${r.maxGapMs.toFixed(1)} ms)`);
    assert.is(r.after, 0, 'nothing of the zombie arrives after its recovery');
    assert.equal(r.check, [], 'the bus is consistent');
    assert.equal(problems, [], 'no page error, console error or failed request');
    console.log(`  [${DEATH_ENGINE}] a terminated worker in a send loop: recovered by recoverThreadAsync in ${r.recoverMs.toFixed(1)} ms (longest page stall ${r.maxGapMs.toFixed(1)} ms), ${r.before} of its messages drained, none after; its error events: ${r.errors.length}`);
  });
});

s.run();
