// emitAsync's broadcast at a subscriber whose lock another (live) thread holds: set aside where
// it stopped and gone on with from timers (js/bcast-async.ts, js/bcast-park.ts), never from
// the start. Before stop 67 it waited as emit() does, blocking the thread up to LOCK_WAIT_MS
// (1 s) per stuck subscriber: a holder that lets go from this thread's own event loop (here a
// timer; in a program, a dead worker's 'exit' that recovers it) never could, so that
// subscriber was passed over and lost the signal, and the loop stood still the whole second.
import * as assert from 'uvu/assert';
import { Bus, BusError, type Connection, type Message } from '../../js/index.ts';
import { abi as A } from '../../js/index.ts';
import { busSuite, ENGINE } from '../helpers/harness.ts';
import { prng } from '../helpers/diffkit.ts';

const t = busSuite('emitAsync broadcast at a subscriber whose lock is taken');

const SIG = { path: '/org/example/Feed', interface: 'org.example.Feed', member: 'Item', signature: 'us' };

/** `word` (an index in i32) taken by a live thread `holder` (a joined slot + 1); its release, by a timer after `ms` */
function hold(i32: Int32Array, word: number, holder: number, ms: number): { release: () => void } {
  assert.is(Atomics.compareExchange(i32, word, 0, holder), 0, 'the lock was free');
  let done = false;
  const release = (): void => { if (done) return; done = true; clearTimeout(timer); Atomics.store(i32, word, 0); Atomics.notify(i32, word); };
  const timer = setTimeout(release, ms);
  return { release };
}
const lockOf = (c: Connection): number => (c.engine.connAddr(c.slot) + A.CONN_LOCK) >>> 2;
const outcome = (p: Promise<unknown>): Promise<unknown> => p.then((v) => v, (e: unknown) => e instanceof BusError ? e.code : e);

/** The longest gap between two ticks of a 2 ms interval while `fn()` (called from that interval's first tick) runs: how long the event loop stood still. */
async function stall<T>(fn: () => Promise<T>): Promise<{ value: T; gapMs: number }> {
  let last = performance.now(), gap = 0;
  const iv = setInterval(() => { const n = performance.now(); gap = Math.max(gap, n - last); last = n; }, 2);
  try {
    await new Promise((r) => setTimeout(r, 3));
    last = performance.now();
    const value = await fn();
    return { value, gapMs: Math.max(gap, performance.now() - last) };
  } finally {
    clearInterval(iv);
  }
}
/** Every queued message of `c`: [number, text] of each Item signal (freed), and the timestamps' seqnums. */
function drain(c: Connection): { items: [number, string][]; seq: number[] } {
  const items: [number, string][] = [], seq: number[] = [];
  for (let m: Message | null = c.recv(); m; m = c.recv()) {
    items.push(m.dbus!.body as [number, string]);
    seq.push(m.timestamp?.seqnum ?? -1);
    m.free();
  }
  return { items, seq };
}

/** A sender and three subscribers that ask for the timestamp (its seqnum: one message, one number). */
function feed(bus: Parameters<Parameters<typeof t>[1]>[0]['bus']): { s: Connection; subs: Connection[] } {
  const s = bus.connect();
  const subs = [0, 1, 2].map(() => bus.connect({ attachRecv: ['timestamp'] }));
  for (const c of subs) c.addMatch({ type: 'signal', interface: SIG.interface });
  return { s, subs };
}

t('a subscriber\'s lock held 150 ms by a live thread: emitAsync does not block the event loop, and every subscriber gets the signal once, with one seqnum', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 150);
  const t0 = performance.now();
  const { value: cookie, gapMs } = await stall(() => s.emitAsync({ ...SIG, body: [1, 'one'] }));
  const took = performance.now() - t0;
  assert.ok(took >= 140, `it waited for the lock (${took.toFixed(0)} ms)`);
  assert.ok(gapMs < 100, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms; the lock held 150 ms)`);
  assert.ok(cookie > 0, 'resolves to the cookie');
  const got = subs.map(drain);
  for (const [i, g] of got.entries()) {
    assert.equal(g.items, [[1, 'one']], `subscriber ${i} got it once`);
    assert.is(subs[i]!.lastDropped, 0, `subscriber ${i} lost nothing`);
  }
  assert.ok(got[0]!.seq[0]! > 0 && got.every((g) => g.seq[0] === got[0]!.seq[0]), `one seqnum for all: ${got.map((g) => g.seq[0])}`);
  s.close(); for (const c of subs) c.close(); j.close();
});

t('while the broadcast is set aside its thread runs other commands (a HELLO, a send, a receive), and it goes on with its own message and metadata', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const long = 'x'.repeat(3000); // (its payload in the command area, which the next commands overwrite)
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 10_000);
  const p = s.emitAsync({ ...SIG, body: [1, long] });
  await new Promise((r) => setTimeout(r, 30));
  // meanwhile, on this thread: a HELLO, a unicast and a receive, each writing the thread's
  // command area and scratch (and the first collecting the HELLO's metadata)
  assert.equal(drain(subs[0]!).items, [[1, long]], 'the subscriber before the lock got the first one');
  h.release();
  const other = bus.connect();
  s.sendText(other.id, 'between');
  const m = other.recv()!;
  assert.is(m.text(), 'between');
  m.free();
  await p;
  const rest = subs.slice(1).map(drain);
  for (const g of rest) assert.equal(g.items, [[1, long]], 'the rest got it, payload intact');
  assert.is(subs[0]!.recv(), null, 'nothing twice');
  s.close(); other.close(); for (const c of subs) c.close(); j.close();
});

t('a synchronous emit() made while the broadcast is set aside goes first where the broadcast has not reached (documented); a later emitAsync waits its turn (call order)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  // the LAST subscriber's lock: the sync emit must not wait on it, so it is let go before
  const h = hold(bus.engine.i32, lockOf(subs[2]!), j.engine.threadSlot + 1, 10_000);
  const p1 = s.emitAsync({ ...SIG, body: [1, 'a'] });
  const p2 = s.emitAsync({ ...SIG, body: [2, 'b'] }); // behind p1
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(drain(subs[0]!).items, [[1, 'a']], 'the first one reached subscriber 0; the second waits its turn');
  h.release();
  await new Promise((r) => setTimeout(r, 0));
  s.emit({ ...SIG, body: [3, 'sync'] });
  await Promise.all([p1, p2]);
  const g0 = drain(subs[0]!), g1 = drain(subs[1]!), g2 = drain(subs[2]!);
  assert.equal(g0.items.map((x) => x[0]).sort(), [2, 3], 'subscriber 0: the others');
  // the awaitable ones in call order everywhere; the synchronous one wherever it fell
  for (const g of [g1, g2]) {
    const order = g.items.map((x) => x[0]);
    assert.equal(order.filter((n) => n !== 3), [1, 2], `awaitable broadcasts in call order: ${order}`);
    assert.ok(order.includes(3), 'the synchronous one arrived');
  }
  s.close(); for (const c of subs) c.close(); j.close();
});

t('a subscriber whose lock stays taken past LOCK_WAIT_MS is passed over, its loss counted, without blocking the event loop; the others get the signal', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 60_000);
  const { gapMs } = await stall(() => s.emitAsync({ ...SIG, body: [7, 'seven'] }));
  h.release();
  // (one look blocks LOCK_STILL_MS once, at the end, to tell a holder that keeps the lock)
  assert.ok(gapMs < A.LOCK_STILL_MS + 60, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms)`);
  assert.equal(drain(subs[0]!).items, [[7, 'seven']]);
  assert.equal(drain(subs[2]!).items, [[7, 'seven']]);
  assert.equal(drain(subs[1]!).items, [], 'passed over');
  assert.is(subs[1]!.lastDropped, 1, 'its loss is counted');
  s.close(); for (const c of subs) c.close(); j.close();
});

t('the connection closed while its broadcast is set aside: ECONNRESET, the rest do not get it; a later emitAsync waiting its turn ends too', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 10_000);
  const p1 = outcome(s.emitAsync({ ...SIG, body: [1, 'a'] }));
  const p2 = outcome(s.emitAsync({ ...SIG, body: [2, 'b'] }));
  await new Promise((r) => setTimeout(r, 20));
  s.close();
  h.release();
  assert.is(await p1, 'ECONNRESET');
  assert.is(await p2, 'ECONNRESET');
  assert.equal(drain(subs[0]!).items, [[1, 'a']]);
  assert.equal(drain(subs[1]!).items, []);
  assert.equal(drain(subs[2]!).items, []);
  for (const c of subs) c.close(); j.close();
});

t('an emitAsync waiting its turn behind a broadcast set aside ends at its timeout (ETIMEDOUT) or signal (ECANCELED), nothing of it sent', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 10_000);
  const p1 = s.emitAsync({ ...SIG, body: [1, 'a'] });
  const ac = new AbortController();
  const p2 = outcome(s.emitAsync({ ...SIG, body: [2, 'b'] }, { timeout: 30 }));
  const p3 = outcome(s.emitAsync({ ...SIG, body: [3, 'c'] }, { signal: ac.signal }));
  const p4 = s.emitAsync({ ...SIG, body: [4, 'd'] });
  await new Promise((r) => setTimeout(r, 10));
  ac.abort();
  assert.is(await p2, 'ETIMEDOUT');
  assert.is(await p3, 'ECANCELED');
  assert.equal(drain(subs[0]!).items, [[1, 'a']], 'the fourth still waits behind the first');
  h.release();
  await Promise.all([p1, p4]);
  for (const c of subs) assert.equal(drain(c).items.map((x) => x[0]), c === subs[0] ? [4] : [1, 4]);
  s.close(); for (const c of subs) c.close(); j.close();
});

t('seeded random: 60 emitAsync broadcasts and 20 synchronous emits among locks taken and let go at random by a live thread; every subscriber gets each once (or counts its loss), the awaitable ones in call order, one seqnum each', async ({ bus, mock }) => {
  const r = prng(0xb0a5);
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const s = bus.connect();
  const subs = [0, 1, 2, 3].map(() => bus.connect({ attachRecv: ['timestamp'] }));
  for (const c of subs) c.addMatch({ type: 'signal', interface: SIG.interface });
  const holder = j.engine.threadSlot + 1, held = new Set<number>();
  const pending: Promise<unknown>[] = [];
  let n = 0, waited = 0;
  for (let step = 0; step < 80; step++) {
    // take or let go of a random subscriber's lock (held at most a few steps: no loss wanted)
    const k = r.int(subs.length), word = lockOf(subs[k]!);
    if (held.has(k)) { Atomics.store(bus.engine.i32, word, 0); Atomics.notify(bus.engine.i32, word); held.delete(k); }
    else if (r.next() < 0.5) { assert.is(Atomics.compareExchange(bus.engine.i32, word, 0, holder), 0); held.add(k); }
    const id = ++n;
    if (step % 4 === 3) {
      // a synchronous emit waits blocking for a held lock: let go of them first
      for (const h of held) { const w = lockOf(subs[h]!); Atomics.store(bus.engine.i32, w, 0); Atomics.notify(bus.engine.i32, w); }
      held.clear();
      s.emit({ ...SIG, body: [id, 'sync'] });
    } else {
      const t0 = performance.now();
      pending.push(s.emitAsync({ ...SIG, body: [id, 'async'] }).then(() => { if (performance.now() - t0 > 4) waited++; }));
    }
    if (r.next() < 0.5) await new Promise((res) => setTimeout(res, r.int(8)));
  }
  for (const h of held) { const w = lockOf(subs[h]!); Atomics.store(bus.engine.i32, w, 0); Atomics.notify(bus.engine.i32, w); }
  await Promise.all(pending);
  assert.ok(waited >= 5, `broadcasts set aside and gone on with: ${waited}`);
  const seqOf = new Map<number, number>();
  for (const [i, c] of subs.entries()) {
    const g = drain(c);
    assert.is(c.lastDropped, 0, `subscriber ${i} lost nothing`);
    const ids = g.items.map((x) => x[0]);
    assert.equal([...ids].sort((a, b) => a - b), Array.from({ length: n }, (_, x) => x + 1), `subscriber ${i}: each once`);
    const awaited = g.items.filter((x) => x[1] === 'async').map((x) => x[0]);
    assert.equal(awaited, [...awaited].sort((a, b) => a - b), `subscriber ${i}: the awaitable ones in call order`);
    for (const [x, [id]] of g.items.entries()) {
      const seq = g.seq[x]!;
      if (!seqOf.has(id)) seqOf.set(id, seq);
      assert.is(seq, seqOf.get(id), `broadcast ${id}: one seqnum at every subscriber`);
    }
  }
  s.close(); for (const c of subs) c.close(); j.close();
});

t.run();
