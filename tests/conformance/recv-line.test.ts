// The line of a connection's parked receives (js/recv-line.ts, stop 68): a message that a
// younger parked receive takes while an older one waits goes to the older one, so the parked
// receives of a thread get the messages in the order they parked even when a look of the
// older one found the connection's lock taken (a sender's thread descheduled while it held
// it) and the younger one looked once it was let go. Before stop 68 the younger one kept it:
// a threads test failed so on a loaded machine (tests/threads/sleepers.test.ts).
import * as assert from 'uvu/assert';
import { Bus, BusError, abi as A, type Connection, type Message } from '../../js/index.ts';
import { busSuite, ENGINE } from '../helpers/harness.ts';
import { prng, seedsFromEnv } from '../helpers/diffkit.ts';

const t = busSuite('the line of parked receives');

/** the message's text (freed), or the code of what the receive, or reading its message, threw */
const text = (p: Promise<Message>) => p.then((m) => { const s = m.text(); m.free(); return s; }).catch((e: BusError) => e.code);
const tick = () => new Promise((r) => setTimeout(r, 1));
const lockOf = (c: Connection): number => (c.engine.connAddr(c.slot) + A.CONN_LOCK) >>> 2;

/** `c`'s lock taken by the live thread `holder` (a joined thread's slot + 1); its release. */
function take(c: Connection, holder: number): () => void {
  const i32 = c.engine.i32, word = lockOf(c);
  assert.is(Atomics.compareExchange(i32, word, 0, holder), 0, 'the lock was free');
  let done = false;
  return () => { if (done) return; done = true; Atomics.store(i32, word, 0); Atomics.notify(i32, word); };
}

/**
 * `fn` run once `c`'s wake word has moved from its present value and the receives it woke have
 * looked: a wait of the test's own on the word (counted in its sleepers as the bus's own waits
 * are: a publisher notifies only a counted word, and takes off what it woke), resolved by the
 * same notify as the receives' wait, then a timer (the woken receives look in that task's
 * microtasks; a timer comes after them).
 */
function afterWake(c: Connection, fn: () => void): void {
  const i32 = c.engine.i32, word = (c.engine.connAddr(c.slot) + A.CONN_WAKE) >>> 2;
  Atomics.add(i32, (c.engine.connAddr(c.slot) + A.CONN_SLEEPERS) >>> 2, 1);
  const r = Atomics.waitAsync(i32, word, Atomics.load(i32, word));
  assert.ok(r.async, 'parked');
  void r.value.then(() => setTimeout(fn, 0));
}

t('the oldest parked receive gets the first message although its look found the lock taken and a younger one looked once it was let go', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const tx = bus.connect(), rx = bus.connect();
  const got: string[] = [];
  const a = text(rx.recvAsync({ timeout: 5000 })).then((x) => { got.push(`a:${x}`); });
  const b = text(rx.recvAsync({ timeout: 5000 })).then((x) => { got.push(`b:${x}`); });
  await tick();
  // the publish wakes `a` alone (one message): its look waits ASYNC_LOCK_WAIT_MS for the lock,
  // then retries from a timer; the lock is let go after that look, and `b` is woken next (the
  // message is still queued) while `a` waits for its retry
  let release = (): void => {};
  afterWake(rx, () => release());
  tx.sendText(rx.id, 'one');
  release = take(rx, j.engine.threadSlot + 1); // (before the woken receive looks: that is a task later)
  await new Promise((r) => setTimeout(r, 30));
  tx.sendText(rx.id, 'two');
  await Promise.all([a, b]);
  assert.equal(got, ['a:one', 'b:two'], 'in the order they parked (before stop 68: b took "one", a got "two")');
  assert.is(rx.pendingReceives, 0);
  tx.close(); rx.close(); j.close();
});

t('a receive given a message by a younger one resolves with it; receives that ended (timed out, aborted) are passed over, and the message is not lost', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const tx = bus.connect(), rx = bus.connect();
  const ac = new AbortController();
  const got: string[] = [];
  const park = (name: string, opts: { timeout: number; signal?: AbortSignal }) => text(rx.recvAsync(opts)).then((x) => { got.push(`${name}:${x}`); });
  const ps = [park('a', { timeout: 5000, signal: ac.signal }), park('b', { timeout: 5000 }), park('c', { timeout: 5000 })];
  await tick();
  ac.abort();
  await tick();
  let release = (): void => {};
  afterWake(rx, () => release());
  tx.sendText(rx.id, 'one');
  release = take(rx, j.engine.threadSlot + 1);
  await new Promise((r) => setTimeout(r, 30));
  tx.sendText(rx.id, 'two');
  await Promise.all(ps);
  assert.equal(got, ['a:ECANCELED', 'b:one', 'c:two']);
  assert.is(rx.pendingReceives, 0);
  tx.close(); rx.close(); j.close();
});

t('seeded random: parked receives, messages sent one to three at a time, the receiver\'s lock taken after some sends and let go at random moments, aborts and timeouts: every message taken once, the parked receives in the order they parked', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const holder = j.engine.threadSlot + 1;
  for (const seed of seedsFromEnv([68, 6801, 6802])) {
    const rnd = prng(seed);
    const tx = bus.connect(), rx = bus.connect();
    /** per receive, in the order they parked: the message number it got, or its error code */
    const out: (number | string)[] = [];
    const pending: Promise<void>[] = [];
    const aborts: AbortController[] = [];
    let sent = 0, parked = 0;
    const parkOne = (): void => {
      const k = parked++;
      const r = rnd.int(10);
      const ac = r < 2 ? new AbortController() : null;
      if (ac) aborts.push(ac);
      const timeout = r === 2 ? 1 + rnd.int(20) : 5000;
      pending.push(text(rx.recvAsync(ac ? { timeout, signal: ac.signal } : { timeout })).then((x) => { out[k] = /^m\d+$/.test(x) ? Number(x.slice(1)) : x; }));
    };
    for (let step = 0; step < 40; step++) {
      const what = rnd.int(6);
      if (what <= 1) { for (let n = 1 + rnd.int(4); n > 0; n--) parkOne(); }
      else if (what === 2 && aborts.length > 0) aborts.splice(rnd.int(aborts.length), 1)[0]!.abort();
      else if (what <= 4) {
        const n = 1 + rnd.int(3);
        const how = rnd.int(4); // 0: no lock; 1: let go after the woken receives looked; 2: from a timer; 3: in a microtask
        // (the lock is taken after the sends, which would wait for it, and before the receives
        // they woke look, a task later)
        // (a send would wait for the lock taken after the last sends: they go out once it is let go)
        for (const end = performance.now() + 2000; Atomics.load(rx.engine.i32, lockOf(rx)) !== 0;) {
          assert.ok(performance.now() < end, `seed ${seed}: the lock let go`);
          await tick();
        }
        let release = (): void => {};
        if (how === 1) afterWake(rx, () => release());
        for (let i = 0; i < n; i++) tx.sendText(rx.id, `m${sent++}`);
        if (how !== 0) {
          release = take(rx, holder);
          if (how === 2) setTimeout(release, rnd.int(8));
          else if (how === 3) queueMicrotask(release);
        }
      }
      await new Promise((r) => (rnd.int(2) === 0 ? queueMicrotask(() => r(undefined)) : setTimeout(r, rnd.int(3))));
    }
    // the rest: the lock let go, messages for the receives still waiting, then the queue drained
    await new Promise((r) => setTimeout(r, 10));
    assert.is(Atomics.load(rx.engine.i32, lockOf(rx)), 0, `seed ${seed}: the lock let go`);
    for (const ac of aborts) ac.abort();
    while (rx.pendingReceives > 0) { tx.sendText(rx.id, `m${sent++}`); await tick(); }
    await Promise.all(pending);
    const left: number[] = [];
    for (let m = rx.recv(); m !== null; m = rx.recv()) { left.push(Number(m.text().slice(1))); m.free(); }
    const taken = out.filter((x): x is number => typeof x === 'number');
    assert.equal([...taken, ...left].sort((x, y) => x - y), Array.from({ length: sent }, (_, i) => i), `seed ${seed}: every message taken once`);
    for (let i = 1; i < taken.length; i++) assert.ok(taken[i]! > taken[i - 1]!, `seed ${seed}: in the order they parked: ${JSON.stringify(out)}`);
    for (const x of out) assert.ok(typeof x === 'number' || x === 'ECANCELED' || x === 'ETIMEDOUT', `seed ${seed}: ${x}`);
    assert.equal(left.slice().sort((x, y) => x - y), left, `seed ${seed}: what is left, in order`);
    assert.is(rx.pendingReceives, 0);
    tx.close(); rx.close();
  }
  j.close();
});

t('a new recvAsync that finds a message queued while an older receive waits gives it to the older one and waits; a close() before the older one has it says EBUSY, and it still gets it', async ({ bus }) => {
  const tx = bus.connect(), rx = bus.connect();
  const a = text(rx.recvAsync({ timeout: 5000 }));
  await tick();
  // (queued and not yet looked at: the wake-up is a task away)
  tx.sendText(rx.id, 'one');
  const c = text(rx.recvAsync({ timeout: 5000 }));
  let busy: unknown = null;
  try { rx.close(); } catch (e) { busy = (e as BusError).code; }
  assert.is(busy, 'EBUSY', 'the message taken for `a` counts as queued (before stop 68 the new receive kept it, and the close went through)');
  assert.is(await a, 'one', 'the older receive gets it');
  tx.sendText(rx.id, 'two');
  assert.is(await c, 'two');
  assert.is(rx.pendingReceives, 0);
  tx.close(); rx.close();
});

t('a receive given a message and aborted before it has it hands it over all the same (the order kept); closed with drop, it goes with the close (no leak)', async ({ bus }) => {
  const tx = bus.connect(), rx = bus.connect();
  const ac = new AbortController();
  const a = text(rx.recvAsync({ timeout: 5000, signal: ac.signal }));
  const b = text(rx.recvAsync({ timeout: 5000 }));
  const c = text(rx.recvAsync({ timeout: 5000 }));
  await tick();
  tx.sendText(rx.id, 'one');
  tx.sendText(rx.id, 'two');
  const d = text(rx.recvAsync({ timeout: 5000 })); // (takes 'one' and 'two', gives them to `a` and `b`)
  ac.abort();
  assert.is(await a, 'one', 'the abort came after the message was its (before stop 68: ECANCELED, and the new receive kept "one")');
  assert.is(await b, 'two', 'in order (a review of stop 68\'s second version passed "one" on to `c`, after `b` had "two")');
  tx.sendText(rx.id, 'three');
  tx.sendText(rx.id, 'four');
  assert.is(await c, 'three');
  assert.is(await d, 'four');
  // closed with drop while a given message is not handed over yet
  const e = text(rx.recvAsync({ timeout: 5000 }));
  await tick();
  tx.sendText(rx.id, 'five');
  const f = text(rx.recvAsync({ timeout: 5000 }));
  rx.close({ drop: true });
  assert.is(await e, 'ECONNRESET', 'the message went with the close');
  assert.is(await f, 'ECONNRESET');
  assert.equal(bus.check(), []);
  tx.close();
});

t('a receive given a message on a thread declared dead before it has it fails as the others do (no unreadable message); a recvAsync({ timeout: 0 }) keeps what it finds', async ({ bus, mock }) => {
  const tx = bus.connect(), rx0 = bus.connect();
  // timeout 0: one try, no wait: it keeps the message it found, as recv() does, older receives or not
  const older = text(rx0.recvAsync({ timeout: 5000 }));
  await tick();
  tx.sendText(rx0.id, 'one');
  assert.is(await text(rx0.recvAsync({ timeout: 0 })), 'one', 'a receive that will not wait does not give (a review of stop 68: it gave, then said ETIMEDOUT)');
  tx.sendText(rx0.id, 'two');
  assert.is(await older, 'two');
  rx0.close();
  // a joined thread's connection, its receives parked; a message given; the thread declared dead
  const h = bus.handle();
  const j = await Bus.join(h, { provider: mock, engine: ENGINE });
  const rx = j.connect();
  const a = text(rx.recvAsync({ timeout: 5000 }));
  const b = text(rx.recvAsync({ timeout: 5000 }));
  await tick();
  tx.sendText(rx.id, 'one');
  const c = text(rx.recvAsync({ timeout: 5000 })); // (takes 'one', gives it to `a`)
  bus.recoverThread(h.token, { stopped: true });
  assert.equal([await a, await b, await c], ['ECONNRESET', 'ECONNRESET', 'ECONNRESET'], 'before the fix `a` resolved with a message whose reads threw');
  try { rx.close(); } catch { /* (closed by the recovery) */ }
  try { j.close(); } catch { /* (recovered) */ }
  tx.close();
});

t('two receive loops of one thread that hand each other their messages leave the thread\'s timers their turns', async ({ bus }) => {
  const tx = bus.connect(), rx = bus.connect();
  const CAP = 30000;
  let n = 0, fired = -1, on = true;
  const loop = async (): Promise<void> => {
    while (on && n < CAP) {
      const m = await rx.recvAsync({ timeout: 5000 });
      m.free();
      if (++n < CAP && on) tx.sendText(rx.id, 'x');
    }
  };
  const loops = [loop(), loop()];
  await tick();
  const timer = setTimeout(() => { fired = n; on = false; tx.sendText(rx.id, 'x'); tx.sendText(rx.id, 'x'); }, 5);
  tx.sendText(rx.id, 'x');
  await Promise.all(loops);
  clearTimeout(timer);
  assert.ok(fired >= 0 && fired < CAP, `the 5 ms timer ran before the loops' ${CAP} messages were done (it ran after ${fired}; a review of stop 68's first version: after all of them)`);
  for (let m = rx.recv(); m !== null; m = rx.recv()) m.free();
  tx.close(); rx.close();
});

t.run();
