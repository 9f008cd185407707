// fair: a thread's own wake-ups leave its event loop its turns (js/host/fair.ts). A caller
// and its service on one thread, or two connections playing ping-pong, wake each other
// through Atomics.waitAsync; on Node those resolutions never went back to the timers (outside
// audit, stop 20: 200 000 same-thread calls ran in 9 s while a 10 ms timer waited). Each
// test runs round trips until a timer of 10 ms has fired, or ROUNDS round trips: the timer
// must come first (an order, not a time: the old code ran all ROUNDS first).
import * as assert from 'uvu/assert';
import { Bus } from '../../js/index.ts';
import type { Connection, BusError } from '../../js/index.ts';
import { busSuite, ENGINE } from '../helpers/harness.ts';

const t = busSuite('fair');
/** enough round trips for several seconds on the old code (42 µs each in the audit) */
const ROUNDS = 50000;

/** run `trip` until a 10 ms timer fires or ROUNDS trips are done; how many were done when it fired (-1: never) */
async function untilTimer(trip: () => Promise<void>): Promise<number> {
  let fired = -1, n = 0;
  const timer = setTimeout(() => { fired = n; }, 10);
  try {
    while (fired < 0 && n < ROUNDS) { await trip(); n++; }
  } finally {
    clearTimeout(timer);
  }
  return fired;
}

/** a service on this thread answering every call with recvAsync + reply, until `svc` closes */
function recvService(svc: Connection): Promise<void> {
  return (async () => {
    for (;;) {
      let m;
      try { m = await svc.recvAsync({ timeout: 10000 }); } catch { return; }
      svc.reply(m, null);
      m.free();
    }
  })();
}

t('call() to a service on the same thread (recvAsync): the thread\'s timers run meanwhile', async ({ bus }) => {
  const svc = bus.connect(), a = bus.connect();
  const served = recvService(svc);
  const fired = await untilTimer(async () => { (await a.call(svc.id, null, { timeout: 5000 })).free(); });
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS} calls were done`);
  svc.close();
  await served;
  a.close();
});

t('call() to a service on the same thread (conn.listen): the thread\'s timers run meanwhile', async ({ bus }) => {
  const svc = bus.connect(), a = bus.connect();
  const l = svc.listen((m) => { svc.reply(m, null); });
  const fired = await untilTimer(async () => { (await a.call(svc.id, null, { timeout: 5000 })).free(); });
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS} calls were done`);
  l.stop();
  await l.done;
  svc.close(); a.close();
});

t('send() + recvAsync() ping-pong between two connections of one thread: the thread\'s timers run meanwhile', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const ball = new Uint8Array(8);
  const echo = (async () => {
    for (;;) {
      let m;
      try { m = await b.recvAsync({ timeout: 10000 }); } catch { return; }
      m.free();
      b.send(a.id, ball);
    }
  })();
  const fired = await untilTimer(async () => {
    a.send(b.id, ball);
    (await a.recvAsync({ timeout: 5000 })).free();
  });
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS} round trips were done`);
  b.close();
  await echo;
  a.close();
});

t('call()s answered before they are awaited (the reply pump finds each reply queued): the thread\'s timers run meanwhile', async ({ bus }) => {
  // (stop 58: replies the pump took without a spin or a wait did not count in the thread's
  // chain, so a loop whose replies were always there when the pump looked never went back to
  // the event loop: a page keeping 100 calls in flight to a worker that answered faster than
  // it called held its timers for 50-390 ms; here the service answers in the same task)
  const svc = bus.connect(), a = bus.connect();
  const answer = (): void => { for (let m; (m = svc.recv()) !== null;) { svc.reply(m, null); m.free(); } };
  const fired = await untilTimer(async () => {
    const calls = [a.call(svc.id, null, { timeout: 5000 }), a.call(svc.id, null, { timeout: 5000 })];
    answer();
    for (const c of calls) (await c).free();
  });
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS} rounds of two calls were done`);
  assert.is(a.pendingCalls, 0);
  svc.close(); a.close();
});

/** about `us` µs of work (a handler's), without a timer */
function busy(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end) { /* spin */ }
}

t('a for await loop over a flood of queued messages (each handled refills the queue): the thread\'s timers run meanwhile', async ({ bus }) => {
  // (an outside audit, stop 30: every step found its message queued and resolved as a
  // microtask, so with 20 µs of work a message such a loop held a page's timers for a whole
  // 2 s flood; conn.listen yields every DRAIN_MS on its own)
  const a = bus.connect(), b = bus.connect();
  const ball = new Uint8Array(8);
  for (let i = 0; i < 32; i++) a.send(b.id, ball);
  let fired = -1, n = 0;
  const timer = setTimeout(() => { fired = n; }, 10);
  for await (const m of b) {
    void m;
    busy(20);
    if (++n >= ROUNDS / 5 || fired >= 0) break;
    a.send(b.id, ball);
  }
  clearTimeout(timer);
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS / 5} messages were handled`);
  while (b.drop()) { /* the rest */ }
  a.close(); b.close();
});

t('a recvAsync() loop over a flood of queued messages: the thread\'s timers run meanwhile', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const ball = new Uint8Array(8);
  for (let i = 0; i < 32; i++) a.send(b.id, ball);
  let fired = -1, n = 0;
  const timer = setTimeout(() => { fired = n; }, 10);
  while (n < ROUNDS / 5 && fired < 0) {
    const m = await b.recvAsync({ timeout: 5000 });
    m.free();
    busy(20);
    n++;
    a.send(b.id, ball);
  }
  clearTimeout(timer);
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS / 5} messages were handled`);
  while (b.drop()) { /* the rest */ }
  a.close(); b.close();
});

/** has `p` settled after a few microtasks (a receive that found its message queued has)? */
async function settledSoon(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  for (let i = 0; i < 4; i++) await Promise.resolve();
  return done;
}

/**
 * Flood `b` from `a` (each receive refills the queue, 20 µs of work each) until a recvAsync()
 * is in its macrotask (not settled after a few microtasks): returns it, and the texts received.
 */
async function untilWindow(a: Connection, b: Connection, got: string[], opts?: { signal: AbortSignal }): Promise<{ p: Promise<import('../../js/index.ts').Message> } | null> {
  for (let n = 0; n < ROUNDS / 5; n++) {
    a.sendText(b.id, `m${n + 32}`);
    const p = b.recvAsync(opts);
    if (!(await settledSoon(p))) return { p };
    const m = await p;
    got.push(m.text());
    m.free();
    busy(20);
  }
  return null;
}

t('a recvAsync() that yields to the event loop has taken nothing yet: an abort, a close meanwhile are what it says; nothing is lost or reordered', async ({ bus }) => {
  // (an outside audit, stop 30: the first form of the yield took the message, then handed it
  // over after the macrotask whatever happened meanwhile: a close lost it, an abort and a
  // shutdown resolved instead of rejecting, a recv() in between overtook it)
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 32; i++) a.sendText(b.id, `m${i}`);
  const got: string[] = [];
  const ac = new AbortController();
  const w = await untilWindow(a, b, got, { signal: ac.signal });
  assert.ok(w !== null, 'a receive yielded to the event loop');
  // (a pending receive meanwhile: before stop 58 pendingReceives said 0 there, and a test that
  // asked right after a recvAsync() found it so when the thread's chain had asked for a yield)
  assert.is(b.pendingReceives, 1, 'counted while in its macrotask');
  ac.abort();
  const e = await w!.p.then(() => null, (x: BusError) => x);
  assert.is(e?.code, 'ECANCELED', 'aborted in its macrotask: ECANCELED, nothing taken');
  assert.is(b.pendingReceives, 0);
  // the next receives go on where it left off, in order
  const order = [...got];
  for (let m; (m = b.recv());) { order.push(m.text()); m.free(); }
  assert.equal(order, order.map((_, i) => `m${i}`), 'every message once, in order');
  // a close in its macrotask: ECONNRESET, as for any pending receive
  for (let i = 0; i < 32; i++) a.sendText(b.id, `m${order.length + i}`);
  const got2: string[] = [];
  const w2 = await untilWindow(a, b, got2);
  assert.ok(w2 !== null, 'a receive yielded again');
  assert.is(b.pendingReceives, 1);
  b.close({ drop: true });
  assert.is(b.pendingReceives, 0, 'a close ends it at once');
  const e2 = await w2!.p.then(() => null, (x: BusError) => x);
  assert.is(e2?.code, 'ECONNRESET', 'closed in its macrotask: ECONNRESET');
  a.close();
});

t('a recvAsync() that yields to the event loop while the bus is shut down fails with ESHUTDOWN, as a parked one', async () => {
  const bus = await Bus.create({ engine: ENGINE });
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 32; i++) a.sendText(b.id, `m${i}`);
  const w = await untilWindow(a, b, []);
  assert.ok(w !== null, 'a receive yielded to the event loop');
  bus.shutdown();
  const e = await w!.p.then(() => null, (x: BusError) => x);
  assert.is(e?.code, 'ESHUTDOWN');
  bus.close();
});

t('recvAsync() calls made while one yields wait behind it, in call order; a for await iterator\'s manual next() calls made while one yields both get a message', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 32; i++) a.sendText(b.id, `m${i}`);
  const got: string[] = [];
  const w = await untilWindow(a, b, got);
  assert.ok(w !== null, 'a receive yielded to the event loop');
  const q = b.recvAsync(), r = b.recvAsync();
  const [m1, m2, m3] = await Promise.all([w!.p, q, r]);
  const texts = [m1.text(), m2.text(), m3.text()];
  m1.free(); m2.free(); m3.free();
  const at = got.length;
  assert.equal(texts, [`m${at}`, `m${at + 1}`, `m${at + 2}`], 'in call order');
  // the iterator: two next() calls at once, one of them yielding
  const it = b.messages();
  let hit = false;
  // (every message numbered from here: the steps must hand them over in order, each readable
  // until the next next() call; the first form handed the second step's message to the first)
  while (b.drop()) { /* the rest */ }
  let k = 0, want = 0;
  for (let i = 0; i < 32; i++) a.sendText(b.id, `i${k++}`);
  for (let n = 0; n < ROUNDS / 5 && !hit; n++) {
    a.sendText(b.id, `i${k++}`);
    const s1 = it.next();
    hit = !(await settledSoon(s1));
    if (hit) {
      // a second next() while the first yields: both wait for its macrotask, in call order
      a.sendText(b.id, `i${k++}`);
      const s2 = it.next();
      assert.is(b.pendingReceives, 2, 'both steps pending while they wait for the macrotask');
      const t1 = s1.then((x) => x.value!.text()), t2 = s2.then((x) => x.value!.text());
      assert.equal(await Promise.all([t1, t2]), [`i${want}`, `i${want + 1}`], 'in call order, both readable');
      break;
    }
    assert.is((await s1).value!.text(), `i${want++}`);
    busy(20);
  }
  assert.ok(hit, 'a step yielded to the event loop');
  await it.return();
  while (b.drop()) { /* the rest */ }
  a.close(); b.close();
});

t.run();
