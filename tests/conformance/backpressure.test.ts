// Backpressure and configurable quotas (issue 10): sendAsync waits for room in the receiver,
// woken by the receiver's RECV / FREE through its space word; limits.maxQueuedPerUser.
import * as assert from 'uvu/assert';
import { Bus, BusError, abi as A } from '../../js/index.ts';
import type { Connection, Message } from '../../js/index.ts';
import { busSuite, bareEngine, ENGINE, SMALL } from '../helpers/harness.ts';

const MAXQ = 3;
const t = busSuite('backpressure', { limits: { ...SMALL, maxQueuedPerUser: MAXQ } });

/** the receiver's space word and its sleepers count */
function space(c: Connection): number { return c.engine.u32[(c.engine.connAddr(c.slot) + A.CONN_SPACE) >>> 2]; }
function spaceSleepers(c: Connection): number { return c.engine.u32[(c.engine.connAddr(c.slot) + A.CONN_SPACE_SLEEPERS) >>> 2]; }
function fail(fn: () => unknown): BusError {
  try { fn(); } catch (err) { if (err instanceof BusError) return err; throw err; }
  throw new Error('no error');
}
const tick = () => new Promise((r) => setTimeout(r, 1));
/** until `cond` holds (a few event-loop turns at most in practice; no timing asserted) */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await tick();
  assert.ok(cond(), 'condition reached');
}

t('limits.maxQueuedPerUser is the message quota; a synchronous send fails at once with ENOBUFS', ({ bus }) => {
  assert.is(bus.limits.maxQueuedPerUser, MAXQ);
  assert.is(bus.engine.u32[(A.BUS_BASE + A.BUS_MAX_QUEUED) >>> 2], MAXQ);
  const a = bus.connect(), b = bus.connect({ poolSize: 65536 });
  for (let i = 0; i < MAXQ; i++) a.sendText(b.id, `m${i}`);
  const err = fail(() => a.sendText(b.id, 'over'));
  assert.is(err.code, 'ENOBUFS');
  assert.is(err.reason, A.R_SEND_QUOTA_MSGS);
  assert.match(err.message, new RegExp(`allows ${MAXQ} queued messages`));
  while (b.drop()) { /* empty it */ }
  a.close(); b.close();
});

t('sendAsync waits for room and succeeds once the receiver receives (order kept)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 65536 });
  for (let i = 0; i < MAXQ; i++) a.sendText(b.id, `m${i}`);
  const enc = new TextEncoder();
  const p = a.sendAsync(b.id, enc.encode(`m${MAXQ}`), { timeout: 10000 });
  let done = false;
  p.then(() => { done = true; });
  await until(() => a.pendingSends === 1 && spaceSleepers(b) === 1);
  assert.is(done, false, 'still waiting: the quota is used up');
  const got: string[] = [];
  const m = b.recv()!; // dequeues: bumps the space word, wakes the sender
  got.push(m.text()); m.free();
  await p;
  assert.is(a.pendingSends, 0);
  assert.is(spaceSleepers(b), 0, 'the sleeper count is given back');
  for (let m2 = b.recv(); m2; m2 = b.recv()) { got.push(m2.text()); m2.free(); }
  assert.equal(got, ['m0', 'm1', 'm2', 'm3']);
  a.close(); b.close();
});

t('sendAsync waits on a full pool (EXFULL) and succeeds once the receiver frees', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 16384 });
  const big = new Uint8Array(2000);
  const kept = [];
  // received but not freed: the quota counts queued messages only, the pool fills up
  for (;;) {
    try { a.send(b.id, big); } catch (err) {
      assert.is((err as BusError).code, 'EXFULL');
      break;
    }
    kept.push(b.recv()!);
  }
  assert.ok(kept.length >= 3);
  const p = a.sendAsync(b.id, big, { timeout: 10000 });
  await until(() => a.pendingSends === 1);
  kept.pop()!.free(); // FREE: bumps the space word
  await p;
  for (const m of kept) m.free();
  b.recv()!.free();
  a.close(); b.close();
});

t('a full pool: a failed send leaves the space word alone, and sendAsync parks (the event loop runs) until a FREE on a timer', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 16384 });
  const big = new Uint8Array(2000);
  const kept: Message[] = [];
  for (;;) {
    try { a.send(b.id, big); } catch (err) {
      assert.is((err as BusError).code, 'EXFULL');
      break;
    }
    kept.push(b.recv()!);
  }
  // a send that finds no block takes nothing, so it gives nothing back: its own sendAsync
  // would otherwise see the word move and try again at once, forever (a busy loop)
  const s0 = space(b);
  assert.is(fail(() => a.send(b.id, big)).code, 'EXFULL');
  assert.is(space(b), s0, 'the space word did not move');
  let ticks = 0;
  const iv = setInterval(() => { ticks++; }, 1);
  const freed = new Promise<void>((r) => setTimeout(() => { kept.pop()!.free(); r(); }, 5));
  const got = await a.sendAsync(b.id, big, { timeout: 5000 }).then(() => 'resolved', (e: BusError) => e.code);
  clearInterval(iv);
  await freed;
  assert.is(got, 'resolved', 'the FREE on a timer ran while sendAsync waited');
  assert.ok(ticks > 0, 'timers ran meanwhile');
  for (const m of kept) m.free();
  b.recv()!.free();
  a.close(); b.close();
});

t('sendAsync rejects with ETIMEDOUT when no room comes', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 65536 });
  for (let i = 0; i < MAXQ; i++) a.sendText(b.id, `m${i}`);
  await a.sendAsync(b.id, new Uint8Array(8), { timeout: 20 }).then(() => assert.unreachable(), (e: BusError) => {
    assert.is(e.code, 'ETIMEDOUT');
    assert.match(e.message, /no room in the receiver within 20 ms/);
  });
  await a.sendAsync(b.id, new Uint8Array(8), { timeout: 0 }).then(() => assert.unreachable(), (e: BusError) => assert.is(e.code, 'ETIMEDOUT'));
  assert.is(a.pendingSends, 0);
  assert.is(b.queued, MAXQ, 'nothing half sent');
  while (b.drop()) { /* empty it */ }
  a.close(); b.close();
});

t("a waiting sendAsync's failure that room cannot help is sendAsync's: its receiver closed (ENXIO), its name released (ESRCH)", async ({ bus }) => {
  // (an outside audit, stop 29: these said "send: ENXIO" / "send: ESRCH", where call() says "call:")
  const a = bus.connect(), b = bus.connect({ poolSize: 65536 });
  for (let i = 0; i < MAXQ; i++) a.sendText(b.id, `m${i}`);
  const byId = a.sendAsync(b.id, new Uint8Array(8), { timeout: 5000 }).then(() => null, (e: BusError) => e);
  await tick();
  while (b.drop()) { /* empty it */ }
  b.close();
  const e1 = await byId;
  assert.ok(e1 instanceof BusError && e1.code === 'ENXIO', `ENXIO (${e1?.message})`);
  assert.match(e1!.message, /^sendAsync: ENXIO: /);
  const c = bus.connect({ poolSize: 65536 });
  c.requestName('org.example.Full');
  for (let i = 0; i < MAXQ; i++) a.sendText('org.example.Full', `m${i}`);
  const byName = a.sendAsync('org.example.Full', new Uint8Array(8), { timeout: 5000 }).then(() => null, (e: BusError) => e);
  await tick();
  c.releaseName('org.example.Full');
  while (c.drop()) { /* room: the waiter tries again, by a name nobody owns */ }
  const e2 = await byName;
  assert.ok(e2 instanceof BusError && e2.code === 'ESRCH', `ESRCH (${e2?.message})`);
  assert.match(e2!.message, /^sendAsync: ESRCH: /);
  assert.is(a.pendingSends, 0);
  a.close(); c.close();
});

t('sendAsync rejects with ECANCELED when its signal aborts (before or while it waits)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 65536 });
  for (let i = 0; i < MAXQ; i++) a.sendText(b.id, `m${i}`);
  const pre = new AbortController();
  pre.abort();
  await a.sendAsync(b.id, new Uint8Array(8), { signal: pre.signal }).then(() => assert.unreachable(), (e: BusError) => assert.is(e.code, 'ECANCELED'));
  const ac = new AbortController();
  const p = a.sendAsync(b.id, new Uint8Array(8), { signal: ac.signal });
  await until(() => a.pendingSends === 1);
  ac.abort();
  await p.then(() => assert.unreachable(), (e: BusError) => assert.is(e.code, 'ECANCELED'));
  assert.is(a.pendingSends, 0);
  assert.is(b.queued, MAXQ);
  while (b.drop()) { /* empty it */ }
  a.close(); b.close();
});

t('a message that can never fit fails at once, sync and async, naming the rule and the share', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 16384 });
  const share = Math.floor(16384 / 2 / 3); // half the pool for its owner, a third of the rest per user
  const big = new Uint8Array(share); // with its header and items, more than the share
  const err = fail(() => a.send(b.id, big));
  assert.is(err.code, 'ENOBUFS');
  assert.is(err.reason, A.R_SEND_NEVER_FITS);
  assert.match(err.message, new RegExp(`at most ${share} bytes`));
  assert.match(err.message, /can never fit/);
  await a.sendAsync(b.id, big, { timeout: 10000 }).then(() => assert.unreachable(), (e: BusError) => {
    assert.is(e.code, 'ENOBUFS');
    assert.is(e.reason, A.R_SEND_NEVER_FITS);
    assert.match(e.message, /^sendAsync: ENOBUFS: /, "its op is sendAsync's");
  });
  assert.is(a.pendingSends, 0);
  a.send(b.id, new Uint8Array(share - 512)); // just under the share fits
  b.recv()!.free();
  a.close(); b.close();
});

t('the space word is bumped by RECV (dequeue), RECV_DROP and FREE, not by PEEK', ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 65536 });
  a.sendText(b.id, 'one'); a.sendText(b.id, 'two');
  let s = space(b);
  const peeked = b.recv({ peek: true })!;
  assert.is(space(b), s, 'PEEK keeps the message queued: no room made');
  peeked.free();
  assert.is(space(b), s, 'FREE of a peeked slice that is still queued releases nothing');
  s = space(b);
  const m = b.recv()!;
  assert.ok(space(b) !== s, 'RECV dequeued: bumped');
  s = space(b);
  m.free();
  assert.ok(space(b) !== s, 'FREE released the block: bumped');
  s = space(b);
  assert.ok(b.drop());
  assert.ok(space(b) !== s, 'RECV_DROP: bumped');
  a.close(); b.close();
});

t('a receiver closed under waiting senders, its slot taken at once by a new connection: the sleeper counts stay right, and the next waiter is woken by the room it waits for', async ({ bus }) => {
  // (an outside audit: HELLO zeroed CONN_SPACE_SLEEPERS / CONN_TURN_SLEEPERS under the old
  // connection's parked waiters, which took themselves off afterwards: the counts went
  // negative, the core skipped the next waiter's notify, and a sendAsync with room waited out
  // its timeout)
  const i32 = bus.engine.i32;
  const counts = (c: Connection) => { const b = bus.engine.connAddr(c.slot); return [Atomics.load(i32, (b + A.CONN_SPACE_SLEEPERS) >>> 2), Atomics.load(i32, (b + A.CONN_TURN_SLEEPERS) >>> 2)]; };
  const tx = bus.connect();
  let rx = bus.connect();
  const slot0 = rx.slot;
  for (let i = 0; i < MAXQ; i++) tx.send(rx.id, new Uint8Array(8)); // its quota full
  const waiters: Promise<string>[] = [];
  for (let i = 0; i < 4; i++) waiters.push(tx.sendAsync(rx.id, new Uint8Array(8), { timeout: 3000 }).then(() => 'sent', (e: BusError) => e.code));
  await new Promise((r) => setTimeout(r, 30)); // parked: the holder of the turn on the space word, the others on the turn word
  while (rx.drop()) { /* drained */ }
  rx.close();
  rx = bus.connect(); // the same slot, in the same turn of the event loop
  assert.is(rx.slot, slot0);
  assert.equal(await Promise.all(waiters), ['ENXIO', 'ENXIO', 'ENXIO', 'ENXIO']);
  assert.equal(counts(rx), [0, 0], 'nobody waits on the new connection');
  for (let i = 0; i < MAXQ; i++) tx.send(rx.id, new Uint8Array(8));
  const t0 = performance.now();
  const p = tx.sendAsync(rx.id, new Uint8Array(8), { timeout: 1500 }).then(() => 'sent', (e: BusError) => e.code);
  await new Promise((r) => setTimeout(r, 20));
  rx.recv()!.free(); // room, ~20 ms in
  assert.is(await p, 'sent');
  assert.ok(performance.now() - t0 < 500, `woken by the room (${(performance.now() - t0).toFixed(0)} ms), not by its timeout or a poll`);
  while (rx.drop()) { /* drained */ }
  assert.equal(counts(rx), [0, 0]);
  rx.close(); tx.close();
});

t('closing the sender rejects its pending sendAsync with ECONNRESET', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 65536 });
  for (let i = 0; i < MAXQ; i++) a.sendText(b.id, `m${i}`);
  const p = a.sendAsync(b.id, new Uint8Array(8));
  await until(() => a.pendingSends === 1);
  a.close();
  await p.then(() => assert.unreachable(), (e: BusError) => assert.is(e.code, 'ECONNRESET'));
  while (b.drop()) { /* empty it */ }
  b.close();
});

t('sendAsync checks its options', async ({ bus }) => {
  const a = bus.connect();
  await a.sendAsync(a.id, null, { timeout: -1 }).then(() => assert.unreachable(), (e: BusError) => assert.is(e.code, 'EINVAL'));
  await a.sendAsync(a.id, null, { signal: {} as AbortSignal }).then(() => assert.unreachable(), (e: BusError) => assert.is(e.code, 'EINVAL'));
  await a.sendAsync(a.id, null, { nope: 1 } as never).then(() => assert.unreachable(), (e: BusError) => assert.is(e.code, 'EINVAL'));
  const cookie = await a.sendAsync(a.id, new Uint8Array([1, 2]), { cookie: 77 });
  assert.is(cookie, 77);
  const m = a.recv()!;
  assert.is(m.cookie, 77);
  m.free();
  a.close();
});

t('BUS_MAKE: maxQueuedPerUser above the bound is refused, 0 means the kdbus default', async () => {
  await Bus.create({ engine: ENGINE, limits: { ...SMALL, maxQueuedPerUser: A.MAX_QUEUED_LIMIT + 1 } }).then(() => assert.unreachable(), (e: BusError) => {
    assert.is(e.code, 'EINVAL');
    assert.is(e.reason, A.R_MAKE_MAX_QUEUED);
    assert.match(e.message, /maxQueuedPerUser/);
  });
  const bus = await Bus.create({ engine: ENGINE, limits: { ...SMALL, maxQueuedPerUser: 0 } });
  assert.is(bus.engine.u32[(A.BUS_BASE + A.BUS_MAX_QUEUED) >>> 2], A.MAX_QUEUED_PER_USER);
  // bus.limits says the quota in force (it read 0 before stop 30: an outside audit), and so does a joiner's
  assert.is(bus.limits.maxQueuedPerUser, A.MAX_QUEUED_PER_USER);
  assert.is(bus.handle().limits.maxQueuedPerUser, A.MAX_QUEUED_PER_USER);
  bus.close();
  // a bus too large for 4 GiB names the limits that make it so
  await Bus.create({ engine: ENGINE, limits: { connections: 65536 } }).then(() => assert.unreachable(), (e: BusError) => {
    assert.is(e.code, 'ENOMEM');
    assert.match(e.message, /limits\.connections \(65536, counted as 65535, the most a bus can have\) × limits\.poolMax \(1048576 bytes\)/);
  });
  void bareEngine;
});

t("a send that waits sends the bytes of the moment of its call: sendAsync, call() and replyAsync wait with their own copy (the caller's memory, a received message's payload, may change meanwhile)", async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 65536 });
  for (let i = 0; i < MAXQ; i++) a.sendText(b.id, `m${i}`);
  // sendAsync: the buffer changed at once after the call, an ArrayBuffer and a DataView too
  const buf = new Uint8Array([1, 2, 3]);
  const ab = new Uint8Array([4, 5]).buffer, dv = new DataView(new Uint8Array([6, 7, 8, 9]).buffer, 1, 2);
  const sends = [a.sendAsync(b.id, buf, { timeout: 10000 }), a.sendAsync(b.id, ab, { timeout: 10000 }), a.sendAsync(b.id, dv, { timeout: 10000 })];
  buf.fill(0); new Uint8Array(ab).fill(0); new Uint8Array(dv.buffer).fill(0);
  // a call waiting for room, its payload changed too
  const cbuf = new Uint8Array([42]);
  const call = a.call(b.id, cbuf, { timeout: 10000 });
  cbuf[0] = 0;
  await until(() => a.pendingSends === 4);
  const got: number[][] = [];
  let callMsg: Message | null = null;
  while (got.length < MAXQ + 4) {
    const m = b.recv();
    if (m === null) { await tick(); continue; }
    if (m.expectsReply) callMsg = m; // (kept: freed below, after the reply)
    got.push([...m.payload]);
    if (!m.expectsReply) m.free();
  }
  await Promise.all(sends);
  assert.equal(got.slice(MAXQ), [[1, 2, 3], [4, 5], [7, 8], [42]]);
  // replyAsync(call, call.payload): the caller has no room, the call's slice freed and reused
  // by the next message before the reply goes
  const c = bus.connect();
  for (let i = 0; i < MAXQ; i++) c.sendText(a.id, `f${i}`); // (every connection here has one uid: a's quota for it is full)
  const reply = b.replyAsync(callMsg!, callMsg!.payload, { timeout: 10000 });
  await until(() => b.pendingSends === 1); // (it waits for room)
  callMsg!.free();
  a.sendText(b.id, 'reuses the slice');
  const other = b.recv()!;
  assert.is(other.text(), 'reuses the slice');
  while (a.drop()) { /* room for the reply */ }
  await reply;
  const r = await call;
  assert.equal([...r.payload], [42], "the call's bytes, not the next message's");
  r.free(); other.free();
  assert.is(b.poolUsed, 0);
  a.close(); b.close(); c.close();
});

const t48 = busSuite('backpressure: a sender short of both its count and its bytes (stop 48)', { limits: { ...SMALL, maxQueuedPerUser: 5 } });

t48('a sender short of both its message count and its byte share is told QUOTA_BYTES, and another user does not pass it (its bytes would shrink the share)', async ({ bus, mock }) => {
  // (quotaCharge checked the count first: the holder was told QUOTA_MSGS, another user was let
  // past it, and its bytes left the holder short for good; an outside audit)
  const r = bus.connect({ poolSize: 4096 });
  mock.setCreds({ uid: 1001 });
  const a = bus.connect();
  mock.setCreds({ uid: 1002 });
  const b = bus.connect();
  for (let i = 0; i < 5; i++) a.send(r.id, new Uint8Array(1)); // 5 × 136 = 680 of a 682-byte share, 5 of 5 messages
  try { a.send(r.id, new Uint8Array(1)); assert.unreachable(); } catch (e) {
    assert.is((e as BusError).code, 'ENOBUFS');
    assert.is((e as BusError).reason, A.R_SEND_QUOTA_BYTES, 'the bytes, checked first');
  }
  const order: string[] = [];
  const pa = a.sendAsync(r.id, new Uint8Array([0xa]), { timeout: 5000 }).then(() => order.push('A'));
  await tick(); await tick();
  const pb = b.sendAsync(r.id, new Uint8Array([0xb]), { timeout: 5000 }).then(() => order.push('B'));
  await tick(); await tick();
  assert.equal(order, [], 'B waits behind A');
  r.recv()!.free(); // one of A's: room for A again
  await Promise.all([pa, pb]);
  assert.equal(order, ['A', 'B'], 'A first');
  for (let m = r.recv(); m; m = r.recv()) m.free();
  for (const c of [r, a, b]) c.close();
});

t.run();
t48.run();
