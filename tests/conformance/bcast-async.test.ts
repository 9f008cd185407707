// emitAsync's broadcast at a subscriber whose lock another (live) thread holds: set aside where
// it stopped and gone on with from timers (js/bcast-async.ts, js/bcast-park.ts), never from
// the start. Before stop 67 it waited as emit() does, blocking the thread up to LOCK_WAIT_MS
// (1 s) per stuck subscriber: a holder that lets go from this thread's own event loop (here a
// timer; in a program, a dead worker's 'exit' that recovers it) never could, so that
// subscriber was passed over and lost the signal, and the loop stood still the whole second.
import * as assert from 'uvu/assert';
import { Bus, BusError, type Connection, type Message, type MockProvider } from '../../js/index.ts';
import { abi as A } from '../../js/index.ts';
import { busSuite, makeBus, ENGINE } from '../helpers/harness.ts';
import { prng } from '../helpers/diffkit.ts';
import { Raw, hostVec } from '../helpers/raw.ts';

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
  assert.ok(gapMs < 500, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms; the lock held 150 ms; before stop 67 it stood still 1 s)`);
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
  // (one try blocks ASYNC_LOCK_WAIT_MS once more, at the end, before the pass-over; the
  // bound leaves room for a loaded machine's timers: before stop 67 the loop stood still 1 s)
  assert.ok(gapMs < 500, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms)`);
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

t('the bus lock taken at the first try (a NAME rule needs it): the try is made again from a timer, and the broadcast goes (it failed EDEADLK after 5 ms in the first version: a review of stop 67; emit() blocks its thread for it)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const s = bus.connect(), sub = bus.connect();
  s.requestName('org.example.Src');
  sub.addMatch({ type: 'signal', sender: 'org.example.Src', interface: SIG.interface }); // a NAME rule
  hold(bus.engine.i32, (A.BUS_BASE + A.BUS_LOCK) >>> 2, j.engine.threadSlot + 1, 60);
  const { value, gapMs } = await stall(() => outcome(s.emitAsync({ ...SIG, body: [1, 'named'] }, { timeout: 5000 })));
  assert.ok(typeof value === 'number' && value > 0, `resolved: ${String(value)}`);
  assert.ok(gapMs < 500, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms)`);
  assert.equal(drain(sub).items, [[1, 'named']]);
  // and within its own timeout: ETIMEDOUT, nothing sent
  hold(bus.engine.i32, (A.BUS_BASE + A.BUS_LOCK) >>> 2, j.engine.threadSlot + 1, 200);
  assert.is(await outcome(s.emitAsync({ ...SIG, body: [2, 'late'] }, { timeout: 40 })), 'ETIMEDOUT');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(drain(sub).items, [], 'nothing of it sent');
  s.close(); sub.close(); j.close();
});

t('a staged broadcast (a payload past the command area) whose delivery needs the bus lock, taken: nothing is reserved or copied until it is free, then it goes whole (each look staged the whole payload again before stop 71: a review)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const s = bus.connect({ poolSize: 256 * 1024 }), sub = bus.connect({ poolSize: 256 * 1024 });
  s.requestName('org.example.Src');
  sub.addMatch({ type: 'signal', sender: 'org.example.Src', interface: SIG.interface }); // a NAME rule
  const big = 'x'.repeat(40000);
  const before = s.stats().peakPoolUsed;
  hold(bus.engine.i32, (A.BUS_BASE + A.BUS_LOCK) >>> 2, j.engine.threadSlot + 1, 300);
  let peakWhileHeld = -1;
  setTimeout(() => { peakWhileHeld = s.stats().peakPoolUsed; }, 200);
  const { value, gapMs } = await stall(() => outcome(s.emitAsync({ ...SIG, body: [1, big] }, { timeout: 5000 })));
  assert.ok(typeof value === 'number' && value > 0, `resolved: ${String(value)}`);
  assert.ok(gapMs < 500, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms)`);
  assert.is(peakWhileHeld, before, `nothing staged in the sender's pool while the bus lock was taken (peak ${peakWhileHeld}, ${before} before)`);
  assert.ok(s.stats().peakPoolUsed > 40000, 'staged once it was free');
  const got = drain(sub).items;
  assert.is(got.length, 1);
  assert.is(got[0]![1].length, 40000);
  assert.is(s.stats().staging, 0);
  // emit() (synchronous) waits for that lock at its SEND now: EDEADLK after its wait, nothing reserved
  const h2 = hold(bus.engine.i32, (A.BUS_BASE + A.BUS_LOCK) >>> 2, j.engine.threadSlot + 1, 60_000);
  const err = (() => { try { s.emit({ ...SIG, body: [2, big] }); return null; } catch (e) { return e as BusError; } })();
  h2.release();
  assert.is(err?.code, 'EDEADLK');
  assert.is(err!.reason, A.R_LOCK_WAIT);
  assert.is(s.stats().reserved, 0, 'nothing reserved');
  assert.equal(drain(sub).items, []);
  s.close(); sub.close(); j.close();
});

t("a broadcast set aside at a subscriber's lock while its own thread stands still past LOCK_WAIT_MS (a synchronous block): its next steps do not pass that subscriber over; the holder's release 30 ms after the block (in a program, the dead worker's 'exit' that recovers it) comes first, and every subscriber gets the signal (it was passed over at once: a review of stop 71)", async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const word = lockOf(subs[1]!);
  assert.is(Atomics.compareExchange(bus.engine.i32, word, 0, j.engine.threadSlot + 1), 0);
  const p = outcome(s.emitAsync({ ...SIG, body: [1, 'a'] }));
  await new Promise((r) => setTimeout(r, 30)); // (set aside at subs[1], its first looks made)
  const t0 = performance.now();
  while (performance.now() - t0 < A.LOCK_WAIT_MS + 200) { /* a synchronous block */ }
  setTimeout(() => { Atomics.store(bus.engine.i32, word, 0); Atomics.notify(bus.engine.i32, word); }, 30);
  assert.ok(typeof (await p) === 'number', 'resolved');
  for (const c of subs) assert.equal(drain(c).items, [[1, 'a']]);
  assert.is(subs[1]!.lastDropped, 0, 'not passed over');
  s.close(); for (const c of subs) c.close(); j.close();
});

t('holders taking turns at a subscriber\'s lock, never seen free: passed over after LOCK_WAIT_MS as emit() does (it waited for good in the first version: a review of stop 67)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const j2 = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const i32 = bus.engine.i32, word = lockOf(subs[1]!), h1 = j.engine.threadSlot + 1, h2 = j2.engine.threadSlot + 1;
  Atomics.store(i32, word, h1);
  const iv = setInterval(() => { Atomics.store(i32, word, Atomics.load(i32, word) === h1 ? h2 : h1); }, 2);
  const t0 = performance.now();
  const r = await outcome(s.emitAsync({ ...SIG, body: [1, 'a'] }));
  const took = performance.now() - t0;
  clearInterval(iv);
  Atomics.store(i32, word, 0); Atomics.notify(i32, word);
  assert.ok(typeof r === 'number', `resolved: ${String(r)}`);
  assert.ok(took >= A.LOCK_WAIT_MS - 50 && took < A.LOCK_WAIT_MS + 1500, `passed over after about LOCK_WAIT_MS: ${took.toFixed(0)} ms`);
  assert.equal(drain(subs[0]!).items, [[1, 'a']]);
  assert.equal(drain(subs[2]!).items, [[1, 'a']]);
  assert.equal(drain(subs[1]!).items, []);
  assert.is(subs[1]!.lastDropped, 1, 'its loss is counted');
  s.close(); for (const c of subs) c.close(); j.close(); j2.close();
});

t('a subscriber passed over, its lock still held by the same holder: the thread\'s next broadcast passes it over after one short try, not after LOCK_WAIT_MS again', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 60_000);
  await s.emitAsync({ ...SIG, body: [1, 'a'] });
  const t0 = performance.now();
  await s.emitAsync({ ...SIG, body: [2, 'b'] });
  const took = performance.now() - t0;
  h.release();
  assert.ok(took < A.LOCK_WAIT_MS / 2, `the second one did not wait LOCK_WAIT_MS again: ${took.toFixed(0)} ms`);
  assert.equal(drain(subs[2]!).items, [[1, 'a'], [2, 'b']]);
  assert.equal(drain(subs[1]!).items, []);
  assert.is(subs[1]!.lastDropped, 2, 'both losses counted');
  drain(subs[0]!);
  // let go: the next one is delivered there again
  await s.emitAsync({ ...SIG, body: [3, 'c'] });
  for (const c of subs) assert.equal(drain(c).items, [[3, 'c']]);
  s.close(); for (const c of subs) c.close(); j.close();
});

t('the metadata of a broadcast set aside is the one collected at its call, at every subscriber, whatever the provider says meanwhile; the next message collects anew', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  mock.setIdentity({ comm: 'before' });
  const s = bus.connect();
  const subs = [0, 1, 2].map(() => bus.connect({ attachRecv: ['tidComm', 'creds', 'timestamp'] }));
  for (const c of subs) c.addMatch({ type: 'signal', interface: SIG.interface });
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 10_000);
  const p = s.emitAsync({ ...SIG, body: [1, 'x'] });
  await new Promise((r) => setTimeout(r, 20));
  mock.setIdentity({ comm: 'after', creds: { uid: 4242 } });
  s.sendText(subs[2]!.id, 'between'); // (collects the new identity, under a new epoch, into the same metadata block)
  h.release();
  await p;
  const seen = subs.map((c) => { const out: string[] = []; for (let m = c.recv(); m; m = c.recv()) { out.push(`${m.dbus ? 'signal' : m.text()} ${m.tidComm} ${m.creds?.uid} ${m.timestamp?.seqnum}`); m.free(); } return out; });
  const [sig0] = seen[0]!;
  assert.match(sig0!, /^signal before \d+ \d+$/, sig0);
  assert.equal(seen[1], [sig0], 'subscriber 1: the call\'s metadata and seqnum');
  assert.is(seen[2]![0]!.split(' ').slice(0, 3).join(' '), 'between after 4242', 'the send between: the new identity');
  assert.equal(seen[2]![1], sig0, 'subscriber 2: the call\'s metadata and seqnum');
  s.sendText(subs[2]!.id, 'next');
  const m = subs[2]!.recv()!;
  assert.equal([m.text(), m.tidComm, m.creds?.uid], ['next', 'after', 4242], 'the next message: the provider\'s identity now');
  m.free();
  s.close(); for (const c of subs) c.close(); j.close();
});

t('a raw send of the thread reserved when the broadcast goes on: it waits for the commit, then goes (it failed EINPROGRESS part way in the first version: a review of stop 67)', async ({ bus, mock, raw }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const rx = bus.connect();
  hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 20);
  let end = 'pending';
  const p = outcome(s.emitAsync({ ...SIG, body: [1, 'x'] })).then((v) => { end = String(v); });
  raw.writeSend({ msg: { dst: rx.id }, items: [hostVec(8)] });
  assert.is(bus.engine.send(s.slot, s.gen), A.SEND_PENDING);
  await new Promise((r) => setTimeout(r, 60)); // (the lock let go at 20 ms; the broadcast's timers fire meanwhile)
  assert.is(end, 'pending', 'it waits for the raw send');
  assert.is(bus.engine.sendCommit(), 0);
  await p;
  assert.ok(Number(end) > 0, end);
  for (const c of subs) assert.equal(drain(c).items, [[1, 'x']]);
  for (let m = rx.recv(); m; m = rx.recv()) m.free();
  s.close(); rx.close(); for (const c of subs) c.close(); j.close();
});

t('a broadcast larger than the command area (staged) waiting its turn behind one set aside goes after it, with its own bytes', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const big = 'y'.repeat(40_000);
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 10_000);
  const p1 = s.emitAsync({ ...SIG, body: [1, 'small'] });
  const p2 = s.emitAsync({ ...SIG, body: [2, big] });
  s.emit({ ...SIG, body: [9, 'z'.repeat(100)], destination: subs[0]!.id }); // (another encoding meanwhile)
  await new Promise((r) => setTimeout(r, 20));
  h.release();
  await Promise.all([p1, p2]);
  for (const c of subs.slice(1)) assert.equal(drain(c).items.map((x) => [x[0], x[1].length]), [[1, 5], [2, 40_000]]);
  assert.equal(drain(subs[0]!).items.map((x) => x[0]), [1, 9, 2]);
  s.close(); for (const c of subs) c.close(); j.close();
});

t('a burst of broadcasts past a subscriber passed over a moment ago leaves the event loop its turns (it ran on microtasks alone, 0 timer ticks in 562 ms for 50: a review of stop 67)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 60_000);
  await s.emitAsync({ ...SIG, body: [0, 'first'] }); // (passed over after LOCK_WAIT_MS)
  let ticks = 0;
  const iv = setInterval(() => { ticks++; }, 1);
  const { gapMs } = await stall(async () => { for (let i = 1; i <= 60; i++) await s.emitAsync({ ...SIG, body: [i, 'burst'] }); });
  clearInterval(iv);
  h.release();
  assert.ok(ticks > 10, `timers ran during the burst: ${ticks} ticks`);
  // (a bound against LOCK_WAIT_MS per broadcast, emit()'s blocking wait, not a speed: 200 ms
  // failed once, 239 ms, with a second test run beside it on the 2-vCPU machine, stop 69)
  assert.ok(gapMs < A.LOCK_WAIT_MS / 2, `longest stall ${gapMs.toFixed(1)} ms`);
  assert.is(drain(subs[2]!).items.length, 61);
  assert.equal(drain(subs[1]!).items, []);
  assert.is(subs[1]!.lastDropped, 61, 'every loss counted');
  drain(subs[0]!);
  s.close(); for (const c of subs) c.close(); j.close();
});

t('a subscriber passed over once, later held a moment by a thread with the same id: delivered, not passed over from memory (it was lost: a review of stop 67)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const holder = j.engine.threadSlot + 1;
  const h = hold(bus.engine.i32, lockOf(subs[1]!), holder, 60_000);
  await s.emitAsync({ ...SIG, body: [1, 'lost'] });
  h.release();
  assert.is(drain(subs[1]!).items.length, 0);
  assert.is(subs[1]!.lastDropped, 1);
  for (let i = 2; i <= 5; i++) await s.emitAsync({ ...SIG, body: [i, 'ok'] });
  hold(bus.engine.i32, lockOf(subs[1]!), holder, 40); // the same id, a moment
  await s.emitAsync({ ...SIG, body: [6, 'late'] });
  assert.equal(drain(subs[1]!).items.map((x) => x[0]), [2, 3, 4, 5, 6], 'delivered');
  assert.is(subs[1]!.lastDropped, 0, 'no loss since');
  drain(subs[0]!); drain(subs[2]!);
  s.close(); for (const c of subs) c.close(); j.close();
});

t('a subscriber stuck while the bus lock (NAME rules) is taken now and then: the broadcast still ends after about LOCK_WAIT_MS, the subscriber passed over and the rest delivered (the stop moving between the two locks restarted its time for good, and a pass-over meeting the bus lock ended it with EDEADLK: reviews of stop 67)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const j2 = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  s.requestName('org.example.Src');
  const named = bus.connect();
  named.addMatch({ type: 'signal', sender: 'org.example.Src', interface: SIG.interface }); // (a NAME rule: the walk takes the bus lock)
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 60_000);
  const i32 = bus.engine.i32, busWord = (A.BUS_BASE + A.BUS_LOCK) >>> 2, h2 = j2.engine.threadSlot + 1;
  const p = outcome(s.emitAsync({ ...SIG, body: [1, 'a'] }));
  let n = 0;
  const iv = setInterval(() => {
    // taken on every other tick (2 ms of every 4), let go between
    if (n++ % 2 === 0) Atomics.compareExchange(i32, busWord, 0, h2);
    else letGo();
  }, 2);
  // (the word may carry the waiters bit beside the holder)
  const letGo = (): void => { if ((Atomics.load(i32, busWord) & A.LOCK_ID_MASK) === h2) { Atomics.store(i32, busWord, 0); Atomics.notify(i32, busWord); } };
  const t0 = performance.now();
  const r = await Promise.race([p, new Promise((res) => setTimeout(() => res('still waiting'), A.LOCK_WAIT_MS * 4))]);
  const took = performance.now() - t0;
  clearInterval(iv);
  letGo();
  h.release();
  await p;
  // (a pass-over that meets the bus lock taken for a moment is tried again: emit() ended
  // with EDEADLK there, the rest not getting it, which the first versions did too)
  assert.ok(typeof r === 'number', `resolved: ${String(r)} after ${took.toFixed(0)} ms`);
  assert.ok(took < A.LOCK_WAIT_MS * 3, `ended after about LOCK_WAIT_MS: ${took.toFixed(0)} ms`);
  assert.equal(drain(subs[1]!).items, []);
  assert.is(subs[1]!.lastDropped, 1, 'passed over, its loss counted');
  assert.equal(drain(subs[2]!).items, [[1, 'a']], 'the subscriber after it got it');
  drain(subs[0]!); drain(named);
  s.close(); named.close(); for (const c of subs) c.close(); j.close(); j2.close();
});

t('a broadcast that delivered part way and then failed keeps its cookie used: the next signal gets the next one', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  s.requestName('org.example.Src');
  const named = bus.connect();
  named.addMatch({ type: 'signal', sender: 'org.example.Src', interface: SIG.interface });
  const holder = j.engine.threadSlot + 1;
  const h = hold(bus.engine.i32, lockOf(subs[1]!), holder, 60_000);
  const p = outcome(s.emitAsync({ ...SIG, body: [1, 'a'] }));
  await new Promise((r) => setTimeout(r, 20));
  const got0 = subs[0]!.recv()!;
  const cookie = got0.cookie;
  got0.free();
  // the bus lock stuck now: the broadcast cannot go on past subs[1] (EDEADLK, R_BCAST_BUS_LOCK)
  const hb = hold(bus.engine.i32, (A.BUS_BASE + A.BUS_LOCK) >>> 2, holder, 60_000);
  h.release();
  assert.is(await p, 'EDEADLK');
  hb.release();
  const next = s.emit({ ...SIG, body: [2, 'b'] });
  assert.ok(next > cookie, `the next cookie ${next} is after the one delivered, ${cookie}`);
  for (const c of [...subs, named]) drain(c);
  s.close(); named.close(); for (const c of subs) c.close(); j.close();
});

t('two stuck subscribers, and broadcasts some of which they do not take: only the first matching one waits LOCK_WAIT_MS at each (every one did, the memory aged or wiped: a review of stop 67)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const s = bus.connect();
  const subs = [0, 1, 2, 3].map(() => bus.connect());
  for (const c of subs) c.addMatch({ type: 'signal', interface: SIG.interface, member: 'Item' });
  subs[3]!.addMatch({ type: 'signal', interface: SIG.interface, member: 'Other' }); // (a free one takes the others)
  const holder = j.engine.threadSlot + 1;
  const h1 = hold(bus.engine.i32, lockOf(subs[1]!), holder, 60_000), h2 = hold(bus.engine.i32, lockOf(subs[2]!), holder, 60_000);
  const t0 = performance.now();
  await s.emitAsync({ ...SIG, body: [1, 'a'] });
  const first = performance.now() - t0;
  const times: number[] = [];
  for (let i = 2; i <= 5; i++) {
    await s.emitAsync({ ...SIG, member: 'Other', body: [i, 'other'] }); // (goes through: not taken by the stuck two)
    const t1 = performance.now();
    await s.emitAsync({ ...SIG, body: [i, 'b'] });
    times.push(performance.now() - t1);
  }
  h1.release(); h2.release();
  assert.ok(first >= 2 * A.LOCK_WAIT_MS - 100, `the first waited at each: ${first.toFixed(0)} ms`);
  assert.ok(times.every((x) => x < A.LOCK_WAIT_MS / 2), `the next ones did not: ${times.map((x) => x.toFixed(0))} ms`);
  assert.is(subs[1]!.recv(), null); assert.is(subs[2]!.recv(), null);
  assert.is(subs[1]!.lastDropped + subs[2]!.lastDropped, 10, 'every loss counted');
  assert.equal(drain(subs[0]!).items.map((x) => x[0]), [1, 2, 3, 4, 5]);
  drain(subs[3]!);
  s.close(); for (const c of subs) c.close(); j.close();
});

t('seeded random: 60 emitAsync broadcasts and 20 synchronous emits among locks taken and let go at random by a live thread; every subscriber gets each once, the awaitable ones in call order, one seqnum each', async ({ bus, mock }) => {
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

// --- a staged broadcast (larger than the command area), set aside too since stop 69 ---

/**
 * feed()'s sender and subscribers, a second sender, a joined (live) thread holding subscriber
 * 1's lock (`h`), and a holder id of no thread slot (`dead`: not LIVE, as a dead thread's before
 * its recovery)
 */
async function twoSenders(bus: Parameters<typeof feed>[0], mock: MockProvider) {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const s2 = bus.connect();
  const i32 = bus.engine.i32, live = j.engine.threadSlot + 1;
  const dead = bus.engine.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2]! + 1;
  const h = hold(i32, lockOf(subs[1]!), live, 60_000);
  return { j, s, subs, s2, i32, live, dead, h };
}


const BIG = 'y'.repeat(40_000); // (a D-Bus message over the command area: staged in the sender's pool)

t('a staged broadcast at a subscriber\'s lock held 150 ms: set aside (the event loop runs), its staging slice kept in the sender\'s connection meanwhile; every subscriber gets it once, one seqnum, its payload whole (it blocked the thread as emit() does, stop 69)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 150);
  let stagingMeanwhile = -1, usedMeanwhile = -1;
  setTimeout(() => { stagingMeanwhile = s.stats().staging; usedMeanwhile = s.stats().poolUsed; }, 60);
  const t0 = performance.now();
  const { value: cookie, gapMs } = await stall(() => s.emitAsync({ ...SIG, body: [1, BIG] }));
  const took = performance.now() - t0;
  assert.ok(took >= 140, `it waited for the lock (${took.toFixed(0)} ms)`);
  assert.ok(gapMs < A.LOCK_WAIT_MS / 2, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms; before stop 69 it stood still LOCK_WAIT_MS: the timer that lets the lock go could not run)`);
  assert.is(stagingMeanwhile, 1, 'set aside in the sender\'s connection while it waited');
  assert.ok(usedMeanwhile > 40_000, `its slice kept there (${usedMeanwhile} bytes): not copied out and staged again (stop 69)`);
  assert.ok(cookie > 0);
  const got = subs.map(drain);
  for (const [i, g] of got.entries()) {
    assert.equal(g.items.map((x) => [x[0], x[1] === BIG]), [[1, true]], `subscriber ${i} got it once, whole`);
    assert.is(subs[i]!.lastDropped, 0);
  }
  assert.ok(got[0]!.seq[0]! > 0 && got.every((g) => g.seq[0] === got[0]!.seq[0]), `one seqnum for all: ${got.map((g) => g.seq[0])}`);
  assert.is(s.stats().poolUsed, 0, 'nothing left in the sender\'s pool');
  assert.equal(bus.check(), []);
  s.close(); for (const c of subs) c.close(); j.close();
});

t('a staged broadcast set aside while its thread sends a large unicast and a large unicast signal to a subscriber it reached: it goes on with its own bytes and metadata; a subscriber stuck past LOCK_WAIT_MS is passed over, its loss counted, the loop never stalled', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const other = bus.connect();
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 60_000);
  let first0: unknown = null;
  const { value: p, gapMs } = await stall(async () => {
    const p = outcome(s.emitAsync({ ...SIG, body: [1, BIG] }));
    await new Promise((r) => setTimeout(r, 20));
    // meanwhile on this thread: a host-vec unicast and another staged message, each writing
    // the command area, the scratch and the metadata block
    first0 = drain(subs[0]!).items.map((x) => [x[0], x[1].length]);
    s.send(other.id, new Uint8Array(30_000).fill(7));
    s.emit({ ...SIG, body: [2, 'z'.repeat(40_000)], destination: subs[0]!.id });
    return await p;
  });
  h.release();
  assert.ok(typeof p === 'number', String(p));
  assert.ok(gapMs < A.LOCK_WAIT_MS / 2, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms)`);
  const m = other.recv()!;
  assert.is(m.payload.length, 30_000);
  m.free();
  assert.equal(first0, [[1, 40_000]], 'the subscriber before the stop got it before the stop');
  assert.equal(drain(subs[0]!).items.map((x) => [x[0], x[1].length]), [[2, 40_000]]);
  const g2 = drain(subs[2]!);
  assert.equal(g2.items.map((x) => [x[0], x[1] === BIG]), [[1, true]], 'the subscriber after the stuck one got it, whole');
  assert.equal(drain(subs[1]!).items, [], 'passed over');
  assert.is(subs[1]!.lastDropped, 1, 'its loss counted');
  assert.is(s.stats().poolUsed, 0);
  assert.equal(bus.check(), []);
  s.close(); other.close(); for (const c of subs) c.close(); j.close();
});

t('a staged broadcast set aside keeps its slice: the sender\'s pool filled meanwhile does not end it, and it goes on once the subscriber is let go (stop 69 gave the slice back, staged it again, and without room ended with ENOBUFS)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const s = bus.connect({ poolSize: 256 * 1024 });
  const subs = [0, 1, 2].map(() => bus.connect({ attachRecv: ['timestamp'] }));
  for (const c of subs) c.addMatch({ type: 'signal', interface: SIG.interface });
  const filler = bus.connect();
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 60_000);
  const p = outcome(s.emitAsync({ ...SIG, body: [1, BIG] }));
  await new Promise((r) => setTimeout(r, 20));
  assert.is(s.stats().staging, 1, 'set aside');
  // the sender's pool filled by its own user's messages (the quota its staging slice is charged to)
  let n = 0;
  for (;;) { try { filler.send(s.id, new Uint8Array(500)); n++; } catch { break; } }
  assert.ok(n > 0);
  h.release();
  const r = await p;
  assert.ok(typeof r === 'number', `it went on: ${String(r)}`);
  for (const c of subs) assert.equal(drain(c).items.map((x) => x[0]), [1], 'every subscriber got it once');
  assert.is(s.stats().staging, 0);
  for (let m = s.recv(); m; m = s.recv()) m.free();
  assert.is(s.stats().poolUsed, 0);
  s.close(); filler.close(); for (const c of subs) c.close();
  assert.equal(bus.check(), []);
  j.close();
});

t('seeded random: staged and in-memory emitAsync broadcasts and synchronous emits among locks taken and let go at random by a live thread, the thread receiving meanwhile; every subscriber gets each once and whole, the awaitable ones in call order, one seqnum each, the sender\'s pool empty at the end (stop 69)', async () => {
  const r = prng(0x57a6ed);
  // (pools that hold several staged signals queued: the default limits but a larger poolMax)
  const { bus, mock } = await makeBus({ limits: { poolMax: 4 << 20 } });
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const s = bus.connect({ poolSize: 1 << 20 });
  const subs = [0, 1, 2].map(() => bus.connect({ poolSize: 2 << 20, attachRecv: ['timestamp'] }));
  for (const c of subs) c.addMatch({ type: 'signal', interface: SIG.interface });
  const holder = j.engine.threadSlot + 1, held = new Set<number>();
  const letGo = (h: number): void => { const w = lockOf(subs[h]!); Atomics.store(bus.engine.i32, w, 0); Atomics.notify(bus.engine.i32, w); };
  const pending: Promise<unknown>[] = [];
  const got = subs.map(() => [] as { id: number; text: string; seq: number }[]);
  const take = (): void => {
    for (const [i, c] of subs.entries()) {
      if (held.has(i)) continue; // (its lock is the other thread's)
      for (let m: Message | null = c.recv(); m; m = c.recv()) {
        const [id, text] = m.dbus!.body as [number, string];
        got[i]!.push({ id, text, seq: m.timestamp?.seqnum ?? -1 });
        m.free();
      }
    }
  };
  /** the body of broadcast `id`: a staged one's 33-40 KB, each made of its own letter */
  const body = (id: number, big: boolean, kind: string): string => big ? kind + String.fromCharCode(97 + (id % 26)).repeat(33_000 + (id * 997) % 7000) : kind;
  const sent = new Map<number, string>();
  let n = 0, waitedBig = 0;
  for (let step = 0; step < 40; step++) {
    const k = r.int(subs.length);
    if (held.has(k)) { letGo(k); held.delete(k); }
    else if (r.next() < 0.5) { assert.is(Atomics.compareExchange(bus.engine.i32, lockOf(subs[k]!), 0, holder), 0); held.add(k); }
    const id = ++n, big = r.next() < 0.6;
    if (step % 5 === 4) {
      // (a synchronous emit waits blocking for a held lock: let go of them first)
      for (const h of held) letGo(h);
      held.clear();
      sent.set(id, body(id, big, 'sync'));
      s.emit({ ...SIG, body: [id, sent.get(id)!] });
    } else {
      sent.set(id, body(id, big, 'async'));
      const t0 = performance.now();
      pending.push(s.emitAsync({ ...SIG, body: [id, sent.get(id)!] }).then(() => { if (big && performance.now() - t0 > 4) waitedBig++; }));
    }
    if (r.next() < 0.5) await new Promise((res) => setTimeout(res, r.int(8)));
    if (r.next() < 0.3) take();
  }
  for (const h of held) letGo(h);
  await Promise.all(pending);
  take();
  const seqOf = new Map<number, number>();
  for (const [i, g] of got.entries()) {
    assert.is(subs[i]!.droppedTotal, 0, `subscriber ${i} lost nothing`);
    assert.equal(g.map((x) => x.id).sort((a, b) => a - b), Array.from({ length: n }, (_, x) => x + 1), `subscriber ${i}: each once`);
    for (const x of g) assert.ok(x.text === sent.get(x.id), `subscriber ${i}: broadcast ${x.id} whole`);
    const awaited = g.filter((x) => x.text.startsWith('async')).map((x) => x.id);
    assert.equal(awaited, [...awaited].sort((a, b) => a - b), `subscriber ${i}: the awaitable ones in call order`);
    for (const x of g) {
      if (!seqOf.has(x.id)) seqOf.set(x.id, x.seq);
      assert.is(x.seq, seqOf.get(x.id), `broadcast ${x.id}: one seqnum at every subscriber`);
    }
  }
  assert.ok([...sent.values()].filter((v) => v.length > 30_000).length >= 10, 'staged ones among them');
  assert.ok(waitedBig >= 3, `staged ones set aside and gone on with: ${waitedBig}`);
  assert.is(s.stats().poolUsed, 0, 'no staging slice left');
  s.close(); for (const c of subs) c.close(); j.close();
  assert.equal(bus.check(), []);
  bus.close();
});

for (const [what, body] of [['in-memory', 'x'], ['staged', BIG]] as const) {
  for (const lock of ['the sender\'s own lock', 'the bus lock'] as const) {
    t(`${what}: set aside at a subscriber, ${lock} held 150 ms meanwhile by a thread that died and is not recovered yet: every subscriber gets it, nothing left reserved (a staged one ended with EDEADLK, its slice left reserved and the thread's commands saying EINPROGRESS: a review of stop 69)`, async ({ bus, mock }) => {
      const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
      const { s, subs } = feed(bus);
      const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 60_000);
      const p = outcome(s.emitAsync({ ...SIG, body: [1, body] }));
      await new Promise((r) => setTimeout(r, 20));
      // (a holder id past the bus's thread slots: not LIVE, as a dead thread's before its recovery)
      const dead = bus.engine.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2]! + 1;
      hold(bus.engine.i32, lock === 'the bus lock' ? (A.BUS_BASE + A.BUS_LOCK) >>> 2 : lockOf(s), dead, 150);
      setTimeout(() => h.release(), 100);
      const r = await p;
      await new Promise((res) => setTimeout(res, 200)); // (both locks long let go)
      assert.ok(typeof r === 'number', String(r));
      // (a staged one's slice whose free met the sender's lock is left to free, not waited for:
      // the sender's next receive frees it)
      assert.is(s.recv(), null);
      assert.is(s.stats().staging, 0);
      assert.is(s.stats().poolUsed, 0, 'no staging slice left');
      assert.equal(subs.map((c) => drain(c).items.map((x) => x[0])), [[1], [1], [1]]);
      s.close(); for (const c of subs) c.close(); j.close();
      assert.equal(bus.check(), []);
    });
  }
}

t('a staged broadcast\'s pass-over with the sender\'s own lock taken at every try ends (stop 69 staged it again at each try: without end before its second review, EDEADLK after); a slice whose free met that lock is freed by the sender\'s next receive', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const i32 = bus.engine.i32, live = j.engine.threadSlot + 1;
  const h = hold(i32, lockOf(subs[1]!), live, 60_000);
  // (the sender's own lock taken by the live thread at the instant of each pass-over try: a
  // receive of the sender's that comes every time; the Engine's method wrapped for the test)
  const e = bus.engine, orig = e.resumeBroadcast.bind(e);
  let skips = 0;
  e.resumeBroadcast = (p, skip) => {
    if (!skip) return orig(p, skip);
    skips++;
    Atomics.compareExchange(i32, lockOf(s), 0, live);
    try { return orig(p, skip); } finally { Atomics.store(i32, lockOf(s), 0); Atomics.notify(i32, lockOf(s)); }
  };
  try {
    const p = outcome(s.emitAsync({ ...SIG, body: [1, BIG] }));
    const r = await Promise.race([p, new Promise((res) => setTimeout(() => res('still pending'), A.LOCK_WAIT_MS * 5))]);
    assert.ok(typeof r === 'number', `went: ${String(r)} (${skips} pass-over tries)`);
  } finally {
    e.resumeBroadcast = orig;
    h.release();
  }
  assert.is(s.stats().staging, 1, 'its slice\'s free met the sender\'s lock: left to free, the commit not waiting');
  assert.is(s.recv(), null);
  assert.is(s.stats().staging, 0, 'freed by the receive');
  assert.is(s.stats().poolUsed, 0, 'no staging slice left');
  assert.equal(subs.map((c) => drain(c).items.map((x) => x[0])), [[1], [], [1]], 'the stuck subscriber passed over, the others got it');
  assert.is(subs[1]!.lastDropped, 1);
  s.close(); for (const c of subs) c.close(); j.close();
  assert.equal(bus.check(), []);
});

t('a staged broadcast set aside needs neither the bus lock nor its sender\'s lock to be set aside, go on or end: with the bus lock held by a dead thread throughout, it passes the stuck subscriber over and goes; a raw send\'s commit that gave up meanwhile stays reserved for its own retry (stop 69 gave the slice back under the bus lock: EDEADLK, and its timers could cancel the raw send)', async ({ bus, mock }) => {
  const { j, s, subs, s2, i32, dead, h } = await twoSenders(bus, mock);
  const rx = bus.connect(), busWord = (A.BUS_BASE + A.BUS_LOCK) >>> 2;
  const hb = hold(i32, busWord, dead, 60_000);
  const p = outcome(s.emitAsync({ ...SIG, body: [1, BIG] }));
  await new Promise((res) => setTimeout(res, 20));
  // a raw unicast whose commit meets the receiver's lock (a dead holder's): EDEADLK, reserved
  const raw = new Raw(bus.engine);
  raw.writeSend({ msg: { dst: rx.id, cookie: 7 }, items: [hostVec(64)] });
  assert.is(bus.engine.send(s2.slot, s2.gen), A.SEND_PENDING);
  const hr = hold(i32, lockOf(rx), dead, 60_000);
  const was = bus.engine.lockWaitMs;
  bus.engine.lockWaitMs = 5;
  try { assert.is(bus.engine.sendCommit(), -A.EDEADLK, 'the raw commit gave up'); } finally { bus.engine.lockWaitMs = was; }
  hr.release();
  assert.is(bus.engine.sendCommit(), 0, 'still reserved: committed now (API.md: the next send cancels it)');
  const r = await p;
  hb.release();
  assert.ok(typeof r === 'number', `it went: ${String(r)}`);
  const m = rx.recv()!;
  assert.is(m.cookie, 7);
  m.free();
  h.release();
  assert.equal(subs.map((c) => drain(c).items.map((x) => x[0])), [[1], [], [1]], 'the stuck subscriber passed over, the others got it');
  assert.is(s.stats().poolUsed, 0, 'its slice freed');
  s.close(); s2.close(); rx.close(); for (const c of subs) c.close(); j.close();
  assert.equal(bus.check(), []);
});

t('a staged broadcast\'s slice whose return meets a dead holder\'s bus lock, beside another connection\'s in-memory broadcast set aside on the same thread: both go on once the lock is let go, every subscriber gets both, nothing left reserved (the other\'s cancel unmarked the slice: both ended, the slice reserved with no timer left, a third review of stop 69)', async ({ bus, mock }) => {
  const { j, s, subs, s2, i32, dead, h } = await twoSenders(bus, mock);
  const pB = outcome(s2.emitAsync({ ...SIG, body: [2, 'small'] }));
  await new Promise((r) => setTimeout(r, 20));
  hold(i32, (A.BUS_BASE + A.BUS_LOCK) >>> 2, dead, 150);
  const pA = outcome(s.emitAsync({ ...SIG, body: [1, BIG] }));
  setTimeout(() => h.release(), 300);
  const [rA, rB] = await Promise.all([pA, pB]);
  assert.ok(typeof rA === 'number' && typeof rB === 'number', `both went: ${String(rA)}, ${String(rB)}`);
  await new Promise((res) => setTimeout(res, 100));
  assert.is(s.stats().poolUsed, 0, 'no staging slice left');
  for (const [i, c] of subs.entries()) assert.equal(drain(c).items.map((x) => x[0]).sort(), [1, 2], `subscriber ${i}`);
  s.close(); s2.close(); for (const c of subs) c.close(); j.close();
  assert.equal(bus.check(), []);
});

t('a staged emitAsync whose first try finds the thread\'s last staging slice still reserved (its return met a dead holder\'s bus lock) waits for it from timers, then goes: both broadcasts reach everyone (it failed EDEADLK, or waited LOCK_WAIT_MS blocking: a fourth review of stop 69)', async ({ bus, mock }) => {
  const { j, s, subs, s2, i32, dead, h } = await twoSenders(bus, mock);
  hold(i32, (A.BUS_BASE + A.BUS_LOCK) >>> 2, dead, 150);
  const pA = outcome(s.emitAsync({ ...SIG, body: [1, BIG] }));
  setTimeout(() => h.release(), 300);
  const { value: rB, gapMs } = await stall(() => outcome(s2.emitAsync({ ...SIG, body: [2, BIG] })));
  const rA = await pA;
  assert.ok(typeof rA === 'number' && typeof rB === 'number', `both went: ${String(rA)}, ${String(rB)}`);
  assert.ok(gapMs < A.LOCK_WAIT_MS / 2, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms)`);
  await new Promise((res) => setTimeout(res, 100));
  assert.is(s.stats().poolUsed + s2.stats().poolUsed, 0, 'no staging slice left');
  // (a 256 KiB pool's quota for one user holds one of these: the other one is dropped, and counted)
  for (const [i, c] of subs.entries()) {
    const got = drain(c).items.map((x) => x[0]);
    assert.ok(got.every((x) => x === 1 || x === 2) && new Set(got).size === got.length, `subscriber ${i}: ${got}`);
    assert.is(got.length + c.droppedTotal, 2, `subscriber ${i}: each received or counted lost`);
  }
  s.close(); s2.close(); for (const c of subs) c.close(); j.close();
  assert.equal(bus.check(), []);
});

t('a staged broadcast set aside beside a raw send whose commit gave up (its receiver\'s lock held): the broadcast\'s tries wait for that reservation from timers, never blocking the loop (it waited LOCK_WAIT_MS blocking: a fourth review of stop 69), and settle', async ({ bus, mock }) => {
  const { j, s, subs, s2, i32, live, h } = await twoSenders(bus, mock);
  const rx = bus.connect();
  let hr: { release: () => void } | null = null;
  const { value: rA, gapMs } = await stall(async () => {
    const pA = outcome(s.emitAsync({ ...SIG, body: [1, BIG] }));
    await new Promise((res) => setTimeout(res, 20));
    const raw = new Raw(bus.engine);
    raw.writeSend({ msg: { dst: rx.id, cookie: 7 }, items: [hostVec(64)] });
    assert.is(bus.engine.send(s2.slot, s2.gen), A.SEND_PENDING);
    hr = hold(i32, lockOf(rx), live, 60_000);
    const was = bus.engine.lockWaitMs;
    bus.engine.lockWaitMs = 5;
    try { assert.is(bus.engine.sendCommit(), -A.EDEADLK, 'the raw commit gave up'); } finally { bus.engine.lockWaitMs = was; }
    setTimeout(() => h.release(), 300);
    return await pA;
  });
  hr!.release();
  assert.ok(gapMs < A.LOCK_WAIT_MS / 2, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms)`);
  assert.ok(rA === 'EDEADLK' || typeof rA === 'number', String(rA));
  if (bus.engine.sendCancel() !== 0) { /* (the raw reservation: cancelled by the broadcast's tries, or now) */ }
  for (let m = rx.recv(); m; m = rx.recv()) m.free();
  await new Promise((res) => setTimeout(res, 100));
  assert.is(s.stats().poolUsed, 0, 'no staging slice left');
  for (const c of subs) drain(c);
  s.close(); s2.close(); rx.close(); for (const c of subs) c.close(); j.close();
  assert.equal(bus.check(), []);
});

t('a staged broadcast set aside ends with ECONNRESET when its connection closes, with nothing reserved or leaked', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  const h = hold(bus.engine.i32, lockOf(subs[1]!), j.engine.threadSlot + 1, 60_000);
  const p = outcome(s.emitAsync({ ...SIG, body: [1, BIG] }));
  await new Promise((r) => setTimeout(r, 20));
  s.close(); // (nothing reserved: the close goes through)
  assert.is(await p, 'ECONNRESET');
  h.release();
  assert.equal(drain(subs[0]!).items.map((x) => x[0]), [1]);
  assert.equal([drain(subs[1]!).items, drain(subs[2]!).items], [[], []]);
  assert.equal(bus.check(), []);
  for (const c of subs) c.close(); j.close();
});

t('a staged broadcast whose first try finds the sender\'s own lock held (a worker dead but not recovered yet, its slot still LIVE) is tried again from timers: the event loop runs, the holder\'s release (here a timer) comes, and every subscriber gets it (it waited LOCK_WAIT_MS blocking, then EDEADLK: a user check of stop 70)', async ({ bus, mock }) => {
  const j = await Bus.join(bus.handle(), { provider: mock, engine: ENGINE });
  const { s, subs } = feed(bus);
  hold(bus.engine.i32, lockOf(s), j.engine.threadSlot + 1, 150);
  const { value: r, gapMs } = await stall(() => outcome(s.emitAsync({ ...SIG, body: [1, BIG] })));
  assert.ok(typeof r === 'number', String(r));
  assert.ok(gapMs < A.LOCK_WAIT_MS / 2, `the event loop ran meanwhile (longest stall ${gapMs.toFixed(1)} ms)`);
  assert.equal(subs.map((c) => drain(c).items.map((x) => x[0])), [[1], [1], [1]]);
  assert.is(s.recv(), null);
  assert.is(s.stats().poolUsed, 0);
  s.close(); for (const c of subs) c.close(); j.close();
  assert.equal(bus.check(), []);
});

t.run();
