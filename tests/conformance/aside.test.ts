// A staged broadcast set aside in its sender's connection (send_aside, send_resume,
// send_abandon: assembly/aside.ts, since stop 70), and staging slices whose free found the
// sender's lock taken, left on its unfreed list. Raw ABI, both engines.
//
// The stop: a second engine on the same memory holds a receiver's lock, as a command in flight
// would; the sending engine, with parkBroadcast set and no lock wait, sets the broadcast aside
// at that receiver as emitAsync's does (js/bcast-async.ts), and its send_commit returns
// WOULDBLOCK.
import * as assert from 'uvu/assert';
import { Bus, abi as A, type Engine } from '../../js/index.ts';
import { busSuite, open, anotherEngine, ENGINE } from '../helpers/harness.ts';
import { checkBus } from '../helpers/check.ts';
import { livenessWords } from '../../js/engine.ts';
import { ALL, hostVec, Raw as RawOf, type Item, type Raw } from '../helpers/raw.ts';

const t = busSuite('a staged broadcast set aside', { hooks: true }); // anotherEngine: the hooks build

type H = ReturnType<typeof open>;
const filter = (): Item => ({ type: A.ITEM_BLOOM_FILTER, data: new Uint8Array(8 + 64) });
const lockWord = (e: Engine, h: H) => (e.connAddr(h.slot) + A.CONN_LOCK) >>> 2;
const word = (e: Engine, h: H, off: number) => e.u32[(e.connAddr(h.slot) + off) >>> 2]!;
const op = (e: Engine) => e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_OP) >>> 2];
const reason = (e: Engine) => e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2];

function hold(e: Engine, w: number, holder: Engine): void {
  assert.is(Atomics.compareExchange(e.u32, w, 0, holder.threadSlot + 1), 0, 'the lock was free');
}
function release(e: Engine, w: number): void {
  Atomics.store(e.i32, w, 0);
  Atomics.notify(e.i32, w);
}

/** Receivers with a match-everything entry. */
function receivers(raw: Raw, n: number): H[] {
  return Array.from({ length: n }, () => {
    const h = open(raw);
    assert.is(raw.matchAdd(h.slot, h.gen, 1), 0);
    return h;
  });
}

/** Broadcast signals received by `h` (freed); the bus's notifications skipped. */
function got(raw: Raw, h: H): number {
  let n = 0;
  for (;;) {
    const m = raw.recv(h.slot, h.gen);
    if (m.r === -A.EAGAIN) return n;
    assert.is(m.r, 0);
    if (raw.r64(raw.slice(h.slot, m.offset) + A.MSG_SRC_ID) !== 0) n++;
    assert.is(raw.free(h.slot, h.gen, m.offset), 0);
  }
}

/** A staged broadcast from `s`, its commit stopped at a held receiver and set aside (as emitAsync's): WOULDBLOCK. */
function stopAside(e: Engine, raw: Raw, s: H): number {
  e.parkBroadcast = true;
  e.lockWaitMs = 0;
  try {
    return raw.send(s.slot, s.gen, { msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(1000), filter()] });
  } finally {
    e.parkBroadcast = false;
    e.lockWaitMs = e.syncLockWaitMs;
    e.parked = null;
  }
}

t('stopped at a held receiver, the staged broadcast is set aside in its sender: the thread runs other commands, then resumes it and every receiver gets it once', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7);
  const s = open(raw, { poolSize: 65536 }), rx = receivers(raw, 3);
  hold(e, lockWord(e, rx[1]!), other);
  assert.is(stopAside(e, raw, s), A.WOULDBLOCK);
  assert.is(op(e), A.OP_NONE, 'the thread\'s op is none');
  const b = word(e, s, A.CONN_STAGED);
  assert.ok(b !== 0, 'its block kept in the sender\'s connection');
  assert.is(word(e, s, A.CONN_N_RESV), 1, 'still a reservation');
  assert.equal(checkBus(e, { locksFree: false }), [], 'consistent while aside');
  // the thread's other commands run meanwhile (a SEND refused EINPROGRESS before)
  assert.is(got(raw, rx[0]!), 1, 'the receiver before the stop got it');
  assert.is(raw.send(s.slot, s.gen, { msg: { dst: rx[0]!.id, cookie: 9 }, items: [hostVec(10)] }), 0);
  assert.is(got(raw, rx[0]!), 1, 'and the unicast sent while it was aside');
  release(e, lockWord(e, rx[1]!));
  assert.is(e.sendResume(s.slot, s.gen), 0);
  assert.is(op(e), A.OP_BCAST);
  assert.is(word(e, s, A.CONN_STAGED), 0);
  e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_BCAST_SKIP) >>> 2] = A.BCAST_WAITING;
  assert.is(e.sendCommit(), 0, 'it goes on from its stop');
  assert.equal(rx.map((h) => got(raw, h)), [0, 1, 1], 'the rest got it, the first not twice');
  assert.is(word(e, s, A.CONN_N_RESV), 0);
  assert.is(e.poolUsed(s.slot), 0, 'its slice freed');
});

t('errors: aside with none under way, resume with none aside, a second aside in one connection, resume beside a pending send, another thread\'s connection; each changes nothing', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7);
  const s = open(raw, { poolSize: 65536 }), rx = receivers(raw, 2);
  assert.is(e.sendAside(), -A.EINVAL);
  assert.is(reason(e), A.R_ASIDE_NOT_STAGED);
  assert.is(e.sendResume(s.slot, s.gen), -A.EINVAL);
  assert.is(reason(e), A.R_RESUME_NONE);
  assert.is(e.sendAbandon(s.slot, s.gen), 0, 'abandon with none aside: nothing to do');
  hold(e, lockWord(e, rx[0]!), other);
  assert.is(stopAside(e, raw, s), A.WOULDBLOCK);
  const words = () => [A.CONN_STAGED, A.CONN_UNFREED, A.CONN_N_RESV].map((w) => word(e, s, w));
  const before = words();
  // a second staged broadcast of the connection stopped at the same receiver: its aside is
  // refused (one per connection), and the engine ends it (cancelled): EBUSY
  assert.is(stopAside(e, raw, s), -A.EBUSY);
  assert.is(reason(e), A.R_ASIDE_TAKEN);
  assert.is(op(e), A.OP_NONE);
  assert.equal(words(), before, 'the first one\'s words as they were');
  // a raw send pending: resume says EINPROGRESS
  raw.writeSend({ msg: { dst: rx[1]!.id }, items: [hostVec(8)] });
  assert.is(e.send(s.slot, s.gen), A.SEND_PENDING);
  assert.is(e.sendResume(s.slot, s.gen), -A.EINPROGRESS);
  assert.is(reason(e), A.R_OP_PENDING);
  assert.is(e.sendCancel(), 0);
  // another thread: refused, whichever command
  assert.is(other.sendResume(s.slot, s.gen), -A.EPERM);
  assert.is(other.u32[(other.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2], A.R_ASIDE_NOT_OWNER);
  assert.is(other.sendAbandon(s.slot, s.gen), -A.EPERM);
  assert.equal(words(), before, 'unchanged');
  // a stale handle: ECONNRESET
  assert.is(e.sendResume(s.slot, s.gen + 1), -A.ECONNRESET);
  // abandon: the rest never get it
  assert.is(e.sendAbandon(s.slot, s.gen), 0);
  assert.is(word(e, s, A.CONN_STAGED), 0);
  assert.is(word(e, s, A.CONN_UNFREED), 0, 'freed at once (the lock was free)');
  assert.is(word(e, s, A.CONN_N_RESV), 0);
  release(e, lockWord(e, rx[0]!));
  assert.equal(rx.map((h) => got(raw, h)), [0, 0], 'the broadcasts stopped at the first receiver');
  assert.is(e.poolUsed(s.slot), 0);
});

t('a BYEBYE of the sender (without DROP) with a broadcast set aside goes through and frees it; so does a recovery of its thread', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7);
  const rx = receivers(raw, 1);
  const s = open(raw, { poolSize: 65536 });
  hold(e, lockWord(e, rx[0]!), other);
  assert.is(stopAside(e, raw, s), A.WOULDBLOCK);
  release(e, lockWord(e, rx[0]!)); // (the close's ID_REMOVE would wait for it)
  assert.is(raw.byebye(s.slot, s.gen), 0, 'closed: its own staging slice is no send in flight');
  assert.is(word(e, s, A.CONN_STATE), A.CONN_FREE_SLOT, 'the slot is free (not CLOSING)');
  assert.is(word(e, s, A.CONN_STAGED), 0);
  assert.is(word(e, s, A.CONN_N_RESV), 0);
  assert.is(e.sendResume(s.slot, s.gen), -A.ECONNRESET, 'gone with the close');
  assert.is(got(raw, rx[0]!), 0);
  // the other thread's connection, a broadcast set aside, and the thread recovered
  const orx = open(raw);
  assert.is(raw.matchAdd(orx.slot, orx.gen, 1), 0);
  const oraw = new RawOf(other);
  const os = open(oraw, { poolSize: 65536 });
  hold(e, lockWord(e, orx), e);
  assert.is(stopAside(other, oraw, os), A.WOULDBLOCK);
  assert.ok(word(e, os, A.CONN_STAGED) !== 0);
  release(e, lockWord(e, orx));
  assert.ok(e.recover(other.threadSlot, true) >= 0, 'recovered');
  assert.is(word(e, os, A.CONN_STATE), A.CONN_FREE_SLOT);
  assert.is(word(e, os, A.CONN_STAGED), 0);
  got(raw, orx);
  got(raw, rx[0]!);
  assert.equal(checkBus(e), []);
});

t('a staged broadcast\'s slice whose free finds the sender\'s lock taken is not waited for: left on the unfreed list, the commit returns 0; the sender\'s next staging or receive frees it, a close takes it', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7);
  const s = open(raw, { poolSize: 65536 }), rx = receivers(raw, 1);
  for (let i = 0; i < 3; i++) {
    raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(100), filter()] });
    assert.is(e.send(s.slot, s.gen), A.SEND_PENDING);
    assert.is(word(e, s, A.CONN_N_RESV), 1, 'the staging freed the one left before');
    hold(e, lockWord(e, s), other); // (taken between the staging and the commit's free)
    const t0 = performance.now();
    assert.is(e.sendCommit(), 0, 'delivered, and not waiting for the sender\'s lock');
    assert.ok(performance.now() - t0 < A.LOCK_WAIT_MS / 2, 'no lock wait');
    release(e, lockWord(e, s));
    assert.is(op(e), A.OP_NONE);
    assert.ok(word(e, s, A.CONN_UNFREED) !== 0, 'left to free');
    assert.equal(checkBus(e), [], 'consistent, the kept slice counted');
  }
  assert.is(got(raw, rx[0]!), 3, 'every one delivered');
  assert.is(raw.recv(s.slot, s.gen).r, -A.EAGAIN);
  assert.is(word(e, s, A.CONN_UNFREED), 0, 'the receive freed it');
  assert.is(word(e, s, A.CONN_N_RESV), 0);
  assert.is(e.poolUsed(s.slot), 0);
  // a cancel does not wait either; a close takes what is left
  raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(100), filter()] });
  assert.is(e.send(s.slot, s.gen), A.SEND_PENDING);
  hold(e, lockWord(e, s), other);
  assert.is(e.sendCancel(), 0, 'a staged cancel does not wait');
  release(e, lockWord(e, s));
  assert.is(word(e, s, A.CONN_N_RESV), 1);
  assert.is(raw.byebye(s.slot, s.gen), 0);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_FREE_SLOT);
  assert.is(word(e, s, A.CONN_UNFREED), 0);
  assert.is(got(raw, rx[0]!), 0, 'the cancelled one went nowhere');
});

/** One staging slice left on `s`'s unfreed list (its commit found s's lock taken by `other`). */
function leaveOne(e: Engine, raw: Raw, other: Engine, s: H): void {
  raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(100), filter()] });
  assert.is(e.send(s.slot, s.gen), A.SEND_PENDING);
  hold(e, lockWord(e, s), other);
  assert.is(e.sendCommit(), 0);
  release(e, lockWord(e, s));
  assert.ok(word(e, s, A.CONN_UNFREED) !== 0, 'left to free');
}
const logLen = (e: Engine) => e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_LOG_LEN) >>> 2];

t('a staging that frees the unfreed list and then finds no room commits those frees: a later trap of the thread undoes nothing of them (the undo log held them, and a trap corrupted the pool: a review of stop 70)', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7);
  const oraw = new RawOf(other);
  const s = open(raw, { poolSize: 65536 }), rx = receivers(raw, 1);
  leaveOne(e, raw, other, s);
  raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(20000), filter()] });
  assert.is(e.send(s.slot, s.gen), -A.ENOBUFS, 'larger than its quota share');
  assert.is(word(e, s, A.CONN_UNFREED), 0, 'the list was freed');
  assert.is(logLen(e), 0, 'the undo log is empty after the command');
  // another thread takes the room just freed; this thread's next command traps at its first logged store
  const os = open(oraw);
  assert.is(oraw.send(os.slot, os.gen, { msg: { dst: s.id, cookie: 5 }, items: [hostVec(64)] }), 0);
  e.setFault(1);
  let threw = false;
  try { raw.matchAdd(rx[0]!.slot, rx[0]!.gen, 2); } catch { threw = true; }
  e.setFault(0);
  assert.ok(threw, 'trapped');
  assert.equal(checkBus(e), [], 'the pool as it was');
  got(raw, s);
  got(raw, rx[0]!);
});

function noCall(e: Engine, raw: Raw, s: H, cookie: number): boolean {
  raw.writeRecv(A.RECV_REPLY, cookie);
  assert.is(e.recv(s.slot, s.gen), -A.EAGAIN);
  return (e.u32[(e.cmd + A.CMD_RETURN_FLAGS) >>> 2]! & A.RECV_RETURN_NO_CALL) !== 0;
}

t('RECV_REPLY says "no call" while a broadcast is set aside or a slice is left to free: a connection\'s own staging slices are no reply in flight (it did not: a review of stop 70)', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7);
  const s = open(raw, { poolSize: 65536 }), rx = receivers(raw, 1);
  assert.ok(noCall(e, raw, s, 77), 'nothing in flight');
  hold(e, lockWord(e, rx[0]!), other);
  assert.is(stopAside(e, raw, s), A.WOULDBLOCK);
  assert.ok(noCall(e, raw, s, 77), 'a broadcast set aside');
  assert.is(e.sendAbandon(s.slot, s.gen), 0);
  release(e, lockWord(e, rx[0]!));
  got(raw, rx[0]!);
});

function recvBatch(raw: Raw, c: { slot: number; gen: number }, n: number): number {
  const e = raw.e, cmd = raw.cmd, u32 = e.u32;
  e.u8.fill(0, cmd, cmd + A.RECV_BATCH_ENTRIES + 8 * n);
  u32[(cmd + A.CMD_SIZE) >>> 2] = A.RECV_BATCH_ENTRIES + 8 * n;
  u32[(cmd + A.CMD_FLAGS) >>> 2] = A.RECV_BATCH;
  return e.recv(c.slot, c.gen);
}

t('RECV_BATCH (a listener\'s, an iterator\'s receive) frees the unfreed list too (it did not: a review of stop 70)', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7);
  const s = open(raw, { poolSize: 65536 }), rx = receivers(raw, 1);
  leaveOne(e, raw, other, s);
  const oraw = new RawOf(other), os = open(oraw);
  assert.is(oraw.send(os.slot, os.gen, { msg: { dst: s.id, cookie: 5 }, items: [hostVec(64)] }), 0);
  assert.is(recvBatch(raw, s, 4), 0);
  const off = e.u32[(raw.cmd + A.RECV_BATCH_ENTRIES) >>> 2]!;
  assert.is(word(e, s, A.CONN_UNFREED), 0, 'freed by the batch');
  assert.is(word(e, s, A.CONN_N_RESV), 0);
  assert.is(raw.free(s.slot, s.gen, off), 0);
  got(raw, rx[0]!);
});

t('another thread\'s BYEBYE of a connection whose owner lives (raw ABI, with its handle) leaves the owner\'s staging slices counted, the slot CLOSING; the owner\'s send_abandon of the closed handle settles them, and so do its recovery and its leave', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7);
  const oraw = new RawOf(other);
  const all: H[] = [];
  {
    const rx = receivers(raw, 1);
    all.push(...rx);
    const s = open(raw, { poolSize: 65536 });
    hold(e, lockWord(e, rx[0]!), other);
    assert.is(stopAside(e, raw, s), A.WOULDBLOCK);
    release(e, lockWord(e, rx[0]!));
    leaveOne(e, raw, other, s);
    assert.is(word(e, s, A.CONN_N_RESV), 2);
    assert.is(oraw.byebye(s.slot, s.gen, A.BYEBYE_DROP), 0, 'closed by the other thread');
    assert.is(word(e, s, A.CONN_STATE), A.CONN_CLOSING, 'kept for its owner');
    assert.is(word(e, s, A.CONN_N_RESV), 2);
    assert.equal(checkBus(e), [], 'consistent: the kept slices counted');
    assert.is(e.sendAbandon(s.slot, s.gen), -A.ECONNRESET);
    assert.is(word(e, s, A.CONN_STATE), A.CONN_FREE_SLOT, 'settled: the slot is free');
    assert.is(word(e, s, A.CONN_STAGED), 0);
    assert.is(word(e, s, A.CONN_UNFREED), 0);
  }
  // the owner's recovery: a thread of its own, recovered
  const third = await anotherEngine(bus.memory, 8), traw = new RawOf(third);
  const rx = receivers(raw, 1);
  const s = open(traw, { poolSize: 65536 });
  hold(e, lockWord(e, rx[0]!), other);
  assert.is(stopAside(third, traw, s), A.WOULDBLOCK);
  release(e, lockWord(e, rx[0]!));
  assert.is(oraw.byebye(s.slot, s.gen, A.BYEBYE_DROP), 0);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_CLOSING);
  assert.ok(e.recover(third.threadSlot, true) >= 0);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_FREE_SLOT, 'settled by its recovery');
  // and the owner's leave (its connections closed: that one by the other thread)
  const fourth = await anotherEngine(bus.memory, 9), fraw = new RawOf(fourth);
  const s4 = open(fraw, { poolSize: 65536 });
  hold(e, lockWord(e, rx[0]!), other);
  assert.is(stopAside(fourth, fraw, s4), A.WOULDBLOCK);
  release(e, lockWord(e, rx[0]!));
  assert.is(oraw.byebye(s4.slot, s4.gen, A.BYEBYE_DROP), 0);
  assert.is(word(e, s4, A.CONN_STATE), A.CONN_CLOSING);
  hold(e, lockWord(e, s4), other);
  assert.is(fourth.threadLeave(), -A.EBUSY, 'its lock taken at that moment: leave again');
  assert.is(fourth.u32[(fourth.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2], A.R_LEAVE_STAGING_LOCK);
  release(e, lockWord(e, s4));
  assert.is(fourth.threadLeave(), 0);
  assert.is(word(e, s4, A.CONN_STATE), A.CONN_FREE_SLOT, 'settled by its leave');
  for (const h of [...all, ...rx]) got(raw, h);
  assert.equal(checkBus(e), []);
});

t("Bus.close at R_LEAVE_STAGING_LOCK leaves again for a synchronous command's lock wait at most (PAGE_LOCK_WAIT_MS where the thread may not block), then says EBUSY with its liveness words back; a later close leaves (a review of stop 71: it spun LOCK_WAIT_MS on a page, and left the words cleared)", async ({ raw, e, bus, mock }) => {
  const other = await anotherEngine(bus.memory, 11), oraw = new RawOf(other);
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const je = j.engine, jraw = new RawOf(je), slot = je.threadSlot;
  const rx = receivers(raw, 1);
  const s = open(jraw, { poolSize: 65536 });
  hold(e, lockWord(e, rx[0]!), other);
  assert.is(stopAside(je, jraw, s), A.WOULDBLOCK);
  release(e, lockWord(e, rx[0]!));
  assert.is(oraw.byebye(s.slot, s.gen, A.BYEBYE_DROP), 0, 'closed by another thread: its slice kept for its owner');
  hold(e, lockWord(e, s), other);
  const words = () => livenessWords(e.u32, slot);
  const before = words();
  assert.ok(before[0] !== 0, 'its liveness word written at its join');
  (je as unknown as { canBlock: boolean }).canBlock = false; // (as on a page's main thread: syncLockWaitMs is PAGE_LOCK_WAIT_MS)
  assert.is(je.syncLockWaitMs, A.PAGE_LOCK_WAIT_MS);
  const t0 = performance.now();
  let code = '';
  try { j.close(); } catch (err) { code = (err as { code?: string }).code ?? String(err); }
  const took = performance.now() - t0;
  assert.is(code, 'EBUSY');
  assert.ok(took < A.LOCK_WAIT_MS / 2, `it gave up after about PAGE_LOCK_WAIT_MS: ${took.toFixed(1)} ms`);
  assert.ok(je.joined, 'still joined');
  assert.equal(words(), before, 'its liveness words back: a watch still knows it');
  // a leave that throws in the retries (a trap of the core): the words back too (a third review)
  const leave = je.threadLeave;
  let calls = 0;
  je.threadLeave = function (this: Engine): number { if (++calls === 2) throw new Error('a trap'); return leave.call(this); };
  try {
    assert.throws(() => j.close(), /a trap/);
  } finally {
    je.threadLeave = leave;
  }
  assert.is(calls, 2);
  assert.ok(je.joined, 'still joined');
  assert.equal(words(), before, 'its liveness words back after the throw');
  release(e, lockWord(e, s));
  j.close();
  assert.ok(!je.joined);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_FREE_SLOT, 'settled by its leave');
  assert.equal(words(), [0, 0, 0], 'cleared by the leave');
  got(raw, rx[0]!);
  assert.equal(checkBus(e), []);
});

t("Bus.close whose leave fails EINPROGRESS (a raw send of the thread still reserved) puts its liveness words back too; after the cancel it leaves (a second review of stop 71)", async ({ raw, bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const je = j.engine, jraw = new RawOf(je), slot = je.threadSlot;
  const rx = receivers(raw, 1);
  const s = open(jraw, { poolSize: 65536 });
  jraw.writeSend({ msg: { dst: rx[0]!.id }, items: [hostVec(1000)] });
  assert.is(je.send(s.slot, s.gen), A.SEND_PENDING, 'a raw send reserved, not committed');
  assert.is(jraw.byebye(s.slot, s.gen), -A.EINPROGRESS);
  const e = bus.engine;
  const words = () => livenessWords(e.u32, slot);
  const before = words();
  let code = '';
  try { j.close(); } catch (err) { code = (err as { code?: string }).code ?? String(err); }
  assert.is(code, 'EINPROGRESS');
  assert.ok(je.joined);
  assert.equal(words(), before, 'its liveness words back');
  assert.is(je.sendCancel(), 0);
  assert.is(jraw.byebye(s.slot, s.gen), 0);
  j.close();
  assert.equal(words(), [0, 0, 0]);
  got(raw, rx[0]!); // (its notifications: HELLO's and BYEBYE's)
  assert.equal(checkBus(e), []);
});

t("a staged broadcast's commit that finds its sender closed by another thread clears the host's pass-over request (BCAST_SKIP), which no delivery consumed: left, it passed over the first receiver of the thread's next broadcast (a review of stop 71)", async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 12), oraw = new RawOf(other);
  const rx = receivers(raw, 1);
  const s = open(raw, { poolSize: 65536 });
  raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(1000), filter()] });
  assert.is(e.send(s.slot, s.gen), A.SEND_PENDING);
  const skipWord = (e.cmd - A.THREAD_CMD + A.THREAD_BCAST_SKIP) >>> 2;
  e.u32[skipWord] = A.BCAST_SKIP; // (as the host writes it after giving up its wait at a receiver)
  assert.is(oraw.byebye(s.slot, s.gen, A.BYEBYE_DROP), 0, 'the sender closed by another thread');
  assert.is(e.sendCommit(), 0, 'nothing delivered: its sender is gone');
  assert.is(e.u32[skipWord], 0, 'the request cleared');
  assert.is(got(raw, rx[0]!), 0, 'nothing of it delivered');
  assert.equal(checkBus(e), []);
});

/** An owner (a thread of its own) with a staged broadcast set aside in its connection. */
async function asideOwner(memory: WebAssembly.Memory, e: Engine, raw: Raw, other: Engine, seed: number) {
  const owner = await anotherEngine(memory, seed), oraw = new RawOf(owner);
  const rx = receivers(raw, 1);
  const s = open(oraw, { poolSize: 65536 });
  hold(e, lockWord(e, rx[0]!), other);
  assert.is(stopAside(owner, oraw, s), A.WOULDBLOCK);
  release(e, lockWord(e, rx[0]!));
  assert.ok(word(e, s, A.CONN_STAGED) !== 0);
  return { owner, oraw, rx, s };
}

t('the owner dies inside send_abandon and is declared dead; another thread\'s close before its recovery leaves the half-made words to the recovery, which undoes them first: counted once (a close settled them as they were, n_resv went below 0: a second review of stop 70)', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7), xraw = new RawOf(other);
  const { owner, rx, s } = await asideOwner(bus.memory, e, raw, other, 8);
  owner.setFault(3, true); // its 3rd logged store: after LINK and UNFREED, before STAGED = 0
  assert.throws(() => owner.sendAbandon(s.slot, s.gen));
  const was = e.lockWaitMs;
  e.lockWaitMs = 0;
  assert.ok(e.recoverThread(owner.threadToken, false, performance.now()) < 0, 'declared dead; the recovery waits for its busy word');
  e.lockWaitMs = was;
  assert.is(xraw.byebye(s.slot, s.gen, A.BYEBYE_DROP), 0, 'another thread closes it');
  assert.is(word(e, s, A.CONN_N_RESV), 1, 'left as it was, for the recovery');
  assert.ok(e.recover(owner.threadSlot, true) >= 0);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_FREE_SLOT);
  assert.is(word(e, s, A.CONN_N_RESV), 0);
  got(raw, rx[0]!);
  assert.equal(checkBus(e), []);
});

t('a trap inside thread_leave\'s settle is unwound: the connection\'s lock released, the log empty; leaving again settles (the lock stayed held by the leaving thread: a second review of stop 70)', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7), xraw = new RawOf(other);
  const { owner, rx, s } = await asideOwner(bus.memory, e, raw, other, 9);
  assert.is(xraw.byebye(s.slot, s.gen, A.BYEBYE_DROP), 0);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_CLOSING);
  owner.setFault(2);
  assert.throws(() => owner.threadLeave());
  owner.setFault(0);
  assert.is(Atomics.load(e.u32, lockWord(e, s)), 0, 'the lock released');
  assert.is(owner.u32[(owner.cmd - A.THREAD_CMD + A.THREAD_LOG_LEN) >>> 2], 0, 'the log undone');
  assert.ok(word(e, s, A.CONN_STAGED) !== 0, 'the settle undone');
  assert.is(owner.threadLeave(), 0);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_FREE_SLOT, 'settled by the second leave');
  got(raw, rx[0]!);
  assert.equal(checkBus(e), []);
});

t('another thread\'s close while only the unfreed list holds a slice: the owner\'s next receive on the closed handle settles it (ECONNRESET), the slot free again (it stayed CLOSING until the owner left: a second review of stop 70); another thread\'s send_abandon of the stale handle says R_CONN_CLOSED', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7), xraw = new RawOf(other);
  const s = open(raw, { poolSize: 65536 }), rx = receivers(raw, 1);
  leaveOne(e, raw, other, s);
  assert.is(xraw.byebye(s.slot, s.gen, A.BYEBYE_DROP), 0);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_CLOSING);
  assert.is(other.sendAbandon(s.slot, s.gen), -A.ECONNRESET);
  assert.is(other.u32[(other.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2], A.R_CONN_CLOSED, 'not another thread\'s to settle');
  assert.is(word(e, s, A.CONN_STATE), A.CONN_CLOSING);
  assert.is(raw.recv(s.slot, s.gen).r, -A.ECONNRESET);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_FREE_SLOT, 'settled by the owner\'s receive');
  assert.is(word(e, s, A.CONN_N_RESV), 0);
  got(raw, rx[0]!);
  assert.equal(checkBus(e), []);
});

t('thread_leave\'s settle leaves the step fault hook (FAULT_THREAD_STEP + k) as it was: the leave dies at its step (the settle\'s logged stores counted it down: a third review of stop 70)', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7), xraw = new RawOf(other);
  const { owner, rx, s } = await asideOwner(bus.memory, e, raw, other, 9);
  assert.is(xraw.byebye(s.slot, s.gen, A.BYEBYE_DROP), 0);
  assert.is(word(e, s, A.CONN_STATE), A.CONN_CLOSING);
  const slot = owner.cmd - A.THREAD_CMD;
  e.u32[(slot + A.THREAD_FAULT) >>> 2] = A.FAULT_THREAD_STEP + 1;
  let threw = false, r = 0;
  try { r = owner.threadLeave(); } catch { threw = true; }
  if (threw) assert.ok(e.recover(owner.threadSlot, true) >= 0);
  got(raw, rx[0]!);
  assert.ok(threw, `thread_leave should die at step 1; it returned ${r}`);
});

t('declared dead between its host\'s gate and the core\'s owner check: ESRCH, nothing written, and its thread_leave then says ESRCH and the engine forgets its slot, on both engines (the wasm engine kept it, EBADF: a third review of stop 70)', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7);
  const { owner, rx, s } = await asideOwner(bus.memory, e, raw, other, 8);
  const slot = owner.cmd - A.THREAD_CMD;
  // in its send window (sendAbandon's busy(1) has passed the gate)
  Atomics.store(e.u32, (slot + A.THREAD_BUSY) >>> 2, 1);
  const was = e.lockWaitMs; e.lockWaitMs = 0;
  assert.ok(e.recoverThread(owner.threadToken, false, performance.now()) < 0, 'declared dead; the recovery waits for its busy word');
  e.lockWaitMs = was;
  // the core's send_abandon, as the engine's run() would call it after its gate
  (owner as unknown as { bind(): void }).bind();
  const r = (owner as unknown as { x: { send_abandon(a: number, b: number): number } }).x.send_abandon(s.slot, s.gen);
  assert.is(r, -A.ESRCH, 'ownerCheck: ESRCH');
  Atomics.store(e.u32, (slot + A.THREAD_BUSY) >>> 2, 0);
  const tslot = owner.threadSlot;
  const l = owner.threadLeave();
  assert.ok(e.recover(tslot, true) >= 0);
  got(raw, rx[0]!);
  assert.equal(checkBus(e), []);
  assert.equal([l, owner.threadSlot, owner.joined], [-A.ESRCH, -1, false], 'thread_leave: ESRCH, the slot forgotten (docs/API.md thread_leave)');
});

t('send_abandon\'s move half made (its owner died there) counts the block nowhere: another thread\'s BYEBYE without DROP is refused while a send into the connection is in flight (counted twice, it went through: a third review of stop 70)', async ({ raw, e, bus }) => {
  const other = await anotherEngine(bus.memory, 7), xraw = new RawOf(other);
  const { owner, rx, s } = await asideOwner(bus.memory, e, raw, other, 8);
  // another thread's unicast into s, reserved (host vec): a send in flight
  const x = open(xraw);
  xraw.writeSend({ msg: { dst: s.id }, items: [hostVec(64)] });
  assert.is(other.send(x.slot, x.gen), A.SEND_PENDING);
  assert.is(word(e, s, A.CONN_N_RESV), 2);
  const oTok = owner.threadToken, oSlot = owner.threadSlot, oBusy = (owner.cmd - A.THREAD_CMD + A.THREAD_BUSY) >>> 2;
  owner.setFault(3, true); // its 3rd logged store: after STAGED = 0 and LINK, before UNFREED (a live owner passes this point too)
  assert.throws(() => owner.sendAbandon(s.slot, s.gen));
  const r = raw.byebye(s.slot, s.gen);
  const reason = e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2];
  // clean up
  other.sendCancel();
  const was = e.lockWaitMs; e.lockWaitMs = 0;
  e.recoverThread(oTok, false, performance.now());
  e.lockWaitMs = was;
  Atomics.store(e.u32, oBusy, 0);
  assert.ok(e.recover(oSlot, true) >= 0);
  if (r !== 0) raw.byebye(s.slot, s.gen, A.BYEBYE_DROP);
  assert.is(xraw.byebye(x.slot, x.gen), 0);
  got(raw, rx[0]!);
  assert.equal([r, reason], [-A.EBUSY, A.R_BYEBYE_RESERVED], 'BYEBYE without DROP refused: a send into it is in flight');
});

t.run();
