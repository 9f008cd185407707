// npm start: one bus, the main thread and three workers (node:worker_threads), each with its own
// connection, exchanging messages through the bus's shared memory. Plain node, from dist/.
//
//   npm start                       the wasm engine on every thread
//   npm start -- --engine=twin      the TypeScript twin (or WASMBUS_ENGINE=twin npm start)
//   npm start -- --workers=5        1..8 workers (default 3)
//
// What happens: the main thread makes the bus and its connection, subscribes to the workers'
// Done signal and to NAME_REMOVE notifications, then starts the workers, each with its own
// handle (bus.handle(), one per worker) and watched by bus.watch(). postMessage carries
// nothing: each worker joins, connects and takes the well-known name org.example.Worker<n>,
// and the main thread finds it by that name (bus.waitForName). Then, over the bus:
//   main     -> each worker   a D-Bus method call, org.example.Worker.Hello("hello"), by name
//   worker   -> main          its reply (sent by conn.dispatch from the exported handler)
//   worker   -> every peer    16 bytes, by the peer's name
//   worker   -> broadcast     the signal org.example.Worker.Done (its counters, JSON), once it
//                             has the call and a message from every peer
//   bus      -> main          NAME_REMOVE, when the worker releases its name and leaves
// Every receiver prints each message as it reads it: the sender, the metadata the bus attached
// (TIMESTAMP: bus sequence number and the sender's clocks; CREDS: the sender's uid and gid;
// there is no pid, the PIDS item is not built yet), and where the payload was read: a view of
// the shared memory inside the receiver's own pool, at the printed offset; the payload was
// copied once, by SEND, straight into that pool, and is not copied again to be read.
// Then a table per connection, and the time. The main thread never blocks: it waits with
// recvAsync (with timeouts). The workers leave the bus and exit by themselves.
import { Worker } from 'node:worker_threads';
import { Bus } from '../dist/js/index.js';
import { describeLine, workerName, WORKER, MAIN } from './hello.shared.mjs';

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

const bus = await Bus.create({ engine, limits: { threads: nWorkers + 1, connections: 2 * (nWorkers + 1), poolMax: 65536 } });
const me = bus.connect({ description: 'main', attachRecv: ['timestamp', 'creds'] });
const hexId = Array.from(bus.id128, (b) => b.toString(16).padStart(2, '0')).join('');
console.log(`wasmbus: one bus on the ${engine} engine, the main thread and ${nWorkers} workers, one connection each, found by name`);
console.log(`bus ${hexId}: ${bus.memory.buffer.byteLength / 65536} pages of shared memory; main is :1.${me.id} (thread slot ${bus.engine.threadSlot})`);

const names = new Map([[me.id, 'main']]);
const table = new Map([[me.id, { name: 'main', busName: MAIN, thread: 'main', engine, sent: 0, received: 0, poolPeak: 0 }]]);
const mine = table.get(me.id);

const workers = [];
const done = []; // the workers' Done signals, by their counters
me.onSignal(`type='signal',interface='${WORKER.interface}',member='Done'`, (sig) => done.push(JSON.parse(sig.body[0])));
me.addMatch({ notifications: 'name-remove' });
me.requestName(MAIN);
let failure = null;
try {
  for (let n = 1; n <= nWorkers; n++) {
    const handle = bus.handle(); // one per worker: its token finds the worker's thread slot later
    const worker = new Worker(new URL('./hello.worker.mjs', import.meta.url), { workerData: { handle, n, engine, nWorkers } });
    const w = { n, name: `worker-${n}`, busName: workerName(n), worker, watched: bus.watch(worker, handle), error: null };
    worker.on('error', (e) => { w.error = e; });
    workers.push(w);
  }
  const ids = await Promise.all(workers.map((w) => bus.waitForName(w.busName, { timeout: 5000 })));
  workers.forEach((w, i) => {
    names.set(ids[i], w.name);
    table.set(ids[i], { name: w.name, busName: w.busName, thread: '?', engine });
    console.log(`  ${w.name} found by name: ${w.busName} is owned by :1.${ids[i]}`);
  });

  console.log('messages, as each receiver read them: receiver <- sender (its id), the metadata the bus attached');
  console.log('(seq: bus sequence number; time of day and mono: the sender\'s clocks at SEND, mono in seconds of its provider\'s MONOTONIC; uid/gid: the sender\'s');
  console.log('credentials), and where the payload was read: in place, in the receiver\'s own pool, not copied)');
  // one method call per worker, by name; the replies come back to their calls, whoever receives
  const replies = await Promise.all(workers.map((w) => me.callMethod({ destination: w.busName, ...WORKER, member: 'Hello', signature: 's', body: ['hello'] }, { timeout: 5000 })));
  mine.sent += workers.length;
  mine.received += replies.length;
  workers.forEach((w, i) => console.log(`  main     <- ${w.name.padEnd(8)} reply to Hello: ${JSON.stringify(replies[i][0])}`));

  // a Done signal from each worker (a unicast signal: reliable), then a NAME_REMOVE for each
  // worker's name as it leaves (its close waits for main's lock if main holds it; the bus drops
  // one only for a receiver whose pool is full, or whose lock is held by a dead or stuck thread,
  // and says so to main's next receive: DROPPED_MSGS). So: wait for every Done and every
  // worker's exit, then read what is left.
  const exited = Promise.all(workers.map((w) => w.watched));
  let gone = 0, left = false;
  const ac = new AbortController(); // ends the wait below when the last worker has exited
  exited.then(() => { left = true; ac.abort(); });
  for (;;) {
    let m = me.recv();
    if (!m) {
      if (left && done.length === nWorkers) break;
      m = await me.recvAsync({ timeout: 5000, signal: left ? undefined : ac.signal }).catch((e) => { if (e.code === 'ECANCELED') return null; throw e; });
      if (!m) continue;
    }
    const note = m.notification;
    if (note?.kind === 'name-remove') {
      console.log(`  main     <- the bus    NAME_REMOVE: ${note.name} lost its owner :1.${note.oldOwner} (${names.get(note.oldOwner)} left)`);
      gone++;
    } else {
      mine.received++;
      mine.poolPeak = Math.max(mine.poolPeak, me.poolUsed);
      console.log(describeLine(m, 'main', names, bus));
      me.dispatch(m); // the Done handler above
    }
    m.free();
  }
  console.log(`  main saw ${gone} NAME_REMOVE of ${nWorkers}; messages the bus dropped for main (lock contention): ${me.droppedTotal}`);
  for (const { done: who, slot, ...stats } of done) {
    const id = [...names].find(([, v]) => v === who)[0];
    Object.assign(table.get(id), stats, { thread: `slot ${slot}` });
  }
} catch (e) {
  failure = e;
  for (const w of workers) w.worker.terminate(); // bus.watch() then recovers their thread slots
}

// every worker exits by itself once it has left the bus: watch() resolves with slot -1
const exits = await Promise.all(workers.map((w) => w.watched));
me.close();
bus.close();

console.log('per connection (messages; the main thread\'s received: replies and signals, not the bus\'s notifications):');
const rows = [['connection', 'name', 'well-known name', 'thread', 'engine', 'sent', 'received', 'pool peak']];
for (const [id, r] of table) {
  rows.push([`:1.${id}`, r.name, r.busName, r.thread, r.engine, r.sent ?? '?', r.received ?? '?', r.poolPeak === undefined ? '?' : `${r.poolPeak} B`]);
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
for (const r of rows) console.log('  ' + r.map((v, c) => (c < 5 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  '));
const total = [...table.values()].reduce((s, r) => s + (r.sent ?? 0), 0);
console.log(`${total} messages; workers left the bus by themselves: ${exits.every((x) => x.code === 0 && x.slot === -1)} ` +
  `(exit ${exits.map((x) => `${x.code}/slot ${x.slot}`).join(', ')})`);
console.log(`done in ${Math.round(performance.now())} ms since the process started`);

const werr = workers.find((w) => w.error);
if (failure || werr || exits.some((x) => x.code !== 0 || x.error)) {
  console.error(`demo failed: ${failure?.stack ?? werr?.error?.stack ?? JSON.stringify(exits)}`);
  process.exitCode = 1;
}
