// Calls and replies (KDBUS.md): EXPECT_REPLY leaves a record in the reply table; a reply
// must match it (EBADSLT otherwise) and takes it; a call ends exactly once: its reply,
// REPLY_TIMEOUT (deadline passed; driven by the MockProvider's clock, which advances on every
// read), or REPLY_DEAD (the replier closed, or DROPped the call). Limits: EMLINK per caller,
// ENOSPC for the whole table.
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { hostVec, type Raw } from '../helpers/raw.ts';
import { secondThread } from '../helpers/second-thread.ts';
import * as HEALTH from '../../js/health.ts';

const FAR = 1n << 62n; // a deadline that never passes in a test
type H = ReturnType<typeof open>;

function call(raw: Raw, a: H, b: H, cookie: number, timeout: bigint | number = FAR, flags = 0): number {
  return raw.send(a.slot, a.gen, { flags, msg: { dst: b.id, cookie, flags: A.MSG_EXPECT_REPLY, timeout }, items: [hostVec(4)] });
}
function reply(raw: Raw, b: H, a: H, cookieReply: number): number {
  return raw.send(b.slot, b.gen, { msg: { dst: a.id, cookie: 900 + cookieReply, timeout: cookieReply }, items: [hostVec(3)] });
}
/** receive one message: its header fields and first item type; freed */
function take(raw: Raw, h: H) {
  const m = raw.recv(h.slot, h.gen);
  const out = {
    r: m.r, dropped: m.dropped, src: -1, flags: -1, type: -1n, cookie: -1, cookieReply: -1, item: -1, itemSize: -1, size: 0,
    items: [] as number[],
  };
  if (m.r !== 0) return out;
  const s = raw.slice(h.slot, m.offset);
  Object.assign(out, {
    r: 0, dropped: m.dropped, src: raw.r64(s + A.MSG_SRC_ID), flags: raw.r64(s + A.MSG_FLAGS),
    type: raw.r64big(s + A.MSG_PAYLOAD_TYPE), cookie: raw.r64(s + A.MSG_COOKIE), cookieReply: raw.r64(s + A.MSG_TIMEOUT),
    item: raw.r64(s + A.MSG_HDR + A.ITEM_TYPE), itemSize: raw.r64(s + A.MSG_HDR), size: m.size,
  });
  for (let p = s + A.MSG_HDR; p < s + m.size; p += (raw.r64(p) + 7) & ~7) out.items.push(raw.r64(p + A.ITEM_TYPE));
  assert.is(raw.free(h.slot, h.gen, m.offset), 0);
  return out;
}
function pending(raw: Raw): number {
  const t = raw.e.u32[(A.BUS_BASE + A.BUS_REPLIES) >>> 2];
  return raw.e.u32[(t + A.REPLY_T_LIVE) >>> 2];
}

const t = busSuite('calls and replies');

t('RECV_REPLY with a cookie that finds no end queued says whether the call still has its record (RECV_RETURN_NO_CALL: its end was dropped, or it was never a call)', async ({ bus, raw }) => {
  const a = open(raw);
  const { other, raw2 } = await secondThread(bus); // the replier's thread: its reply reserved while a looks
  const b = open(raw2);
  assert.is(call(raw, a, b, 5), 0);
  const rr = (cookie: number) => raw.recv(a.slot, a.gen, A.RECV_REPLY, cookie);
  let r = rr(5);
  assert.is(r.r, -A.EAGAIN);
  assert.is(r.returnFlags & A.RECV_RETURN_NO_CALL, 0, 'pending: its end will come');
  r = rr(77);
  assert.is(r.r, -A.EAGAIN);
  assert.is(r.returnFlags & A.RECV_RETURN_NO_CALL, A.RECV_RETURN_NO_CALL, 'never a call of this connection');
  assert.is(rr(0).returnFlags & A.RECV_RETURN_NO_CALL, 0, 'cookie 0 (any call) says nothing');
  // a reply in flight (reserved in the caller's pool, not committed) took the record: no flag yet
  const m = raw2.recv(b.slot, b.gen);
  assert.is(m.r, 0);
  raw2.writeSend({ msg: { dst: a.id, cookie: 905, timeout: 5 }, items: [hostVec(100)] });
  assert.is(raw2.e.send(b.slot, b.gen), A.SEND_PENDING);
  r = rr(5);
  assert.is(r.r, -A.EAGAIN);
  assert.is(r.returnFlags & A.RECV_RETURN_NO_CALL, 0, 'a reservation into this pool is in flight');
  assert.is(raw2.e.sendCommit(), 0);
  raw2.free(b.slot, b.gen, m.offset);
  r = rr(5);
  assert.is(r.r, 0, 'the reply, once committed');
  raw.free(a.slot, a.gen, r.offset);
  assert.is(rr(5).returnFlags & A.RECV_RETURN_NO_CALL, A.RECV_RETURN_NO_CALL, 'ended and taken: no record');
  assert.is(raw2.byebye(b.slot, b.gen), 0);
  assert.is(other.threadLeave(), 0);
});

t('RECV_REPLY takes the reply of one call wherever it is queued, and nothing else', ({ raw }) => {
  const a = open(raw), b = open(raw), c = open(raw);
  assert.is(call(raw, a, b, 7), 0);
  assert.is(call(raw, a, b, 8, 1n), 0); // due at once: its REPLY_TIMEOUT is queued by the next tick
  raw.send(c.slot, c.gen, { msg: { dst: a.id, cookie: 1 }, items: [hostVec(2)] }); // the user's, ahead
  const m = raw.recv(b.slot, b.gen); // the call 7
  assert.is(m.r, 0);
  assert.is(reply(raw, b, a, 7), 0);
  raw.free(b.slot, b.gen, m.offset);
  const rr = (cookie: number, flags = A.RECV_REPLY) => raw.recv(a.slot, a.gen, flags, cookie);
  const r7 = rr(7);
  assert.is(r7.r, 0, 'the reply, behind the user\'s message');
  const s = raw.slice(a.slot, r7.offset);
  assert.is(raw.r64(s + A.MSG_TIMEOUT), 7);
  assert.is(raw.r64(s + A.MSG_SRC_ID), b.id);
  assert.is(raw.free(a.slot, a.gen, r7.offset), 0);
  assert.is(rr(7).r, -A.EAGAIN, 'taken');
  assert.is(raw.e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2], A.R_RECV_NO_REPLY);
  const r8 = rr(8);
  assert.is(r8.r, 0, 'a REPLY_TIMEOUT is the end of its call too');
  const k = raw.slice(a.slot, r8.offset);
  assert.is(raw.r64(k + A.MSG_SRC_ID), 0);
  assert.is(raw.r64(k + A.MSG_HDR + A.ITEM_TYPE), A.ITEM_REPLY_TIMEOUT);
  raw.free(a.slot, a.gen, r8.offset);
  // alone, and with a cookie
  for (const f of [A.RECV_PEEK, A.RECV_DROP, A.RECV_USE_PRIORITY]) {
    assert.is(rr(7, A.RECV_REPLY | f).r, -A.EINVAL);
    assert.is(raw.e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2], A.R_RECV_REPLY_FLAGS);
  }
  assert.is(rr(0).r, -A.EAGAIN, 'cookie 0: the end of any call; none is queued');
  assert.is(raw.e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2], A.R_RECV_NO_REPLY);
  // the user's message is still first in the queue
  const u = take(raw, a);
  assert.is(u.src, c.id);
  assert.is(take(raw, a).r, -A.EAGAIN);
  assert.is(take(raw, b).cookie, 8, 'the call that timed out, still queued at its callee');
  assert.is(pending(raw), 0);
});

t('RECV_REPLY_FIRST takes a call\'s end only with no message queued before it; one behind a message stays, EAGAIN with RECV_RETURN_BEHIND (stop 68)', ({ raw }) => {
  const a = open(raw), b = open(raw), c = open(raw);
  const F = A.RECV_REPLY | A.RECV_REPLY_FIRST;
  const rr = (cookie: number, flags = F) => raw.recv(a.slot, a.gen, flags, cookie);
  const reason = () => raw.e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2];
  assert.is(call(raw, a, b, 7), 0);
  assert.is(call(raw, a, b, 9), 0);
  raw.send(c.slot, c.gen, { msg: { dst: a.id, cookie: 1 }, items: [hostVec(2)] }); // the user's, ahead
  const m = raw.recv(b.slot, b.gen);
  assert.is(m.r, 0);
  assert.is(reply(raw, b, a, 7), 0);
  raw.free(b.slot, b.gen, m.offset);
  for (const cookie of [7, 0]) {
    const r = rr(cookie);
    assert.is(r.r, -A.EAGAIN, `cookie ${cookie}: behind the user's message`);
    assert.is(r.returnFlags & A.RECV_RETURN_BEHIND, A.RECV_RETURN_BEHIND);
    assert.is(r.returnFlags & A.RECV_RETURN_NO_CALL, 0);
    assert.is(reason(), A.R_RECV_NO_REPLY);
  }
  const none = rr(9);
  assert.is(none.r, -A.EAGAIN, 'no end of call 9 queued');
  assert.is(none.returnFlags & A.RECV_RETURN_BEHIND, 0, 'not behind: not queued');
  assert.is(rr(77).returnFlags & A.RECV_RETURN_NO_CALL, A.RECV_RETURN_NO_CALL, 'never a call: as RECV_REPLY says');
  // flags: with RECV_REPLY only
  for (const f of [A.RECV_REPLY_FIRST, F | A.RECV_PEEK, F | A.RECV_DROP, F | A.RECV_USE_PRIORITY, A.RECV_REPLY_FIRST | A.RECV_PEEK]) {
    assert.is(rr(7, f).r, -A.EINVAL, `flags ${f}`);
    assert.is(reason(), A.R_RECV_REPLY_FLAGS);
  }
  // the user's message first, as a listener takes it; then the end is first: taken
  const u = take(raw, a);
  assert.is(u.src, c.id);
  const r7 = rr(7);
  assert.is(r7.r, 0, 'first in the queue now');
  assert.is(raw.r64(raw.slice(a.slot, r7.offset) + A.MSG_TIMEOUT), 7);
  raw.free(a.slot, a.gen, r7.offset);
  assert.is(take(raw, a).r, -A.EAGAIN, 'nothing else taken or left');
  // call 9 answered: its end alone in the queue, cookie 0 takes it
  const m9 = raw.recv(b.slot, b.gen);
  assert.is(reply(raw, b, a, 9), 0);
  raw.free(b.slot, b.gen, m9.offset);
  const r9 = rr(0);
  assert.is(r9.r, 0);
  assert.is(raw.r64(raw.slice(a.slot, r9.offset) + A.MSG_TIMEOUT), 9);
  raw.free(a.slot, a.gen, r9.offset);
  assert.is(pending(raw), 0);
});

t('RECV_REPLY with cookie 0 takes the end of any call, in queue order, and nothing else', ({ raw }) => {
  const a = open(raw), b = open(raw), c = open(raw);
  assert.is(call(raw, a, b, 7), 0);
  assert.is(call(raw, a, b, 8, 1n), 0); // due at once: its REPLY_TIMEOUT is queued by the next tick
  raw.send(c.slot, c.gen, { msg: { dst: a.id, cookie: 1 }, items: [hostVec(2)] }); // the user's, ahead of both ends
  const m = raw.recv(b.slot, b.gen); // the call 7
  assert.is(m.r, 0);
  raw.send(c.slot, c.gen, { msg: { dst: a.id, cookie: 2 }, items: [hostVec(2)] }); // the user's, between them
  assert.is(reply(raw, b, a, 7), 0);
  raw.free(b.slot, b.gen, m.offset);
  const any = () => raw.recv(a.slot, a.gen, A.RECV_REPLY, 0);
  const ends: [number, number][] = [];
  for (let r = any(); r.r === 0; r = any()) {
    const s = raw.slice(a.slot, r.offset);
    ends.push([raw.r64(s + A.MSG_TIMEOUT), raw.r64(s + A.MSG_SRC_ID)]);
    assert.is(raw.free(a.slot, a.gen, r.offset), 0);
  }
  assert.equal(ends, [[8, 0], [7, b.id]], 'the REPLY_TIMEOUT (queued first, by the tick of the call 7\'s RECV) and the reply, in queue order');
  assert.is(raw.e.u32[(raw.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2], A.R_RECV_NO_REPLY);
  assert.equal([take(raw, a).cookie, take(raw, a).cookie], [1, 2], 'the user\'s messages stay, in order');
  assert.is(take(raw, a).r, -A.EAGAIN);
  assert.is(take(raw, b).cookie, 8, 'the call that timed out, still queued at its callee');
  assert.is(pending(raw), 0);
});

t('EXPECT_REPLY without a timeout is EINVAL; a SYNC_REPLY without EXPECT_REPLY too', ({ raw }) => {
  const a = open(raw), b = open(raw);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: 1, flags: A.MSG_EXPECT_REPLY } }), -A.EINVAL);
  assert.is(raw.reason.reason, A.R_SEND_EXPECT_TIMEOUT);
  assert.is(raw.send(a.slot, a.gen, { flags: A.SEND_SYNC_REPLY, msg: { dst: b.id, cookie: 1 } }), -A.EINVAL);
  assert.is(raw.reason.reason, A.R_SEND_SYNC_EXPECT);
  assert.is(pending(raw), 0);
});

t('a call and its reply: the record is made, matched and taken; the call message says EXPECT_REPLY', ({ raw }) => {
  const a = open(raw), b = open(raw);
  assert.is(call(raw, a, b, 7), 0);
  assert.is(pending(raw), 1);
  const m = take(raw, b);
  assert.is(m.flags, A.MSG_EXPECT_REPLY);
  assert.is(m.cookie, 7);
  assert.is(m.cookieReply, Number(FAR), 'timeout_ns as sent');
  assert.is(reply(raw, b, a, 7), 0);
  assert.is(pending(raw), 0, 'the reply took the record');
  const r = take(raw, a);
  assert.is(r.src, b.id);
  assert.is(r.cookieReply, 7);
  assert.is(r.flags, 0);
  // a second reply matches nothing
  assert.is(reply(raw, b, a, 7), -A.EBADSLT);
  assert.is(raw.reason.reason, A.R_SEND_REPLY_NO_CALL);
  assert.ok(raw.message(-A.EBADSLT, 'SEND')!.includes('no pending call'));
});

t('EBADSLT: a reply with the wrong cookie, from the wrong sender, or to the wrong caller; the bus unchanged', ({ raw, e }) => {
  const a = open(raw), b = open(raw), c = open(raw);
  assert.is(call(raw, a, b, 5), 0);
  // bus state past the thread table (whose slots hold each command's reason and command area)
  const from = e.u32[(A.BUS_BASE + A.BUS_CONNS) >>> 2], to = e.u32[(A.BUS_BASE + A.BUS_LAYOUT_END) >>> 2];
  const before = e.u8.slice(from, to);
  assert.is(reply(raw, b, a, 6), -A.EBADSLT, 'wrong cookie');
  assert.is(reply(raw, c, a, 5), -A.EBADSLT, 'wrong replier');
  assert.is(reply(raw, b, c, 5), -A.EBADSLT, 'wrong caller');
  assert.ok(e.u8.slice(from, to).every((v, i) => v === before[i]), 'nothing changed');
  assert.is(pending(raw), 1);
  take(raw, b);
  assert.is(reply(raw, b, a, 5), 0);
  take(raw, a);
});

t('REPLY_TIMEOUT: an overdue call is expired by the next command and the caller told, once', ({ raw, mock }) => {
  const a = open(raw, { attachRecv: A.ATTACH_TIMESTAMP }), b = open(raw);
  assert.is(call(raw, a, b, 11, 1), 0, 'a deadline already passed');
  assert.is(call(raw, a, b, 12, FAR), 0);
  const k = take(raw, a); // this RECV's tick expires call 11
  assert.is(k.src, 0, 'from the bus');
  assert.is(k.type, BigInt(A.PAYLOAD_KERNEL));
  assert.is(k.cookieReply, 11);
  assert.equal(k.items, [A.ITEM_REPLY_TIMEOUT, A.ITEM_TIMESTAMP], 'one REPLY_TIMEOUT item, TIMESTAMP as asked');
  assert.is(k.itemSize, A.ITEM_HDR, 'empty');
  assert.is(pending(raw), 1, 'call 12 still pending');
  assert.is(take(raw, a).r, -A.EAGAIN, 'told once');
  take(raw, b); take(raw, b);
  assert.is(reply(raw, b, a, 11), -A.EBADSLT, 'too late');
  assert.is(reply(raw, b, a, 12), 0);
  take(raw, a);
  void mock;
});

t('a deadline in the future is not expired; it is once the clock passes it', ({ raw, mock }) => {
  const a = open(raw), b = open(raw);
  const now = (): bigint => { const o = new Uint32Array(2); mock.clock(1, o); return BigInt(o[0]) + (BigInt(o[1]) << 32n); };
  const dl = now() + 50_000n; // 50 clock reads of 1 µs
  assert.is(call(raw, a, b, 3, dl), 0);
  assert.is(take(raw, a).r, -A.EAGAIN);
  assert.is(pending(raw), 1);
  for (let i = 0; i < 60; i++) now();
  const k = take(raw, a);
  assert.is(k.item, A.ITEM_REPLY_TIMEOUT);
  assert.is(k.cookieReply, 3);
  take(raw, b);
});

t('REPLY_DEAD when the replier says BYEBYE with the call received but not answered', ({ raw }) => {
  const a = open(raw), b = open(raw);
  assert.is(call(raw, a, b, 21), 0);
  take(raw, b);
  assert.is(raw.byebye(b.slot, b.gen), 0);
  assert.is(pending(raw), 0);
  const k = take(raw, a);
  assert.is(k.src, 0);
  assert.is(k.item, A.ITEM_REPLY_DEAD);
  assert.is(k.cookieReply, 21);
  assert.is(take(raw, a).r, -A.EAGAIN, 'exactly one outcome');
});

t('REPLY_DEAD when the replier DROPs the call; a plain message dropped tells nobody', ({ raw }) => {
  const a = open(raw), b = open(raw);
  assert.is(call(raw, a, b, 31), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: 32 }, items: [hostVec(2)] }), 0);
  assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP).r, 0);
  assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP).r, 0);
  assert.is(pending(raw), 0);
  const k = take(raw, a);
  assert.is(k.item, A.ITEM_REPLY_DEAD);
  assert.is(k.cookieReply, 31);
  assert.is(take(raw, a).r, -A.EAGAIN);
  assert.is(reply(raw, b, a, 31), -A.EBADSLT, 'no reply after REPLY_DEAD');
});

t('a caller that closes forgets its calls: the reply then has no destination', ({ raw }) => {
  const a = open(raw), b = open(raw);
  assert.is(call(raw, a, b, 41), 0);
  assert.is(raw.byebye(a.slot, a.gen), 0);
  assert.is(pending(raw), 0);
  take(raw, b);
  assert.is(reply(raw, b, a, 41), -A.ENXIO);
});

t('a cancelled call leaves no record; a cancelled reply tells its caller REPLY_DEAD', ({ raw, e }) => {
  const a = open(raw), b = open(raw);
  raw.writeSend({ msg: { dst: b.id, cookie: 51, flags: A.MSG_EXPECT_REPLY, timeout: FAR }, items: [hostVec(4)] });
  assert.is(e.send(a.slot, a.gen), A.SEND_PENDING);
  assert.is(pending(raw), 1);
  assert.is(e.sendCancel(), 0);
  assert.is(pending(raw), 0);
  assert.is(call(raw, a, b, 52), 0);
  take(raw, b);
  raw.writeSend({ msg: { dst: a.id, cookie: 1, timeout: 52 }, items: [hostVec(4)] });
  assert.is(e.send(b.slot, b.gen), A.SEND_PENDING);
  assert.is(pending(raw), 0, 'the reply took the record');
  assert.is(e.sendCancel(), 0);
  const k = take(raw, a);
  assert.is(k.item, A.ITEM_REPLY_DEAD);
  assert.is(k.cookieReply, 52);
});

t('ENOSPC when the bus reply table is full (limits.replies = 16); nothing changed', ({ raw }) => {
  const a = open(raw, { poolSize: 65536 }), b = open(raw, { poolSize: 65536 });
  for (let i = 0; i < 16; i++) assert.is(call(raw, a, b, 100 + i), 0);
  assert.is(call(raw, a, b, 200), -A.ENOSPC);
  assert.is(raw.reason.reason, A.R_SEND_REPLY_TABLE_FULL);
  assert.is(raw.reason.arg, 16);
  assert.is(raw.e.queued(b.slot), 16);
  for (let i = 0; i < 16; i++) assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP).r, 0);
  for (let i = 0; i < 16; i++) assert.is(take(raw, a).item, A.ITEM_REPLY_DEAD);
});

t('REPLY_DEAD order: a replier\'s close tells its callers in the order of their records (call order on a fresh table), DROPs in the order they come; a caller\'s time-outs come in deadline order, call order for one deadline (stop 45)', ({ raw, mock }) => {
  const a = open(raw, { poolSize: 65536 }), b = open(raw, { poolSize: 65536 });
  for (let k = 0; k < 5; k++) assert.is(call(raw, a, b, 40 + k), 0);
  for (let k = 0; k < 5; k++) take(raw, b); // received, not answered
  assert.is(raw.byebye(b.slot, b.gen), 0);
  const dead = [0, 1, 2, 3, 4].map(() => take(raw, a));
  assert.equal(dead.map((k) => k.item), Array(5).fill(A.ITEM_REPLY_DEAD));
  assert.equal(dead.map((k) => k.cookieReply), [40, 41, 42, 43, 44], 'a close: in call order (a fresh table)');
  const b2 = open(raw, { poolSize: 65536 });
  for (let k = 0; k < 5; k++) assert.is(call(raw, a, b2, 30 + k), 0);
  while (raw.recv(b2.slot, b2.gen, A.RECV_DROP).r === 0);
  const drops = [0, 1, 2, 3, 4].map(() => take(raw, a));
  assert.equal(drops.map((k) => k.cookieReply), [30, 31, 32, 33, 34], 'DROPs: in the order they came');
  // time-outs: deadlines 3, 1, 2, 1 (x 20 clock reads), expired by one command
  const now = (): bigint => { const o = new Uint32Array(2); mock.clock(1, o); return BigInt(o[0]) + (BigInt(o[1]) << 32n); };
  const t0 = now();
  [3, 1, 2, 1].forEach((d, k) => assert.is(call(raw, a, b2, 50 + k, t0 + BigInt(d) * 20_000n), 0));
  for (let k = 0; k < 100; k++) now();
  const outs = [0, 1, 2, 3].map(() => take(raw, a));
  assert.equal(outs.map((k) => k.item), Array(4).fill(A.ITEM_REPLY_TIMEOUT));
  assert.equal(outs.map((k) => k.cookieReply), [51, 53, 52, 50], 'deadline order, call order for one deadline');
  while (raw.recv(b2.slot, b2.gen, A.RECV_DROP).r === 0);
});

t.run();

const big = busSuite('calls: the per-caller limit', { limits: { threads: 4, connections: 8, poolMax: 262144, names: 16, matches: 16, replies: 200 } });

big('EMLINK at MAX_PENDING_REPLIES calls of one caller; another caller may still call', ({ raw }) => {
  const a = open(raw, { poolSize: 262144 }), b = open(raw, { poolSize: 262144 }), c = open(raw, { poolSize: 65536 });
  for (let i = 0; i < A.MAX_PENDING_REPLIES; i++) assert.is(call(raw, a, b, i + 1), 0, `call ${i}`);
  assert.is(call(raw, a, b, 9999), -A.EMLINK);
  assert.is(raw.reason.reason, A.R_SEND_CALLS_MAX);
  assert.is(raw.reason.arg, A.MAX_PENDING_REPLIES);
  assert.is(call(raw, c, b, 1), 0, 'the limit is per caller');
  assert.is(raw.byebye(a.slot, a.gen), 0, 'the caller leaves: its calls are forgotten');
  assert.is(pending(raw), 1);
  for (let i = 0; i < A.MAX_PENDING_REPLIES; i++) assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP).r, 0);
  const m = take(raw, b);
  assert.is(reply(raw, b, c, m.cookie), 0);
  take(raw, c);
});

big('seeded random (stop 45: the deadline list): calls with random deadlines, replies, repliers leaving and DROPs; every call ends exactly once, each caller told of its time-outs in deadline order (call order for one deadline), the table checked after every step', ({ raw, mock, e }) => {
  const { checkBus } = HEALTH;
  let seed = 45;
  const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
  const now = (): bigint => { const o = new Uint32Array(2); mock.clock(1, o); return BigInt(o[0]) + (BigInt(o[1]) << 32n); };
  const callers = [0, 1, 2].map(() => open(raw, { poolSize: 65536 }));
  let repliers = [0, 1].map(() => open(raw, { poolSize: 65536 }));
  type Call = { caller: number; replier: number; rgen: number; cookie: number; deadline: bigint; ended: boolean };
  const calls = new Map<number, Call>();
  /** per caller: the deadlines of its calls in the order their REPLY_TIMEOUTs came */
  const timedOut: bigint[][] = callers.map(() => []);
  let cookie = 1000;
  /** one message off caller i's queue, if any: which call it ends, how (freed) */
  const drain = (i: number): boolean => {
    const k = take(raw, callers[i]);
    if (k.r === -A.EAGAIN) return false;
    assert.is(k.r, 0);
    const c = calls.get(k.cookieReply);
    assert.ok(c && c.caller === i, `caller ${i}: an end of its own call (${k.cookieReply})`);
    assert.is(c!.ended, false, `call ${k.cookieReply} ends once`);
    c!.ended = true;
    if (k.item === A.ITEM_REPLY_TIMEOUT) {
      timedOut[i].push(c!.deadline);
      const ds = timedOut[i];
      assert.ok(ds.length < 2 || ds[ds.length - 2] <= ds[ds.length - 1], `caller ${i}: time-outs in deadline order (${ds.slice(-2).join(' then ')})`);
    }
    return true;
  };
  for (let step = 0; step < 1500; step++) {
    const op = rnd(100);
    if (op < 45) {
      // a call with a deadline up to 300 clock reads away (some far), one caller's at most 100 pending
      const i = rnd(3), j = rnd(2);
      const mine = [...calls.values()].filter((c) => c.caller === i && !c.ended).length;
      if (mine >= 100) continue;
      const dl = rnd(10) === 0 ? FAR : now() + BigInt(rnd(300_000));
      const r = call(raw, callers[i], repliers[j], ++cookie, dl);
      assert.is(r, 0, `call ${cookie}`);
      calls.set(cookie, { caller: i, replier: j, rgen: repliers[j].gen, cookie, deadline: dl, ended: false });
    } else if (op < 60) {
      // a replier takes its next message and answers it (a call already ended: EBADSLT)
      const j = rnd(2);
      const m = raw.recv(repliers[j].slot, repliers[j].gen);
      if (m.r !== 0) continue;
      const s = raw.slice(repliers[j].slot, m.offset), ck = raw.r64(s + A.MSG_COOKIE);
      assert.is(raw.free(repliers[j].slot, repliers[j].gen, m.offset), 0);
      const c = calls.get(ck)!;
      const r = reply(raw, repliers[j], callers[c.caller], ck);
      assert.ok(r === 0 || r === -A.EBADSLT, `reply to ${ck}: ${r}`);
    } else if (op < 64) {
      // a replier DROPs its next message: that call owes REPLY_DEAD
      const j = rnd(2);
      raw.recv(repliers[j].slot, repliers[j].gen, A.RECV_DROP);
    } else if (op < 67) {
      // a replier leaves (its pending calls owe REPLY_DEAD) and another takes its place
      const j = rnd(2);
      while (raw.recv(repliers[j].slot, repliers[j].gen, A.RECV_DROP).r === 0);
      assert.is(raw.byebye(repliers[j].slot, repliers[j].gen), 0);
      repliers = repliers.map((h, k) => (k === j ? open(raw, { poolSize: 65536 }) : h));
    } else if (op < 85) {
      for (let k = rnd(40); k > 0; k--) now(); // time passes
    } else drain(rnd(3));
    assert.equal(checkBus(e), [], `step ${step}`);
  }
  // the rest: far calls answered, the clock past every other deadline, every end taken
  for (const j of [0, 1]) {
    for (let m = raw.recv(repliers[j].slot, repliers[j].gen); m.r === 0; m = raw.recv(repliers[j].slot, repliers[j].gen)) {
      const ck = raw.r64(raw.slice(repliers[j].slot, m.offset) + A.MSG_COOKIE);
      assert.is(raw.free(repliers[j].slot, repliers[j].gen, m.offset), 0);
      const c = calls.get(ck)!;
      if (c.deadline === FAR) reply(raw, repliers[j], callers[c.caller], ck);
    }
  }
  for (let k = 0; k < 400; k++) now();
  for (const i of [0, 1, 2]) while (drain(i));
  const open_ = [...calls.values()].filter((c) => !c.ended);
  assert.equal(open_.map((c) => c.cookie), [], 'every call ended');
  assert.is(pending(raw), 0);
  assert.ok(timedOut.flat().length > 100, `time-outs happened (${timedOut.flat().length})`);
});

big.run();
