// Differential: the same seeded random commands through the wasm core and the TS twin, each
// on its own bus; after every command the results and every byte of bus state must agree.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi as A, WasmEngine, TwinEngine, MockProvider, loadCore, type Engine } from '../../js/index.ts';
import { makeBus, leaks, closeAll } from '../helpers/harness.ts';
import { Raw, ALL, vec, hostVec, str, type Item } from '../helpers/raw.ts';
import { checkBus } from '../helpers/check.ts';

/** mulberry32: small, seeded, good enough for choosing commands */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(a: T[]): T => a[Math.floor(next() * a.length)] };
}

function firstDiff(a: Engine, b: Engine, from: number, to: number): number {
  const x = a.u32, y = b.u32;
  for (let i = from >>> 2, e = to >>> 2; i < e; i++) if (x[i] !== y[i]) return i << 2;
  return -1;
}

const LIMITS = { threads: 2, connections: 6, poolMax: 32768, names: 4, matches: 4, replies: 4 };

async function run(seed: number, steps: number) {
  const W = await makeBus({ limits: LIMITS, hooks: true }, 'wasm');
  const T = await makeBus({ limits: LIMITS, hooks: true }, 'twin');
  const raws = [new Raw(W.bus.engine), new Raw(T.bus.engine)];
  const mocks = [W.mock, T.mock];
  // a second thread on each bus (its own engine instance), which the 'kill' op lets die
  // mid-command for the first thread to recover
  let token = 7;
  const second = async (): Promise<Raw[]> => {
    const t = token++;
    const out = [];
    for (const [i, kind] of (['wasm', 'twin'] as const).entries()) {
      const m = new MockProvider({ seed: 1000 + t });
      mocks.push(m);
      const mem = [W, T][i].bus.memory;
      const e = kind === 'wasm' ? await WasmEngine.create(await loadCore(true), mem, m, true) : new TwinEngine(mem, m, true);
      assert.ok(e.threadJoin(t) > 0);
      out.push(new Raw(e));
    }
    return out;
  };
  let raws2 = await second();
  const end = W.bus.userRegion;
  assert.is(T.bus.userRegion, end);
  const rnd = prng(seed);
  // what the test knows of the bus, from the (equal) results
  const conns: { slot: number; gen: number; id: number; th: number }[] = [];
  const published = new Map<number, number[]>(); // slot -> offsets
  const counts: Record<string, number> = {};

  let th = 0; // which thread acts: 0 the bus's creator, 1 the second thread
  const actor = (i: number) => (th === 0 ? raws : raws2)[i];
  const attempt = <R>(f: (raw: Raw, i: number) => R, i: number): R | string => {
    const raw = actor(i);
    try { return f(raw, i); } catch { raw.e.setFault(0); return 'trap'; }
  };
  const both = <R>(label: string, f: (raw: Raw, i: number) => R): R => {
    const rw = attempt(f, 0) as R, rt = attempt(f, 1) as R;
    assert.equal(rt, rw, `${label}: results differ`);
    const d = firstDiff(raws[0].e, raws[1].e, A.BUS_BASE, end);
    if (d >= 0) assert.unreachable(`${label}: bus state differs at ${d} (wasm ${raws[0].e.u32[d >>> 2]}, twin ${raws[1].e.u32[d >>> 2]})`);
    return rw;
  };

  for (let step = 0; step < steps; step++) {
    const op = rnd.pick(['hello', 'send', 'send', 'send', 'send', 'recv', 'recv', 'recv', 'free', 'free', 'byebye', 'creds', 'fault', 'kill']);
    const label = `seed ${seed} step ${step} ${op}`;
    counts[op] = (counts[op] ?? 0) + 1;
    th = rnd.int(3) === 0 ? 1 : 0;
    if (op === 'kill') {
      // the second thread dies at a random logged store of a send or receive; the first
      // thread recovers it (undo, unlock, close its connections) and a new second thread joins
      if (conns.length === 0) continue;
      th = 1;
      const n = 1 + rnd.int(15);
      const c = rnd.pick(conns), d = rnd.pick(conns);
      raws2.forEach((raw) => raw.e.setFault(n, true));
      let trapped: boolean;
      if (rnd.int(2) === 0) {
        trapped = both(label, (raw) => raw.send(c.slot, c.gen, { msg: { dst: d.id }, items: [hostVec(100)] })) as unknown === 'trap';
      } else {
        const m = both(label, (raw) => raw.recv(c.slot, c.gen)) as unknown as { r: number; offset: number } | 'trap';
        trapped = m === 'trap';
        if (m !== 'trap' && m.r === 0 && !published.get(c.slot)!.includes(m.offset)) published.get(c.slot)!.push(m.offset);
      }
      if (!trapped) { raws2.forEach((raw) => raw.e.setFault(0)); continue; }
      const slot2 = raws2[0].e.threadSlot;
      th = 0;
      // an armed 'fault' may trap the recovery itself: it is unwound, and running it again
      // finishes it (recovery is re-entrant)
      let rr = both(`${label} recover`, (raw) => raw.e.recover(slot2, true)) as number | string;
      if (rr === 'trap') rr = both(`${label} recover again`, (raw) => raw.e.recover(slot2, true));
      assert.is(rr, 0);
      for (let i = conns.length - 1; i >= 0; i--) if (conns[i].th === 1) { published.delete(conns[i].slot); conns.splice(i, 1); }
      raws2 = await second();
      counts.killed = (counts.killed ?? 0) + 1;
      continue;
    }
    if (op === 'fault') {
      // the next command traps at a random logged store on both engines and is unwound
      const n = 1 + rnd.int(12);
      raws.forEach((raw) => raw.e.setFault(n));
      continue;
    }
    if (op === 'creds') {
      const uid = rnd.int(4);
      mocks.forEach((m) => m.setCreds({ uid }));
    } else if (op === 'hello') {
      const bad = rnd.int(8) === 0;
      const poolSize = rnd.pick([4096, 8192, 16384, 32768, bad ? 5000 : 32768]);
      const items: Item[] = rnd.int(3) === 0 ? [str(A.ITEM_CONN_DESCRIPTION, rnd.pick(['x', 'peer.1', bad ? '.bad' : 'ok', 'a'.repeat(bad ? 64 : 10)]))] : [];
      const mask = () => rnd.pick([0, A.ATTACH_TIMESTAMP, A.ATTACH_CREDS, A.ATTACH_ALL, 3]);
      const attachSend = mask(), attachRecv = mask(), flags = bad ? rnd.pick([0, 8, 16]) : 0;
      const h = both(label, (raw) => raw.hello({ poolSize, items, attachSend, attachRecv, flags }));
      if (typeof h !== 'string' && h.r >= 0) {
        conns.push({ slot: h.slot, gen: h.gen, id: h.id, th });
        published.set(h.slot, [h.offset]);
      }
    } else if (conns.length === 0) {
      continue;
    } else if (op === 'send') {
      const a = rnd.pick(conns);
      const dst = rnd.int(10) === 0 ? rnd.pick([0, 99, ALL]) : rnd.pick(conns).id;
      const items: Item[] = [];
      const nv = rnd.int(4);
      const host: Uint8Array[] = [];
      for (let i = 0; i < nv; i++) {
        const size = rnd.pick([1, 7, 8, 64, 500, 3000, 9000]);
        const kind = rnd.int(3);
        if (kind === 0) { items.push(hostVec(size)); host.push(new Uint8Array(size).map(() => rnd.int(256))); }
        else if (kind === 1) items.push(vec(size, 0));
        else items.push(vec(Math.min(size, 1024), raws[0].cmd + 16384 + rnd.int(64) * 8));
      }
      if (rnd.int(12) === 0) items.push(str(A.ITEM_DST_NAME, rnd.pick(['org.example.A', 'bad'])));
      if (rnd.int(20) === 0) items.push({ type: A.ITEM_BLOOM_FILTER, data: new Array(9).fill(0) });
      const flags = rnd.int(10) === 0 ? rnd.pick([1, 2, 4, 8]) : 0;
      const priority = BigInt(rnd.int(7) - 3);
      const cookie = BigInt(rnd.int(1000));
      // same command-area bytes for the in-memory vecs on both sides
      const fill = new Uint8Array(2048).map(() => rnd.int(256));
      raws.forEach((raw) => raw.e.u8.set(fill, raw.cmd + 16384));
      both(label, (raw) => raw.send(a.slot, a.gen, { msg: { dst, flags, priority, cookie }, items, host: host.map((h) => h.slice()) }));
    } else if (op === 'recv') {
      const b = rnd.pick(conns);
      const flags = rnd.pick([0, 0, 0, A.RECV_PEEK, A.RECV_DROP, A.RECV_USE_PRIORITY, A.RECV_DROP | A.RECV_USE_PRIORITY]);
      const prio = BigInt(rnd.int(3) - 1);
      const m = both(label, (raw) => raw.recv(b.slot, b.gen, flags, prio));
      if (typeof m !== 'string' && m.r === 0 && (flags & A.RECV_DROP) === 0) {
        const list = published.get(b.slot)!;
        if (!list.includes(m.offset)) list.push(m.offset);
      }
    } else if (op === 'free') {
      const b = rnd.pick(conns);
      const list = published.get(b.slot)!;
      const i = list.length && rnd.int(5) !== 0 ? rnd.int(list.length) : -1;
      const off = i >= 0 ? list[i] : rnd.int(40000);
      if (both(label, (raw) => raw.free(b.slot, b.gen, off)) === 0 && i >= 0) list.splice(i, 1);
    } else if (op === 'byebye') {
      const i = rnd.int(conns.length);
      const c = conns[i];
      const r = both(label, (raw) => raw.byebye(c.slot, c.gen));
      if (r === 0) conns.splice(i, 1);
    }
  }
  // drain and close both the same way, then compare once more
  th = 0;
  raws.forEach((raw) => raw.e.setFault(0));
  raws2.forEach((raw) => raw.e.setFault(0));
  for (const c of conns) {
    both('drain', (raw) => { while (raw.recv(c.slot, c.gen, A.RECV_DROP).r === 0); return 0; });
    for (const off of published.get(c.slot)!) both('free', (raw) => raw.free(c.slot, c.gen, off));
  }
  for (const raw of raws) assert.equal(leaks(raw.e), [], 'leak check');
  for (const raw of raws) assert.equal(checkBus(raw.e), [], 'consistent');
  raws.forEach((raw) => closeAll(raw.e, raw));
  both('closed', () => raws[0].e.liveConns());
  return counts;
}

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test(`wasm and twin agree byte for byte: seed ${seed}`, async () => {
    const counts = await run(seed, 600);
    assert.ok(counts.send > 100 && counts.recv > 50 && counts.fault > 20 && (counts.killed ?? 0) > 5, `the commands were exercised: ${JSON.stringify(counts)}`);
  });
}

test.run();
