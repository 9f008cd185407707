// conn.call / conn.reply / conn.callSync (js/calls.ts): the host side of calls. A reply goes
// to its call by cookie whoever receives it, and recv() never hands out a reply (or the
// REPLY_TIMEOUT / REPLY_DEAD) a pending call awaits; ETIMEDOUT is driven by the MockProvider's
// clock (1 µs per read), EPIPE by the replier closing, ECANCELED by abort (the late reply is
// freed: the leak check after every test finds nothing queued or in use).
import * as assert from 'uvu/assert';
import { Bus, BusError, MockProvider, abi as A, type Message, type Connection } from '../../js/index.ts';
import { busSuite, ENGINE } from '../helpers/harness.ts';
import { Raw } from '../helpers/raw.ts';
import { hostVec } from '../helpers/raw.ts';

const t = busSuite('calls (host)');
const enc = (s: string) => new TextEncoder().encode(s);

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return (e as BusError).code; }
  return 'resolved';
}

t('call and reply on one thread: the reply resolves the call; expectsReply, cookie, cookieReply', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p = a.call(b.id, enc('ping'));
  assert.is(a.pendingCalls, 1);
  const m = b.recv()!;
  assert.ok(m.expectsReply);
  assert.is(m.text(), 'ping');
  assert.is(m.kernel, null);
  const cookie = m.cookie;
  b.replyText(m, 'pong');
  assert.ok(!b.recv(), 'nothing else for b');
  m.free();
  const r = await p;
  assert.is(r.text(), 'pong');
  assert.is(r.cookieReply, cookie);
  assert.is(r.src, b.id);
  assert.not.ok(r.expectsReply);
  r.free();
  assert.is(a.pendingCalls, 0);
  assert.throws(() => b.reply(r, null), (e: BusError) => e.code === 'ENXIO' || e.code === 'EINVAL');
});

t('a reply received by the user\'s recv() loop goes to the call; ordinary messages keep their order', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), c = bus.connect();
  c.sendText(a.id, 'x1');
  const p = a.call(b.id, enc('q')); // its own receive finds x1 for the user
  const m = b.recv()!;
  b.replyText(m, 'answer');
  m.free();
  c.sendText(a.id, 'x2');
  const got: string[] = [];
  for (let x: Message | null; (x = a.recv()) !== null;) { got.push(x.text()); x.free(); }
  assert.equal(got, ['x1', 'x2'], 'the reply is not handed out');
  const r = await p;
  assert.is(r.text(), 'answer');
  r.free();
});

t('a reply while the user iterates with for await goes to the call', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), c = bus.connect();
  const p = a.call(b.id, enc('q'));
  const loop = (async () => {
    const seen: string[] = [];
    for await (const x of a.messages({ timeout: 5000 })) {
      seen.push(x.text());
      if (seen.length === 2) break;
    }
    return seen;
  })();
  await new Promise((r) => setTimeout(r, 1));
  c.sendText(a.id, 'y1');
  const m = b.recv()!;
  b.replyText(m, 'answer');
  m.free();
  c.sendText(a.id, 'y2');
  assert.equal(await loop, ['y1', 'y2']);
  const r = await p;
  assert.is(r.text(), 'answer');
  r.free();
});

t('ETIMEDOUT (REPLY_TIMEOUT, the MockProvider clock); a late reply is EBADSLT', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  assert.is(await code(a.call(b.id, enc('q'), { timeout: 0.02 })), 'ETIMEDOUT');
  assert.is(a.pendingCalls, 0);
  const m = b.recv()!;
  assert.throws(() => b.reply(m, null), (e: BusError) => e.code === 'EBADSLT');
  m.free();
  assert.is(a.recv(), null, 'nothing left for the user');
});

t('EPIPE when the replier closes with the call unanswered', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p = a.call(b.id, enc('q'));
  b.recv()!.free();
  b.close();
  assert.is(await code(p), 'EPIPE');
  assert.is(a.recv(), null);
});

t('ECANCELED on abort; the late reply is freed when received, never handed out', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const ac = new AbortController();
  const p = a.call(b.id, enc('q'), { signal: ac.signal });
  ac.abort();
  assert.is(await code(p), 'ECANCELED');
  assert.is(a.pendingCalls, 1, 'the record stays until the reply or the deadline');
  const m = b.recv()!;
  b.replyText(m, 'late');
  m.free();
  assert.is(a.queued, 1);
  assert.is(a.recv(), null, 'the late reply is not handed out');
  assert.is(a.pendingCalls, 0);
  assert.is(a.poolUsed, 0, 'and it was freed');
  // aborted before the call: nothing sent
  assert.is(await code(a.call(b.id, null, { signal: ac.signal })), 'ECANCELED');
  assert.is(b.recv(), null);
});

t('ECANCELED then REPLY_TIMEOUT: freed too; ECONNRESET when the caller closes', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const ac = new AbortController();
  const p = a.call(b.id, null, { signal: ac.signal, timeout: 0.01 });
  ac.abort();
  assert.is(await code(p), 'ECANCELED');
  for (let i = 0; i < 50 && a.pendingCalls > 0; i++) assert.is(a.recv(), null);
  assert.is(a.pendingCalls, 0, 'REPLY_TIMEOUT arrived and was freed');
  b.recv()!.free();
  const q = a.call(b.id, null);
  b.recv()!.free();
  a.close();
  assert.is(await code(q), 'ECONNRESET');
});

t('callSync: ETIMEDOUT; the call is sent with SYNC_REPLY; messages for the user are kept', ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), c = bus.connect();
  c.sendText(a.id, 'kept');
  try { a.callSync(b.id, enc('q'), { timeout: 0.02 }); assert.unreachable(); } catch (e) { assert.is((e as BusError).code, 'ETIMEDOUT'); }
  const m = b.recv()!;
  assert.ok(m.expectsReply);
  m.free();
  const k = a.recv()!;
  assert.is(k.text(), 'kept');
  k.free();
  assert.is(a.recv(), null);
});

// a caller with no room left for its REPLY_TIMEOUTs: its pool full of messages it received
// and keeps. The bus drops the calls' REPLY_TIMEOUTs (as kdbus does: the receiver's dropped
// count goes up), and the host ends those calls at their deadline all the same (js/calls.ts,
// expire).
const CALLS = 8;
/** a REPLY_TIMEOUT's block (no TIMESTAMP: the harness's receive mask is 0) */
const KMSG = A.BLOCK_HDR + A.MSG_HDR + A.ITEM_HDR;
function poolFull(bus: { connect(o?: { poolSize?: number }): Connection }): { a: Connection; b: Connection; held: Message[] } {
  const a = bus.connect({ poolSize: 4096 }), b = bus.connect(), c = bus.connect();
  const held: Message[] = [];
  for (const size of [64, 8, 0]) {
    for (let i = 0; ; i++) {
      assert.ok(i < 1000, 'a 4 KiB pool fills within 1000 sends');
      try { c.send(a.id, new Uint8Array(size)); } catch (e) {
        const code = (e as BusError).code;
        if (code === 'EXFULL') break; // no block left for this size
        if (code !== 'ENOBUFS') throw e;
        for (let m; (m = a.recv()) !== null;) held.push(m); // c's quota back; the slices stay
      }
    }
  }
  for (let m; (m = a.recv()) !== null;) held.push(m);
  c.close();
  assert.ok(a.stats().largestFree < KMSG, `no room for a REPLY_TIMEOUT (largest free block ${a.stats().largestFree})`);
  return { a, b, held };
}
/** receive and free what is queued; the count */
function drain(x: Connection): number {
  let n = 0;
  for (let m; (m = x.recv()) !== null; n++) m.free();
  return n;
}

t('call: a REPLY_TIMEOUT dropped for lack of room still ends its call with ETIMEDOUT', async ({ bus }) => {
  const { a, b, held } = poolFull(bus);
  const ps = [];
  for (let i = 0; i < CALLS; i++) ps.push(code(a.call(b.id, null, { timeout: 1 })));
  const timer = new Promise<string[]>((r) => setTimeout(() => r(['did not end within 5 s']), 5000));
  assert.equal(await Promise.race([Promise.all(ps), timer]), Array(CALLS).fill('ETIMEDOUT'));
  assert.is(a.pendingCalls, 0);
  assert.is(a.recv(), null, 'nothing for the user');
  // (a call's own receive leaves the dropped count to the user's: this recv reported it)
  assert.is(a.droppedTotal, CALLS, 'every call\'s REPLY_TIMEOUT was dropped: the case under test happened');
  for (const m of held) m.free();
  assert.is(drain(b), CALLS);
});

t('call: an aborted call whose REPLY_TIMEOUT was dropped is forgotten by the next empty receive', async ({ bus }) => {
  const { a, b, held } = poolFull(bus);
  const ac = new AbortController();
  const ps = [];
  for (let i = 0; i < CALLS; i++) ps.push(code(a.call(b.id, null, { timeout: 1, signal: ac.signal })));
  ac.abort();
  assert.equal(await Promise.all(ps), Array(CALLS).fill('ECANCELED'));
  assert.is(a.pendingCalls, CALLS, 'the records stay until their deadline');
  // the user's receives, empty: past the deadlines, the calls are forgotten
  for (let i = 0; i < 5000 && a.pendingCalls > 0; i++) assert.is(a.recv(), null);
  assert.is(a.pendingCalls, 0, 'every abandoned call forgotten once its deadline passed');
  assert.is(a.droppedTotal, CALLS, 'every call\'s REPLY_TIMEOUT was dropped');
  for (const m of held) m.free();
  assert.is(drain(b), CALLS);
});

t('callSync: ends with ETIMEDOUT when its REPLY_TIMEOUT is dropped for lack of room', ({ bus }) => {
  const { a, b, held } = poolFull(bus);
  let got = 'returned';
  try { a.callSync(b.id, null, { timeout: 1 }).free(); } catch (e) { got = (e as BusError).code; }
  assert.is(got, 'ETIMEDOUT');
  assert.is(a.pendingCalls, 0);
  assert.is(a.recv(), null);
  assert.is(a.droppedTotal, 1, 'its REPLY_TIMEOUT was dropped (reported by the user\'s receive)');
  for (const m of held) m.free();
  assert.is(drain(b), 1);
});

t('a call\'s wait takes only its reply: the user\'s messages stay queued (and accounted), ahead of it or not', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), c = bus.connect();
  c.sendText(a.id, 'x');
  const p = a.call(b.id, enc('q'), { timeout: 5000 });
  const m = b.recv()!;
  await new Promise((r) => setTimeout(r, 5)); // the call waits (parked)
  assert.is(a.stats().queued, 1, 'x is still in the queue');
  b.replyText(m, 'r');
  m.free();
  c.sendText(a.id, 'y');
  const reply = await p; // found behind x
  assert.is(reply.text(), 'r');
  reply.free();
  assert.is(a.queued, 2);
  assert.throws(() => a.close(), (e: BusError) => e.code === 'EBUSY', 'BYEBYE refuses a queue that is not empty');
  assert.equal([a.recv()!, a.recv()!].map((x) => { const t = x.text(); x.free(); return t; }), ['x', 'y']);
  a.close(); b.close(); c.close();
});

t('drop() while a call waits: a peeked message stays readable until freed, a dropped call tells its caller (REPLY_DEAD), a reply at the head goes to its call', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), c = bus.connect();
  const p = a.call(b.id, enc('q'), { timeout: 5000 }); // a call pending on a
  c.sendText(a.id, 'hello');
  const peeked = a.recv({ peek: true })!;
  assert.ok(a.drop(), 'dropped hello');
  c.sendText(a.id, 'WORLD');
  const n = a.recv()!;
  assert.is(peeked.text(), 'hello', 'the peeked slice is still readable');
  peeked.free();
  assert.is(n.text(), 'WORLD', 'the next message is its own');
  n.free();
  // a call from c queued at a, then a's own call's reply at the head: drop() hands the reply
  // to its call and drops c's call, whose caller is told REPLY_DEAD (EPIPE)
  const q = b.recv()!;
  b.replyText(q, 'r');
  q.free();
  const cp = c.call(a.id, enc('to a'), { timeout: 5000 }).then(() => 'reply', (x: BusError) => x.code);
  assert.ok(a.drop(), 'dropped c\'s call');
  assert.is((await p).text(), 'r');
  assert.is(await cp, 'EPIPE', 'the dropped call\'s caller is told');
  assert.is(a.queued, 0);
  a.close(); b.close(); c.close();
});

t('a call whose wait fails on a lock that stays taken (EDEADLK) is abandoned: its reply never reaches recv()', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const e = bus.engine, word = (e.connAddr(a.slot) + A.CONN_LOCK) >>> 2;
  const p = a.call(b.id, enc('q'), { timeout: 10000 }).then(() => 'reply', (x: BusError) => x.code);
  const q = b.recv()!;
  // a's lock held by a thread that is not LIVE (an id past the thread table): every try fails
  const dead = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] + 1;
  assert.is(Atomics.compareExchange(e.u32, word, 0, dead), 0);
  assert.is(await p, 'EDEADLK', 'the wait gives up after LOCK_WAIT_MS');
  Atomics.store(e.u32, word, 0);
  b.replyText(q, 'late'); // the call is still pending in the core: the reply is accepted
  q.free();
  assert.is(a.recv(), null, 'the reply is freed, never handed to the user');
  assert.is(a.pendingCalls, 0);
  a.close(); b.close();
});

t('a flood from another user while a call waits is held by its quota: the owner\'s half of the pool stays free and the reply arrives', async ({ bus, mock }) => {
  const a = bus.connect({ poolSize: 65536 }), s = bus.connect();
  mock.setCreds({ uid: 2000, euid: 2000 });
  const f = bus.connect(); // another sending user
  const p = a.call(s.id, null, { timeout: 5000 });
  let flooded = 0;
  for (;;) { try { f.send(a.id, new Uint8Array(1000)); flooded++; } catch (e) { assert.is((e as BusError).code, 'ENOBUFS'); break; } assert.ok(flooded < 1000); }
  await new Promise((r) => setTimeout(r, 5)); // the call's wait looks meanwhile: it takes none of them
  for (let i = 0; i < 3; i++) { try { f.send(a.id, new Uint8Array(1000)); flooded++; } catch { /* still held */ } }
  assert.ok(flooded * 1096 <= 65536 / 2 / 3 + 1096, `the flood stopped at one user's share (${flooded} messages)`);
  assert.ok(a.stats().poolUsed < 65536 / 2, 'the owner\'s half of the pool is free');
  const q = s.recv()!;
  s.reply(q, new Uint8Array(16));
  q.free();
  (await p).free();
  let n = 0;
  for (let m; (m = a.recv()) !== null; n++) m.free();
  assert.is(n, flooded, 'every flooded message is there for the user, in the queue');
  a.close(); s.close(); f.close();
});

t('reply: a call received on another bus is refused (EINVAL), even when its id and cookie name a call here', async ({ bus, mock }) => {
  const other = await Bus.create({ engine: ENGINE, provider: mock, limits: { connections: 4, poolMax: 65536 } });
  try {
    const a = bus.connect(), b = bus.connect();
    const x = other.connect(), y = other.connect();
    // the same ids on both buses (each counts from 1), the same first cookies
    assert.is(x.id, a.id);
    const p = a.call(b.id, enc('here'), { timeout: 5000 });
    const q = x.call(y.id, enc('there'), { timeout: 5000 });
    const mine = b.recv()!, theirs = y.recv()!;
    assert.is(theirs.cookie, mine.cookie);
    assert.throws(() => b.reply(theirs, enc('wrong')), (e: BusError) => e.code === 'EINVAL' && /another bus/.test(e.message));
    assert.is(a.pendingCalls, 1, 'the call here is still pending');
    b.replyText(mine, 'ok');
    y.replyText(theirs, 'ok too');
    mine.free(); theirs.free();
    (await p).free(); (await q).free();
    assert.throws(() => b.dispatch(null as unknown as Message), (e: BusError) => e.code === 'EINVAL' && /must be a received Message/.test(e.message));
    for (const c of [x, y]) c.close();
  } finally {
    other.close();
  }
});

t('MockProvider({ realClock: true }): a call times out in real time (the stepping clock moves only when read)', async () => {
  const bus = await Bus.create({ engine: ENGINE, provider: new MockProvider({ realClock: true }), limits: { connections: 4, poolMax: 65536 } });
  try {
    const a = bus.connect(), b = bus.connect();
    const t0 = performance.now();
    const timer = new Promise<string>((r) => setTimeout(() => r('did not end within 5 s'), 5000));
    assert.is(await Promise.race([code(a.call(b.id, null, { timeout: 30 })), timer]), 'ETIMEDOUT');
    assert.ok(performance.now() - t0 >= 30, 'not before its time');
    b.recv()!.free();
    a.close(); b.close();
  } finally {
    bus.close();
  }
});

t('a call whose SEND fails reports the call\'s op (call, callSync), with the SEND\'s errno and reason', async ({ bus }) => {
  const a = bus.connect();
  const err = await a.call(999999, null).then(() => null, (e: BusError) => e);
  assert.ok(err instanceof BusError);
  assert.is(err!.code, 'ENXIO');
  assert.match(err!.message, /^call: ENXIO: /);
  assert.throws(() => a.callSync(999999, null), (e: BusError) => e.code === 'ENXIO' && /^callSync: ENXIO: /.test(e.message));
  assert.throws(() => a.send(999999, null), (e: BusError) => /^send: ENXIO: /.test(e.message), 'a plain send still says send');
  assert.is(a.pendingCalls, 0);
});

t('m.kernel: a REPLY_TIMEOUT of a call made without call() reaches recv() and says so', ({ bus, e }) => {
  const raw = new Raw(e);
  const a = bus.connect(), b = bus.connect();
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie: 77, flags: A.MSG_EXPECT_REPLY, timeout: 1 }, items: [hostVec(1)] }), 0);
  const k = a.recv()!;
  assert.equal(k.kernel, { kind: 'reply-timeout', cookie: 77 });
  assert.is(k.src, 0);
  k.free();
  b.recv()!.free();
});

t.run();
