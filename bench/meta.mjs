#!/usr/bin/env node
// bench/meta: the per-message cost of metadata (`npm run bench:meta`, after `npm run build`).
// One thread, the public API: a.send(b.id, 64 bytes) / b.recv() / m.free(), with b's receive
// mask set to: nothing, each item kind alone, and ALL; ALL "live, cached" is the core's
// per-thread cache (one meta_epoch_get per message while the provider's epoch holds), ALL
// "live, no cache" is the same provider without an epoch() method, so the core asks for every
// item on every message (the provider keeps its own answers: this measures the imports and the
// copies, not /proc reads). OWNED_NAME is timed with the sender owning 0, 1 and 16 names
// (from 1 name on, SEND takes the bus lock to read them: docs/ARCHITECTURE.md, "Owned names in
// metadata"). Provider: the real Node provider (ttlMs: Infinity). wasm and twin,
// each in this process one after the other. Every row of an engine has its own bus, made and
// warmed up first; then ROUNDS rounds time N messages of each row in turn (interleaved, so that
// a burst of load on a shared machine hits every row alike). Reported: ns/message, the median
// of the rounds, and the ratio to the no-metadata row of the same engine. A benchmark, not a
// test: nothing fails.
import { Bus, ATTACH } from '../dist/js/index.js';
import { NodeProvider } from '../dist/js/host/node.js';

const ROUNDS = Number(process.env.WASMBUS_BENCH_ROUNDS ?? 9), N = Number(process.env.WASMBUS_BENCH_N ?? 10000);
const payload = new Uint8Array(64);

function noEpoch(p) {
  // every method but epoch(), bound to the real provider
  const o = { name: 'node-no-epoch' };
  for (const k of ['clock', 'random', 'creds', 'pids', 'groups', 'comm', 'exe', 'cmdline', 'cgroup', 'caps', 'seclabel', 'audit']) o[k] = p[k].bind(p);
  return o;
}

/** A bus with a sender (owning `owned` names) and a receiver asking for `mask`: its one-message step. */
async function setup(engine, mask, cached, owned = 0) {
  const base = new NodeProvider({ ttlMs: Infinity });
  const bus = await Bus.create({ engine, provider: cached ? base : noEpoch(base), limits: { threads: 2, connections: 4, poolMax: 1 << 20, names: 32 } });
  const a = bus.connect({ description: 'bench-sender' });
  for (let i = 0; i < owned; i++) a.requestName(`org.example.bench.Name${i}`);
  const b = bus.connect({ attachRecv: mask });
  const once = () => { a.send(b.id, payload); b.recv().free(); };
  for (let i = 0; i < 2000; i++) once();
  return { once, close: () => { a.close(); b.close(); bus.close(); } };
}

const rows = [['none', 0, true]];
for (const [k, v] of Object.entries(ATTACH)) if (k !== 'all') rows.push([k === 'names' ? 'names, owns 0' : k, v, true]);
rows.push(['names, owns 1', ATTACH.names, true, 1], ['names, owns 16', ATTACH.names, true, 16]);
rows.push(['ALL, live, cached', ATTACH.all, true], ['ALL, cached, owns 16', ATTACH.all, true, 16], ['ALL, live, no cache', ATTACH.all, false]);

for (const engine of ['wasm', 'twin']) {
  console.log(`\n${engine}: ns/message (median of ${ROUNDS} interleaved rounds × ${N}), ratio to none`);
  const ctx = [];
  for (const [, mask, cached, owned] of rows) ctx.push(await setup(engine, mask, cached, owned));
  const times = rows.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < rows.length; i++) {
      const once = ctx[i].once;
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < N; k++) once();
      times[i].push(Number(process.hrtime.bigint() - t0) / N);
    }
  }
  for (const c of ctx) c.close();
  const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  const none = median(times[0]);
  rows.forEach(([name], i) => {
    const ns = median(times[i]);
    console.log(`  ${name.padEnd(22)} ${ns.toFixed(0).padStart(7)}  ${(ns / none).toFixed(2)}×`);
  });
}
