// Event-loop operations made of synchronous commands, meeting a lock another (live) thread
// holds for a moment: each try waits ASYNC_LOCK_WAIT_MS at most and the operation tries again
// on a timer, letting the event loop run (js/lock-retry.ts; a method's reply: as a reply waits
// for room). Before stop 66 each of these waited LOCK_WAIT_MS (1 s) with the thread blocked, so
// a holder that lets go from this very event loop (here: a timer; in a program, a dead worker's
// 'exit' that recovers it) never could, and the operation failed with EDEADLK (an outside audit
// measured the 1 s stalls).
import * as assert from 'uvu/assert';
import { Bus, BusError, MockProvider, abi as A } from '../../js/index.ts';
import { busSuite, makeBus, ENGINE } from '../helpers/harness.ts';

const t = busSuite('event-loop operations and a lock held by another thread');

/** `word` (an index in i32) held by a live thread `holder` (a joined slot + 1), let go by a timer after `ms` */
function holdFor(i32: Int32Array, word: number, holder: number, ms: number): void {
  assert.is(Atomics.compareExchange(i32, word, 0, holder), 0, 'the lock was free');
  setTimeout(() => { Atomics.store(i32, word, 0); Atomics.notify(i32, word); }, ms);
}
const outcome = (p: Promise<unknown>): Promise<unknown> => p.then((v) => v, (e: unknown) => e instanceof BusError ? e.code : e);

t('bus.waitForName and conn.waitForName whose look-ups meet the bus lock taken try again, and resolve', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const owner = bus.connect(), c = bus.connect();
  owner.requestName('org.ex.Owned');
  const word = (A.BUS_BASE + A.BUS_LOCK) >>> 2;
  holdFor(bus.engine.i32, word, j.engine.threadSlot + 1, 30);
  assert.is(await outcome(bus.waitForName('org.ex.Owned', { timeout: 5000 })), owner.id, 'bus.waitForName');
  holdFor(bus.engine.i32, word, j.engine.threadSlot + 1, 30);
  assert.is(await outcome(c.waitForName('org.ex.Owned', { timeout: 5000 })), owner.id, 'conn.waitForName');
  owner.close(); c.close(); j.close();
});

t('a method\'s reply that meets the caller\'s lock taken waits for it as a reply waits for room: the caller gets it, and a synchronous handler\'s dispatch returns', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const svc = bus.connect(), caller = bus.connect();
  svc.export('/o', 'org.ex.I', {
    Now: { in: '', out: 's', handler: () => ['now'] },
    Later: { in: '', out: 's', handler: async () => ['later'] },
  });
  for (const member of ['Later', 'Now']) {
    const p = outcome(caller.callMethod({ destination: svc.id, path: '/o', interface: 'org.ex.I', member }, { timeout: 5000 }));
    const m = await svc.recvAsync({ timeout: 2000 });
    holdFor(bus.engine.i32, (bus.engine.connAddr(caller.slot) + A.CONN_LOCK) >>> 2, j.engine.threadSlot + 1, 30);
    // (a synchronous handler's reply waits LOCK_WAIT_MS for the lock, as send() does, and its
    // dispatch threw EDEADLK out of the service's loop before stop 66; an async handler's
    // blocked its promise callback that long, and was dropped)
    assert.is(await outcome(Promise.resolve().then(() => svc.dispatch(m))), 1, `${member}: dispatch returned`);
    m.free();
    assert.equal(await p, [member.toLowerCase()], `${member}: the reply came`);
  }
  svc.close(); caller.close(); j.close();
});

t('bus.close() at once after bus.waitForName(): the wait ends with ECONNRESET and the close goes through (it failed EBUSY, a review of stop 66)', async () => {
  const { bus: b2 } = await makeBus();
  const p = outcome(b2.waitForName('org.ex.Never', { timeout: 5000 }));
  b2.close(); // (threw EBUSY: its connection was not yet the wait's own)
  assert.is(await p, 'ECONNRESET');
});

t('a synchronous handler\'s reply that waited for the caller\'s lock past the call\'s deadline is dropped, as for a caller that stopped waiting: dispatch returns (it threw EDEADLK, a review of stop 66)', async () => {
  const mock = new MockProvider({ realClock: true }); // (the call's deadline in real time)
  const { bus: b2 } = await makeBus({ provider: mock });
  const j = await Bus.join(b2.handle(), { provider: mock, engine: ENGINE });
  const svc = b2.connect(), caller = b2.connect();
  svc.export('/o', 'org.ex.I', { Now: { in: '', out: 's', handler: () => ['now'] } });
  const p = outcome(caller.callMethod({ destination: svc.id, path: '/o', interface: 'org.ex.I', member: 'Now' }, { timeout: 300 }));
  const m = await svc.recvAsync({ timeout: 2000 });
  // held past the call's deadline and the synchronous send's LOCK_WAIT_MS (its holder live)
  const word = (b2.engine.connAddr(caller.slot) + A.CONN_LOCK) >>> 2;
  holdFor(b2.engine.i32, word, j.engine.threadSlot + 1, A.LOCK_WAIT_MS + 300);
  assert.is(await outcome(Promise.resolve().then(() => svc.dispatch(m))), 1, 'dispatch returned');
  // (the lock let go before the next command: each ticks the reply deadlines, whose
  // REPLY_TIMEOUT for the caller needs that lock)
  for (let i = 0; i < 400 && Atomics.load(b2.engine.i32, word) !== 0; i++) await new Promise((r) => setTimeout(r, 5));
  m.free();
  assert.is(await p, 'ETIMEDOUT', 'the caller timed out');
  assert.is(svc.pendingSends, 0, 'no reply left waiting');
  svc.close(); caller.close(); j.close();
  assert.equal(b2.check(), []);
  b2.close();
});

t('a receive waiting at its connection\'s lock, which a holder keeps, while its own thread stands still past LOCK_WAIT_MS (a synchronous block): its next look does not give up; the holder\'s release after the block (here a timer; in a program, the dead worker\'s \'exit\' that recovers it) comes first, and it gets the message (it said EDEADLK at once: a user\'s check of stop 70)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const c = bus.connect(), s = bus.connect();
  s.send(c.id, new Uint8Array([7]));
  const word = (bus.engine.connAddr(c.slot) + A.CONN_LOCK) >>> 2;
  assert.is(Atomics.compareExchange(bus.engine.i32, word, 0, j.engine.threadSlot + 1), 0);
  const p = outcome(c.recvAsync({ timeout: 10_000 }).then((m) => { const v = m.payload[0]; m.free(); return v; }));
  await new Promise((r) => setTimeout(r, 30)); // (its first looks found the lock taken)
  // the thread stands still LOCK_WAIT_MS + 200 ms; the release comes after it, behind the
  // wait's own timer that fell due meanwhile (as a dead worker's 'exit' comes)
  const t0 = performance.now();
  while (performance.now() - t0 < A.LOCK_WAIT_MS + 200) { /* a synchronous block */ }
  setTimeout(() => { Atomics.store(bus.engine.i32, word, 0); Atomics.notify(bus.engine.i32, word); }, 1);
  assert.is(await p, 7, 'received after the release');
  c.close(); s.close(); j.close();
});

t.run();
