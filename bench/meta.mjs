#!/usr/bin/env node
// bench/meta: the per-message cost of metadata (`npm run bench:meta`, after `npm run build`).
// One thread, the public API: a.send(b.id, 64 bytes) / b.recv() / m.free(), with b's receive
// mask set to: nothing, each item kind alone, and ALL; ALL "live, cached" is the core's
// per-thread cache (one meta_epoch_get per message while the provider's epoch holds), ALL
// "live, no cache" is the same provider without an epoch() method, so the core asks for every
// item on every message (the provider keeps its own answers: this measures the imports and the
// copies, not /proc reads). Provider: the real Node provider (ttlMs: Infinity). wasm and twin,
// each in this process one after the other. Reported: ns/message, the median of REPS runs, and
// the ratio to the no-metadata row of the same engine. A benchmark, not a test: nothing fails.
import { Bus, ATTACH } from '../dist/js/index.js';
import { NodeProvider } from '../dist/js/host/node.js';

const REPS = 3, N = Number(process.env.WASMBUS_BENCH_N ?? 20000);
const payload = new Uint8Array(64);

function noEpoch(p) {
  // every method but epoch(), bound to the real provider
  const o = { name: 'node-no-epoch' };
  for (const k of ['clock', 'random', 'creds', 'pids', 'groups', 'comm', 'exe', 'cmdline', 'cgroup', 'caps', 'seclabel', 'audit']) o[k] = p[k].bind(p);
  return o;
}

async function run(engine, mask, cached) {
  const base = new NodeProvider({ ttlMs: Infinity });
  const bus = await Bus.create({ engine, provider: cached ? base : noEpoch(base), limits: { threads: 2, connections: 4, poolMax: 1 << 20 } });
  const a = bus.connect({ description: 'bench-sender' });
  const b = bus.connect({ attachRecv: mask });
  const once = () => { a.send(b.id, payload); b.recv().free(); };
  for (let i = 0; i < 2000; i++) once();
  const times = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) once();
    times.push(Number(process.hrtime.bigint() - t0) / N);
  }
  a.close(); b.close(); bus.close();
  times.sort((x, y) => x - y);
  return times[1];
}

const rows = [['none', 0, true]];
for (const [k, v] of Object.entries(ATTACH)) if (k !== 'all') rows.push([k, v, true]);
rows.push(['ALL, live, cached', ATTACH.all, true], ['ALL, live, no cache', ATTACH.all, false]);

for (const engine of ['wasm', 'twin']) {
  console.log(`\n${engine}: ns/message (median of ${REPS} × ${N}), ratio to none`);
  await run(engine, 0, true); // warm-up (JIT of the API and the engine): not reported
  let none = 0;
  for (const [name, mask, cached] of rows) {
    const ns = await run(engine, mask, cached);
    if (name === 'none') none = ns;
    console.log(`  ${name.padEnd(22)} ${ns.toFixed(0).padStart(7)}  ${(ns / none).toFixed(2)}×`);
  }
}
