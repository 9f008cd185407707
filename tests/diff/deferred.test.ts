// Differential, deferred wakes (bus.batch's core half: assembly/lock.ts, wakeConn / owe):
// seeded random lone SENDs, SEND_BATCHes and bursts to many receivers among more connections
// than OWED_MAX, with each
// receiver's sleepers count set now and then (a receiver "parked": the count a waiter adds
// before it waits; no thread waits here, so a notify wakes nobody and leaves the count) and
// the thread's defer word turned on and off, through the wasm core and the TS twin, each on
// its own bus; after every command every byte of bus state must agree (the owed record in the
// thread slot included), and the record must be what the test's model says: while deferring,
// each receiver that was sent a message with its count not 0 is recorded once, in the order
// first sent to, and past OWED_MAX the record says "all"; while not deferring, nothing is
// recorded. "Paying" here clears the record, as the host does (js/host/owed.ts) after its
// notifies. WASMBUS_SEEDS / WASMBUS_STEPS choose the seeds and the commands per seed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { vec, type Item, type Raw } from '../helpers/raw.ts';
import { prng, seedsFromEnv, stepsFromEnv, enginePair, endClean, exercised } from '../helpers/diffkit.ts';

const N = A.OWED_MAX + 4; // connections: enough to overflow the record
const LIMITS = { threads: 2, connections: N, poolMax: 16384, names: 4, matches: 4, replies: 4 };

async function run(seed: number, steps: number): Promise<Record<string, number>> {
  const { raws, both } = await enginePair(LIMITS);
  const rnd = prng(seed);
  const counts: Record<string, number> = {};
  const count = (k: string) => { counts[k] = (counts[k] ?? 0) + 1; };
  const thread = (raw: Raw) => raw.cmd - A.THREAD_CMD;
  const w32 = (raw: Raw, p: number, v: number) => { raw.e.u32[p >>> 2] = v >>> 0; };
  type Conn = { slot: number; gen: number; id: number; addr: number };
  const conns: Conn[] = [];
  for (let i = 0; i < N; i++) {
    const h = both(`hello ${i}`, (raw) => { const h = raw.hello({ poolSize: 16384 }); return { r: h.r, slot: h.slot, gen: h.gen, id: h.id, offset: h.offset }; });
    assert.ok(h.r >= 0, `hello ${i}: ${h.r}`);
    both(`hello ${i} free`, (raw) => raw.free(h.slot, h.gen, h.offset));
    conns.push({ slot: h.slot, gen: h.gen, id: h.id, addr: raws[0]!.e.connAddr(h.slot) });
  }
  // the model: deferring or not, each connection's sleepers count, the record expected
  let defer = false;
  const sleepers = new Array<number>(N).fill(0);
  let owed: number[] = [];
  let all = false;
  const record = (raw: Raw) => {
    const t = thread(raw), n = raw.e.u32[(t + A.THREAD_OWED_N) >>> 2]!;
    return { n, list: Array.from({ length: Math.min(n, A.OWED_MAX) }, (_, k) => raw.e.u32[(t + A.THREAD_OWED + 4 * k) >>> 2]!) };
  };
  const expectRecord = (label: string) => {
    const r = record(raws[0]!);
    if (all) {
      assert.is(r.n, A.OWED_MAX + 1, `${label}: past OWED_MAX the record says all`);
      assert.equal(r.list, owed.slice(0, A.OWED_MAX), `${label}: the first OWED_MAX kept`);
    } else assert.equal(r, { n: owed.length, list: owed }, `${label}: the record`);
  };
  const delivered = (b: number) => {
    if (!defer || sleepers[b] === 0) return;
    const c = conns[b]!.addr;
    if (owed.includes(c)) return;
    if (owed.length < A.OWED_MAX) owed.push(c);
    else if (!all) { all = true; count('overflowed'); }
  };
  let seq = 1;
  for (let step = 0; step < steps; step++) {
    const op = rnd.pick(['send', 'send', 'send', 'batch', 'batch', 'park', 'park', 'unpark', 'defer', 'pay', 'drain', 'drain', 'spray']);
    const label = `seed ${seed} step ${step} ${op}`;
    count(op);
    const a = rnd.int(N), b = rnd.int(N);
    const x = conns[a]!;
    if (op === 'spray') {
      // a burst: one message from a to each of 12 to N - 1 others, most of them parked first
      const to = conns.map((_, i) => i).filter((i) => i !== a).slice(0, 12 + rnd.int(N - 12));
      for (const i of to) {
        if (sleepers[i] === 0 && rnd.int(8) !== 0) { sleepers[i] = 1; both(`${label} park ${i}`, (raw) => w32(raw, conns[i]!.addr + A.CONN_SLEEPERS, 1)); }
        const r = both(`${label} to ${i}`, (raw) => { raw.e.u32[(raw.cmd + 16384) >>> 2] = seq; return raw.send(x.slot, x.gen, { msg: { dst: conns[i]!.id, cookie: seq }, items: [vec(8, raw.cmd + 16384)] }); });
        seq++;
        if (r === 0) { delivered(i); count(defer ? (sleepers[i] ? 'owedSend' : 'deferredNoSleeper') : 'plainSend'); }
        expectRecord(`${label} to ${i}`);
      }
    } else if (op === 'send' || op === 'batch') {
      if (a === b) continue;
      const k = op === 'send' ? 1 : 1 + rnd.int(6);
      const sizes = Array.from({ length: k }, () => 4 + rnd.int(60));
      const r = both(label, (raw) => {
        const items: Item[] = [];
        let at = raw.cmd + 16384;
        for (const n of sizes) {
          raw.e.u32[at >>> 2] = seq;
          items.push(vec(n, at));
          at += (n + 7) & ~7;
        }
        const r = raw.send(x.slot, x.gen, { flags: op === 'batch' ? A.SEND_BATCH : 0, msg: { dst: conns[b]!.id, cookie: seq }, items });
        return { r, sent: op === 'batch' ? raw.r64(raw.cmd + A.SEND_BATCH_SENT) : r === 0 ? 1 : 0 };
      });
      seq += k;
      if (r.sent > 0) {
        delivered(b);
        count(defer ? (sleepers[b] ? 'owedSend' : 'deferredNoSleeper') : 'plainSend');
      } else count(`send ${r.r}`);
    } else if (op === 'park') {
      const v = 1 + rnd.int(3);
      sleepers[b] = v;
      both(label, (raw) => w32(raw, conns[b]!.addr + A.CONN_SLEEPERS, v));
    } else if (op === 'unpark') {
      sleepers[b] = 0;
      both(label, (raw) => w32(raw, conns[b]!.addr + A.CONN_SLEEPERS, 0));
    } else if (op === 'defer') {
      defer = !defer;
      both(label, (raw) => w32(raw, thread(raw) + A.THREAD_DEFER, defer ? 1 : 0));
    } else if (op === 'pay') {
      if (all) count('paidAll'); else if (owed.length) count('paid');
      owed = [];
      all = false;
      both(label, (raw) => w32(raw, thread(raw) + A.THREAD_OWED_N, 0));
    } else if (op === 'drain') {
      both(label, (raw) => { let k = 0; while (raw.recv(conns[b]!.slot, conns[b]!.gen, A.RECV_DROP).r === 0) k++; return k; });
    }
    expectRecord(label);
  }
  both('defer off', (raw) => { w32(raw, thread(raw) + A.THREAD_DEFER, 0); w32(raw, thread(raw) + A.THREAD_OWED_N, 0); });
  for (const c of conns) {
    both('unpark', (raw) => w32(raw, c.addr + A.CONN_SLEEPERS, 0));
    both('drain', (raw) => { let k = 0; while (raw.recv(c.slot, c.gen, A.RECV_DROP).r === 0) k++; return k; });
  }
  endClean(raws, conns, both);
  return counts;
}

const SEEDS = seedsFromEnv([1, 2, 3, 4, 5, 6]);
const STEPS = stepsFromEnv(600);
for (const seed of SEEDS) {
  test(`deferred wakes: wasm and twin agree byte for byte, the owed record as the model says: seed ${seed}`, async () => {
    const counts = await run(seed, STEPS);
    const min = exercised(counts, STEPS);
    min('owedSend', 1 / 30); min('deferredNoSleeper', 1 / 600); min('plainSend', 1 / 30); min('paid', 1 / 200); min('overflowed', 1 / 600);
  });
}

test.run();
