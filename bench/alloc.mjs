// bench/alloc: the JS heap each message operation allocates (one thread, 64 B, wasm and twin)
//
//   npm run bench:alloc        (node --expose-gc bench/alloc.mjs)
//
// The project's rule is a per-message path without per-message JS objects (the user-facing
// Message of a receive excepted). This prints, per operation, the bytes V8's young generation
// grew by over a round of 200 operations run after a full collection, divided by 200: the
// median of 7 rounds after 50 000 warm-up operations of each (so that every function is
// optimized, as in a long-lived program). Not timing: the figures repeat to within a few bytes.
//   send            conn.send(id, 64 B) (queued, received and freed outside the round)
//   sendMany        conn.sendMany(id, [64 B] × 16), per message (rounds of 16 calls)
//   recv + free     conn.recv() + msg.free() of queued messages: the Message object itself
//   emit            conn.emit(a signal with a 64-byte 'ay' body) to one subscriber
//   listen          a conn.listen handler's share of its receive, per message (16 per turn)
// A growth of less than one object (about 16 bytes) per operation is a counter or a string
// V8 made once per several operations, not a per-message object.
import v8 from 'node:v8';
import { Bus, MockProvider } from '../dist/js/index.js';

const gc = globalThis.gc;
if (typeof gc !== 'function') {
  console.error('bench/alloc needs --expose-gc: npm run bench:alloc');
  process.exit(2);
}
const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_used_size;
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const N = 200, ROUNDS = 7, WARM = 50000;

/** bytes per operation: `op()` run `n` times after a full collection, `after()` outside the measure */
function measure(op, after, n = N) {
  after(); // (a receive's queue filled first)
  for (let i = 0; i < WARM; i++) { op(); if (i % n === n - 1) after(); } // (WARM a multiple of n)
  const per = [];
  for (let r = 0; r < ROUNDS; r++) {
    gc();
    const a = young();
    for (let i = 0; i < n; i++) op();
    per.push((young() - a) / n);
    after();
  }
  return med(per);
}

async function one(engine) {
  const bus = await Bus.create({ engine, provider: new MockProvider() });
  const tx = bus.connect(), rx = bus.connect();
  rx.addMatch("type='signal',interface='org.wasmbus.Alloc'");
  const pl = new Uint8Array(64), many = Array.from({ length: 16 }, () => pl);
  const drain = () => { let m; while ((m = rx.recv()) !== null) m.free(); };
  const sig = { path: '/org/wasmbus/Alloc', interface: 'org.wasmbus.Alloc', member: 'Tick', signature: 'ay', body: [pl] };
  const out = {};
  out.send = measure(() => tx.send(rx.id, pl), drain);
  out.sendMany = measure(() => tx.sendMany(rx.id, many), drain, 16) / 16; // (16 calls a round: the receiver's quota is 256 messages)
  out['recv + free'] = measure(() => rx.recv().free(), () => { for (let i = 0; i < N; i++) tx.send(rx.id, pl); });
  out.emit = measure(() => tx.emit(sig), drain);
  // a listener: 16 messages a turn, each handed to the handler; the turn's own promise and
  // frames counted with the messages it hands over
  // (the harness's own share: one promise and its resolver a turn, about 6 bytes a message)
  let seen = 0, done = null;
  const l = rx.listen(() => { if (++seen === 16) done(); });
  const turn = () => new Promise((r) => { seen = 0; done = r; for (let i = 0; i < 16; i++) tx.send(rx.id, pl); });
  for (let i = 0; i < 3000; i++) await turn();
  const per = [];
  for (let r = 0; r < ROUNDS; r++) {
    gc();
    const a = young();
    for (let k = 0; k < N / 8; k++) await turn(); // (200 turns of 16)
    per.push((young() - a) / (N / 8 * 16));
  }
  out.listen = med(per);
  l.stop();
  await l.done;
  drain();
  tx.close(); rx.close(); bus.close();
  return out;
}

const rows = { wasm: await one('wasm'), twin: await one('twin') };
console.log(`${process.version}; bytes allocated per operation (young generation, median of ${ROUNDS} rounds of ${N} after ${WARM} warm-up; 64 B payloads)`);
console.log('| operation | wasm | twin |\n|---|---:|---:|');
for (const k of Object.keys(rows.wasm)) console.log(`| ${k} | ${rows.wasm[k].toFixed(0)} | ${rows.twin[k].toFixed(0)} |`);
