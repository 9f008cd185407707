// conn.listen(handler): messages handed to a function as they come (js/listen.ts): order,
// freeing and keep(), stop / signal / close / shutdown ending it, a throwing handler, one
// listener per connection, argument errors, yielding to the event loop during a long drain,
// replies of pending calls kept for their calls, and a seeded random run against a model.
import * as assert from 'uvu/assert';
import { BusError, abi as A, type Message, type Listener } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('listen');
const enc = (s: string) => new TextEncoder().encode(s);
const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));
const code = async (p: Promise<unknown>) => { try { await p; return 'ok'; } catch (e) { return (e as BusError).code; } };
/** a bound on every wait of these tests: a listener that never ends fails the test instead of hanging it */
const within = <T>(p: Promise<T>, ms = 5000) => Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`not settled within ${ms} ms`)), ms))]);

t('queued messages are handed over in order, in one turn; each is freed when the handler returns unless kept', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 5; i++) a.sendText(b.id, `m${i}`);
  const seen: string[] = [];
  const kept: Message[] = [];
  let l: Listener | null = null;
  let turns = 0;
  l = b.listen((m) => {
    seen.push(m.text());
    if (m.text() === 'm2') kept.push(m.keep());
    if (seen.length === 5) l!.stop();
  });
  assert.is(seen.length, 0, 'listen() itself calls no handler');
  assert.ok(l.active);
  void Promise.resolve().then(() => { turns++; });
  await within(l.done);
  assert.equal(seen, ['m0', 'm1', 'm2', 'm3', 'm4']);
  assert.is(l.received, 5);
  assert.not.ok(l.active);
  assert.is(kept.length, 1);
  assert.ok(!kept[0].freedAlready && kept[0].kept);
  assert.is(b.stats().published, 1, 'the kept message still holds its slice');
  kept[0].free();
  assert.is(b.poolUsed, 0);
  assert.is(b.queued, 0);
  assert.ok(turns <= 1);
});

t('messages sent while it waits are handed over; stop() ends a parked wait at once and takes nothing', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const seen: string[] = [];
  const l = b.listen((m) => { seen.push(m.text()); });
  await tick(5);
  assert.is(b.pendingReceives, 1, 'parked');
  a.sendText(b.id, 'x');
  for (let i = 0; i < 200 && seen.length < 1; i++) await tick(1);
  assert.equal(seen, ['x']);
  await tick(5);
  l.stop();
  await within(l.done, 1000);
  assert.is(b.pendingReceives, 0, 'the wait is over');
  a.sendText(b.id, 'after');
  await tick(5);
  assert.equal(seen, ['x'], 'nothing after stop()');
  const m = b.recv()!;
  assert.is(m.text(), 'after', 'a message sent after stop() stays queued');
  m.free();
  l.stop(); // a second stop does nothing
});

t('a handler that throws ends the listener: done rejects with its error, the message is freed, and a new listener may start', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.sendText(b.id, 'one');
  a.sendText(b.id, 'two');
  const boom = new Error('boom');
  let got: Message | null = null;
  const l = b.listen((m) => { got = m; throw boom; });
  try { await within(l.done); assert.unreachable('rejects'); } catch (e) { assert.is(e, boom); }
  assert.ok(got!.freedAlready);
  assert.not.ok(l.active);
  assert.is(l.received, 1);
  assert.is(b.queued, 1, 'the second message stays queued');
  const seen: string[] = [];
  const l2 = b.listen((m) => { seen.push(m.text()); l2.stop(); });
  await within(l2.done);
  assert.equal(seen, ['two']);
  assert.is(b.poolUsed, 0);
});

t('an async handler: its message lives until its promise settles; done waits for them; a rejection stops the listener', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 3; i++) a.sendText(b.id, `m${i}`);
  const gates: (() => void)[] = [];
  const texts: string[] = [];
  const l = b.listen(async (m) => {
    await new Promise<void>((r) => gates.push(r));
    texts.push(m.text()); // still readable: not freed before the promise settles
    if (texts.length === 3) l.stop();
  });
  for (let i = 0; i < 200 && gates.length < 3; i++) await tick(1);
  assert.is(gates.length, 3, 'the next messages were handed over while the first handler waited');
  assert.is(b.stats().published, 3, 'all three slices held');
  let settled = false;
  void l.done.then(() => { settled = true; });
  gates.splice(0).forEach((g) => g());
  await within(l.done);
  assert.ok(settled);
  assert.equal(texts, ['m0', 'm1', 'm2']);
  assert.is(b.poolUsed, 0, 'each freed once its promise settled');
  // a rejection: done rejects with it, the listener stops, the message is freed
  a.sendText(b.id, 'x');
  a.sendText(b.id, 'y');
  const oops = new Error('oops');
  const l2 = b.listen(async () => { throw oops; });
  try { await within(l2.done); assert.unreachable('rejects'); } catch (e) { assert.is(e, oops); }
  assert.not.ok(l2.active);
  assert.is(b.stats().published, 0);
  while (b.drop());
});

t('stopped or failed in the middle of a drain, done still waits for the handlers\' promises, and rejects with a rejection', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  // message 1's handler takes 30 ms, message 2's stops the listener (found by an audit: done resolved at once)
  a.sendText(b.id, 'slow');
  a.sendText(b.id, 'stop');
  let settledAt = 0;
  const l = b.listen((m) => {
    if (m.text() === 'stop') { l.stop(); return; }
    return new Promise<void>((r) => setTimeout(() => { settledAt = performance.now(); r(); }, 30));
  });
  await within(l.done);
  assert.ok(settledAt > 0, 'done came after the slow handler settled');
  assert.is(b.stats().published, 0);
  // 50 queued, every async handler rejects: done rejects (it resolved before), the rest stay queued
  for (let i = 0; i < 50; i++) a.sendText(b.id, `r${i}`);
  const bad = new Error('rejected');
  const l2 = b.listen(async () => { await null; throw bad; });
  try { await within(l2.done); assert.unreachable('rejects'); } catch (e) { assert.is(e, bad); }
  assert.ok(l2.received >= 1 && b.queued === 50 - l2.received, `${l2.received} handed over, the rest queued`);
  // every handled message freed; what stays published is only the rest of the batch the
  // listener had taken and not handed over (kept for the next receive; b.queued counts it,
  // stats().queued, the core's queue, does not): none where the whole batch went by before the
  // first rejection (Node), some where a turn yielded in the middle of it (the twin in Chromium)
  assert.is(b.stats().published, b.queued - b.stats().queued, 'no handled message left unfreed');
  while (b.drop());
  // a thenable whose then() throws: a failure, its message freed (done hung before)
  a.sendText(b.id, 't');
  const l3 = b.listen(() => ({ then() { throw new Error('then threw'); } }));
  try { await within(l3.done, 1000); assert.unreachable('rejects'); } catch (e) { assert.match((e as Error).message, 'then threw'); }
  assert.is(b.stats().published, 0);
  // a thenable whose `then` getter throws: the same, its message freed (it stayed in the pool
  // before stop 25: an outside audit), and `then` read once
  a.sendText(b.id, 'g');
  let reads = 0;
  const l6 = b.listen(() => ({ get then() { reads++; throw new Error('then getter'); } }));
  try { await within(l6.done, 1000); assert.unreachable('rejects'); } catch (e) { assert.match((e as Error).message, 'then getter'); }
  assert.is(reads, 1, 'then read once');
  assert.is(b.stats().published, 0);
  // a thenable that calls back twice settles once (done waited for nothing else before)
  a.sendText(b.id, 'slow');
  a.sendText(b.id, 'twice');
  let slowDone = false;
  const l5 = b.listen((m) => {
    if (m.text() === 'slow') return new Promise<void>((r) => setTimeout(() => { slowDone = true; r(); }, 30));
    l5.stop();
    return { then(f: () => void) { f(); f(); } };
  });
  await within(l5.done);
  assert.ok(slowDone, 'done waited for the slow handler');
  assert.is(b.stats().published, 0);
  // a kept message stays the handler's, even when it throws
  a.sendText(b.id, 'k');
  let kept: Message | null = null;
  const l4 = b.listen((m) => { kept = m.keep(); throw new Error('after keep'); });
  try { await within(l4.done); } catch { /* expected */ }
  assert.is(b.stats().published, 1);
  assert.is(kept!.text(), 'k');
  kept!.free();
});

t('bus.shutdown() from inside the handler, with messages still queued: done rejects with ESHUTDOWN', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 5; i++) a.sendText(b.id, `m${i}`);
  let n = 0;
  const l = b.listen(() => { if (++n === 2) bus.shutdown(); });
  assert.is(await code(within(l.done)), 'ESHUTDOWN');
  assert.is(n, 2);
});

t('a handler slower than the turn budget: the event loop gets a turn after each call', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const N = 12;
  for (let i = 0; i < N; i++) a.sendText(b.id, `m${i}`);
  const at: number[] = [];
  const l = b.listen(() => {
    const t0 = performance.now();
    while (performance.now() - t0 < 3); // 3 ms, more than DRAIN_MS
    if (l.received === N) l.stop();
  });
  // a timer queued before: it runs after the first call (at most two: the first turn reads the
  // clock after each call). Where there is no setImmediate (a browser), a turn yields with a
  // MessageChannel message, and when a timer that fell due during a turn runs among those
  // messages is the scheduler's choice: Chromium ran it after the second or third call on an
  // idle machine. Stop 48's CI failed one test of this file in Chromium under load (its
  // message lost in the log); the bound of 4 here was the one that rested on the scheduler, so
  // there the test asks only that it run in the middle of the drain (API.md, listen, Fairness)
  const most = (globalThis as { setImmediate?: unknown }).setImmediate === undefined ? N - 1 : 2;
  let stamp = () => { at.push(l.received); };
  setTimeout(() => stamp(), 0);
  await within(l.done);
  stamp = () => {};
  assert.ok(at.length === 1 && at[0]! >= 1 && at[0]! <= most, `the timer ran after ${at[0]} handler calls (at least 1, at most ${most})`);
});

t('one listener per connection (EBUSY); argument errors are EINVAL; a closed connection is ECONNRESET', async ({ bus }) => {
  const b = bus.connect();
  const l = b.listen(() => {});
  assert.throws(() => b.listen(() => {}), (e: BusError) => e.code === 'EBUSY' && /already has a listener/.test(e.message));
  l.stop();
  await within(l.done);
  const l2 = b.listen(() => {}); // free again once stopped
  l2.stop();
  assert.not.ok(l2.active, 'inactive from stop() on');
  const l3 = b.listen(() => {}); // at once: stop() gives the slot back
  l3.stop();
  await within(Promise.all([l2.done, l3.done]));
  const bad: [unknown, unknown, RegExp][] = [
    [null, undefined, /handler must be a function, got null/],
    ['f', undefined, /handler must be a function, got string/],
    [() => {}, { timeout: 5 }, /unknown option "timeout"/],
    [() => {}, { signal: {} }, /signal must be an AbortSignal/],
    [() => {}, { keepAlive: 1 }, /keepAlive must be a boolean/],
    [() => {}, 7, /options must be an object/],
  ];
  for (const [h, o, re] of bad) {
    assert.throws(() => b.listen(h as (m: Message) => void, o as never), (e: BusError) => e.code === 'EINVAL' && e.message.startsWith('listen: EINVAL') && re.test(e.message), String(re));
  }
  assert.is(b.listening, null, 'a refused listen() leaves no listener');
  b.close();
  assert.throws(() => b.listen(() => {}), (e: BusError) => e.code === 'ECONNRESET');
});

t('close() ends the listener (done resolves); an AbortSignal stops it; an aborted one starts none', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const l = b.listen(() => {});
  await tick(2);
  b.close();
  await within(l.done, 1000);
  assert.not.ok(l.active);
  // closing from inside the handler ends it too (the handler's message is freed by then:
  // close() refuses a connection with messages queued, so the one message)
  const c = bus.connect();
  a.sendText(c.id, '1');
  let n = 0;
  const lc = c.listen((m) => { n++; m.free(); c.close(); });
  await within(lc.done);
  assert.is(n, 1);
  assert.ok(c.closed);
  // abort
  const d = bus.connect();
  const ac = new AbortController();
  const seen: string[] = [];
  const ld = d.listen((m) => seen.push(m.text()), { signal: ac.signal });
  a.sendText(d.id, 'before');
  for (let i = 0; i < 200 && seen.length < 1; i++) await tick(1);
  ac.abort();
  await within(ld.done, 1000);
  assert.equal(seen, ['before']);
  assert.is(d.pendingReceives, 0);
  const ac2 = new AbortController();
  ac2.abort();
  a.sendText(d.id, 'queued');
  let called = 0;
  const l2 = d.listen(() => { called++; }, { signal: ac2.signal });
  // stopped at once, as stop() is: not active, and the connection's one listener place free
  assert.not.ok(l2.active, 'an aborted signal: not active from the start');
  const l3 = d.listen(() => { called++; }, { signal: ac2.signal });
  assert.not.ok(l3.active);
  await within(l2.done);
  await within(l3.done);
  assert.is(called, 0, 'an aborted signal: no handler call');
  d.recv()!.free();
});

t('shutdown() ends a waiting listener: done rejects with ESHUTDOWN', async ({ bus }) => {
  const b = bus.connect();
  const l = b.listen(() => {});
  await tick(2);
  bus.shutdown();
  const err = await within(l.done, 1000).then(() => null, (e: unknown) => e as BusError);
  assert.is(err?.code, 'ESHUTDOWN');
  // (an outside audit, stop 17: it said recvAsync, which the user never called)
  assert.match(err!.message, /^listen: ESHUTDOWN: /);
  assert.not.ok(l.active);
});

t('a long drain yields to the event loop: a timer runs in the middle of it', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const N = 60;
  for (let i = 0; i < N; i++) a.send(b.id, new Uint8Array([i]));
  let at = -1;
  setTimeout(() => { at = l.received; }, 0);
  const order: number[] = [];
  // each handler call takes 0.2 ms: the whole queue takes 12 ms, six times DRAIN_MS
  const l = b.listen((m) => {
    order.push(m.payload[0]);
    const t0 = performance.now();
    while (performance.now() - t0 < 0.2);
    if (order.length === N) l.stop();
  });
  await within(l.done);
  assert.equal(order, Array.from({ length: N }, (_, i) => i));
  assert.ok(at > 0 && at < N, `the timer ran mid-drain (after ${at} of ${N})`);
});

t('a reply that a pending call awaits goes to the call, not to the listener', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), c = bus.connect();
  const p = a.call(b.id, enc('q'));
  const seen: string[] = [];
  const l = a.listen((m) => { seen.push(m.text()); if (seen.length === 2) l.stop(); });
  await tick(1);
  c.sendText(a.id, 'y1');
  const m = b.recv()!;
  b.replyText(m, 'answer');
  m.free();
  c.sendText(a.id, 'y2');
  await within(l.done);
  assert.equal(seen, ['y1', 'y2']);
  const r = await within(p);
  assert.is(r.text(), 'answer');
  r.free();
});

t('seeded random: bursts, keeps, stops and restarts; every message exactly once, in order', async ({ bus }) => {
  for (const seed of [1, 2, 3]) {
    let s = seed * 2654435761 >>> 0;
    const rnd = (n: number) => { s = (s * 1103515245 + 12345) >>> 0; return (s >>> 8) % n; };
    const a = bus.connect(), b = bus.connect();
    const seen: number[] = [], kept: Message[] = [];
    let sent = 0, l: Listener | null = null, last = false;
    const start = () => {
      l = b.listen((m) => {
        seen.push(new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0, true));
        if (rnd(8) === 0) kept.push(m.keep());
        if (!last && rnd(16) === 0) l!.stop();
      });
    };
    for (let step = 0; step < 60; step++) {
      const op = rnd(4);
      if (op <= 1) {
        const n = 1 + rnd(20);
        for (let i = 0; i < n && b.queued < 200; i++) {
          const p = new Uint8Array(4 + rnd(64));
          new DataView(p.buffer).setUint32(0, sent++, true);
          a.send(b.id, p);
        }
      } else if (op === 2) {
        if (l === null || !(l as Listener).active) start();
      } else {
        await tick(rnd(2));
      }
      if (kept.length > 4) for (const m of kept.splice(0)) m.free();
    }
    last = true;
    if (l === null || !(l as Listener).active) start();
    for (let i = 0; i < 500 && seen.length < sent; i++) await tick(1);
    l!.stop();
    await within(l!.done);
    for (const m of kept.splice(0)) m.free();
    assert.equal(seen, Array.from({ length: sent }, (_, i) => i), `seed ${seed}`);
    assert.is(b.poolUsed, 0, `seed ${seed}: every slice freed`);
    a.close();
    b.close();
  }
});

t("a handled message whose free meets the connection's lock taken is freed later, from a timer: done settles, nothing is lost, the thread does not wait LOCK_WAIT_MS", async ({ bus }) => {
  // (an outside audit, stop 22: an async handler's free that met a lock taken spun up to
  // LOCK_WAIT_MS on a page, then threw EDEADLK out of a promise callback: done never settled
  // and the slice stayed allocated for good; the end of a batch lost its other slices so)
  const b = bus.connect(), s = bus.connect();
  for (const x of ['1', '2', '3']) s.send(b.id, enc(x));
  let open!: () => void;
  const gate = new Promise<void>((r) => { open = r; });
  const seen: string[] = [];
  const l = b.listen(async (m) => { seen.push(m.text()); await gate; });
  for (let i = 0; i < 500 && l.received < 3; i++) await tick();
  assert.is(l.received, 3);
  // b's lock held by a thread that is not LIVE (an id past the thread table)
  const e = bus.engine, word = (e.connAddr(b.slot) + A.CONN_LOCK) >>> 2;
  const dead = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] + 1;
  assert.is(Atomics.compareExchange(e.u32, word, 0, dead), 0);
  const w0 = (e as unknown as { lockWaits: number }).lockWaits;
  try {
    open(); // the three handlers settle: their frees meet the lock
    for (let i = 0; i < 5; i++) await tick();
    l.stop();
    await tick(20);
    const waits = (e as unknown as { lockWaits: number }).lockWaits - w0;
    assert.ok(waits <= 2, `the frees waited for the lock ${waits} times (one at most, then deferred)`);
    assert.ok(b.poolUsed > 0, 'not freed while the lock is taken');
  } finally {
    Atomics.store(e.u32, word, 0);
  }
  await within(l.done);
  for (let i = 0; i < 500 && b.poolUsed > 0; i++) await tick();
  assert.is(b.poolUsed, 0, 'freed once the lock was free');
  assert.equal(seen, ['1', '2', '3']);
  s.close(); b.close();
});

t('a listener\'s batch that holds an aborted call\'s late reply, freed while a sender holds the lock: that free waits in the background, and the message behind it is handed over', async ({ bus }) => {
  // (stop 63, an outside reading: the free waited LOCK_WAIT_MS, then its EDEADLK left the batch
  // with the messages after the reply taken off the queue and never handed over, their slices held)
  const a = bus.connect(), b = bus.connect(), s = bus.connect();
  const ac = new AbortController();
  const p = a.call(b.id, enc('q'), { timeout: 60000, signal: ac.signal });
  ac.abort();
  assert.is(await code(p), 'ECANCELED');
  const q = b.recv()!;
  b.replyText(q, 'late'); // the aborted call's reply: freed when it is received
  q.free();
  s.sendText(a.id, 'behind');
  assert.is(a.queued, 2);
  // a's lock taken (by a thread that is not LIVE) right after the listener's first batch, for 30 ms
  const e = bus.engine, word = (e.connAddr(a.slot) + A.CONN_LOCK) >>> 2, recv = e.recv;
  const dead = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] + 1;
  let held = false;
  e.recv = (slot: number, gen: number) => {
    const r = recv.call(e, slot, gen);
    if (slot === a.slot && !held && (e.u32[(e.cmd + A.CMD_FLAGS) >>> 2] & A.RECV_BATCH) !== 0) {
      held = true;
      assert.is(Atomics.compareExchange(e.u32, word, 0, dead), 0);
      setTimeout(() => Atomics.store(e.u32, word, 0), 30);
    }
    return r;
  };
  const seen: string[] = [];
  try {
    const l = a.listen((m) => { seen.push(m.text()); l.stop(); });
    await within(l.done);
  } finally {
    e.recv = recv;
    Atomics.store(e.u32, word, 0);
  }
  assert.ok(held, 'the lock was taken after the batch');
  assert.equal(seen, ['behind']);
  for (let i = 0; i < 500 && a.poolUsed > 0; i++) await tick();
  assert.is(a.poolUsed, 0, 'both slices freed once the lock was free');
  assert.is(a.pendingCalls, 0);
  assert.is(a.queued, 0);
  a.close(); b.close(); s.close();
});

t('listener.active is false at once when its connection is closed while it is parked or handing over, not a microtask later', async ({ bus }) => {
  // (it read true until the hand-over ran again: an outside audit, stop 40)
  const a = bus.connect(), b = bus.connect();
  const l = b.listen(() => {});
  await tick(5); // (parked)
  assert.ok(l.active);
  b.close();
  assert.is(l.active, false, 'closed while parked');
  await l.done;
  const c = bus.connect();
  let during: boolean | null = null;
  const l2: Listener = c.listen(() => { c.close(); during = l2.active; });
  a.send(c.id, new Uint8Array([1]));
  for (let i = 0; i < 500 && during === null; i++) await tick();
  assert.is(during, false, 'closed by its own handler');
  await l2.done;
  a.close();
});

t('a handler (or a for await body) that closes its connection: the message reads as freed afterwards (ENXIO), as free() marks it (stop 48)', async ({ bus }) => {
  // (the implicit free was skipped on a closed connection: the message read as neither freed
  // nor kept, its accessors ECONNRESET; an outside audit)
  const a = bus.connect(), b = bus.connect();
  a.sendText(b.id, 'x');
  let seen: Message | null = null;
  const l = b.listen((m) => { seen = m; b.close(); });
  await l.done;
  assert.ok(seen !== null);
  const m = seen as unknown as Message;
  assert.is(m.freedAlready, true, 'marked freed');
  assert.not.ok(m.kept);
  assert.throws(() => m.text(), (e: BusError) => e.code === 'ENXIO');
  const c = bus.connect();
  a.sendText(c.id, 'y');
  let last: Message | null = null;
  for await (const x of c) { last = x; c.close(); }
  assert.ok(last !== null);
  assert.is((last as unknown as Message).freedAlready, true, 'the loop\'s last message marked freed');
  assert.throws(() => (last as unknown as Message).text(), (e: BusError) => e.code === 'ENXIO');
  a.close();
});

t.run();
