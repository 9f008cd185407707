// A thread's waits on one word (js/host/wait-group.ts, WaitGroup; js/host/deadlines.ts): one
// waitAsync for all of them, counted once in the word's sleepers; a wake-up wakes as many of
// them as its owner says there are messages, oldest first, the others once those have looked;
// a deadline or an owner ends its wait alone. Before stop 60 each wait parked its own waitAsync
// and a publish woke them all (1 000 parked receives of one connection: ~1 000 wake-ups per
// message). Driven on a word of its own in shared memory, with a sleepers count beside it and a
// queue of plain numbers, as a connection's wake word, its sleepers count and its queue are.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bump } from '../../js/host/wait.ts';
import { endWait, waitIn, waitWord, WaitGroup, type GroupWait } from '../../js/host/wait-group.ts';
import { prng, seedsFromEnv } from '../helpers/diffkit.ts';
import { notifyWord } from '../../js/host/sleepers.ts';
import { deadlineStats } from '../../js/host/deadlines.ts';
import { Bus, MockProvider } from '../../js/index.ts';

const WORD = 0, SLEEPERS = 1;
const fresh = (): Int32Array => new Int32Array(new SharedArrayBuffer(8));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// (a waitAsync and the deadline timer keep no thread alive: keepalive.ts is the library's
// hold, above the waits; a timer of the suite's keeps this one alive meanwhile)
let keep: ReturnType<typeof setInterval> | undefined;
test.before(() => { keep = setInterval(() => {}, 1000); });
test.after(() => { clearInterval(keep); });

/**
 * A connection's part in this: its wake word, its queue (each receiver takes what `accepts`
 * says), the group with the queue's length as its `more`. `counted` (the default): the word
 * moves by one per value queued, as a connection's wake word does since BUS_VERSION 20
 * (abi.ts, WAKE_UNCOUNTED), and the group is told so; false: a group that cannot rely on it.
 */
class Conn {
  readonly i32 = fresh();
  readonly queue: number[] = [];
  readonly group: WaitGroup;
  /** receives tell the group what they took (WaitGroup.took), as a connection's do */
  tells = true;
  constructor(counted = true) {
    this.group = new WaitGroup(this.i32, WORD, SLEEPERS, () => this.queue.length, counted ? () => 0 : null);
  }
  /** waits woken before their time that found nothing they take */
  empty = 0;
  publish(v: number): void {
    this.queue.push(v);
    bump(this.i32, WORD, SLEEPERS);
  }
  /** values queued under one lock hold: the word moved by their number at once, one notify (the core's unlock) */
  publishBatch(vs: number[]): void {
    this.queue.push(...vs);
    Atomics.add(this.i32, WORD, vs.length);
    if (Atomics.load(this.i32, SLEEPERS) !== 0) notifyWord(this.i32, WORD, SLEEPERS);
  }
  /** a receive: look (the word read first), else wait in the group and look again; `timeout` ms in all (null when it passed, or `ctl` aborted it: endWait) */
  /** `limit`: the priority limit `accepts` stands for, as a connection's receive tells its group (NaN: a rule of its own) */
  async recv(accepts: (v: number) => boolean = () => true, timeout = 5000, ctl?: { w: GroupWait | null; aborted: boolean }, limit = NaN): Promise<number | null> {
    const end = performance.now() + timeout;
    let emptyFrom = NaN;
    for (let first = true; ; first = false) {
      if (ctl?.aborted) return null;
      const seen = Atomics.load(this.i32, WORD);
      const k = this.queue.findIndex(accepts);
      if (k >= 0) {
        // (as a connection's receive tells its group: what it takes came after its last empty look)
        if (this.tells && !first) this.group.took(emptyFrom);
        return this.queue.splice(k, 1)[0];
      }
      emptyFrom = seen;
      const left = end - performance.now();
      if (left <= 0) return null;
      if (!first) this.empty++; // (woken with time left, nothing to take)
      await new Promise<void>((resolve) => {
        const w = waitIn(this.group, seen, left, () => resolve(), false, this.group.ticket(), true, limit);
        if (ctl) ctl.w = w;
      });
      if (ctl) ctl.w = null;
    }
  }
  sleepers(): number { return Atomics.load(this.i32, SLEEPERS); }
}

/** up to `ms` for `cond` (a woken wait runs in a task of its own) */
async function until(cond: () => boolean, ms = 1000): Promise<boolean> {
  for (const end = performance.now() + ms; !cond() && performance.now() < end;) await sleep(1);
  return cond();
}

test('100 receives parked on one word: one waitAsync, counted once; 100 messages one by one wake one receive each, in the order they parked', async () => {
  const c = new Conn();
  const got: (number | null)[] = [];
  const rs = Array.from({ length: 100 }, (_, k) => c.recv().then((v) => { got[k] = v; }));
  assert.is(c.group.size, 100);
  assert.is(c.sleepers(), 1, 'one wait of the thread for all');
  const w0 = c.group.woken;
  for (let i = 0; i < 100; i++) {
    c.publish(i);
    assert.is(c.sleepers(), 0, 'the publish took it off');
    assert.ok(await until(() => got[i] !== undefined), `message ${i} taken`);
  }
  await Promise.all(rs);
  assert.equal(got, Array.from({ length: 100 }, (_, i) => i), 'the oldest receive first, each its own message');
  // (before stop 60: each publish woke every receive still parked, ~5 000 wake-ups)
  assert.is(c.group.woken - w0, 100, 'one wake-up per message');
  assert.is(c.empty, 0, 'no receive woken for nothing');
  assert.is(c.sleepers(), 0);
  assert.is(deadlineStats().pending, 0);
});

test('a burst of 30 messages wakes 30 of 50 parked receives at once; the other 20 stay parked, counted once', async () => {
  const c = new Conn();
  let n = 0;
  const rs = Array.from({ length: 50 }, () => c.recv().then((v) => { if (v !== null) n++; return v; }));
  for (let i = 0; i < 30; i++) c.publish(i);
  assert.ok(await until(() => n === 30), `${n} of 30 taken`);
  assert.ok(await until(() => c.sleepers() === 1), 'the rest parked again');
  assert.is(c.group.size, 20);
  assert.is(c.empty, 0, 'none woken for nothing');
  for (let i = 30; i < 50; i++) c.publish(i);
  await Promise.all(rs);
  assert.is(n, 50);
  assert.is(c.sleepers(), 0);
});

test('a woken receive that cannot take the message (another\'s): the next one is woken a step later', async () => {
  const c = new Conn();
  // the older receive takes only even numbers, the younger anything
  const even = c.recv((v) => v % 2 === 0, 3000);
  const any = c.recv();
  c.publish(1);
  const t0 = performance.now();
  assert.is(await any, 1, 'the younger took it');
  assert.ok(performance.now() - t0 < 500, 'within a step or two, not at a timeout');
  assert.is(c.empty, 1, 'the older woke once, found nothing it takes, and parked again');
  assert.is(c.group.size, 1);
  c.publish(2);
  assert.is(await even, 2);
  assert.is(c.sleepers(), 0);
});

test('a member woken always: woken by a move of the word that queued nothing; the others sleep on', async () => {
  const c = new Conn();
  const plain = c.recv(() => true, 3000);
  let woke = 0;
  const seen = Atomics.load(c.i32, WORD);
  waitIn(c.group, seen, 3000, () => { woke++; }, true);
  assert.is(c.sleepers(), 1);
  bump(c.i32, WORD, SLEEPERS); // (a move with nothing queued: a call's end dropped)
  assert.ok(await until(() => woke === 1), 'the member woken always was woken');
  assert.ok(await until(() => c.sleepers() === 1), 'the plain one parked again');
  assert.is(c.empty, 0, 'and was not woken');
  c.publish(7);
  assert.is(await plain, 7);
});

test('a notify that moves nothing wakes every member (as any notify did)', async () => {
  const c = new Conn();
  const rs = [c.recv(() => true, 300), c.recv(() => true, 300), c.recv(() => true, 300)];
  notifyWord(c.i32, WORD, SLEEPERS);
  assert.ok(await until(() => c.empty === 3), `${c.empty} of 3 woken`);
  assert.equal(await Promise.all(rs), [null, null, null]);
  assert.is(c.sleepers(), 0);
});

test('timed waits on one word, timeouts 15 to 150 ms: each ends at its own time, none before it, none woken by the others\' expiries', async () => {
  const i32 = fresh();
  const t0 = performance.now();
  const ends = await Promise.all(Array.from({ length: 10 }, (_, k) => {
    const ms = 15 * (k + 1);
    return waitWord(i32, WORD, 0, ms, SLEEPERS).then(() => ({ ms, at: performance.now() - t0 }));
  }));
  for (const e of ends) assert.ok(e.at >= e.ms, `the ${e.ms} ms wait ended after ${e.at.toFixed(1)} ms (${ends.map((x) => x.at.toFixed(0)).join(', ')})`);
  assert.ok(await until(() => Atomics.load(i32, SLEEPERS) === 0), 'the last one\'s end took the thread\'s wait off');
  assert.is(deadlineStats().pending, 0);
});

test('300 expiries beside a long receive: the long one never woken, counted once all along; its message still comes', async () => {
  const c = new Conn();
  const long = c.recv(() => true, 5000);
  let max = 0;
  for (let round = 0; round < 3; round++) {
    const rs = Array.from({ length: 100 }, (_, k) => c.recv(() => true, 2 + k * 2).then((v) => { max = Math.max(max, c.sleepers()); return v; }));
    assert.ok((await Promise.all(rs)).every((v) => v === null), 'each timed out');
  }
  assert.is(c.empty, 0, 'no receive woken by another\'s expiry');
  assert.is(max, 1, 'counted once all along');
  assert.is(c.group.size, 1);
  c.publish(9);
  assert.is(await long, 9);
  assert.is(c.sleepers(), 0);
});

test('the last member ended by its owner: the group\'s waitAsync notified away at once; the next member parks its own, and a publish wakes it', async () => {
  const c = new Conn();
  let done = 0;
  const w = waitIn(c.group, Atomics.load(c.i32, WORD), Infinity, () => { done++; });
  assert.ok(w !== null);
  assert.is(c.sleepers(), 1);
  endWait(w);
  assert.is(done, 1, 'its done called at once');
  assert.is(c.sleepers(), 0, 'nothing counted once no wait is parked');
  // (the old waitAsync's resolution is still to come: it must not disturb the new member)
  const r = c.recv();
  assert.is(c.sleepers(), 1, 'a waitAsync of its own');
  await sleep(5);
  assert.is(c.group.size, 1, 'still parked after the old resolution');
  c.publish(3);
  assert.is(await r, 3);
  assert.is(c.empty, 0);
});

test('values every parked receive refuses, queued: each value they take wakes one receive, not one per refused value (counted word); a group that cannot count wakes up to that many', async () => {
  for (const counted of [true, false]) {
    const c = new Conn(counted);
    const refused = Array.from({ length: 50 }, (_, i) => 1000 + i);
    c.publishBatch(refused); // (queued before the receives look: each looks at them and refuses them)
    const got: (number | null)[] = [];
    const rs = Array.from({ length: 20 }, (_, k) => c.recv((v) => v < 1000).then((v) => { got[k] = v; }));
    assert.is(c.group.size, 20);
    const w0 = c.group.woken, e0 = c.empty;
    for (let i = 0; i < 20; i++) {
      c.publish(i);
      assert.ok(await until(() => got[i] !== undefined), `${counted}: value ${i} taken`);
      assert.ok(await until(() => c.group.size === 19 - i), `${counted}: the others parked again`);
    }
    await Promise.all(rs);
    assert.equal(got, Array.from({ length: 20 }, (_, i) => i), `${counted}: the oldest receive first, each its own value`);
    assert.equal(c.queue, refused, `${counted}: the refused values still queued`);
    if (counted) {
      // (stop 60: each publish woke up to 51 of them, each refused the 50 again)
      assert.is(c.group.woken - w0, 20, 'one wake-up per value taken');
      assert.is(c.empty - e0, 0, 'no receive woken for the refused values');
    } else {
      assert.ok(c.group.woken - w0 > 100, `uncounted: ${c.group.woken - w0} wake-ups for 20 values`);
    }
    assert.is(c.sleepers(), 0);
  }
});

test('a batch that moves the word by its number: that many receives woken at once, beside refused values; a move past any count (a recovery\'s) wakes as many as are queued', async () => {
  const c = new Conn();
  c.publishBatch([1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007]); // (refused by all)
  let n = 0;
  const rs = Array.from({ length: 12 }, () => c.recv((v) => v < 1000, 3000).then((v) => { if (v !== null) n++; return v; }));
  const w0 = c.group.woken;
  c.publishBatch([1, 2, 3]);
  assert.ok(await until(() => n === 3), `${n} of 3 taken`);
  assert.ok(await until(() => c.sleepers() === 1), 'the rest parked again');
  assert.is(c.group.woken - w0, 3, 'three woken for the batch of three, not eleven');
  assert.is(c.empty, 0);
  // a move of the word by 0x10000 (abi.ts WAKE_UNCOUNTED: a dead holder's lock released): the 9 stale ones look (8 refused queued + 1)
  c.queue.push(4);
  Atomics.add(c.i32, WORD, 0x10000);
  notifyWord(c.i32, WORD, SLEEPERS);
  assert.ok(await until(() => n === 4), 'the new value taken');
  assert.ok(await until(() => c.group.size === 8 && c.sleepers() === 1), 'the rest parked again');
  assert.is(c.group.woken - w0, 3 + 9, 'all nine woken (up to what is queued)');
  for (let i = 5; i < 13; i++) c.publish(i);
  await Promise.all(rs);
  assert.is(n, 12);
  assert.is(c.sleepers(), 0);
});

test('a member whose look did not happen (a lock was busy): what the word counted before its wait is new to it, and it is woken with the refusers', async () => {
  const c = new Conn();
  c.publishBatch(Array.from({ length: 20 }, (_, i) => 1000 + i));
  const refusers = Array.from({ length: 5 }, () => c.recv((v) => v < 1000, 3000));
  let blindWoke = 0;
  const w = waitIn(c.group, Atomics.load(c.i32, WORD), 3000, () => { blindWoke++; }, false, c.group.ticket(), false);
  assert.ok(w !== null);
  assert.is(c.group.size, 6);
  c.publish(1020); // (refused by the five: alone, it would wake one)
  assert.ok(await until(() => blindWoke === 1), 'the member that had not looked was woken by the first publish');
  assert.ok(await until(() => c.group.size === 5 && c.sleepers() === 1), 'the refusers parked again');
  c.publishBatch([1, 2, 3, 4, 5]);
  assert.equal((await Promise.all(refusers)).sort(), [1, 2, 3, 4, 5]);
  assert.is(c.sleepers(), 0);
});

for (const engine of ['wasm', 'twin'] as const) {
  test(`a connection's receives with a priority limit beside 50 messages they refuse (${engine}): each message they take wakes one receive; a sendMany of 4 wakes four`, async () => {
    const bus = await Bus.create({ engine, provider: new MockProvider() });
    const a = bus.connect(), b = bus.connect();
    const enc = (x: string) => new TextEncoder().encode(x);
    assert.is(a.sendMany(b.id, Array.from({ length: 50 }, (_, i) => enc(`low${i}`)), { priority: 5 }), 50);
    const got: string[] = [];
    const ps = Array.from({ length: 24 }, (_, k) => b.recvAsync({ priority: 0, timeout: 5000 }).then((m) => { got[k] = m.text(); m.free(); }));
    await sleep(5);
    const g = b.waitGroup, w0 = g.woken;
    for (let i = 0; i < 20; i++) {
      a.sendText(b.id, `m${i}`);
      assert.ok(await until(() => got[i] !== undefined), `m${i} taken`);
      assert.ok(await until(() => g.size === 23 - i), 'the others parked again');
    }
    // (stop 60: each woke up to 51 of them, each looked at the 50 and refused them again)
    assert.is(g.woken - w0, 20, 'one wake-up per message');
    assert.is(a.sendMany(b.id, [enc('m20'), enc('m21'), enc('m22'), enc('m23')]), 4);
    await Promise.all(ps);
    assert.is(g.woken - w0, 24, 'four for the batch of four');
    assert.equal(got, Array.from({ length: 24 }, (_, i) => `m${i}`));
    for (let i = 0; i < 50; i++) b.recv()!.free();
    a.close(); b.close();
    bus.close();
  });

  test(`a connection's receives with \`priority: 0\` parked before a plain receive loop (${engine}): a message only the loop takes wakes at most two, not the thirty`, async () => {
    const bus = await Bus.create({ engine, provider: new MockProvider() });
    const a = bus.connect(), b = bus.connect();
    const olds = Array.from({ length: 30 }, () => b.recvAsync({ priority: 0, timeout: 5000 }).then((m) => { m.free(); }));
    await sleep(5);
    const looped: string[] = [];
    let on = true;
    const loop = (async () => {
      while (on) { try { const m = await b.recvAsync({ timeout: 300 }); looped.push(m.text()); m.free(); } catch { /* (its timeout, at the end) */ } }
    })();
    await sleep(5);
    const g = b.waitGroup, w0 = g.woken;
    for (let i = 0; i < 20; i++) {
      a.sendText(b.id, `m${i}`, { priority: 3 });
      assert.ok(await until(() => looped.length === i + 1), `m${i} taken`);
    }
    // (stop 61's first version: the thirty woken one by one, a macrotask each, for every message)
    const per = (g.woken - w0) / 20;
    assert.ok(per <= 2.1, `${per} wake-ups per message`);
    on = false;
    await loop;
    for (let i = 0; i < 30; i++) a.sendText(b.id, `u${i}`, { priority: 0 });
    await Promise.all(olds);
    a.close(); b.close();
    bus.close();
  });
}

test('receives with a priority limit parked before a plain receive loop: a message only the loop takes wakes the oldest of them once and then the loop, not each of them in turn', async () => {
  const c = new Conn();
  // values are priorities here (v % 10): the older receives take 0 only, the loop anything
  const prio0 = (v: number) => v % 10 === 0;
  const got0: number[] = [], looped: number[] = [];
  const olds = Array.from({ length: 30 }, () => c.recv(prio0, 5000, undefined, 0).then((v) => { if (v !== null) got0.push(v); }));
  let loopOn = true;
  const loop = (async () => { while (loopOn) { const v = await c.recv(() => true, 200, undefined, Infinity); if (v !== null) looped.push(v); } })();
  await sleep(5);
  const w0 = c.group.woken;
  for (let i = 0; i < 20; i++) {
    c.publish(i * 10 + 3);
    assert.ok(await until(() => looped.length === i + 1), `value ${i} taken by the loop`);
  }
  // (before: each message woke the 30 older ones one by one, a macrotask each, before the loop)
  const per = (c.group.woken - w0) / 20;
  assert.ok(per <= 2.1, `${per} wake-ups per message, at most the oldest refuser and the loop`);
  assert.is(got0.length, 0);
  for (let i = 0; i < 30; i++) c.publish(1000 + i * 10); // (priority 0: for the older ones, oldest first; the loop may take some)
  loopOn = false;
  await Promise.all([...olds, loop]);
  assert.is(got0.length + looped.length, 50);
  assert.is(c.queue.length, 0);
  assert.is(c.sleepers(), 0);
});

test('receives of 12 limits parked tightest first, then a plain loop: a message only the loop takes reaches it within a few turns of the event loop, not one turn per limit', async () => {
  const c = new Conn();
  const accepts = (L: number) => (v: number) => v % 100 <= L; // (a value's priority: its last two digits)
  const olds = Array.from({ length: 12 }, (_, L) => c.recv(accepts(L), 5000, undefined, L));
  const looped: number[] = [], tookAt: number[] = [];
  let on = true;
  // (event-loop turns: an immediate that queues the next one, one per turn)
  let turns = 0, ticking = true;
  const loop = (async () => { while (on) { const v = await c.recv(() => true, 200, undefined, Infinity); if (v !== null) { looped.push(v); tookAt.push(turns); } } })();
  await sleep(5);
  const tickOn = () => { turns++; if (ticking) setImmediate(tickOn); };
  setImmediate(tickOn);
  const took: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = turns;
    c.publish(i * 100 + 50); // (priority 50: above every limit but the loop's)
    assert.ok(await until(() => looped.length === i + 1), `value ${i} taken by the loop`);
    took.push(tookAt[i] - t0);
  }
  ticking = false;
  took.sort((a, b) => a - b);
  // (one turn per limit before: the 12 woken one after the other, each a macrotask after the last)
  assert.ok(took[5] <= 5, `turns from a publish to the loop's take: ${took.join()}`);
  for (let L = 0; L < 12; L++) c.publish(5000 + L); // (each limit's own, priority L: the oldest that takes it)
  on = false;
  const got = await Promise.all(olds);
  await loop;
  assert.is(got.filter((v) => v !== null).length + looped.length, 22);
  assert.is(c.queue.length, 0);
  assert.is(c.sleepers(), 0);
});

test('a wait from a value the word has left is refused (its done called at once): no wake-up is lost', async () => {
  const c = new Conn();
  const seen = Atomics.load(c.i32, WORD);
  Atomics.add(c.i32, WORD, 1); // (a publish between the look and the wait)
  let done = 0;
  assert.is(waitIn(c.group, seen, 1000, () => { done++; }), null);
  assert.is(done, 1);
  assert.is(c.group.size, 0);
  assert.is(c.sleepers(), 0);
});

// seeded random: receives taking any value, even ones, odd ones or multiples of 3, with timeouts
// from 5 ms to 5 s, aborted at random (endWait); publishes of unique values at random moments,
// one at a time and in bursts. Whenever the steps pause, within 300 ms no receive still waiting
// accepts a value that is queued (a lost wake-up would leave one parked beside it); at the end
// every value published is taken at most once, and the rest are still queued.
const FILTERS: ((v: number) => boolean)[] = [() => true, (v) => v % 2 === 0, (v) => v % 2 === 1, (v) => v % 3 === 0];
/** the priority limits mode: a value's priority is v % 10, a receive takes those at or below its limit and says so to the group */
const LIMITS = [Infinity, 0, 3, 7];
for (const seed of seedsFromEnv([1, 2, 3, 4])) for (const mode of ['counted', 'uncounted', 'limits'] as const) {
  const counted = mode !== 'uncounted';
  test(`seeded random (seed ${seed}, ${mode === 'limits' ? 'priority limits, a counted word' : counted ? 'a counted word' : 'uncounted'}): no receive stays parked beside a queued value it takes`, async () => {
    const rng = prng(seed), rnd = () => rng.next();
    const c = new Conn(counted);
    type R = { accepts: (v: number) => boolean; ctl: { w: GroupWait | null; aborted: boolean }; live: boolean };
    const rs: R[] = [], taken: number[] = [], ends: Promise<unknown>[] = [];
    let next = 0;
    const stranded = () => c.queue.filter((v) => rs.some((r) => r.live && r.accepts(v)));
    // (between the steps, a group with members parked has its waitAsync parked or a step due:
    // else a move of the word would wake none of them; stop 61's audit asked for this check)
    const g = c.group as unknown as { armed: boolean; stepping: boolean };
    const watched = () => { if (c.group.size > 0 && !g.armed && !g.stepping) throw new Error(`${c.group.size} members parked, neither armed nor stepping`); };
    for (let step = 0; step < 250; step++) {
      watched();
      const x = rnd();
      if (x < 0.3) {
        const limit = mode === 'limits' ? LIMITS[Math.floor(rnd() * LIMITS.length)] : NaN;
        const accepts = mode === 'limits' ? (v: number) => v % 10 <= limit : FILTERS[Math.floor(rnd() * FILTERS.length)];
        const r: R = { accepts, ctl: { w: null, aborted: false }, live: true };
        rs.push(r);
        const timeout = rnd() < 0.3 ? 5 + Math.floor(rnd() * 100) : 5000;
        ends.push(c.recv(r.accepts, timeout, r.ctl, limit).then((v) => { r.live = false; if (v !== null) taken.push(v); }));
      } else if (x < 0.6) {
        const n = rnd() < 0.2 ? 1 + Math.floor(rnd() * 8) : 1;
        // (in the limits mode a value's priority is its last digit: v = 10 * k + priority)
        const val = () => mode === 'limits' ? 10 * next++ + Math.floor(rnd() * 10) : next++;
        if (n > 1 && rnd() < 0.5) c.publishBatch(Array.from({ length: n }, val)); // (one move of the word by n)
        else for (let i = 0; i < n; i++) c.publish(val());
      } else if (x < 0.7) {
        const live = rs.filter((r) => r.live && r.ctl.w !== null);
        if (live.length) {
          const r = live[Math.floor(rnd() * live.length)];
          r.ctl.aborted = true;
          endWait(r.ctl.w!);
        }
      } else if (x < 0.85) {
        await sleep(Math.floor(rnd() * 3));
        watched();
      } else {
        assert.ok(await until(() => stranded().length === 0, 300), `step ${step}: values ${stranded().join()} queued beside receives that take them`);
      }
    }
    assert.ok(await until(() => stranded().length === 0, 300), `the end: values ${stranded().join()} queued beside receives that take them`);
    for (const r of rs) if (r.live && r.ctl.w !== null) { r.ctl.aborted = true; endWait(r.ctl.w); }
    await Promise.all(ends);
    assert.is(new Set(taken).size, taken.length, 'no value taken twice');
    assert.is(taken.length + c.queue.length, next, 'every value taken or still queued');
    assert.ok(await until(() => c.sleepers() === 0), 'nothing counted once every wait ended');
    assert.is(c.group.size, 0);
  });
}

test.run();
