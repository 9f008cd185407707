#!/usr/bin/env node
// bench/broadcast: broadcast D-Bus signals (conn.emit: D-Bus marshalling, bloom filter, SEND
// to dst ~0) to 1, 16 and 256 subscribers of which 10 % match by bloom (member='Hit'; the
// others have member='Other<i>'), wasm vs twin (`npm run bench:broadcast`, after `npm run build`).
// Reported per engine and N: ns per broadcast (the emit only; the matching receivers are
// drained untimed), and ns per rejected subscriber: (t(N subscribers, none matching) - t(0)) / N,
// i.e. the core's cost to pass over one connection whose entry's mask fails.
// Validated first: exactly the matching subscribers receive each signal, and it re-checks.
import { Bus, MockProvider } from '../dist/js/index.js';

const BATCH = 1000, REPS = 9;
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];

async function setup(engine, n, matching) {
  const bus = await Bus.create({ engine, provider: new MockProvider({ seed: 1 }), limits: { threads: 2, connections: n + 2, poolMax: 131072, names: 16, matches: 512, replies: 16 } });
  const s = bus.connect();
  const subs = [];
  for (let i = 0; i < n; i++) {
    const c = bus.connect();
    const hit = matching(i);
    c.addMatch(`type='signal',interface='org.bench.I',member='${hit ? 'Hit' : `Other${i}`}'`);
    subs.push({ c, hit });
  }
  return { bus, s, subs };
}
const SIG = { path: '/org/bench', interface: 'org.bench.I', member: 'Hit', signature: 's', body: ['payload'] };

function validate({ s, subs }) {
  s.emit(SIG);
  for (const { c, hit } of subs) {
    const m = c.recv();
    if (!!m !== hit) throw new Error(`subscriber ${c.id}: got ${!!m}, expected ${hit}`);
    if (m) { if (!m.matches("member='Hit'")) throw new Error('re-check failed'); m.free(); }
  }
}

function time({ s, subs }) {
  const t = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) s.emit(SIG);
    t.push((performance.now() - t0) * 1e6 / BATCH);
    for (const { c, hit } of subs) if (hit) while (c.drop()) { /* untimed */ }
  }
  return median(t);
}

function close({ bus, s, subs }) {
  for (const { c } of subs) { while (c.drop()); c.close(); }
  s.close();
  bus.close();
}

const rows = [];
for (const engine of ['wasm', 'twin']) {
  const base = await setup(engine, 0, () => false);
  for (let i = 0; i < 5; i++) time(base); // warm the emit path (marshalling, bloom, SEND)
  const t0 = time(base);
  close(base);
  for (const n of [1, 16, 256]) {
    const b = await setup(engine, n, (i) => i % 10 === 0 && n > 1); // n = 1: the one subscriber does not match
    validate(b);
    time(b); // warm-up
    const t = time(b);
    close(b);
    const z = await setup(engine, n, () => false);
    time(z);
    const tz = time(z);
    close(z);
    rows.push({ engine, subscribers: n, matching: b.subs.filter((x) => x.hit).length, 'ns/broadcast': Math.round(t), 'ns/rejected subscriber': Math.round((tz - t0) / n) });
  }
  rows.push({ engine, subscribers: 0, matching: 0, 'ns/broadcast': Math.round(t0), 'ns/rejected subscriber': 0 });
}
console.table(rows);

// Large payloads: emit() to 3 matching subscribers (2 MiB pools). Up to the command area
// (~32 KiB) the D-Bus message is written there and copied once per receiver; beyond it, it is
// written once into a staging slice in the sender's pool (SEND_PENDING, send_commit), then
// copied once per receiver: the rows either side of 32 KiB show what the staging costs.
const big = [];
for (const engine of ['wasm', 'twin']) {
  const bus = await Bus.create({ engine, provider: new MockProvider({ seed: 1 }), limits: { threads: 2, connections: 5, poolMax: 2097152, names: 16, matches: 16, replies: 16 } });
  const s = bus.connect({ poolSize: 2097152 });
  const subs = [0, 1, 2].map(() => { const c = bus.connect({ poolSize: 2097152 }); c.addMatch("interface='org.bench.Big'"); return c; });
  for (const kib of [16, 31, 33, 64, 256]) {
    const sig = { path: '/o', interface: 'org.bench.Big', member: 'Blob', signature: 'ay', body: [new Uint8Array(kib * 1024 - 200)] };
    const n = kib >= 64 ? 50 : 200, t = [];
    for (let i = 0; i < n; i++) { s.emit(sig); for (const c of subs) c.drop(); } // warm-up
    for (let r = 0; r < REPS; r++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) { s.emit(sig); for (const c of subs) c.drop(); }
      t.push((performance.now() - t0) * 1000 / n);
    }
    const us = median(t);
    big.push({ engine, 'payload KiB': kib, path: kib <= 31 ? 'command area' : 'staging slice', 'µs/broadcast (3 receivers, drop included)': us.toFixed(1), 'MB/s delivered': ((3 * kib * 1024) / us).toFixed(0) });
  }
  for (const c of subs) c.close();
  s.close();
  bus.close();
}
console.table(big);
