// The browser demo (npm run demo:browser, then open http://127.0.0.1:8787/). The page:
//   1. makes a bus (engine from ?engine=wasm|twin) with a MockProvider (a browser has no
//      credentials to report: uid 1000 / gid 1000 on the page) and its own connection;
//   2. starts ?workers=3 module Workers (worker.js, engine from ?worker=wasm|twin), posting each
//      its own bus.handle() and its own mocked identity (worker-n: uid 2000+n, gid 3000+n);
//      each joins the bus, connects and takes the name org.example.Worker<n>; the page finds it
//      by that name (bus.waitForName: no connection id goes through postMessage);
//   3. keeps messages flowing through the bus: every ?interval=200 ms it calls the method
//      org.example.Worker.Tick(r) of the next worker, by name; the worker's exported handler
//      replies and relays 16 bytes to the next worker, by name, which broadcasts the signal
//      org.example.Worker.Relayed(r, from) that the page subscribed to; every message is shown
//      with its sender, TIMESTAMP, CREDS and where it was read (in place: an offset in the
//      receiver's own pool);
//   4. shows every connection live: counters, and pool usage read straight from the shared
//      memory (bus.engine.poolUsed(slot)); each worker keeps its last ?hold=3 messages unfreed;
//   5. has a button per worker that terminates it: the page then recovers the dead worker's
//      thread slot with bus.recoverThreadAsync(token) (a web Worker has no exit event), which closes
//      its connection and releases its name; the page checks that the connection is gone (a
//      send to it: ENXIO), sees the NAME_REMOVE notification of its name, and that the
//      survivors go on; "add a worker" starts a new one in the freed thread slot.
// The page never blocks: it waits with recvAsync only. window.__result (read by
// tests/browser/browser.test.mjs) is set once every worker has been heard from, and is then
// kept up to date (recoveries, workers added, counters).
import { describe, payloadText } from './describe.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const engine = params.get('engine') ?? 'wasm';
const workerEngine = params.get('worker') ?? engine;
const nWorkers = Number(params.get('workers') ?? 3);
const interval = Number(params.get('interval') ?? 200);
const hold = Number(params.get('hold') ?? 3);
const started = performance.now();
const MAX_ROWS = 30;
const MAX_KEPT = 400; // messages kept in window.__result

const ids = (uid, gid) => ({ uid, euid: uid, suid: uid, fsuid: uid, gid, egid: gid, sgid: gid, fsgid: gid });
const PAGE_CREDS = ids(1000, 1000);
const workerCreds = (n) => ids(2000 + n, 3000 + n);

const result = {
  ok: false,
  error: null,
  engine,
  workerEngine,
  crossOriginIsolated: self.crossOriginIsolated === true,
  busId: null,
  limits: null,
  page: null,        // { id, slot, creds }
  pageRecvWait: null, // what recvWait does on the page with nothing queued: 'EOPNOTSUPP'
  workers: [],       // { name, n, id, slot, gen, threadSlot, token, engine, creds, state }
  messages: [],      // every message received (page and workers), described, up to MAX_KEPT
  total: 0,          // messages received on the bus so far
  sendFailures: [],  // sends a worker made to a peer that was gone (ENXIO)
  recoveries: [],    // one per terminated worker
  nameRemoves: [],   // NAME_REMOVE notifications the page received: { name, oldOwner }
  replies: 0,        // Tick replies the page's calls got
  relayed: 0,        // Relayed signals the page's onSignal handler ran for
  dropped: 0,        // messages the bus dropped for the page (a notification or broadcast, under lock contention)
  readyMs: 0,
  ms: 0,
};

// ---------- page output ----------

function log(line) {
  const t = (performance.now() - started).toFixed(0).padStart(6);
  const pre = $('log');
  pre.textContent += `${t} ms  ${line}\n`;
  pre.scrollTop = pre.scrollHeight;
}

function fact(name, value) {
  const dt = document.createElement('dt'), dd = document.createElement('dd');
  dt.textContent = name;
  dd.textContent = value;
  $('facts').append(dt, dd);
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  if (text === null) { td.textContent = '—'; td.classList.add('none'); } else td.textContent = text;
  tr.append(td);
  return td;
}

function status(text, cls) {
  $('status').textContent = text;
  $('status').className = cls ?? '';
}

function nav() {
  const pairs = [['wasm', 'wasm'], ['twin', 'twin'], ['wasm', 'twin'], ['twin', 'wasm']];
  for (const [e, w] of pairs) {
    const a = document.createElement('a');
    a.href = `?engine=${e}${w === e ? '' : `&worker=${w}`}`;
    a.textContent = w === e ? `${e} engine` : `page ${e}, workers ${w}`;
    if (e === engine && w === workerEngine) a.className = 'current';
    $('engines').append(a);
  }
}

// ---------- the bus ----------

let bus, me, api;
const conns = new Map(); // id → { name, thread, engine, creds, slot, poolSize, state, stats, poolUsed, poolPeak, queued, w? }
const nameOf = (id) => conns.get(id)?.name ?? `:1.${id}`;
const live = () => result.workers.filter((w) => w.state === 'live');
const handles = new Map(); // worker name → { worker, handle }

function record(d, t) {
  d.t = Math.round(t - started);
  result.total++;
  if (result.messages.length < MAX_KEPT) result.messages.push(d);
  const tr = document.createElement('tr');
  cell(tr, String(result.total));
  cell(tr, `${(d.t / 1000).toFixed(2)} s`, 'nowrap');
  const path = cell(tr, '', 'path');
  for (const [i, side] of [nameOf(d.src), d.receiver].entries()) {
    if (i) path.append(' → ');
    const tag = document.createElement('span');
    tag.className = side === 'page' ? 'tag' : 'tag worker';
    tag.textContent = side;
    path.append(tag);
  }
  cell(tr, `:1.${d.src} → :1.${d.dst}`, 'mono nowrap');
  cell(tr, `${d.kind}: ${payloadText(d)}`, 'payload mono');
  cell(tr, d.timestamp ? `seq ${d.timestamp.seqnum}\nmono ${d.timestamp.monotonicNs} ns` : null, 'mono lines');
  cell(tr, d.creds ? `uid ${d.creds.uid}\ngid ${d.creds.gid}` : null, 'mono lines');
  cell(tr, `${d.inPlace ? 'in place' : 'COPY?'} at pool+0x${d.poolOffset.toString(16).padStart(4, '0')}\n${d.how} (${d.receiver})`, 'mono lines');
  const body = $('messages');
  body.prepend(tr);
  while (body.children.length > MAX_ROWS) body.lastChild.remove();
}

/** The page's receive loop: recvAsync only (never blocks), until the page goes away. */
async function pageLoop() {
  for (;;) {
    let m;
    try {
      m = await me.recvAsync({ timeout: 1000 });
    } catch (e) {
      if (e?.code === 'ETIMEDOUT') continue;
      throw e;
    }
    result.dropped = me.droppedTotal;
    const note = m.notification;
    if (note) { // from the bus: NAME_REMOVE of a worker's name (the page's only notification match)
      m.free();
      if (note.kind === 'name-remove') {
        result.nameRemoves.push({ name: note.name, oldOwner: note.oldOwner });
        const rec = result.recoveries.find((x) => x.id === note.oldOwner);
        if (rec) rec.nameRemove = note.name;
        log(`NAME_REMOVE: ${note.name} lost its owner :1.${note.oldOwner} (${nameOf(note.oldOwner)})`);
      }
      continue;
    }
    const mine = conns.get(me.id);
    mine.poolPeak = Math.max(mine.poolPeak, me.poolUsed); // the message is in the page's pool
    const s = mine.stats;
    s.received++;
    s.receivedBytes += m.payload.length;
    const d = describe(m, 'page', 'recvAsync');
    me.dispatch(m); // the Relayed signal: its onSignal handler
    const c = conns.get(m.src);
    if (c?.w) c.w.heardByPage = (c.w.heardByPage ?? 0) + 1;
    for (const r of result.recoveries) if (r.done && c?.w && c.w.state === 'live') r.heardAfter[c.w.name] = (r.heardAfter[c.w.name] ?? 0) + 1;
    m.free();
    record(d, performance.now());
    checkReady();
  }
}

const WORKER = { path: '/org/example/Worker', interface: 'org.example.Worker' };

function pageSend(dst, value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  me.send(dst, bytes);
  const s = conns.get(me.id).stats;
  s.sent++;
  s.sentBytes += bytes.length;
}

function announcePeers() {
  const peers = live().map((w) => w.busName);
  for (const w of live()) pageSend(w.busName, { peers });
}

// ---------- workers ----------

let nextN = 1;
let readyResolve, readyReject;
const allReady = new Promise((res, rej) => { readyResolve = res; readyReject = rej; });

/** Start worker-n; resolves once it has joined and connected (or rejects within 10 s). */
function spawn() {
  const n = nextN++;
  const name = `worker-${n}`;
  const creds = workerCreds(n);
  const handle = bus.handle(); // one per worker: its token finds the worker's thread slot later
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name });
  handles.set(name, { worker, handle });
  const busName = `org.example.Worker${n}`;
  const w = { name, n, busName, id: 0, slot: -1, gen: 0, threadSlot: -1, token: handle.token, engine: workerEngine, creds, state: 'starting', heard: {} };
  result.workers.push(w);
  log(`${name}: started, handle posted (token ${handle.token}), mocked uid ${creds.uid} gid ${creds.gid}`);
  // the worker is found by its name; postMessage brings only display data (its thread slot, engine)
  const found = bus.waitForName(busName, { timeout: 10000 });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not join within 10 s`)), 10000);
    worker.onerror = (ev) => { ev.preventDefault(); fail(new Error(`${name}: ${ev.message || 'failed to load worker.js'}`)); };
    worker.onmessageerror = () => fail(new Error(`${name}: a message could not be deserialized`));
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') {
        found.then((id) => {
          clearTimeout(timer);
          Object.assign(w, { id, slot: data.slot, gen: data.gen, threadSlot: data.threadSlot, engine: data.engine, state: 'live' });
          conns.set(w.id, { name, thread: `worker (thread slot ${w.threadSlot})`, engine: data.engine, creds, slot: w.slot, poolSize: data.poolSize, state: 'live', stats: data.stats, poolUsed: 0, poolPeak: 0, queued: 0, w });
          log(`${name}: joined the bus on the ${data.engine} engine, thread slot ${w.threadSlot}; found by name: ${busName} is owned by :1.${id}`);
          resolve(w);
        }, (e) => { clearTimeout(timer); reject(e); fail(e); });
      } else if (data.type === 'seen') {
        const c = conns.get(w.id);
        if (c) c.stats = data.stats;
        w.heard[data.d.src] = (w.heard[data.d.src] ?? 0) + 1;
        record(data.d, performance.now());
        checkReady();
      } else if (data.type === 'sendFailed') {
        if (conns.get(w.id)) conns.get(w.id).stats = data.stats;
        result.sendFailures.push({ from: name, dst: data.dst, what: data.what, code: data.code });
        log(`${name}: ${data.what} to ${data.dst} failed: ${data.code} (its owner is gone)`);
      } else if (data.type === 'error') {
        clearTimeout(timer);
        const e = new Error(`${name}: ${data.error}`);
        reject(e);
        fail(e);
      }
    };
    worker.postMessage({ handle, engine: workerEngine, name, n, creds, hold });
  });
}

/** Terminate a worker, then recover its thread slot; check that its connection is gone. */
async function terminate(name) {
  const w = result.workers.find((x) => x.name === name);
  if (!w || w.state !== 'live') return;
  const { worker, handle } = handles.get(name);
  const rec = { name, id: w.id, token: handle.token, threadSlot: -1, ms: 0, liveConnsBefore: bus.engine.liveConns(), liveConnsAfter: 0, connClosed: false, sendAfter: null, nameRemove: null, heardAfter: {}, done: false };
  result.recoveries.push(rec);
  w.state = 'terminated';
  conns.get(w.id).state = 'terminated';
  worker.terminate();
  log(`${name}: terminated (worker.terminate()); it never left the bus, its connection :1.${w.id} is still open`);
  // A web Worker has no exit event: give the browser a moment to stop it, then recover.
  await new Promise((r) => setTimeout(r, 20));
  const t0 = performance.now();
  // its locks, its half-done command, its connections; from the event loop (recoverThread
  // would block the page up to 100 ms for a worker stopped inside a send)
  rec.threadSlot = await bus.recoverThreadAsync(handle.token);
  rec.ms = +(performance.now() - t0).toFixed(2);
  rec.liveConnsAfter = bus.engine.liveConns();
  rec.connClosed = bus.engine.connGen(w.slot) !== w.gen; // BYEBYE / recovery bump the slot's generation
  try {
    me.send(w.id, new Uint8Array([1]));
    rec.sendAfter = 'delivered';
  } catch (e) {
    rec.sendAfter = e?.code ?? String(e);
  }
  w.state = 'recovered';
  const c = conns.get(w.id);
  c.state = 'gone';
  c.poolUsed = 0;
  c.queued = 0;
  log(`${name}: thread slot ${rec.threadSlot} recovered in ${rec.ms} ms by bus.recoverThreadAsync(${handle.token}); ` +
    `open connections ${rec.liveConnsBefore} → ${rec.liveConnsAfter}; a send to :1.${w.id} now gives ${rec.sendAfter}`);
  announcePeers();
  rec.done = true;
  render();
}

async function addWorker() {
  $('spawn').disabled = true;
  try {
    const w = await spawn();
    announcePeers();
    log(`${w.name}: in the ring; the thread table had a free slot (${w.threadSlot}) again`);
  } catch (e) {
    fail(e);
  }
  render();
}

// ---------- the ticker, readiness, the live connection table ----------

let round = 0, paused = false;
function tick() {
  if (paused) return;
  const ws = live();
  if (!ws.length) return;
  const w = ws[round % ws.length];
  const r = ++round;
  const s = conns.get(me.id).stats;
  s.sent++;
  me.callMethod({ destination: w.busName, ...WORKER, member: 'Tick', signature: 'u', body: [r] }, { timeout: 5000 }).then(
    ([text]) => { s.received++; result.replies++; result.lastReply = text; },
    (e) => {
      // a worker terminated with the call pending (EPIPE once recovered), or gone (ESRCH): the ring goes on
      if (['EPIPE', 'ESRCH', 'ETIMEDOUT'].includes(e?.code)) log(`Tick(${r}) to ${w.busName}: ${e.code}`);
      else fail(e);
    },
  );
}

function checkReady() {
  if (result.ok || result.error) return;
  const ws = result.workers;
  if (ws.length < nWorkers || ws.some((w) => w.state !== 'live')) return;
  // every worker heard by the page, and every worker heard from the page and from a peer
  const heard = ws.every((w) => w.heardByPage > 0 && w.heard[me.id] > 0 && ws.some((p) => p !== w && w.heard[p.id] > 0));
  if (heard) readyResolve();
}

function render() {
  const body = $('conns');
  body.textContent = '';
  for (const [id, c] of conns) {
    if (c.state === 'live') {
      c.poolUsed = bus.engine.poolUsed(c.slot); // read from the shared memory, any thread's connection
      c.queued = bus.engine.queued(c.slot);
      c.poolPeak = Math.max(c.poolPeak, c.poolUsed);
    }
    const tr = document.createElement('tr');
    if (c.state !== 'live') tr.className = 'gone';
    cell(tr, c.name);
    cell(tr, `:1.${id}`, 'mono');
    cell(tr, c.thread);
    cell(tr, c.engine);
    cell(tr, `uid ${c.creds.uid} gid ${c.creds.gid}`, 'mono nowrap');
    cell(tr, c.state === 'gone' ? 'gone (recovered)' : c.state);
    cell(tr, `${c.stats.sent} (${c.stats.sentBytes} B)`, 'num');
    cell(tr, `${c.stats.received} (${c.stats.receivedBytes} B)`, 'num');
    const pool = cell(tr, '', 'pool');
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('span');
    fill.style.width = `${Math.min(100, (100 * c.poolUsed) / c.poolSize)}%`;
    bar.append(fill);
    pool.append(bar, `${c.poolUsed} B of ${c.poolSize / 1024} KiB, peak ${c.poolPeak} B, queued ${c.queued}`);
    const act = cell(tr, '');
    if (c.w && c.state === 'live') {
      const b = document.createElement('button');
      b.textContent = 'terminate';
      b.dataset.terminate = c.name;
      b.onclick = () => terminate(c.name).catch(fail);
      act.append(b);
    }
    body.append(tr);
  }
  const threadsUsed = 1 + result.workers.filter((w) => w.state === 'live' || w.state === 'starting' || w.state === 'terminated').length;
  $('spawn').disabled = !bus || threadsUsed >= bus.limits.threads;
  $('summary').textContent = `${bus.engine.liveConns()} open connections on the bus, ${threadsUsed} of ${bus.limits.threads} thread slots taken, ${result.total} messages so far`;
  result.conns = [...conns].map(([id, c]) => ({ id, name: c.name, state: c.state, ...c.stats, poolUsed: c.poolUsed, poolPeak: c.poolPeak, queued: c.queued }));
  result.ms = Math.round(performance.now() - started);
}

function fail(e) {
  if (result.error) return;
  result.error = String(e?.stack ?? e);
  result.ms = Math.round(performance.now() - started);
  status(`failed: ${e?.message ?? e}`, 'bad');
  log(`ERROR ${result.error}`);
  readyReject?.(e);
  window.__result = result;
}

// ---------- the demo ----------

async function run() {
  if (!['wasm', 'twin'].includes(engine) || !['wasm', 'twin'].includes(workerEngine)) {
    throw new Error(`engine and worker must be wasm or twin, not ${engine} / ${workerEngine}`);
  }
  if (!Number.isInteger(nWorkers) || nWorkers < 2 || nWorkers > 8 || !(interval >= 20) || !Number.isInteger(hold) || hold < 0 || hold > 16) {
    throw new Error('workers must be 2..8, interval ≥ 20 ms, hold 0..16');
  }
  if (!self.crossOriginIsolated) {
    throw new Error('the page is not cross-origin isolated, so the bus memory cannot be shared with a worker: ' +
      'serve it with COOP/COEP headers (npm run demo:browser)');
  }
  try {
    api = await import('../../dist/js/index.js');
  } catch (e) {
    throw new Error(`cannot load ../../dist/js/index.js (run npm run build): ${e}`);
  }
  const { Bus, MockProvider } = api;

  // the bus: the core is fetched from build/core.wasm by loadCore(); one thread slot per worker
  // and one for the page, so that a new worker fits only once a dead one has been recovered
  const provider = new MockProvider({ seed: 1, creds: PAGE_CREDS, realClock: true }); // real time for call timeouts
  bus = await Bus.create({ engine, provider, limits: { threads: nWorkers + 1, connections: 2 * nWorkers + 2, poolMax: 65536 } });
  result.busId = Array.from(bus.id128, (b) => b.toString(16).padStart(2, '0')).join('');
  result.limits = { ...bus.limits };
  fact('engine', `${bus.engine.kind} on the page, ${workerEngine} in the workers`);
  fact('bus id', result.busId);
  fact('memory', `${bus.memory.buffer.byteLength / 65536} pages of 64 KiB, one ${bus.memory.buffer.constructor.name} shared by every thread`);
  fact('crossOriginIsolated', String(self.crossOriginIsolated));
  log(`bus created on the ${bus.engine.kind} engine, id ${result.busId}`);

  me = bus.connect({ description: 'page', attachRecv: ['timestamp', 'creds'] });
  result.page = { id: me.id, slot: me.slot, creds: PAGE_CREDS };
  conns.set(me.id, { name: 'page', thread: 'page (thread slot 0)', engine: bus.engine.kind, creds: PAGE_CREDS, slot: me.slot, poolSize: me.poolSize, state: 'live', stats: { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0 }, poolUsed: 0, poolPeak: 0, queued: 0 });
  log(`the page's connection is ${me.uniqueName} (mocked uid 1000 gid 1000)`);
  me.onSignal(`type='signal',interface='${WORKER.interface}',member='Relayed'`, () => { result.relayed++; });
  me.addMatch({ notifications: 'name-remove' }); // told when a worker's name loses its owner

  // the page may not block: recvWait refuses to wait here (Atomics.wait throws on a main thread).
  // It spins on the wake word first; with a timeout shorter than that spin it would return
  // null without trying to block, hence 1000 ms (it throws long before).
  try {
    me.recvWait(1000);
    result.pageRecvWait = 'returned';
  } catch (e) {
    result.pageRecvWait = e.code ?? String(e);
  }
  log(`recvWait on the page, with nothing queued: ${result.pageRecvWait} (the page waits with recvAsync)`);

  pageLoop().catch(fail);
  setInterval(render, 250);
  $('spawn').onclick = () => addWorker();
  $('pause').onclick = () => { paused = !paused; $('pause').textContent = paused ? 'resume' : 'pause'; };

  await Promise.all(Array.from({ length: nWorkers }, () => spawn()));
  announcePeers();
  for (let i = 0; i < nWorkers; i++) tick(); // a first round: one tick to every worker
  setInterval(tick, interval);
  render();
  const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error('not every worker was heard from within 15 s')), 15000));
  await Promise.race([allReady, timeout]);
}

nav();
run().then(
  () => {
    result.ok = true;
    result.readyMs = Math.round(performance.now() - started);
    render();
    status(`live: ${nWorkers} workers and the page on one bus; every worker heard from after ${result.readyMs} ms`, 'ok');
    log('every worker has been heard from: window.__result is set');
    window.__result = result;
  },
  (e) => fail(e),
);
