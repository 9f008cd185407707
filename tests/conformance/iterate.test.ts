// for await over a connection, keep(), AbortSignal, close ending iterators, Symbol.dispose,
// and the adaptive spin's rules (recvWait(0) does not spin; spins that miss stop the spinning,
// one that catches its message starts it again).
import * as assert from 'uvu/assert';
import { BusError, RECV_BATCH_MAX, type Message } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('iterate, dispose, spin');

t('for await frees each message on the next step unless kept; break frees the last', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 4; i++) a.sendText(b.id, `m${i}`);
  const seen: string[] = [];
  let kept: Message | null = null, last: Message | null = null;
  for await (const m of b) {
    seen.push(m.text());
    if (seen.length === 2) kept = m.keep();
    last = m;
    if (seen.length === 4) break;
  }
  assert.equal(seen, ['m0', 'm1', 'm2', 'm3']);
  assert.ok(last!.freedAlready, 'break freed the last message');
  assert.ok(!kept!.freedAlready && kept!.kept);
  assert.is(kept!.text(), 'm1');
  kept!.free();
  assert.is(b.poolUsed, 0);
});

t('messages({ signal }) rejects with ECANCELED; closing the connection ends its iterator', async ({ bus }) => {
  const b = bus.connect();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 5);
  try {
    for await (const m of b.messages({ signal: ac.signal })) void m;
    assert.unreachable('aborted');
  } catch (e) { assert.is((e as BusError).code, 'ECANCELED'); }
  const it = b.messages({ timeout: 5000 });
  const p = it.next();
  setTimeout(() => b.close(), 5);
  const r = await p;
  assert.is(r.done, true);
  assert.is((await it.next()).done, true);
  await assert.not.throws(async () => { for await (const m of b) void m; });
});

t('an iterator step always answers with a promise: bad options and timeouts reject, and end the iterator', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  // bad options: the step rejects (it does not throw), and the iterator is over
  const bad = b.messages({ timeout: -1 });
  const p = bad.next();
  assert.ok(p instanceof Promise);
  try { await p; assert.unreachable('a negative timeout'); } catch (e) { assert.is((e as BusError).code, 'EINVAL'); }
  assert.is((await bad.next()).done, true);
  // a queued message is handed over at once, still through a promise
  a.sendText(b.id, 'q');
  const it = b.messages({ timeout: 20 });
  const q = it.next();
  assert.ok(q instanceof Promise);
  const r = await q;
  assert.is(r.done, false);
  assert.is((r.value as Message).text(), 'q');
  // nothing more: the wait times out, rejects, frees the message before it, ends the iterator
  try { await it.next(); assert.unreachable('timed out'); } catch (e) { assert.is((e as BusError).code, 'ETIMEDOUT'); }
  assert.ok((r.value as Message).freedAlready);
  assert.is((await it.next()).done, true);
  assert.is(b.poolUsed, 0);
});

t('an iterator checks its options once, at the first step: changing the object afterwards changes nothing', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const opts: { timeout: number } = { timeout: 5000 };
  const it = b.messages(opts);
  a.sendText(b.id, 'one');
  assert.is(((await it.next()).value as Message).text(), 'one');
  opts.timeout = -1; // would be EINVAL if read again
  a.sendText(b.id, 'two');
  assert.is(((await it.next()).value as Message).text(), 'two');
  await it.return!();
  assert.is(b.poolUsed, 0);
});

t('return() (and Symbol.asyncDispose) ends a step still waiting: it resolves done, takes nothing, holds nothing', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const asyncDispose = (Symbol as unknown as { asyncDispose?: symbol }).asyncDispose;
  for (const how of ['return', 'asyncDispose'] as const) {
    if (how === 'asyncDispose' && !asyncDispose) continue; // (a runtime without the symbol: no such method)
    const it = b.messages({ timeout: 2000 }); // (a bound: a step that return() fails to end rejects with ETIMEDOUT)
    const step = it.next();
    await new Promise((r) => setTimeout(r, 5)); // parked
    assert.is(b.pendingReceives, 1);
    if (how === 'return') assert.equal(await it.return!(), { done: true, value: undefined });
    else await (it as unknown as Record<symbol, () => Promise<void>>)[asyncDispose!]();
    assert.equal(await step, { done: true, value: undefined }, `${how}: the waiting step ends`);
    assert.is(b.pendingReceives, 0, `${how}: no wait left (nothing keeps the thread alive)`);
    assert.is((await it.next()).done, true);
    // a message sent now is not taken by the ended step: the next receive gets it
    a.sendText(b.id, how);
    const m = b.recv();
    assert.ok(m, `${how}: the message stayed queued`);
    assert.is(m!.text(), how);
    m!.free();
  }
  assert.is(b.poolUsed, 0);
});

t('Symbol.dispose (where the runtime has it) closes a connection and frees a message', ({ bus }) => {
  const dispose = (Symbol as unknown as { dispose?: symbol }).dispose;
  if (!dispose) return;
  const a = bus.connect(), b = bus.connect();
  a.sendText(b.id, 'x');
  const m = b.recv()!;
  (m as unknown as Record<symbol, () => void>)[dispose]();
  assert.ok(m.freedAlready);
  (m as unknown as Record<symbol, () => void>)[dispose](); // twice: nothing
  (b as unknown as Record<symbol, () => void>)[dispose]();
  assert.ok(b.closed);
  (a as unknown as Record<symbol, () => void>)[dispose]();
  assert.is(bus.connections.length, 0);
});

t('recvWait(0) does not spin; spins that miss stop the spin, one that catches starts it again', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const sp = b.spinner;
  const spins = sp.spins;
  assert.is(b.recvWait(0), null);
  assert.is(sp.spins, spins, 'recvWait(0) returned without spinning');
  // ten slow answers (5 ms each): the score drops below the spin threshold
  for (let i = 0; i < 10; i++) {
    setTimeout(() => a.sendText(b.id, 'slow'), 5);
    (await b.recvAsync({ timeout: 2000 })).free();
  }
  const s0 = sp.spins;
  setTimeout(() => a.sendText(b.id, 'slow'), 5);
  (await b.recvAsync({ timeout: 2000 })).free();
  assert.is(sp.spins, s0, 'no spin while answers are slow');
  assert.is(sp.score, 0);
  // only spins count: one that catches its message (here a word that moved already) raises
  // the score to the spin threshold again
  const word = new Int32Array(new SharedArrayBuffer(4));
  let pre = sp.preempted;
  // a pause between its two clock reads (the first call with a new array type can deoptimize
  // the spin mid-way; a loaded machine deschedules it) counts as descheduled: no hit; again
  // (CI saw two such pauses in a row on a loaded machine)
  for (let tries = 0; ; tries++) {
    assert.ok(sp.spin(word, 0, 1, 1), 'the word is not the value seen: caught at once');
    if (sp.preempted === pre) break;
    pre = sp.preempted;
    assert.ok(tries < 20, 'descheduled 20 times in a row');
  }
  assert.is(sp.score, 2);
  assert.ok(sp.shouldSpin());
  assert.is(b.recvWait(0.2), null); // spins at most 50 µs, then sleeps the rest
  assert.ok(sp.spins > s0);
  assert.is(sp.score, 0, 'a spin that ran out of budget lowered the score by 4 (or a deschedule dropped it)');
  // a spin cut short by the caller's own deadline (under 50 µs) says nothing of the peer
  sp.spin(word, 0, 1, 1);
  pre = sp.preempted;
  const before = sp.score;
  assert.not.ok(sp.spin(word, 0, 0, 0.02), 'nothing moves the word');
  assert.ok(sp.score === before || sp.preempted > pre, 'the score is kept');
  assert.throws(() => b.recvWait(-1), (e: BusError) => e.code === 'EINVAL');
});

t('a wait that starts right after two wake-ups that came close together spins, whatever the score; slow traffic does not', async ({ bus }) => {
  const b = bus.connect();
  const sp = b.spinner;
  sp.score = 0; // (as after misses: only a probe would spin)
  const r0 = sp.recent;
  sp.woke(1000);
  sp.woke(1000.01); // 10 µs after the one before: a burst
  assert.ok(sp.shouldSpin(1000.015), 'within 20 µs of that wake-up: spins');
  assert.is(sp.recent, r0 + 1);
  assert.not.ok(sp.shouldSpin(1000.05), '40 µs after it: the score decides (0: no spin)');
  sp.woke(1010); // 10 ms later: slow traffic
  assert.not.ok(sp.shouldSpin(1010.001), 'a wait right after a wake-up that came after a long gap does not spin');
  sp.woke(1010.005);
  assert.ok(sp.shouldSpin(1010.006), 'two quick wake-ups again: spins');
  assert.is(sp.recent, r0 + 2);
});

t('two receives waiting on one connection under slow traffic: no burst spins (one notify wakes both: one wake-up)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const sp = b.spinner;
  const r0 = sp.recent;
  const N = 12;
  let got = 0;
  const loop = async () => { while (got < N) { const m = await b.recvAsync({ timeout: 2000 }); got++; m.free(); } };
  const loops = Promise.all([loop(), loop()]);
  for (let i = 0; i < N; i++) { await new Promise((r) => setTimeout(r, 4)); a.sendText(b.id, `m${i}`); }
  a.sendText(b.id, 'end1'); a.sendText(b.id, 'end2'); // (each loop's last receive)
  await loops;
  assert.is(sp.recent - r0, 0, `burst spins: ${sp.recent - r0}`);
  while (b.drop());
});

t('manual next() calls that wait together: return() frees every message they handed out', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const it = b.messages({ timeout: 2000 });
  const steps = [it.next(), it.next(), it.next()];
  await new Promise((r) => setTimeout(r, 2));
  for (let i = 0; i < 3; i++) a.sendText(b.id, `m${i}`);
  const got = (await Promise.all(steps)).map((r) => (r.value as Message).text());
  assert.equal(got.sort(), ['m0', 'm1', 'm2']);
  await it.return!();
  assert.is(b.stats().published, 0, 'none left held');
  assert.is(b.poolUsed, 0);
});

t('priority: null is EINVAL for every receive (it read as a priority-0 filter)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.sendText(b.id, 'p5', { priority: 5 });
  const bad = (e: BusError) => e.code === 'EINVAL' && /priority must be a safe integer, got null/.test(e.message);
  assert.throws(() => b.recv({ priority: null as unknown as number }), bad);
  assert.throws(() => b.recvWait(0, { priority: null as unknown as number }), bad);
  try { await b.recvAsync({ priority: null as unknown as number, timeout: 50 }); assert.unreachable('rejects'); } catch (e) { assert.ok(bad(e as BusError), String(e)); }
  const it = b.messages({ priority: null as unknown as number, timeout: 50 });
  try { await it.next(); assert.unreachable('rejects'); } catch (e) { assert.ok(bad(e as BusError), String(e)); }
  assert.is(b.queued, 1, 'nothing taken');
  b.recv()!.free();
});

t('for await takes a batch per receive: the handed-over slices freed with the next batch, all of them when it ends; the rest stay queued, in order', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const n = RECV_BATCH_MAX + 8;
  for (let i = 0; i < n; i++) a.sendText(b.id, `m${i}`);
  const seen: string[] = [];
  let firstStep: { core: number; queued: number; published: number } | null = null;
  let atNext: { core: number; published: number } | null = null;
  for await (const m of b) {
    seen.push(m.text());
    const s = b.stats();
    if (seen.length === 1) firstStep = { core: s.queued, queued: b.queued, published: s.published };
    if (seen.length === RECV_BATCH_MAX + 1) atNext = { core: s.queued, published: s.published };
    if (seen.length === RECV_BATCH_MAX + 3) break;
  }
  assert.equal(firstStep, { core: n - RECV_BATCH_MAX, queued: n - 1, published: RECV_BATCH_MAX }, 'one receive took a whole batch');
  // the second batch's receive freed the first batch's slices (all handed over) and took the other 8
  assert.equal(atNext, { core: 0, published: 8 });
  assert.equal(seen, Array.from({ length: RECV_BATCH_MAX + 3 }, (_, i) => `m${i}`));
  assert.is(b.queued, 5, "the batch's others count as queued");
  assert.is(b.stats().published, 5, 'break freed the slices of those handed over');
  assert.throws(() => b.close(), (e: BusError) => e.code === 'EBUSY');
  const rest: string[] = [];
  for (let m; (m = b.recv());) { rest.push(m.text()); m.free(); }
  assert.equal(rest, ['m35', 'm36', 'm37', 'm38', 'm39']);
  assert.is(b.poolUsed, 0);
});

t('an iterator with peek or priority receives one message per step (no batch); a failing step frees what its batch handed over', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 6; i++) a.sendText(b.id, `m${i}`, { priority: i });
  const it = b.messages({ priority: 10, timeout: 1000 });
  assert.is(((await it.next()).value as Message).text(), 'm0');
  assert.is(b.stats().queued, 5, 'one taken');
  await it.return!();
  const pk = b.messages({ peek: true, timeout: 1000 });
  const r = await pk.next();
  assert.is((r.value as Message).text(), 'm1');
  assert.is(b.stats().queued, 5, 'peeked, still queued');
  await pk.return!();
  // a plain iterator takes the five; its step that times out frees the four it handed over
  const it2 = b.messages({ timeout: 30 });
  for (let i = 1; i <= 4; i++) assert.is(((await it2.next()).value as Message).text(), `m${i}`);
  assert.is(b.stats().queued, 0);
  const kept = ((await it2.next()).value as Message).keep();
  try { await it2.next(); assert.unreachable('times out'); } catch (e) { assert.is((e as BusError).code, 'ETIMEDOUT'); }
  assert.is(b.stats().published, 1, 'only the kept one is still held');
  assert.is(kept.text(), 'm5');
  kept.free();
  assert.is(b.poolUsed, 0);
});

t('pendingReceives counts every receive wait: a recvAsync, an iterator step, a listener parked (API.md)', async ({ bus }) => {
  const b = bus.connect();
  const settle = () => new Promise((r) => setTimeout(r, 5));
  const l = b.listen(() => {});
  await settle();
  assert.is(b.pendingReceives, 1, "the listener's park");
  l.stop(); await l.done;
  assert.is(b.pendingReceives, 0);
  const it = b.messages({ timeout: 5000 });
  const step = it.next();
  await settle();
  assert.is(b.pendingReceives, 1, "an iterator step's wait");
  await it.return!(); await step;
  assert.is(b.pendingReceives, 0);
});

t('an iterator checks its options at its first step before anything, a closed connection\'s too', async ({ bus }) => {
  // (on a closed connection it ended quietly, { done: true }, with options recvAsync refuses: an outside audit, stop 39)
  const c = bus.connect();
  c.close();
  for (const opts of [{ timeout: -1 }, 5, { bogus: 1 }, { signal: {} }]) {
    let err: unknown = null;
    try { await c.messages(opts as never).next(); } catch (x) { err = x; }
    assert.instance(err, BusError, JSON.stringify(opts));
    assert.is((err as BusError).code, 'EINVAL', JSON.stringify(opts));
  }
  assert.equal(await c.messages({ timeout: 5 }).next(), { done: true, value: undefined }, 'good options: it ends');
});

t('an iterator\'s failures are told as op messages (its options, ETIMEDOUT, ECANCELED with its cause, ESHUTDOWN), errno and reason kept (stop 49)', async ({ bus }) => {
  // (they said recvAsync, which the loop never called; a listener's say listen since stop 17)
  const b = bus.connect();
  const fail = async (opts: unknown, body?: () => void): Promise<BusError> => {
    const it = b.messages(opts as never);
    const p = it.next();
    body?.();
    try { await p; } catch (e) { assert.instance(e, BusError); return e as BusError; }
    throw new Error('the step did not reject');
  };
  let e = await fail({ timeout: -1 });
  assert.is(e.message, 'messages: EINVAL: timeout must be a number of ms >= 0, got -1');
  e = await fail({ timeout: 5 });
  assert.is(e.code, 'ETIMEDOUT');
  assert.is(e.message, 'messages: ETIMEDOUT: no message within 5 ms');
  const ac = new AbortController();
  const why = new Error('why');
  e = await fail({ signal: ac.signal, timeout: 5000 }, () => ac.abort(why));
  assert.is(e.code, 'ECANCELED');
  assert.match(e.message, /^messages: ECANCELED: /);
  assert.is((e as { cause?: unknown }).cause, why, 'the abort reason kept as the cause');
  assert.is(b.pendingReceives, 0);
  // a for await loop of one of the creator's connections at bus.shutdown()
  let loop: unknown = null;
  const done = (async () => { try { for await (const m of b) m.free(); } catch (x) { loop = x; } })();
  await new Promise((r) => setTimeout(r, 5));
  bus.shutdown();
  await done;
  assert.instance(loop, BusError);
  assert.is((loop as BusError).code, 'ESHUTDOWN');
  assert.match((loop as BusError).message, /^messages: ESHUTDOWN: /);
});

t('after a for await that breaks, a peek of the batch\'s next message leaves it: peek, free, and the next receive still gets it (stop 65: the peek took it, and its free lost it; an outside reading)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 3; i++) a.sendText(b.id, `m${i}`);
  for await (const m of b) { assert.is(m.text(), 'm0'); break; }
  assert.is(b.queued, 2);
  const p = b.recv({ peek: true })!;
  assert.is(p.text(), 'm1');
  p.free();
  assert.is(b.queued, 2, 'the peek took nothing');
  const got: string[] = [];
  for (let m = b.recv(); m; m = b.recv()) { got.push(m.text()); m.free(); }
  assert.equal(got, ['m1', 'm2']);
  a.close(); b.close();
});

t('an iterator left without return(): the slices of the messages it handed over are freed by the next receive that reaches the core, not held until the close (stop 65, an outside reading)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < 10; i++) a.sendText(b.id, `m${i}`);
  const it = b.messages();
  for (let i = 0; i < 5; i++) {
    const r = await it.next();
    assert.is((r.value as Message).text(), `m${i}`);
  }
  // abandoned (no return(), no break): the last one handed out stays the iterator's
  const rest: string[] = [];
  for (let m = b.recv(); m; m = b.recv()) { rest.push(m.text()); m.free(); }
  assert.equal(rest, ['m5', 'm6', 'm7', 'm8', 'm9']);
  assert.is(b.stats().published, 1, 'only m4, the step\'s message, is still out');
  await it.return!();
  assert.is(b.poolUsed, 0);
  // and a drop() loop, the same
  for (let i = 0; i < 10; i++) a.sendText(b.id, `n${i}`);
  const it2 = b.messages();
  for (let i = 0; i < 5; i++) await it2.next();
  while (b.drop()) { /* the rest */ }
  assert.is(b.stats().published, 1, 'only the step\'s message is still out');
  await it2.return!();
  assert.is(b.poolUsed, 0);
  a.close(); b.close();
});

t.run();
