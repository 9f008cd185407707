// A close larger than the undo log: a connection at its per-connection limits (256 names, 128
// calls made) with calls made to it logs more stores than LOG_MAX, and its close trapped every
// time it was tried, a recovery's too, so that neither it nor the bus could ever close (an
// outside audit, stop 49). The close now commits its log between two names or two calls once
// it holds LOG_CHECKPOINT entries (assembly/journal.ts, logCheckpoint). Checked here through
// the ABI: the close, a trap in it at steps before and after a checkpoint (closing again goes
// on), and a death in it at such steps (the recovery goes on): every name's NAME_REMOVE and the
// ID_REMOVE reach a subscriber exactly once, every call made to it gets its REPLY_DEAD once,
// and the bus stays consistent.
import * as assert from 'uvu/assert';
import { abi as A, type Engine } from '../../js/index.ts';
import { busSuite, open, anotherEngine } from '../helpers/harness.ts';
import { checkBus, checkNames } from '../helpers/check.ts';
import { hostVec, type Raw } from '../helpers/raw.ts';

const LIMITS = { threads: 4, connections: 8, poolMax: 1 << 20, names: 512, matches: 16, replies: 512 };
const t = busSuite('a close larger than the undo log', { hooks: true, limits: LIMITS });

// a subscriber holds at most 256 queued messages from one user (the bus's notifications
// included): 255 NAME_REMOVEs and the ID_REMOVE; the first test takes all 256 names
let NAMES = A.MAX_NAMES_PER_CONN - 1;
const MADE = A.MAX_PENDING_REPLIES; // 128
const TO = 120; // calls made to it (from one caller: under its MAX_PENDING_REPLIES)
const FAR = 1n << 62n;

type H = ReturnType<typeof open>;
const POOL = { poolSize: 256 * 1024 };
const conn = (raw: Raw): H => open(raw, POOL);
// a subscriber with room for 256 notifications of 255-byte names under its per-user byte quota (a third of half its pool)
const subscriber = (raw: Raw): H => open(raw, { poolSize: 1 << 20 });

const another = (memory: WebAssembly.Memory): Promise<Engine> => anotherEngine(memory, 9);

/** A call from `from` to `to` (no answer will come): 0 when sent. */
function call(raw: Raw, from: H, to: H, cookie: number): number {
  return raw.send(from.slot, from.gen, { msg: { dst: to.id, cookie, flags: A.MSG_EXPECT_REPLY, timeout: FAR }, items: [hostVec(8)] });
}

/** name `i` of a test: `long`, 255 bytes (MAX_NAME_LEN) */
const nameOf = (tag: string, i: number, long: boolean): string => {
  const n = `org.big${tag}.n${i}`;
  return long ? `${n}.${'a'.repeat(A.MAX_NAME_LEN - n.length - 1)}` : n;
};

/** x (on `rawX`'s thread) at its limits: NAMES names (of 255 bytes: `long`), MADE calls to y, TO calls from z to it. */
function atLimits(rawX: Raw, raw: Raw, x: H, y: H, z: H, tag: string, long = false, calls = true): void {
  for (let i = 0; i < NAMES; i++) assert.is(rawX.nameAcquire(x.slot, x.gen, nameOf(tag, i, long)).r, 0);
  if (!calls) return;
  for (let i = 0; i < MADE; i++) assert.is(call(rawX, x, y, i + 1), 0, `call ${i} made`);
  for (let i = 0; i < TO; i++) assert.is(call(raw, z, x, i + 1), 0, `call ${i} to it`);
}

/** What `h` has queued: the bus's notifications by item type, the REPLY_DEADs (src 0, a reply cookie), the rest; all freed. */
function drain(raw: Raw, h: H, order?: string[]): { kinds: Map<number, number>; dead: number; other: number; dropped: number } {
  const kinds = new Map<number, number>();
  let dead = 0, other = 0, dropped = 0;
  for (;;) {
    const m = raw.recv(h.slot, h.gen);
    dropped += m.dropped; // (a RECV that finds the queue empty reports the losses too)
    if (m.r === -A.EAGAIN) break;
    assert.is(m.r, 0);
    const s = raw.slice(h.slot, m.offset);
    if (raw.r64(s + A.MSG_SRC_ID) !== 0) other++;
    else {
      const k = raw.r64(s + A.MSG_HDR + A.ITEM_TYPE);
      if (k === A.ITEM_REPLY_DEAD) dead++;
      else kinds.set(k, (kinds.get(k) ?? 0) + 1);
      if (order !== undefined && k === A.ITEM_NAME_REMOVE) {
        const p = s + A.MSG_HDR + A.ITEM_HDR + A.NOTIFY_NAME_HDR;
        const u8 = raw.e.u8;
        let end = p;
        while (u8[end] !== 0) end++;
        order.push(new TextDecoder().decode(u8.slice(p, end)));
      } else if (order !== undefined && k === A.ITEM_ID_REMOVE) order.push('ID_REMOVE');
    }
    assert.is(raw.free(h.slot, h.gen, m.offset), 0);
  }
  return { kinds, dead, other, dropped };
}

/**
 * After x's close: the subscriber told of each name once and of x once; z's calls each ended
 * once; the bus consistent. `atMostOnce`: after a trap (a core bug, by definition) the
 * notifications queued before a checkpoint are not sent (unwind ends OP_NOTIFY, as it ends a
 * close's notifications stopped at a contended receiver): each at most once.
 */
function closedWhole(e: Engine, raw: Raw, x: H, sub: H, z: H, what: string, atMostOnce = false, calls = TO): void {
  assert.ok(e.connGen(x.slot) !== x.gen || e.u32[(e.connAddr(x.slot) + A.CONN_STATE) >>> 2] !== A.CONN_ACTIVE, `${what}: closed`);
  assert.equal(checkBus(e), [], `${what}: consistent`);
  assert.equal(checkNames(e), [], `${what}: registry consistent`);
  const s = drain(raw, sub);
  const told = (s.kinds.get(A.ITEM_NAME_REMOVE) ?? 0) + (s.kinds.get(A.ITEM_ID_REMOVE) ?? 0);
  if (atMostOnce) {
    assert.is(s.dropped, 0, `${what}: nothing dropped at the subscriber`);
    assert.ok((s.kinds.get(A.ITEM_NAME_REMOVE) ?? 0) <= NAMES && (s.kinds.get(A.ITEM_ID_REMOVE) ?? 0) <= 1, `${what}: each notification at most once`);
  } else if (NAMES < A.MAX_NAMES_PER_CONN) {
    assert.is(s.dropped, 0, `${what}: nothing dropped at the subscriber`);
    assert.is(s.kinds.get(A.ITEM_NAME_REMOVE), NAMES, `${what}: each name's NAME_REMOVE once`);
    assert.is(s.kinds.get(A.ITEM_ID_REMOVE), 1, `${what}: its ID_REMOVE once`);
  } else assert.is(told + s.dropped, NAMES + 1, `${what}: 257 notifications, one dropped at the full subscriber`);
  const d = drain(raw, z);
  assert.is(d.dead, calls, `${what}: each call made to it ended once (REPLY_DEAD)`);
}

t('BYEBYE of a connection with 256 names, 128 calls made and 120 made to it: closed whole (it trapped every time)', ({ raw, e }) => {
  NAMES = A.MAX_NAMES_PER_CONN;
  const sub = conn(raw), x = conn(raw), y = conn(raw), z = conn(raw);
  assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0); // every notification
  atLimits(raw, raw, x, y, z, '');
  drain(raw, sub); // the NAME_ADDs
  assert.is(raw.byebye(x.slot, x.gen, A.BYEBYE_DROP), 0);
  closedWhole(e, raw, x, sub, z, 'close');
  assert.is(drain(raw, y).other, MADE, "x's calls stay queued at y");
  for (const h of [sub, y, z]) assert.is(raw.byebye(h.slot, h.gen), 0);
  NAMES = A.MAX_NAMES_PER_CONN - 1;
});

// steps of the close's logged stores (the fault hook counts them): before the first
// checkpoint, around it, between checkpoints, and near the end
const STEPS = [1, 700, A.LOG_CHECKPOINT - 3, A.LOG_CHECKPOINT + 5, 5000, 6200];

t('a trap at a step of that close: the connection stays open with what was committed, and closing it again goes on; each REPLY_DEAD once, each notification at most once', ({ raw, e }) => {
  const sub = conn(raw), y = conn(raw), z = conn(raw);
  assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0);
  let trapped = 0;
  for (const n of STEPS) {
    const x = conn(raw);
    atLimits(raw, raw, x, y, z, `t${n}`);
    drain(raw, sub);
    drain(raw, sub);
    e.setFault(n);
    let trap = false;
    try { assert.is(raw.byebye(x.slot, x.gen, A.BYEBYE_DROP), 0); } catch { trap = true; }
    e.setFault(0);
    assert.equal(checkBus(e), [], `step ${n}: consistent after the trap`);
    if (trap) {
      trapped++;
      assert.ok(e.u32[(e.connAddr(x.slot) + A.CONN_STATE) >>> 2] === A.CONN_ACTIVE || e.connGen(x.slot) !== x.gen, `step ${n}`);
      if (e.connGen(x.slot) === x.gen && e.u32[(e.connAddr(x.slot) + A.CONN_STATE) >>> 2] === A.CONN_ACTIVE) {
        assert.is(raw.byebye(x.slot, x.gen, A.BYEBYE_DROP), 0, `step ${n}: closed when run again`);
      }
    }
    closedWhole(e, raw, x, sub, z, `step ${n}`, trap && n > A.LOG_CHECKPOINT / 2);
    drain(raw, y);
  }
  assert.ok(trapped >= STEPS.length - 1, `trapped at ${trapped} of ${STEPS.length} steps`);
  for (const h of [sub, y, z]) assert.is(raw.byebye(h.slot, h.gen), 0);
});

t('a death at a step of that close: the recovery goes on with it; each notification and REPLY_DEAD once', async ({ raw, e, bus }) => {
  const sub = conn(raw), y = conn(raw), z = conn(raw);
  assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0);
  let died = 0;
  for (const n of STEPS) {
    const b = await another(bus.memory); // the thread that owns x
    const rawB = new (raw.constructor as new (e: Engine) => Raw)(b);
    const x = conn(rawB);
    atLimits(rawB, raw, x, y, z, `d${n}`);
    drain(raw, sub);
    b.setFault(n, true); // dies at its n-th logged store (not unwound), as a terminated worker
    let death = false;
    try { assert.is(rawB.byebye(x.slot, x.gen, A.BYEBYE_DROP), 0); } catch { death = true; }
    if (death) {
      died++;
      assert.ok(e.recover(b.threadSlot, true) >= 0, `step ${n}: recovered`);
    } else {
      b.setFault(0);
      assert.is(b.threadLeave(), 0);
    }
    closedWhole(e, raw, x, sub, z, `step ${n}`);
    drain(raw, y);
  }
  assert.ok(died >= STEPS.length - 1, `died at ${died} of ${STEPS.length} steps`);
  for (const h of [sub, y, z]) assert.is(raw.byebye(h.slot, h.gen), 0);
});

// A close whose notifications overflow its queue (in the command area: about 32 KB, 108
// NAME_* records of 255-byte names): what is queued is sent first, at a point where the close
// is whole, in order, and the ID_REMOVE last. Before (an outside audit, stop 49), the
// notification that did not fit was sent at once, ahead of the queued ones (the ID_REMOVE before
// 92 NAME_REMOVEs), and its deliveries committed the close half done with the connection's
// list of names stale: a death there left the recovery walking freed records for good.
t('a close whose notifications overflow its queue (255-byte names): every NAME_REMOVE in order, the ID_REMOVE last', ({ raw, e }) => {
  const sub = subscriber(raw), y = conn(raw), z = conn(raw), x = conn(raw);
  assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0);
  atLimits(raw, raw, x, y, z, 'o', true);
  drain(raw, sub);
  assert.is(raw.byebye(x.slot, x.gen, A.BYEBYE_DROP), 0);
  const order: string[] = [];
  const s = drain(raw, sub, order);
  assert.is(s.dropped, 0);
  // x's list is newest first: its names are passed on from the last acquired to the first
  const want = Array.from({ length: NAMES }, (_, i) => nameOf('o', NAMES - 1 - i, true));
  assert.equal(order, [...want, 'ID_REMOVE']);
  assert.equal(checkBus(e), []);
  assert.is(drain(raw, z).dead, TO);
  drain(raw, y);
  for (const h of [sub, y, z]) assert.is(raw.byebye(h.slot, h.gen), 0);
});

t('a trap, and a death, at a step of such a close: closing again (the recovery) goes on; consistent, each notification at most once (trap) or exactly once (death)', async ({ raw, e, bus }) => {
  const sub = subscriber(raw), y = conn(raw), z = conn(raw);
  assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0);
  // (names only: the queue overflows after about 108 names, some 1 300 logged stores; the
  // audit's death at store 2000 hung the recovery)
  for (const n of [600, 1400, 2000, 2600, 3200]) {
    // a trap on this thread
    const x = conn(raw);
    atLimits(raw, raw, x, y, z, `lt${n}`, true, false);
    drain(raw, sub);
    e.setFault(n);
    let trap = false;
    try { assert.is(raw.byebye(x.slot, x.gen, A.BYEBYE_DROP), 0); } catch { trap = true; }
    e.setFault(0);
    assert.equal(checkBus(e), [], `trap at ${n}: consistent`);
    if (trap && e.connGen(x.slot) === x.gen && e.u32[(e.connAddr(x.slot) + A.CONN_STATE) >>> 2] === A.CONN_ACTIVE) {
      assert.is(raw.byebye(x.slot, x.gen, A.BYEBYE_DROP), 0, `trap at ${n}: closed when run again`);
    }
    closedWhole(e, raw, x, sub, z, `trap at ${n}`, trap, 0);
    drain(raw, y);
    // a death on another thread
    const b = await another(bus.memory);
    const rawB = new (raw.constructor as new (e: Engine) => Raw)(b);
    const xb = conn(rawB);
    atLimits(rawB, raw, xb, y, z, `ld${n}`, true, false);
    drain(raw, sub);
    b.setFault(n, true);
    let death = false;
    try { assert.is(rawB.byebye(xb.slot, xb.gen, A.BYEBYE_DROP), 0); } catch { death = true; }
    if (death) assert.ok(e.recover(b.threadSlot, true) >= 0, `death at ${n}: recovered`);
    else { b.setFault(0); assert.is(b.threadLeave(), 0); }
    closedWhole(e, raw, xb, sub, z, `death at ${n}`, false, 0);
    drain(raw, y);
  }
  for (const h of [sub, y, z]) assert.is(raw.byebye(h.slot, h.gen), 0);
});

t('a close whose receivers\' locks live holders keep: the close waits for each once, then passes it over for the rest of its notifications (each loss counted)', async ({ raw, e, bus }) => {
  // (before stop 49 it waited LOCK_WAIT_MS again for each notification: 256 names held the bus
  // lock for 257 s when a terminated worker, not yet recovered, held a subscriber's lock; then,
  // with only the last one remembered, two such subscribers cost a second each time: outside audits)
  const holder = await another(bus.memory);
  const stuck = [subscriber(raw), subscriber(raw)], other = subscriber(raw), x = conn(raw);
  for (const h of [...stuck, other]) assert.is(raw.matchAdd(h.slot, h.gen, 1), 0);
  for (let i = 0; i < 6; i++) assert.is(raw.nameAcquire(x.slot, x.gen, nameOf('h', i, false)).r, 0);
  for (const h of [...stuck, other]) drain(raw, h);
  const words = stuck.map((h) => (e.connAddr(h.slot) + A.CONN_LOCK) >>> 2);
  for (const w of words) assert.is(Atomics.compareExchange(e.u32, w, 0, holder.threadSlot + 1), 0); // a LIVE holder that never lets go
  const engine = e as unknown as { lockWaitMs: number; lockWaits: number; skips: number };
  const was = engine.lockWaitMs;
  engine.lockWaitMs = 60;
  const w0 = engine.lockWaits, s0 = engine.skips;
  try {
    assert.is(raw.byebye(x.slot, x.gen), 0);
  } finally {
    engine.lockWaitMs = was;
    for (const w of words) Atomics.store(e.u32, w, 0);
  }
  assert.is(engine.skips - s0, 14, 'the 6 NAME_REMOVEs and the ID_REMOVE passed over at each of the two');
  assert.ok(engine.lockWaits - w0 <= 12, `waited ${engine.lockWaits - w0} times (once for each: 60 ms in waits of 20 ms at most)`);
  for (const h of stuck) assert.is(drain(raw, h).dropped, 7, 'each loss counted');
  const o = drain(raw, other);
  assert.is(o.kinds.get(A.ITEM_NAME_REMOVE), 6);
  assert.is(o.kinds.get(A.ITEM_ID_REMOVE), 1);
  assert.equal(checkBus(e), []);
  for (const h of [...stuck, other]) assert.is(raw.byebye(h.slot, h.gen, A.BYEBYE_DROP), 0); // (each has the others' ID_REMOVEs)
  assert.is(holder.threadLeave(), 0);
});

t('a stuck connection whose entries refuse the notifications is not waited for (a close, a HELLO, a name acquire)', async ({ raw, e, bus }) => {
  // (it was locked before its entries were read: each such command waited LOCK_WAIT_MS for a
  // terminated, unrecovered worker's connection whatever its rules; an outside audit, stop 49)
  const holder = await another(bus.memory);
  const sig = subscriber(raw), sub = subscriber(raw), x = conn(raw);
  assert.is(raw.matchAdd(sig.slot, sig.gen, 1, { items: [{ type: A.ITEM_BLOOM_MASK, data: new Uint8Array(64) }] }), 0); // signals only
  assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0); // every notification
  for (let i = 0; i < 3; i++) assert.is(raw.nameAcquire(x.slot, x.gen, nameOf('r', i, false)).r, 0);
  drain(raw, sub);
  const word = (e.connAddr(sig.slot) + A.CONN_LOCK) >>> 2;
  assert.is(Atomics.compareExchange(e.u32, word, 0, holder.threadSlot + 1), 0);
  const engine = e as unknown as { lockWaitMs: number; lockWaits: number; skips: number };
  const was = engine.lockWaitMs;
  engine.lockWaitMs = 60;
  const w0 = engine.lockWaits, s0 = engine.skips;
  let y: ReturnType<typeof open>;
  try {
    assert.is(raw.byebye(x.slot, x.gen), 0);
    y = conn(raw);
    assert.is(raw.nameAcquire(y.slot, y.gen, 'org.big.r.y').r, 0);
  } finally {
    engine.lockWaitMs = was;
    Atomics.store(e.u32, word, 0);
  }
  assert.is(engine.lockWaits - w0, 0, 'no wait for it');
  assert.is(engine.skips - s0, 0, 'nothing passed over');
  assert.is(drain(raw, sig).dropped, 0, 'nothing lost to it: it would not have had them');
  const s = drain(raw, sub);
  assert.equal([s.kinds.get(A.ITEM_NAME_REMOVE), s.kinds.get(A.ITEM_ID_REMOVE), s.kinds.get(A.ITEM_ID_ADD), s.kinds.get(A.ITEM_NAME_ADD)], [3, 1, 1, 1]);
  assert.equal(checkBus(e), []);
  for (const h of [sig, sub, y!]) assert.is(raw.byebye(h.slot, h.gen, A.BYEBYE_DROP), 0);
  assert.is(holder.threadLeave(), 0);
});

t.run();
