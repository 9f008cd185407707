// Lookups that do not grow: SEND finds its receiver through the id table (many connections,
// open/close churn, slots re-used, ids across the 2^32 and 2^64 boundaries), and FREE checks
// an offset against the publish map (forged offsets get ENXIO and change nothing; slices
// can be freed in any order).
import * as assert from 'uvu/assert';
import { abi as A, type Engine } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { hostVec, vec, type Raw } from '../helpers/raw.ts';
import { checkBus, stateImage, firstDifference } from '../helpers/check.ts';

const CONNS = 40;
const t = busSuite('lookups', { limits: { threads: 2, connections: CONNS, poolMax: 65536, names: 4, matches: 4, replies: 4 } });

/** mulberry32 */
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

const setNextId = (e: Engine, id: bigint) => {
  e.u32[(A.BUS_BASE + A.BUS_NEXT_ID) >>> 2] = Number(id & 0xffffffffn);
  e.u32[(A.BUS_BASE + A.BUS_NEXT_ID + 4) >>> 2] = Number(id >> 32n);
};
const connId = (raw: Raw, slot: number) => raw.r64big(raw.e.connAddr(slot) + A.CONN_ID);

type H = ReturnType<typeof open> & { idBig: bigint };
const hello = (raw: Raw): H => {
  const h = open(raw, { poolSize: 8192 });
  return { ...h, idBig: connId(raw, h.slot) };
};

/** A message from `a` to id `dst`: the SEND result; a delivered one is dropped again. */
function ping(raw: Raw, a: H, dst: bigint, rx?: H): number {
  const r = raw.send(a.slot, a.gen, { msg: { dst }, items: [vec(8, 0)] });
  if (r === 0 && rx) {
    const m = raw.recv(rx.slot, rx.gen);
    assert.is(m.r, 0);
    assert.is(raw.r64big(raw.slice(rx.slot, m.offset) + A.MSG_DST_ID), dst);
    assert.is(raw.free(rx.slot, rx.gen, m.offset), 0);
  }
  return r;
}

/** Open/close churn: every open id reaches its connection, every closed one gives ENXIO. */
function churn(raw: Raw, e: Engine, seed: number, steps: number) {
  const rnd = prng(seed);
  const live: H[] = [];
  const dead: bigint[] = [];
  for (let i = 0; i < CONNS - 4; i++) live.push(hello(raw));
  for (let step = 0; step < steps; step++) {
    if (live.length > 1 && (live.length >= CONNS || rnd(2) === 0)) {
      const [c] = live.splice(rnd(live.length), 1);
      assert.is(raw.byebye(c.slot, c.gen), 0);
      dead.push(c.idBig);
    } else {
      const h = hello(raw);
      assert.not.ok(live.some((x) => x.idBig === h.idBig), 'ids are unique');
      assert.ok(h.idBig !== 0n && h.idBig !== 0xffffffffffffffffn, 'never 0 or ~0');
      live.push(h);
    }
    const a = live[rnd(live.length)], b = live[rnd(live.length)];
    assert.is(ping(raw, a, b.idBig, b), 0, `step ${step}: send to live id ${b.idBig}`);
    if (dead.length) {
      const d = dead[rnd(dead.length)];
      if (!live.some((x) => x.idBig === d)) assert.is(ping(raw, a, d), -A.ENXIO, `step ${step}: send to closed id ${d}`);
    }
    if (step % 25 === 0) assert.equal(checkBus(e), [], `step ${step}: consistent`);
  }
  // every live connection, by id
  for (const b of live) assert.is(ping(raw, live[0], b.idBig, b), 0);
  assert.equal(checkBus(e), []);
  return live;
}

t('many connections, open/close churn, slots re-used: every live id found, closed ids ENXIO', ({ raw, e }) => {
  churn(raw, e, 1, 400);
});

t('ids across 2^32 (the low word wraps)', ({ raw, e }) => {
  setNextId(e, 0xffffffffn - 20n);
  const live = churn(raw, e, 2, 300);
  assert.ok(live.some((h) => h.idBig > 0xffffffffn), 'ids passed 2^32');
});

t('ids across 2^64: 0 and ~0 are skipped, and so are ids still in use', ({ raw, e }) => {
  // ids 1 and 2 stay open while the counter wraps
  const one = hello(raw), two = hello(raw);
  assert.is(one.idBig, 1n);
  assert.is(two.idBig, 2n);
  setNextId(e, 0xfffffffffffffffen);
  const last = hello(raw);
  assert.is(last.idBig, 0xfffffffffffffffen);
  const next = hello(raw);
  assert.is(next.idBig, 3n, '~0, 0, 1 and 2 are skipped');
  assert.is(raw.r64big(A.BUS_BASE + A.BUS_NEXT_ID), 4n);
  for (const h of [one, two, last, next]) assert.is(ping(raw, one, h.idBig, h), 0);
  assert.is(ping(raw, one, 0xffffffffffffffffn), -A.EBADMSG, '~0 is broadcast');
  assert.equal(checkBus(e), []);
  for (const h of [one, two, last, next]) assert.is(raw.byebye(h.slot, h.gen), 0);
  const live = churn(raw, e, 3, 150);
  assert.ok(live.every((h) => h.idBig > 3n && h.idBig < 1000n), 'counting on from 4');
});

t('ids sharing a bucket: chains are walked, and unlinked from the head, middle and tail', ({ raw, e }) => {
  const mask = e.u32[(A.BUS_BASE + A.BUS_ID_MASK) >>> 2];
  assert.is(mask + 1, 64, `${CONNS} connections: 64 buckets`);
  // ids 1, 65, 129, 193 all hash to bucket 1: open, and close everything between them
  const keep: H[] = [];
  for (let i = 0; i < 4; i++) {
    keep.push(hello(raw));
    for (let j = 0; j < 63; j++) {
      const h = hello(raw);
      assert.is(raw.byebye(h.slot, h.gen), 0);
    }
  }
  assert.equal(keep.map((h) => h.idBig), [1n, 65n, 129n, 193n]);
  assert.equal(checkBus(e), []);
  for (const h of keep) assert.is(ping(raw, keep[0], h.idBig, h), 0);
  assert.is(ping(raw, keep[0], 257n), -A.ENXIO, 'same bucket, no such id');
  // unlink the middle, the tail (the first one inserted) and the head
  for (const i of [2, 0, 3]) {
    assert.is(raw.byebye(keep[i].slot, keep[i].gen), 0);
    assert.equal(checkBus(e), [], `after closing id ${keep[i].idBig}`);
    assert.is(ping(raw, keep[1], keep[i].idBig), -A.ENXIO);
    assert.is(ping(raw, keep[1], keep[1].idBig, keep[1]), 0);
  }
});

// ---- FREE -------------------------------------------------------------------------------

/** A fake block header: what a published block's header holds. */
function fakeHeader(size: number): Uint8Array {
  const b = new Uint8Array(A.BLOCK_HDR);
  const dv = new DataView(b.buffer);
  dv.setUint32(A.BLOCK_SIZE, size, true);
  dv.setUint32(A.BLOCK_PREV_SIZE, 64, true);
  dv.setUint32(A.BLOCK_STATE, A.BLOCK_USED | A.BLOCK_USER, true);
  return b;
}

t('FREE: forged offsets get ENXIO and change nothing', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  // a payload made of header-looking blocks, every 8 bytes
  const payload = new Uint8Array(2048);
  for (let p = 0; p + A.BLOCK_HDR <= payload.length; p += 64) payload.set(fakeHeader(512), p);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(payload.length)], host: [payload] }), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(16)] }), 0); // stays queued
  const m = raw.recv(b.slot, b.gen);
  assert.is(m.r, 0);
  const slice = raw.slice(b.slot, m.offset);
  // where the payload lies in the slice
  let data = -1;
  const end = slice + m.size;
  for (let p = slice + A.MSG_HDR; p < end; p += (raw.r64(p) + 7) & ~7) {
    if (raw.r64(p + A.ITEM_TYPE) === A.ITEM_PAYLOAD_OFF) data = m.offset + raw.r64(p + A.VEC_ADDRESS);
  }
  assert.ok(data > m.offset);
  // the queued (unpublished) message and the free block behind it
  const c = e.connAddr(b.slot);
  const queued = e.u32[(c + A.CONN_Q_HEAD) >>> 2] + A.BLOCK_HDR - e.poolBase(b.slot);
  const forged: [string, number | bigint][] = [
    ['a header pattern in the payload', data + A.BLOCK_HDR],
    ['another one, further in', data + 64 * 7 + A.BLOCK_HDR],
    ['the payload itself', data],
    ['the middle of the message header', m.offset + 8],
    ['misaligned', m.offset + 4],
    ['misaligned by 1', m.offset + 1],
    ['below the first header', 8],
    ['zero', 0],
    ['a queued, unpublished message', queued],
    ['the free rest of the pool', queued + 512],
    ['past the pool', 16384 + 32],
    ['the end of pool_max', 65536 - 8],
    ['far out', 0xfffffff8],
    ['high word set', (1n << 32n) + BigInt(m.offset)],
  ];
  for (const [what, off] of forged) {
    const before = stateImage(e);
    assert.is(raw.free(b.slot, b.gen, off), -A.ENXIO, what);
    assert.is(firstDifference(before, stateImage(e)), -1, `${what}: nothing changed`);
  }
  assert.equal(checkBus(e), []);
  // the real one still works, once
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  const before = stateImage(e);
  assert.is(raw.free(b.slot, b.gen, m.offset), -A.ENXIO, 'freed twice');
  assert.is(firstDifference(before, stateImage(e)), -1);
  const m2 = raw.recv(b.slot, b.gen);
  assert.is(raw.free(b.slot, b.gen, m2.offset), 0);
  assert.equal(checkBus(e), []);
});

t('FREE: a forged header in the slot of a freed message is not taken for it', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(16)] }), 0);
  const m = raw.recv(b.slot, b.gen);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  // the old header still says USED | USER? make it say so, as a stale or forged header would
  const blk = raw.slice(b.slot, m.offset) - A.BLOCK_HDR;
  e.u32[(blk + A.BLOCK_STATE) >>> 2] = A.BLOCK_USED | A.BLOCK_USER;
  assert.is(raw.free(b.slot, b.gen, m.offset), -A.ENXIO);
  e.u32[(blk + A.BLOCK_STATE) >>> 2] = 0;
  assert.equal(checkBus(e), []);
});

for (const order of ['arrival', 'reverse', 'random', 'interleaved'] as const) {
  t(`FREE in ${order} order`, ({ raw, e }) => {
    const a = open(raw), b = open(raw, { poolSize: 65536 });
    const rnd = prng(order.length);
    const offs: number[] = [];
    // receive messages of mixed sizes (peeked ones too), keeping them all published
    for (let i = 0; i < 120; i++) {
      assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: i }, items: [hostVec(1 + rnd(300))] }), 0);
      if (rnd(4) === 0) {
        const p = raw.recv(b.slot, b.gen, A.RECV_PEEK);
        assert.is(p.r, 0);
        if (rnd(2) === 0) { assert.is(raw.free(b.slot, b.gen, p.offset), 0); }
      }
      const m = raw.recv(b.slot, b.gen);
      assert.is(m.r, 0);
      offs.push(m.offset);
      if (order === 'interleaved' && rnd(3) === 0) {
        const [o] = offs.splice(rnd(offs.length), 1);
        assert.is(raw.free(b.slot, b.gen, o), 0);
      }
    }
    if (order === 'reverse') offs.reverse();
    if (order === 'random' || order === 'interleaved') for (let i = offs.length - 1; i > 0; i--) { const j = rnd(i + 1); [offs[i], offs[j]] = [offs[j], offs[i]]; }
    for (let i = 0; i < offs.length; i++) {
      assert.is(raw.free(b.slot, b.gen, offs[i]), 0);
      if (i % 10 === 0) assert.equal(checkBus(e), [], `after ${i + 1} frees`);
    }
    for (const o of offs) assert.is(raw.free(b.slot, b.gen, o), -A.ENXIO, 'every slice freed once');
    assert.is(e.poolUsed(b.slot), 0);
    assert.is(e.u32[(e.connAddr(b.slot) + A.CONN_PUB) >>> 2], 0);
    assert.equal(checkBus(e), []);
  });
}

t.run();

// ---- undo: HELLO and BYEBYE aborted at every logged store, on chains of several ----------

const h = busSuite('lookups, aborted', { hooks: true, limits: { threads: 2, connections: 8, poolMax: 16384, names: 4, matches: 4, replies: 4 } });

h('HELLO and BYEBYE on shared buckets, aborted after each step: undone, every live id still found', ({ raw, e }) => {
  // 8 connections: 8 buckets. Ids 1 and 9 and 17 share bucket 1 once the others are closed.
  setNextId(e, 0xffffffffn - 3n); // and the low word wraps on the way
  const live: H[] = [];
  const find = () => { for (const x of live) assert.is(ping(raw, live[0], x.idBig, x), 0, `id ${x.idBig} found`); };
  const attempt = (what: string, run: () => number, ok: (r: number) => void) => {
    for (let n = 1; n < 100; n++) {
      const before = stateImage(e);
      e.setFault(n);
      let trapped = false, r = 0;
      try { r = run(); } catch { trapped = true; }
      e.setFault(0);
      if (!trapped) { ok(r); return; }
      assert.equal(checkBus(e), [], `${what}: consistent after a trap at step ${n}`);
      assert.is(firstDifference(before, stateImage(e)), -1, `${what}: undone after a trap at step ${n}`);
      if (live.length) find();
    }
    assert.unreachable(`${what} never completed`);
  };
  const rnd = prng(9);
  for (let round = 0; round < 40; round++) {
    if (live.length < 7 && (live.length < 2 || rnd(3) !== 0)) {
      let got: ReturnType<Raw['hello']> | null = null;
      attempt('HELLO', () => (got = raw.hello({ poolSize: 8192 })).r, (r) => {
        assert.ok(r >= 0 && got !== null);
        assert.is(raw.free(got.slot, got.gen, got.offset), 0);
        live.push({ ...got, idBig: connId(raw, got.slot) });
      });
    } else {
      const i = 1 + rnd(live.length - 1); // live[0] stays: a long-lived id its bucket shares
      const x = live[i];
      attempt('BYEBYE', () => raw.byebye(x.slot, x.gen), (r) => { assert.is(r, 0); live.splice(i, 1); });
      assert.is(ping(raw, live[0], x.idBig), -A.ENXIO);
    }
    find();
    assert.equal(checkBus(e), []);
  }
});

h.run();
