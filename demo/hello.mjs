// npm start: one bus, the main thread and three workers (node:worker_threads), each with its own
// connection, exchanging messages through the bus's shared memory. Plain node, from dist/.
//
//   npm start                       the wasm engine on every thread
//   npm start -- --engine=twin      the TypeScript twin (or WASMBUS_ENGINE=twin npm start)
//   npm start -- --workers=5        1..8 workers (default 3)
//
// What happens: the main thread makes the bus and its connection, then starts the workers, each
// with its own handle (bus.handle(), one per worker) and watched by bus.watch(). Each worker
// joins, connects and posts its connection id back: names do not exist on the bus yet, so ids
// are handed around with postMessage, and that is all postMessage carries. Then, over the bus:
//   main     -> each worker   JSON: the list of workers' ids
//   worker   -> main          text: a pong
//   worker   -> every peer    16 bytes
//   worker   -> main          JSON: its counters, once it has heard from main and every peer
// Every receiver prints each message as it reads it: the sender, the metadata the bus attached
// (TIMESTAMP: bus sequence number and the sender's clocks; CREDS: the sender's uid and gid;
// there is no pid, the PIDS item is not built yet), and where the payload was read: a view of
// the shared memory inside the receiver's own pool, at the printed offset; the payload was
// copied once, by SEND, straight into that pool, and is not copied again to be read.
// Then a table per connection, and the time. The main thread never blocks: it waits with
// recvAsync (with timeouts). The workers leave the bus and exit by themselves.
import { Worker } from 'node:worker_threads';
import { Bus } from '../dist/js/index.js';
import { describeLine } from './hello.shared.mjs';

// a reader that goes away (npm start | head) ends the demo quietly (its workers with it)
process.stdout.on('error', (e) => process.exit(e.code === 'EPIPE' ? 0 : 1));

const args = process.argv.slice(2);
const opt = (key) => {
  const a = args.find((x) => x === `--${key}` || x.startsWith(`--${key}=`));
  return a === undefined ? undefined : a.includes('=') ? a.slice(a.indexOf('=') + 1) : '';
};
const engine = opt('engine') || (args.includes('--twin') ? 'twin' : null) ||
  (['wasm', 'twin'].includes(process.env.WASMBUS_ENGINE) ? process.env.WASMBUS_ENGINE : 'wasm');
const nWorkers = Number(opt('workers') ?? 3);
if (!['wasm', 'twin'].includes(engine) || !Number.isInteger(nWorkers) || nWorkers < 1 || nWorkers > 8) {
  console.error('usage: node demo/hello.mjs [--engine=wasm|twin] [--workers=1..8]');
  process.exit(2);
}

const bus = await Bus.create({ engine, limits: { threads: nWorkers + 1, connections: nWorkers + 1, poolMax: 65536 } });
const me = bus.connect({ description: 'main', attachRecv: ['timestamp', 'creds'] });
const hexId = Array.from(bus.id128, (b) => b.toString(16).padStart(2, '0')).join('');
console.log(`wasmbus: one bus on the ${engine} engine, the main thread and ${nWorkers} workers, one connection each`);
console.log(`bus ${hexId}: ${bus.memory.buffer.byteLength / 65536} pages of shared memory; main is :1.${me.id} (thread slot ${bus.engine.threadSlot})`);

const names = new Map([[me.id, 'main']]);
const table = new Map([[me.id, { name: 'main', thread: 'main', engine, sent: 0, sentBytes: 0, received: 0, receivedBytes: 0, poolPeak: 0 }]]);
const mine = table.get(me.id);
const enc = new TextEncoder();

const workers = [];
let failure = null;
try {
  // start the workers; each posts { type: 'ready', id } once it has joined and connected
  const ready = [];
  for (let i = 1; i <= nWorkers; i++) {
    const name = `worker-${i}`;
    const handle = bus.handle(); // one per worker: its token finds the worker's thread slot later
    const worker = new Worker(new URL('./hello.worker.mjs', import.meta.url), {
      workerData: { handle, name, engine, mainId: me.id, peersExpected: nWorkers - 1 },
    });
    const w = { name, worker, watched: bus.watch(worker, handle), error: null };
    worker.on('error', (e) => { w.error = e; });
    workers.push(w);
    ready.push(new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not join within 5 s`)), 5000);
      worker.once('message', (msg) => { clearTimeout(timer); resolve({ w, ...msg }); });
      worker.once('exit', (code) => { clearTimeout(timer); reject(w.error ?? new Error(`${name} exited (${code}) before joining`)); });
    }));
  }
  for (const r of await Promise.all(ready)) {
    names.set(r.id, r.w.name);
    table.set(r.id, { name: r.w.name, thread: `slot ${r.slot}`, engine: r.engine });
    console.log(`  ${r.w.name} joined: connection :1.${r.id}, thread slot ${r.slot}, ${r.engine} engine (its id came by postMessage)`);
  }

  console.log('messages, as each receiver read them: receiver <- sender (its id), the metadata the bus attached');
  console.log('(seq: bus sequence number; time of day and mono: the sender\'s clocks at SEND; uid/gid: the sender\'s');
  console.log('credentials), and where the payload was read: in place, in the receiver\'s own pool, not copied)');
  const peers = [...names].filter(([id]) => id !== me.id);
  for (const [id] of peers) {
    const bytes = enc.encode(JSON.stringify({ peers }));
    me.send(id, bytes);
    mine.sent++;
    mine.sentBytes += bytes.length;
  }

  // two messages from each worker: a pong, then its counters
  for (let n = 0; n < 2 * nWorkers; n++) {
    const m = await me.recvAsync({ timeout: 5000 }); // never blocks the thread; rejects after 5 s
    mine.received++;
    mine.receivedBytes += m.payload.length;
    mine.poolPeak = Math.max(mine.poolPeak, me.poolUsed);
    console.log(describeLine(m, 'main', names, bus));
    const row = table.get(m.src);
    if (m.payload[0] === 0x7b) {
      // '{': the worker's counters, which count everything it sent but this message
      const { done, ...stats } = m.json();
      Object.assign(row, stats, { sent: stats.sent + 1, sentBytes: stats.sentBytes + m.payload.length });
    }
    m.free();
  }
} catch (e) {
  failure = e;
  for (const w of workers) w.worker.terminate(); // bus.watch() then recovers their thread slots
}

// every worker exits by itself once it has left the bus: watch() resolves with slot -1
const exits = await Promise.all(workers.map((w) => w.watched));
me.close();
bus.close();

console.log('per connection (payload bytes):');
const rows = [['connection', 'name', 'thread', 'engine', 'sent', 'bytes', 'received', 'bytes', 'pool peak']];
for (const [id, r] of table) {
  rows.push([`:1.${id}`, r.name, r.thread, r.engine, r.sent ?? '?', r.sentBytes ?? '?', r.received ?? '?', r.receivedBytes ?? '?', r.poolPeak === undefined ? '?' : `${r.poolPeak} B`]);
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
for (const r of rows) console.log('  ' + r.map((v, c) => (c < 4 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  '));
const total = [...table.values()].reduce((s, r) => s + (r.sent ?? 0), 0);
console.log(`${total} messages; workers left the bus by themselves: ${exits.every((x) => x.code === 0 && x.slot === -1)} ` +
  `(exit ${exits.map((x) => `${x.code}/slot ${x.slot}`).join(', ')})`);
console.log(`done in ${Math.round(performance.now())} ms since the process started`);

const werr = workers.find((w) => w.error);
if (failure || werr || exits.some((x) => x.code !== 0 || x.error)) {
  console.error(`demo failed: ${failure?.stack ?? werr?.error?.stack ?? JSON.stringify(exits)}`);
  process.exitCode = 1;
}
