// The browser demo (npm run demo:browser, then open http://127.0.0.1:8787/). The page:
//   1. makes a bus (engine from ?engine=wasm|twin) with a MockProvider: a browser has no
//      credentials to report, so they are mocked (uid/gid 1000 here, 2000 in the worker);
//   2. connects alice and bob and exchanges text, JSON and bytes between them, bob asking
//      for TIMESTAMP and CREDS metadata;
//   3. starts a module Worker (worker.js), posts it bus.handle(); the worker Bus.join()s and
//      the two threads exchange messages both ways through the shared memory;
//   4. writes the outcome to window.__result (read by tests/browser/browser.test.mjs) and
//      shows the messages and a log.
// The main thread never blocks: every wait is recvAsync (Atomics.waitAsync underneath).
// ?worker=wasm|twin picks the worker's engine (default: the page's).
import { describe, payloadText } from './describe.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const engine = params.get('engine') ?? 'wasm';
const workerEngine = params.get('worker') ?? engine;
const started = performance.now();

const result = {
  ok: false,
  error: null,
  engine,
  workerEngine,
  crossOriginIsolated: self.crossOriginIsolated === true,
  busId: null,
  ids: {},
  local: [],      // alice ⇄ bob on the main thread
  toWorker: [],   // main → worker, as the worker received them
  fromWorker: [], // worker → main
  worker: null,   // what the worker reported: { ready, engine }
  workerLeft: null,
  pageRecvWait: null, // what recvWait does on the page with nothing queued: 'EOPNOTSUPP'
  ms: 0,
};

// ---------- page output ----------

function log(line) {
  const t = (performance.now() - started).toFixed(1).padStart(7);
  $('log').textContent += `${t} ms  ${line}\n`;
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

function show(d) {
  const tr = document.createElement('tr');
  cell(tr, String($('messages').children.length + 1));
  const path = cell(tr, '', 'path');
  for (const side of d.path.split(' → ')) {
    if (path.childNodes.length) path.append(' → ');
    const tag = document.createElement('span');
    tag.className = side === 'worker' ? 'tag worker' : 'tag';
    tag.textContent = side;
    path.append(tag);
  }
  cell(tr, `:1.${d.src} → :1.${d.dst}`, 'mono nowrap');
  cell(tr, `${d.kind}: ${payloadText(d)}`, 'payload mono');
  cell(tr, d.timestamp ? `seq ${d.timestamp.seqnum}, monotonic ${d.timestamp.monotonicNs} ns\n${d.timestamp.realtime}` : null, 'mono lines');
  cell(tr, d.creds ? `uid ${d.creds.uid}, gid ${d.creds.gid}` : null, 'mono nowrap');
  cell(tr, `${d.how} (${d.thread})${d.inPlace ? '\nread in place' : ''}`, 'lines');
  $('messages').append(tr);
  log(`${d.path.padEnd(15)} from :1.${d.src} ${d.kind} ${payloadText(d)}${d.timestamp ? ` [seq ${d.timestamp.seqnum}]` : ''}${d.creds ? ` [uid ${d.creds.uid}]` : ''}`);
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
    a.textContent = w === e ? `${e} engine` : `page ${e}, worker ${w}`;
    if (e === engine && w === workerEngine) a.className = 'current';
    $('engines').append(a);
  }
}

// ---------- the worker's side channel (postMessage: only the handle and status) ----------

function workerInbox(worker) {
  const queue = [];
  let waiting = null;
  const push = (msg) => { queue.push(msg); waiting?.(); };
  worker.onmessage = (ev) => push(ev.data);
  worker.onerror = (ev) => { ev.preventDefault(); push({ type: 'error', error: `worker error: ${ev.message || 'failed to load worker.js'}` }); };
  worker.onmessageerror = () => push({ type: 'error', error: 'worker: message could not be deserialized' });
  /** The next message of `type` (an error message rejects), within `ms`. */
  return (type, ms) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => { waiting = null; reject(new Error(`no "${type}" from the worker within ${ms} ms`)); }, ms);
    const look = () => {
      if (!queue.length) { waiting = look; return; }
      waiting = null;
      clearTimeout(timer);
      const msg = queue.shift();
      if (msg.type === 'error') reject(new Error(msg.error));
      else if (msg.type !== type) reject(new Error(`expected "${type}" from the worker, got "${msg.type}"`));
      else resolve(msg);
    };
    look();
  });
}

// ---------- the demo ----------

async function run() {
  if (!['wasm', 'twin'].includes(engine) || !['wasm', 'twin'].includes(workerEngine)) {
    throw new Error(`engine and worker must be wasm or twin, not ${engine} / ${workerEngine}`);
  }
  if (!self.crossOriginIsolated) {
    throw new Error('the page is not cross-origin isolated, so the bus memory cannot be shared with a worker: ' +
      'serve it with COOP/COEP headers (npm run demo:browser)');
  }
  let api;
  try {
    api = await import('../../dist/js/index.js');
  } catch (e) {
    throw new Error(`cannot load ../../dist/js/index.js (run npm run build): ${e}`);
  }
  const { Bus, MockProvider } = api;

  // 1. the bus: the core is fetched from build/core.wasm by loadCore() (js/host/load.ts)
  const provider = new MockProvider({ seed: 1, creds: { uid: 1000, gid: 1000 } });
  const bus = await Bus.create({ engine, provider, limits: { threads: 4, connections: 8, poolMax: 65536 } });
  result.busId = Array.from(bus.id128, (b) => b.toString(16).padStart(2, '0')).join('');
  fact('engine', `${bus.engine.kind} on the page, ${workerEngine} in the worker`);
  fact('bus id', result.busId);
  fact('memory', `${bus.memory.buffer.byteLength / 65536} pages of 64 KiB, ${bus.memory.buffer.constructor.name}`);
  fact('crossOriginIsolated', String(self.crossOriginIsolated));
  log(`bus created on the ${bus.engine.kind} engine, id ${result.busId}`);

  // 2. two connections on this thread
  const alice = bus.connect({ description: 'alice' });
  const bob = bus.connect({ description: 'bob', attachRecv: ['timestamp', 'creds'] });
  result.ids.alice = alice.id;
  result.ids.bob = bob.id;
  log(`alice is ${alice.uniqueName}, bob is ${bob.uniqueName} (bob asks for TIMESTAMP and CREDS)`);

  alice.sendText(bob.id, 'hello, bob');
  alice.sendJSON(bob.id, { question: 'how many copies?', n: 42 });
  for (let i = 0; i < 2; i++) {
    const m = await bob.recvAsync({ timeout: 5000 });
    const d = describe(m, 'alice → bob', 'recvAsync', 'page');
    m.free();
    result.local.push(d);
    show(d);
  }
  bob.send(alice.id, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
  const back = await alice.recvAsync({ timeout: 5000 });
  const dBack = describe(back, 'bob → alice', 'recvAsync', 'page');
  back.free();
  result.local.push(dBack);
  show(dBack);

  // the page may not block: recvWait refuses to wait here (Atomics.wait throws on a main thread).
  // It first spins on the wake word for a few ms; with a timeout shorter than that spin it
  // would return null without trying to block, hence 1000 ms (it throws long before).
  const t0 = performance.now();
  try {
    bob.recvWait(1000);
    result.pageRecvWait = 'returned';
  } catch (e) {
    result.pageRecvWait = e.code ?? String(e);
  }
  log(`recvWait on the page, with nothing queued: ${result.pageRecvWait} after ${(performance.now() - t0).toFixed(1)} ms (use recvAsync here)`);

  // 3. a module worker joins the same bus
  const me = bus.connect({ description: 'main', attachRecv: ['timestamp', 'creds'] });
  result.ids.main = me.id;
  const handle = bus.handle();
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'wasmbus-demo-worker' });
  const next = workerInbox(worker);
  worker.postMessage({ handle, engine: workerEngine });
  log(`worker started; handle posted (token ${handle.token}, ${handle.module ? 'with' : 'without'} the compiled core)`);
  try {
    const ready = await next('ready', 15000);
    result.worker = { ready: true, engine: ready.engine, id: ready.id };
    result.ids.worker = ready.id;
    log(`worker joined on the ${ready.engine} engine as ${ready.uniqueName}`);

    me.sendText(ready.id, 'ping from the main thread');
    me.send(ready.id, Uint8Array.from({ length: 16 }, (_, i) => i * 17));
    for (let i = 0; i < 3; i++) {
      const m = await me.recvAsync({ timeout: 10000 });
      result.fromWorker.push(describe(m, 'worker → main', 'recvAsync', 'page'));
      m.free();
    }
    const done = await next('done', 10000);
    result.toWorker = done.received; // the worker's view of what this thread sent it
    for (const d of [...result.toWorker, ...result.fromWorker]) show(d);
    result.workerLeft = bus.recoverThread(handle.token) === -1; // -1: no thread holds that token
    log(`worker left the bus by itself: ${result.workerLeft}`);
  } finally {
    worker.terminate();
  }

  me.close();
  alice.close();
  bob.close();
  bus.close();
  log('connections closed, bus closed');
}

nav();
run().then(
  () => {
    result.ok = true;
    result.ms = Math.round(performance.now() - started);
    status(`OK: ${result.local.length + result.toWorker.length + result.fromWorker.length} messages in ${result.ms} ms`, 'ok');
  },
  (e) => {
    result.error = String(e?.stack ?? e);
    result.ms = Math.round(performance.now() - started);
    status(`failed: ${e?.message ?? e}`, 'bad');
    log(`ERROR ${result.error}`);
  },
).finally(() => { window.__result = result; });
