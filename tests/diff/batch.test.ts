// Differential, batches: seeded random SEND_BATCHes (1 to 12 messages of 1 to 120 bytes,
// some by well-known name, now and then one breaking a batch rule), lone SENDs, RECV,
// RECV_BATCH (freeing some received slices first, now and then a bad offset among them), FREE
// (received messages kept a while, freed in any order), RECV_DROP and BYEBYE + HELLO among a
// few connections with small pools and a small message quota (so that batches run out of room
// part way), through the wasm core and the TS twin, each on its own bus; after every command
// the results and every byte of bus state must agree, and what the test knows must hold: a
// batch's count, and per sender and receiver every message once, in order.
// WASMBUS_SEEDS / WASMBUS_STEPS choose the seeds and the commands per seed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { vec, str, hostVec, type Item, type Raw } from '../helpers/raw.ts';
import { prng, seedsFromEnv, stepsFromEnv, enginePair, endClean, exercised } from '../helpers/diffkit.ts';

const LIMITS = { threads: 2, connections: 4, poolMax: 16384, names: 4, matches: 4, replies: 4, maxQueuedPerUser: 10 };
const N = 4; // connections
const NAME = 'org.example.Batch';

async function run(seed: number, steps: number): Promise<Record<string, number>> {
  const { raws, both } = await enginePair(LIMITS);
  const rnd = prng(seed);
  const counts: Record<string, number> = {};
  const count = (k: string) => { counts[k] = (counts[k] ?? 0) + 1; };
  type Conn = { slot: number; gen: number; id: number; held: number[] };
  const conns: Conn[] = [];
  const hello = (label: string): Conn => {
    const h = both(label, (raw) => { const h = raw.hello({ poolSize: 16384 }); return { r: h.r, slot: h.slot, gen: h.gen, id: h.id, offset: h.offset }; });
    assert.ok(h.r >= 0, `${label}: ${h.r}`);
    both(`${label} free`, (raw) => raw.free(h.slot, h.gen, h.offset));
    return { slot: h.slot, gen: h.gen, id: h.id, held: [] };
  };
  for (let i = 0; i < N; i++) conns.push(hello(`hello ${i}`));
  /** the owner of NAME (an index), -1 for none */
  let owner = -1;
  /** per (sender id, receiver id): the last sequence number received */
  const last = new Map<string, number>();
  let seq = 1;
  const received = (raw: Raw, x: Conn, off: number) => {
    const s = raw.slice(x.slot, off);
    const src = raw.r64(s + A.MSG_SRC_ID);
    if (src === 0) return; // (the bus's own: a name change)
    let p = s + A.MSG_HDR;
    if (raw.r64(p + A.ITEM_TYPE) === A.ITEM_DST_NAME) p += (raw.r64(p + A.ITEM_SIZE) + 7) & ~7;
    assert.is(raw.r64(p + A.ITEM_TYPE), A.ITEM_PAYLOAD_OFF);
    const at = s + raw.r64(p + A.VEC_ADDRESS);
    const n = raw.e.u32[at >>> 2];
    const key = `${src}>${x.id}`;
    assert.ok(n > (last.get(key) ?? 0), `in order, once: ${n} after ${last.get(key)} (${key})`);
    last.set(key, n);
  };
  for (let step = 0; step < steps; step++) {
    const op = rnd.pick(['batch', 'batch', 'batch', 'send', 'recv', 'recv', 'recvBatch', 'recvBatch', 'free', 'free', 'drop', 'drop', 'name', 'reopen']);
    const label = `seed ${seed} step ${step} ${op}`;
    count(op);
    const a = rnd.int(N), b = rnd.int(N);
    const x = conns[a];
    if (op === 'batch' || op === 'send') {
      const k = op === 'send' ? 1 : 1 + rnd.int(12);
      const byName = rnd.int(4) === 0;
      const breakRule = op === 'batch' && rnd.int(8) === 0 ? rnd.int(3) : -1;
      const sizes = Array.from({ length: k }, () => 4 + rnd.int(117));
      const first = seq;
      seq += k;
      const data = 16384;
      const r = both(label, (raw) => {
        const items: Item[] = [];
        if (byName) items.push(str(A.ITEM_DST_NAME, NAME));
        let at = raw.cmd + data;
        sizes.forEach((n, i) => {
          raw.e.u8.fill(i, at, at + n);
          raw.e.u32[at >>> 2] = first + i;
          items.push(vec(n, at));
          at += (n + 7) & ~7;
        });
        if (breakRule === 0) items.push(vec(4, 0));
        if (breakRule === 1) items.push(hostVec(4));
        const flags = breakRule === 2 ? A.MSG_EXPECT_REPLY : 0;
        const r = raw.send(x.slot, x.gen, { flags: op === 'batch' ? A.SEND_BATCH : 0, msg: { dst: byName ? 0 : conns[b].id, cookie: first, flags, timeout: flags ? 1n << 62n : 0 }, items });
        return { r, sent: op === 'batch' ? raw.r64(raw.cmd + A.SEND_BATCH_SENT) : r === 0 ? 1 : 0 };
      });
      if (breakRule >= 0) { assert.is(r.r, -A.EINVAL, label); assert.is(r.sent, 0); count('rule'); continue; }
      if (r.r === 0) assert.is(r.sent, k, `${label}: all sent`);
      else assert.ok(r.sent < k, `${label}: ${r.sent} of ${k} before ${r.r}`);
      if (op === 'batch') count(r.r === 0 ? 'batchAll' : r.sent > 0 ? 'batchPart' : `batch ${r.r}`);
    } else if (op === 'recv') {
      const got = both(label, (raw) => { const m = raw.recv(x.slot, x.gen); return { r: m.r, offset: m.offset }; });
      if (got.r === 0) {
        received(raws[0], x, got.offset);
        x.held.push(got.offset);
        count('received');
      }
    } else if (op === 'recvBatch') {
      // RECV_BATCH: some held slices freed first (now and then a bad offset among them), then up to n taken
      const n = 1 + rnd.int(6);
      const k = Math.min(rnd.int(n + 1), x.held.length);
      const frees = x.held.slice(0, k);
      const bad = k > 0 && rnd.int(4) === 0 ? rnd.int(k) : -1;
      if (bad >= 0) frees[bad] += 8;
      if (k > 0) count('recvBatchFrees');
      const got = both(label, (raw) => {
        const e = raw.e, cmd = raw.cmd, u32 = e.u32;
        u32[(cmd + A.CMD_SIZE) >>> 2] = A.RECV_BATCH_ENTRIES + 8 * n; u32[(cmd + A.CMD_SIZE + 4) >>> 2] = 0;
        u32[(cmd + A.CMD_FLAGS) >>> 2] = A.RECV_BATCH; u32[(cmd + A.CMD_FLAGS + 4) >>> 2] = 0;
        u32[(cmd + A.RECV_BATCH_FREE) >>> 2] = k;
        frees.forEach((off, i) => { u32[(cmd + A.RECV_BATCH_ENTRIES + 8 * i) >>> 2] = off; });
        const r = e.recv(x.slot, x.gen);
        const taken = u32[(cmd + A.RECV_BATCH_TAKEN) >>> 2], freed = u32[(cmd + A.RECV_BATCH_FREE) >>> 2];
        return { r, freed, taken: Array.from({ length: r === 0 ? taken : 0 }, (_, i) => u32[(cmd + A.RECV_BATCH_ENTRIES + 8 * i) >>> 2]) };
      });
      if (bad >= 0) {
        assert.is(got.r, -A.ENXIO, label);
        assert.is(got.freed, bad, `${label}: freed up to the bad one`);
        x.held.splice(0, bad);
        count('recvBatchBad');
      } else {
        x.held.splice(0, k);
        for (const off of got.taken) { received(raws[0], x, off); x.held.push(off); count('received'); }
        count(got.r === 0 ? 'recvBatchTook' : `recvBatch ${got.r}`);
      }
    } else if (op === 'free' && x.held.length > 0) {
      const off = x.held.splice(rnd.int(x.held.length), 1)[0];
      assert.is(both(label, (raw) => raw.free(x.slot, x.gen, off)), 0);
    } else if (op === 'drop') {
      both(label, (raw) => raw.recv(x.slot, x.gen, A.RECV_DROP).r);
    } else if (op === 'name') {
      // the name moves: acquired by a (queued behind, replacing) or released by its owner
      if (owner === a) { both(label, (raw) => raw.nameRelease(x.slot, x.gen, NAME)); owner = -1; }
      else {
        const r = both(label, (raw) => raw.nameAcquire(x.slot, x.gen, NAME, A.NAME_REPLACE_EXISTING | A.NAME_ALLOW_REPLACEMENT));
        if (r.r === 0) owner = a;
      }
    } else if (op === 'reopen' && rnd.int(3) === 0) {
      for (const off of x.held) both(`${label} free held`, (raw) => raw.free(x.slot, x.gen, off));
      assert.is(both(label, (raw) => raw.byebye(x.slot, x.gen, A.BYEBYE_DROP)), 0);
      if (owner === a) owner = -1;
      conns[a] = hello(`${label} hello`);
      count('reopened');
    }
  }
  for (const x of conns) {
    for (const off of x.held) both('free at the end', (raw) => raw.free(x.slot, x.gen, off));
    x.held = [];
    both('drain', (raw) => { let k = 0; while (raw.recv(x.slot, x.gen, A.RECV_DROP).r === 0) k++; return k; });
  }
  endClean(raws, conns, both);
  return counts;
}

const SEEDS = seedsFromEnv([1, 2, 3, 4, 5, 6]);
const STEPS = stepsFromEnv(400);
for (const seed of SEEDS) {
  test(`batches: wasm and twin agree byte for byte, every message once and in order: seed ${seed}`, async () => {
    const counts = await run(seed, STEPS);
    const min = exercised(counts, STEPS);
    min('batchAll', 1 / 25); min('batchPart', 1 / 200); min('received', 1 / 8); min('rule', 1 / 200); min('recvBatchTook', 1 / 40); min('recvBatchBad', 1 / 400);
  });
}

test.run();
