// A thread's waits on one connection share one waitAsync (js/host/wait-group.ts, WaitGroup; API.md,
// "Waiting for messages": which of a thread's waits a wake-up wakes): a publish wakes as many
// as there are messages, oldest first; a woken wait that finds nothing it may take (a priority
// it refuses, a reply that is a call's) parks again and the next ones are woken; the calls'
// reply wait sees every move of the word. Through the public API only: the order receives are
// served in, promptness where a filter refuses, replies beside parked receives, a listener's
// leftovers, and a seeded mix of all of them.
import * as assert from 'uvu/assert';
import { BusError, abi as A, type Connection, type Message } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';
import { prng, seedsFromEnv } from '../helpers/diffkit.ts';

const t = busSuite('wait groups: a thread\'s waits on one connection');
const wake = (c: Connection) => c.stats().sleepers.wake;
const tick = () => new Promise((r) => setTimeout(r, 1));
const text = (p: Promise<Message>) => p.then((m) => { const s = m.text(); m.free(); return s; }, (e: BusError) => e.code);
/** turns of the event loop until `cond` holds, at most `ms` */
async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  for (const end = performance.now() + ms; !cond() && performance.now() < end;) await tick();
  return cond();
}

t('20 receives parked on one connection: counted once, served oldest first, one per message, as the messages come one by one', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const got: string[] = [];
  const ps = Array.from({ length: 20 }, (_, k) => text(b.recvAsync({ timeout: 5000 })).then((s) => { got[k] = s; }));
  await tick();
  assert.is(wake(b), 1, 'one wait of the thread for the twenty');
  for (let i = 0; i < 20; i++) {
    a.sendText(b.id, `m${i}`);
    assert.ok(await until(() => got[i] !== undefined), `m${i} taken`);
    assert.is(got.filter((x) => x !== undefined).length, i + 1, 'one receive per message');
  }
  await Promise.all(ps);
  assert.equal(got, Array.from({ length: 20 }, (_, i) => `m${i}`));
  assert.is(b.pendingReceives, 0);
  a.close(); b.close();
});

t('an older receive whose priority refuses the message does not keep it from the plain receive behind it', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const picky = text(b.recvAsync({ priority: 0, timeout: 5000 }));
  const plain = text(b.recvAsync({ timeout: 5000 }));
  await tick();
  const t0 = performance.now();
  a.sendText(b.id, 'low', { priority: 5 });
  assert.is(await plain, 'low', 'the plain receive took it');
  assert.ok(performance.now() - t0 < 1000, `promptly, not at a timeout (${(performance.now() - t0).toFixed(1)} ms)`);
  assert.is(b.pendingReceives, 1, 'the picky one waits on');
  a.sendText(b.id, 'urgent', { priority: -1 });
  assert.is(await picky, 'urgent');
  a.close(); b.close();
});

t('calls in flight beside parked receives: each reply ends its call, each message goes to a receive', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), s = bus.connect();
  const l = s.listen((m) => { s.reply(m, new TextEncoder().encode(`re:${m.text()}`)); });
  const rs = Array.from({ length: 8 }, () => text(b.recvAsync({ timeout: 5000 })));
  await tick();
  const calls = Array.from({ length: 4 }, (_, k) => b.call(s.id, new TextEncoder().encode(`c${k}`), { timeout: 5000 }).then((m) => { const x = m.text(); m.free(); return x; }));
  for (let i = 0; i < 8; i++) a.sendText(b.id, `m${i}`);
  assert.equal(await Promise.all(calls), ['re:c0', 're:c1', 're:c2', 're:c3']);
  assert.equal((await Promise.all(rs)).sort(), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
  l.stop();
  await l.done;
  a.close(); b.close(); s.close();
});

t('a call whose service closes beside parked receives ends with EPIPE at once; the receives sleep on', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), s = bus.connect();
  const rs = Array.from({ length: 4 }, () => text(b.recvAsync({ timeout: 5000 })));
  await tick();
  const call = b.call(s.id, null, { timeout: 5000 }).then(() => 'ok', (e: BusError) => e.code);
  assert.ok(await until(() => s.queued === 1));
  const t0 = performance.now();
  s.close({ drop: true });
  assert.is(await call, 'EPIPE');
  assert.ok(performance.now() - t0 < 1000, 'at once, not at the deadline');
  assert.is(b.pendingReceives, 4);
  for (let i = 0; i < 4; i++) a.sendText(b.id, `m${i}`);
  assert.equal(await Promise.all(rs), ['m0', 'm1', 'm2', 'm3']);
  a.close(); b.close();
});

t('the wake word counts the messages queued (CONN_WAKE, BUS_VERSION 20): a send moves it by 1, a sendMany of 7 into one receiver by 7, a bus.batch by each receiver\'s messages', ({ bus }) => {
  const a = bus.connect(), r1 = bus.connect(), r2 = bus.connect();
  const e = bus.engine;
  const wakeOf = (c: Connection) => Atomics.load(e.i32, (e.connAddr(c.slot) + A.CONN_WAKE) >>> 2);
  const moved = (c: Connection, from: number) => (wakeOf(c) - from) >>> 0;
  const one = new Uint8Array(8);
  let w1 = wakeOf(r1), w2 = wakeOf(r2);
  a.send(r1.id, one);
  assert.is(moved(r1, w1), 1, 'a send');
  w1 = wakeOf(r1);
  assert.is(a.sendMany(r1.id, Array.from({ length: 7 }, () => one)), 7);
  assert.is(moved(r1, w1), 7, 'a sendMany of 7 (one lock hold: before, it moved by 1)');
  w1 = wakeOf(r1);
  bus.batch(() => { a.send(r1.id, one); a.send(r2.id, one); a.send(r1.id, one); });
  assert.is(moved(r1, w1), 2, 'a batch: two into r1');
  assert.is(moved(r2, w2), 1, 'a batch: one into r2');
  w1 = wakeOf(r1); w2 = wakeOf(r2);
  assert.is(a.sendMany(r2.id, Array.from({ length: 3 }, () => one), { priority: 5 }), 3);
  assert.is(moved(r2, w2), 3, 'with a priority too');
  assert.is(moved(r1, w1), 0, 'nothing into r1');
  assert.is(r1.queued, 10);
  assert.is(r2.queued, 4);
  for (const c of [r1, r2]) for (let m = c.recv(); m !== null; m = c.recv()) m.free();
  a.close(); r1.close(); r2.close();
});

t('messages every parked receive refuses, queued beside them: the messages they take, one by one and in a batch, go to the receives in the order they parked, promptly; the refused ones stay', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const enc = (x: string) => new TextEncoder().encode(x);
  assert.is(a.sendMany(b.id, Array.from({ length: 30 }, (_, i) => enc(`low${i}`)), { priority: 5 }), 30);
  const got: string[] = [];
  const ps = Array.from({ length: 12 }, (_, k) => text(b.recvAsync({ priority: 0, timeout: 5000 })).then((x) => { got[k] = x; }));
  await tick();
  assert.is(wake(b), 1);
  for (let i = 0; i < 8; i++) {
    const t0 = performance.now();
    a.sendText(b.id, `m${i}`, { priority: 0 });
    assert.ok(await until(() => got[i] !== undefined), `m${i} taken`);
    assert.ok(performance.now() - t0 < 1000, `promptly (${(performance.now() - t0).toFixed(1)} ms)`);
    assert.is(got.filter((x) => x !== undefined).length, i + 1, 'one receive per message');
  }
  assert.is(a.sendMany(b.id, [enc('m8'), enc('m9'), enc('m10'), enc('m11')], { priority: -1 }), 4);
  await Promise.all(ps);
  assert.equal(got, Array.from({ length: 12 }, (_, i) => `m${i}`), 'in the order they parked');
  assert.is(b.queued, 30, 'the refused ones still queued');
  for (let i = 0; i < 30; i++) { const m = b.recv()!; assert.is(m.text(), `low${i}`); m.free(); }
  assert.is(b.pendingReceives, 0);
  a.close(); b.close();
});

t('a for-await loop that breaks, and a listener stopped from its handler, with messages of their batch not handed over: a parked receive whose priority refuses the queue gets them at once', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (const how of ['iterator', 'listener'] as const) {
    const t0 = performance.now();
    const parked = b.recvAsync({ priority: 0, timeout: 5000 }).then((m) => { const x = m.text(); m.free(); return { x, ms: performance.now() - t0 }; });
    await tick();
    assert.is(a.sendMany(b.id, ['p1', 'p2', 'p3'].map((x) => new TextEncoder().encode(x)), { priority: 5 }), 3); // (the parked one refuses them)
    await tick();
    if (how === 'iterator') {
      for await (const m of b) { assert.is(m.text(), 'p1'); break; } // (one batch took the three, handed one)
    } else {
      await new Promise<void>((r) => { const l = b.listen((m) => { assert.is(m.text(), 'p1'); l.stop(); r(); }); });
    }
    // (every receive takes a batch's leftovers first, whatever its options: API.md, recv)
    const got = await parked;
    assert.is(got.x, 'p2', how);
    assert.ok(got.ms < 1000, `${how}: at once, not at its timeout (${got.ms.toFixed(1)} ms)`);
    const m = b.recv()!;
    assert.is(m.text(), 'p3');
    m.free();
  }
  a.close(); b.close();
});

t('receives with `priority: 0` parked before a plain receive loop: each message only the loop takes reaches it promptly, the older ones sleep on and get theirs in order', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const olds: string[] = [];
  const ps = Array.from({ length: 30 }, (_, k) => text(b.recvAsync({ priority: 0, timeout: 5000 })).then((x) => { olds[k] = x; }));
  await tick();
  const looped: string[] = [];
  let on = true;
  const loop = (async () => { while (on) { const x = await text(b.recvAsync({ timeout: 300 })); if (x !== 'ETIMEDOUT') looped.push(x); } })();
  await tick();
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    a.sendText(b.id, `m${i}`, { priority: 3 });
    assert.ok(await until(() => looped.length === i + 1), `m${i} taken by the loop`);
    assert.ok(performance.now() - t0 < 1000, 'promptly');
  }
  on = false;
  await loop;
  assert.equal(looped, Array.from({ length: 20 }, (_, i) => `m${i}`));
  assert.is(olds.filter((x) => x !== undefined).length, 0, 'the older ones took nothing');
  for (let i = 0; i < 30; i++) a.sendText(b.id, `u${i}`, { priority: 0 });
  await Promise.all(ps);
  assert.equal(olds, Array.from({ length: 30 }, (_, i) => `u${i}`), 'in the order they parked');
  a.close(); b.close();
});

t('two messages placed in one step after a refusal go to the oldest parked receives that take them, not to a plain one behind them (a sendMany; a receive made right after it)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const enc = (k: number) => new Uint8Array([k]);
  // (limits -3, -3, 2, 9, 9, plain, parked in that order; two messages of priority 7: for the two of limit 9)
  let got: string[] = [];
  const park = (name: string, limit?: number) => b.recvAsync(limit === undefined ? { timeout: 300 } : { priority: limit, timeout: 300 })
    .then((m) => { got.push(`${name}<-${m.payload[0]}`); m.free(); }, (e: BusError) => { got.push(`${name} ${e.code}`); });
  let ps = [park('A', -3), park('B', -3), park('C', 2), park('D', 9), park('X', 9), park('E')];
  await tick();
  assert.is(a.sendMany(b.id, [enc(1), enc(2)], { priority: 7 }), 2);
  await Promise.all(ps);
  assert.equal(got.filter((x) => x.includes('<-')).sort(), ['D<-1', 'X<-2']);
  // (limits 5, 1, 5, 9; two messages of priority 4, then at once a receive of limit 0, whose look refuses them)
  got = [];
  ps = [park('W1', 5), park('W2', 1), park('X', 5), park('Y', 9)];
  await tick();
  assert.is(a.sendMany(b.id, [enc(1), enc(2)], { priority: 4 }), 2);
  ps.push(park('Z', 0));
  await Promise.all(ps);
  assert.equal(got.filter((x) => x.includes('<-')).sort(), ['W1<-1', 'X<-2']);
  assert.is(b.queued, 0);
  a.close(); b.close();
});

// seeded random, one thread: plain receives and receives with a priority limit, with and without
// timeouts and signals, aborted at random; messages of priorities 0 to 3 one by one and in
// batches; iterators that take a few messages and break; calls to a service that answers. At
// every pause, within 500 ms no receive still waiting may take a message that is queued (its
// limit at or above the queue's lowest priority: a lost wake-up would leave it parked beside
// it); at the end every message is taken exactly once, every call answered
for (const seed of seedsFromEnv([1, 2, 3, 4])) {
  t(`seeded random (seed ${seed}): no receive stays parked beside a message it may take`, async ({ bus }) => {
    const rng = prng(seed), rnd = () => rng.next();
    const a = bus.connect(), b = bus.connect(), s = bus.connect();
    const l = s.listen((m) => { s.reply(m, null); });
    type R = { limit: number; live: boolean; ac: AbortController | null };
    const rs: R[] = [], ends: Promise<unknown>[] = [];
    /** priorities of the messages sent and not yet taken, by their text */
    const queued = new Map<string, number>();
    const taken: string[] = [];
    let next = 0, calls = 0, answered = 0;
    const take = (m: Message) => { const x = m.text(); m.free(); taken.push(x); queued.delete(x); };
    const stranded = () => {
      if (queued.size === 0) return false;
      const low = Math.min(...queued.values());
      return rs.some((r) => r.live && r.limit >= low);
    };
    for (let step = 0; step < 200; step++) {
      const x = rnd();
      if (x < 0.3) {
        const limit = rnd() < 0.6 ? Infinity : Math.floor(rnd() * 4);
        const ac = rnd() < 0.3 ? new AbortController() : null;
        const r: R = { limit, live: true, ac };
        rs.push(r);
        const timeout = rnd() < 0.2 ? 2 + Math.floor(rnd() * 50) : 5000;
        ends.push(b.recvAsync({ timeout, ...(limit !== Infinity ? { priority: limit } : {}), ...(ac ? { signal: ac.signal } : {}) })
          .then(take, (e: BusError) => { assert.ok(e.code === 'ETIMEDOUT' || e.code === 'ECANCELED', e.message); })
          .finally(() => { r.live = false; }));
      } else if (x < 0.55) {
        const p = Math.floor(rnd() * 4);
        if (rnd() < 0.2) {
          const n = 1 + Math.floor(rnd() * 6), texts = Array.from({ length: n }, () => `m${next++}`);
          const sent = a.sendMany(b.id, texts.map((x) => new TextEncoder().encode(x)), { priority: p });
          for (const x of texts.slice(0, sent)) queued.set(x, p);
        } else {
          const x = `m${next++}`;
          a.sendText(b.id, x, { priority: p });
          queued.set(x, p);
        }
      } else if (x < 0.62) {
        const live = rs.filter((r) => r.live && r.ac);
        if (live.length) live[Math.floor(rnd() * live.length)].ac!.abort();
      } else if (x < 0.7) {
        calls++;
        ends.push(b.call(s.id, null, { timeout: 5000 }).then((m) => { m.free(); answered++; }));
      } else if (x < 0.75 && !rs.some((r) => r.live)) {
        // an iterator takes up to three messages (waiting for them: the thread's only waits), then breaks
        const want = 1 + Math.floor(rnd() * 3), r: R = { limit: Infinity, live: true, ac: null };
        rs.push(r);
        ends.push((async () => {
          let n = 0;
          for await (const m of b.messages({ timeout: 200 })) { taken.push(m.text()); queued.delete(m.text()); if (++n === want) break; }
        })().catch((e: BusError) => { assert.is(e.code, 'ETIMEDOUT', e.message); }).finally(() => { r.live = false; }));
      } else if (x < 0.9) {
        await tick();
      } else {
        assert.ok(await until(() => !stranded(), 500), `step ${step}: messages queued beside receives that may take them (${[...queued].map(([k, v]) => `${k}@${v}`).join()})`);
      }
    }
    assert.ok(await until(() => !stranded(), 500), 'the end: messages queued beside receives that may take them');
    for (const r of rs) r.ac?.abort();
    assert.ok(await until(() => answered === calls, 3000), `${answered} of ${calls} calls answered`);
    // the receives still waiting each get a message of priority 0 (every limit takes it); what is
    // left then is taken here
    for (let k = 0; rs.some((r) => r.live) && k < 1000; k++) {
      const x = `m${next++}`;
      a.sendText(b.id, x, { priority: 0 });
      queued.set(x, 0);
      assert.ok(await until(() => !queued.has(x) || !rs.some((r) => r.live), 1000), `${x} taken by a receive still waiting`);
    }
    for (let m = b.recv(); m !== null; m = b.recv()) take(m);
    await Promise.all(ends);
    assert.is(new Set(taken).size, taken.length, 'no message taken twice');
    assert.is(taken.length, next, `every message taken (${taken.length} of ${next})`);
    assert.is(b.pendingReceives, 0);
    l.stop();
    await l.done;
    a.close(); b.close(); s.close();
  });
}

t.run();
