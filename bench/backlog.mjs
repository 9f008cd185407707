// bench/backlog: what a waiting sendAsync() costs its thread (one thread, 64 B, wasm and twin)
//
//   npm run bench:backlog        (node --expose-gc bench/backlog.mjs [--quick])
//
// - with room: sendAsync() of a message the receiver has room for, against send() (ns per
//   message, 200 per round, the receiver drained between rounds);
// - a burst: N sendAsync() at once into a receiver whose queue takes 256 (the rest wait in
//   its line), then drained by a conn.listen handler: the wall time and the thread's CPU per
//   sendAsync() call before it returns (process.cpuUsage: the collector's threads included),
//   and the heap each waiting sendAsync keeps alive (heapUsed after a full collection, with
//   the N waiting, minus before).
// Medians of the rounds after the warm-up ones. Timing figures on a shared VM are noisy: quote
// medians of several runs; the heap figure is not timing and repeats to within a few %.
import { Bus, MockProvider } from '../dist/js/index.js';

const QUICK = process.argv.includes('--quick');
const N = QUICK ? 2000 : 10000;
const ROUNDS = QUICK ? 6 : 14, WARM = QUICK ? 2 : 4;
const gc = globalThis.gc;
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function one(engine) {
  const bus = await Bus.create({ engine, provider: new MockProvider() });
  const tx = bus.connect(), rx = bus.connect();
  const pl = new Uint8Array(64);
  const drain = () => { let m; while ((m = rx.recv()) !== null) m.free(); };
  const send = [], sendAsync = [];
  for (let r = 0; r < 3 * ROUNDS; r++) {
    let t0 = performance.now();
    for (let i = 0; i < 200; i++) tx.send(rx.id, pl);
    let t1 = performance.now();
    drain();
    if (r >= 3 * WARM) send.push((t1 - t0) * 1e6 / 200);
    const ps = [];
    t0 = performance.now();
    for (let i = 0; i < 200; i++) ps.push(tx.sendAsync(rx.id, pl));
    await Promise.all(ps);
    t1 = performance.now();
    drain();
    if (r >= 3 * WARM) sendAsync.push((t1 - t0) * 1e6 / 200);
  }
  const wall = [], cpu = [], heap = [];
  for (let r = 0; r < ROUNDS; r++) {
    gc?.();
    const h0 = process.memoryUsage().heapUsed;
    const c0 = process.cpuUsage(), t0 = performance.now();
    const ps = [];
    for (let i = 0; i < N; i++) ps.push(tx.sendAsync(rx.id, pl, { timeout: 60000 }));
    const t1 = performance.now(), c1 = process.cpuUsage(c0);
    if (gc) { gc(); heap.push((process.memoryUsage().heapUsed - h0) / N); }
    const l = rx.listen(() => {});
    await Promise.all(ps);
    l.stop();
    await l.done;
    drain(); // (the last ones the listener had not taken yet)
    if (r >= WARM) { wall.push((t1 - t0) * 1e6 / N); cpu.push((c1.user + c1.system) * 1e3 / N); }
  }
  const bad = bus.check();
  if (bad.length > 0) throw new Error(`bus.check() after the ${engine} run: ${bad.join('; ')}`);
  tx.close(); rx.close(); bus.close();
  return { send: med(send), sendAsync: med(sendAsync), wall: med(wall), cpu: med(cpu), heap: heap.length ? med(heap) : NaN };
}

const rows = [];
for (const engine of ['wasm', 'twin']) rows.push([engine, await one(engine)]);
console.log(`backlog (${N} sendAsync() at once, 64 B, one thread; Node ${process.version}${gc ? '' : '; no --expose-gc: no heap figure'})`);
console.log('| engine | send, ns | sendAsync with room, ns | ratio | burst: wall per call, ns | CPU per call, ns | heap per waiting sendAsync, B |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [engine, r] of rows) {
  console.log(`| ${engine} | ${r.send.toFixed(0)} | ${r.sendAsync.toFixed(0)} | ${(r.sendAsync / r.send).toFixed(2)} | ${r.wall.toFixed(0)} | ${r.cpu.toFixed(0)} | ${Number.isNaN(r.heap) ? '–' : r.heap.toFixed(0)} |`);
}
process.exit(0);
