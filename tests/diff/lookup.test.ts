// Differential, lookups: many connections churned (ids starting just below 2^32, so the low
// word wraps; buckets shared), messages published and freed in random order, forged FREE
// offsets, and faults at random logged stores, through the wasm core and the TS twin; after
// every command the results and every byte of bus state (the id table and the publish maps
// included) must agree.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi as A, type Engine } from '../../js/index.ts';
import { makeBus, leaks, closeAll } from '../helpers/harness.ts';
import { Raw, hostVec } from '../helpers/raw.ts';
import { checkBus } from '../helpers/check.ts';
import { busDiff } from '../helpers/diffkit.ts';

function prng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const LIMITS = { threads: 2, connections: 24, poolMax: 16384, names: 4, matches: 4, replies: 4 };

async function run(seed: number, steps: number) {
  const W = await makeBus({ limits: LIMITS, hooks: true }, 'wasm');
  const T = await makeBus({ limits: LIMITS, hooks: true }, 'twin');
  const raws = [new Raw(W.bus.engine), new Raw(T.bus.engine)];
  for (const raw of raws) {
    raw.e.u32[(A.BUS_BASE + A.BUS_NEXT_ID) >>> 2] = 0xffffffff - 30;
    raw.e.u32[(A.BUS_BASE + A.BUS_NEXT_ID + 4) >>> 2] = 0;
  }
  const both = <R>(label: string, f: (raw: Raw) => R): R | 'trap' => {
    const out = raws.map((raw) => { try { return f(raw); } catch { raw.e.setFault(0); return 'trap' as const; } });
    assert.equal(out[1], out[0], `${label}: results differ`);
    const at = busDiff(raws[0].e, raws[1].e); // (every byte but the liveness key: diffkit.ts)
    if (at >= 0) assert.unreachable(`${label}: bus state differs at ${at} (wasm ${raws[0].e.u32[at >>> 2]}, twin ${raws[1].e.u32[at >>> 2]})`);
    return out[0];
  };
  const rnd = prng(seed);
  const conns: { slot: number; gen: number; id: number; pub: number[] }[] = [];
  const counts: Record<string, number> = {};
  for (let step = 0; step < steps; step++) {
    const op = ['hello', 'hello', 'byebye', 'send', 'send', 'recv', 'free', 'free', 'forge', 'fault'][rnd(10)];
    const label = `seed ${seed} step ${step} ${op}`;
    counts[op] = (counts[op] ?? 0) + 1;
    if (op === 'fault') { const n = 1 + rnd(10); raws.forEach((raw) => raw.e.setFault(n)); continue; }
    if (op === 'hello') {
      const h = both(label, (raw) => raw.hello({ poolSize: 8192 }));
      if (h !== 'trap' && h.r >= 0) conns.push({ slot: h.slot, gen: h.gen, id: h.id, pub: [h.offset] });
      continue;
    }
    if (conns.length === 0) continue;
    const c = conns[rnd(conns.length)];
    if (op === 'byebye') {
      // drain it first, so that it closes
      both(label, (raw) => { while (raw.recv(c.slot, c.gen, A.RECV_DROP).r === 0); return 0; });
      if (both(label, (raw) => raw.byebye(c.slot, c.gen)) === 0) conns.splice(conns.indexOf(c), 1);
    } else if (op === 'send') {
      const d = conns[rnd(conns.length)];
      const dst = rnd(8) === 0 ? d.id + 1 : d.id, size = 1 + rnd(200);
      both(label, (raw) => raw.send(c.slot, c.gen, { msg: { dst }, items: [hostVec(size)] }));
    } else if (op === 'recv') {
      const flags = rnd(4) === 0 ? A.RECV_PEEK : 0;
      const m = both(label, (raw) => raw.recv(c.slot, c.gen, flags));
      if (m !== 'trap' && m.r === 0 && !c.pub.includes(m.offset)) c.pub.push(m.offset);
    } else if (op === 'free') {
      if (c.pub.length === 0) continue;
      const i = rnd(c.pub.length);
      if (both(label, (raw) => raw.free(c.slot, c.gen, c.pub[i])) === 0) c.pub.splice(i, 1);
    } else if (op === 'forge') {
      const base = c.pub.length ? c.pub[rnd(c.pub.length)] : 32;
      const off = base + [8, 16, 24, 40, 64, 1, -8][rnd(7)];
      const r = both(label, (raw) => raw.free(c.slot, c.gen, off));
      if (r === 0) c.pub.splice(c.pub.indexOf(off), 1); // an offset that happened to be published
    }
  }
  raws.forEach((raw) => raw.e.setFault(0));
  for (const raw of raws) assert.equal(checkBus(raw.e), [], 'consistent');
  for (const c of conns) {
    both('drain', (raw) => { while (raw.recv(c.slot, c.gen, A.RECV_DROP).r === 0); return 0; });
    for (const off of c.pub) both('free', (raw) => raw.free(c.slot, c.gen, off));
  }
  for (const raw of raws) assert.equal(leaks(raw.e as Engine), [], 'leak check');
  raws.forEach((raw) => closeAll(raw.e, raw));
  return { counts, ids: conns.map((c) => c.id) };
}

for (const seed of [1, 2, 3]) {
  test(`lookups: wasm and twin agree byte for byte, ids across 2^32: seed ${seed}`, async () => {
    const { counts } = await run(seed, 1500);
    assert.ok(counts.hello > 200 && counts.forge > 100 && counts.fault > 100, JSON.stringify(counts));
  });
}

test.run();
