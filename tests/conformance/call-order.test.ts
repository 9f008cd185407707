// A call's end in queue order while a listener runs (js/reply-pump.ts, "Order with a
// listener"; docs/API.md, "Calls"): the call settles only after the listener's handler was
// handed every message queued before the call's reply (or REPLY_DEAD), also when the handler
// is slow enough that the listener yields in the middle of a batch; stopping the listener lets
// the call take its end past unread messages; a handler that awaits a call of its own
// connection gets its answer; an answer taken by the listener's batch before the call began
// waiting, a batch of nothing but answers, an answer queued before its deadline that passes
// while the listener works (outside audit EA); and a seeded random run.
import * as assert from 'uvu/assert';
import { BusError, MockProvider, type Bus, type Message, type Connection, type Listener } from '../../js/index.ts';
import { busSuite, SMALL } from '../helpers/harness.ts';
import { Raw, hostVec } from '../helpers/raw.ts';
import { abi as A } from '../../js/index.ts';

const t = busSuite('call order with a listener');
const enc = (s: string) => new TextEncoder().encode(s);
/** a bound on every wait of these tests: a call that never settles fails the test instead of hanging it */
const within = <T>(p: Promise<T>, ms = 10000) => Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`not settled within ${ms} ms`)), ms))]);
/** busy for `us` µs (a handler slower than the listener's 2 ms drain turn over a few hundred messages) */
const busy = (us: number) => { const end = performance.now() + us / 1000; while (performance.now() < end); };
/** xorshift32 */
const rng = (seed: number) => () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32; };

/** A caller whose listener counts what it is handed (each handler busy `us` µs), and a service. */
function job(bus: Bus, us: number) {
  const caller = bus.connect(), svc = bus.connect();
  const j = { caller, svc, handled: 0, l: null as unknown as Listener };
  j.l = caller.listen(() => { if (us > 0) busy(us); j.handled++; });
  return j;
}
/** How `p` settled (`value`, or the error's `code`), and how many messages the listener had been handed then (`at`). */
async function settled<T>(p: Promise<T>, j: { handled: number }, ms?: number): Promise<{ value: T | null; code: string; at: number }> {
  let at = -1;
  const q = p.then((v) => { at = j.handled; return v; }, (e: unknown) => { at = j.handled; throw e; });
  try { return { value: await within(q, ms), code: 'ok', at }; } catch (e) { return { value: null, code: (e as BusError).code ?? String(e), at }; }
}
/** The listener stopped, and its end awaited. */
async function stopped(j: { l: Listener }): Promise<void> {
  j.l.stop();
  await within(j.l.done);
}

/** `svc` takes the next call queued for it (the caller's send may come a turn later) */
async function nextCall(svc: Connection): Promise<Message> {
  for (let i = 0; i < 2000; i++) {
    const m = svc.recv();
    if (m !== null) return m;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error('no call reached the service within 2 s');
}

t('a call settles after the listener was handed every message queued before its reply, across the listener\'s yields', async ({ bus }) => {
  const j = job(bus, 40), { caller, svc } = j;
  const p = caller.call(svc.id, enc('run'), { timeout: 60000 });
  const m = await nextCall(svc);
  // 200 events, then the answer: all queued before the caller's thread runs again; 200 × 40 µs
  // is four of the listener's 2 ms turns, between which the reply pump would run
  for (let i = 0; i < 200; i++) svc.sendText(caller.id, `event ${i}`);
  svc.replyText(m, 'done');
  m.free();
  const r = await settled(p, j);
  assert.is(r.at, 200, 'every event queued before the reply was handed over first');
  assert.is(r.value!.text(), 'done');
  r.value!.free();
  await stopped(j);
});

t('REPLY_DEAD keeps its place too: a call whose replier closed settles with EPIPE after the events it sent first', async ({ bus }) => {
  const j = job(bus, 40), { caller, svc } = j;
  const p = caller.call(svc.id, enc('run'), { timeout: 60000 });
  const m = await nextCall(svc);
  for (let i = 0; i < 150; i++) svc.sendText(caller.id, `event ${i}`);
  m.free();
  svc.close({ drop: true }); // (REPLY_DEAD to the caller, queued behind the events)
  const r = await settled(p, j);
  assert.is(r.code, 'EPIPE');
  assert.is(r.at, 150, 'every event queued before the REPLY_DEAD was handed over first');
  await stopped(j);
});

t('stopping the listener lets the call take its reply past messages nobody has received', async ({ bus }) => {
  const caller = bus.connect(), svc = bus.connect();
  const seen: string[] = [];
  let l: ReturnType<Connection['listen']> | null = null;
  l = caller.listen((msg) => { seen.push(msg.text()); l!.stop(); });
  const p = caller.call(svc.id, enc('run'), { timeout: 60000 });
  const m = await nextCall(svc);
  for (let i = 0; i < 40; i++) svc.sendText(caller.id, `event ${i}`);
  svc.replyText(m, 'done');
  m.free();
  const r = await within(p, 2000);
  assert.is(r.text(), 'done');
  r.free();
  await within(l.done);
  assert.equal(seen, ['event 0'], 'the listener stopped after its first message');
  assert.is(caller.queued, 39, 'the others stay queued, the reply taken from behind them');
  while (caller.drop());
});

t('a handler that awaits a call of its own connection gets the answer though more messages come before it', async ({ bus }) => {
  const caller = bus.connect(), svc = bus.connect();
  const answers: string[] = [];
  let handled = 0;
  const l = caller.listen(async (msg) => {
    handled++;
    if (msg.text() !== 'ask') return;
    const r = await within(caller.call(svc.id, enc('q'), { timeout: 60000 }));
    answers.push(r.text());
    r.free();
  });
  svc.sendText(caller.id, 'ask');
  const m = await nextCall(svc);
  // more messages before the answer: the listener keeps taking them while the handler awaits
  for (let i = 0; i < 50; i++) svc.sendText(caller.id, `event ${i}`);
  svc.replyText(m, 'answer');
  m.free();
  for (let i = 0; i < 5000 && answers.length === 0; i++) await new Promise((r) => setTimeout(r, 1));
  assert.equal(answers, ['answer']);
  assert.is(handled, 51);
  l.stop();
  await within(l.done);
});

t('a call whose answer the batch took before the call began waiting still settles after the messages before it', async ({ bus }) => {
  // (all in one synchronous run: the call's first wait step, a microtask, comes after the
  // listener's batch took the answer; the listener then yields after 2 ms of 1 ms handlers)
  for (let round = 0; round < 3; round++) {
    const j = job(bus, 1000), { caller, svc } = j;
    const p = caller.call(svc.id, enc('run'), { timeout: 60000 });
    const m = svc.recv()!;
    assert.ok(m !== null && m.expectsReply, 'the call was sent at once');
    for (let i = 0; i < 10; i++) svc.sendText(caller.id, `event ${i}`);
    svc.replyText(m, 'done');
    m.free();
    const r = await settled(p, j);
    assert.is(r.at, 10, `round ${round}: every event handed over when the call settled`);
    r.value!.free();
    await stopped(j);
    caller.close();
    svc.close();
  }
});

t('a reply pump that left an end to the listener does not wait on the wake word (no wake-up of its own per message published)', async ({ bus }) => {
  const j = job(bus, 200), { caller, svc } = j;
  const p = caller.call(svc.id, enc('run'), { timeout: 60000 });
  const m = await nextCall(svc);
  // (more than a batch before the reply: it stays in the queue, for the pump to leave to the listener)
  for (let i = 0; i < 100; i++) svc.sendText(caller.id, `event ${i}`);
  svc.replyText(m, 'done');
  m.free();
  // between two of the listener's turns (it yields every 2 ms of 0.2 ms handlers): the listener
  // is not parked, and the pump, which left the reply to it, waits on a timer only
  const seen: number[] = [];
  for (let i = 0; i < 8 && j.handled < 100; i++) {
    await new Promise((r) => setTimeout(r, 0));
    if (j.handled > 40 && j.handled < 100) seen.push(caller.stats().sleepers.wake);
  }
  (await within(p)).free();
  assert.ok(seen.length > 0, 'looked between the listener\'s turns');
  assert.ok(seen.every((n) => n === 0), `no wait parked on the wake word while the listener works (sleepers.wake ${seen.join(', ')})`);
  // a message published now finds the listener parked, the pump gone: one wait counted
  for (let i = 0; i < 100 && caller.stats().sleepers.wake === 0; i++) await new Promise((r2) => setTimeout(r2, 1));
  assert.is(caller.stats().sleepers.wake, 1, 'the listener alone parks once its work is done');
  await stopped(j);
});

t("a reply pump that left an end to the listener still ends another call at once when that call's REPLY_DEAD is dropped for lack of room (EPIPE, not ETIMEDOUT at its deadline)", async ({ bus }) => {
  // (stop 64: the pump, waiting on its timer while the listener works through a backlog, was
  // not woken by the drop, nor did its looks ask the calls whose ends may have gone missing)
  const caller = bus.connect({ poolSize: 65536 }), svc = bus.connect(), gone = bus.connect(), c = bus.connect();
  const pX = caller.call(svc.id, enc('run'), { timeout: 60000 });
  const pY = caller.call(gone.id, enc('run'), { timeout: 60000 }).then(() => 'resolved', (e: BusError) => e.code);
  const mX = svc.recv()!, mY = gone.recv()!;
  assert.ok(mX.expectsReply && mY.expectsReply);
  mY.free();
  // a backlog of more than a batch, then X's reply: the pump leaves X's end to the listener
  for (let i = 0; i < 60; i++) svc.sendText(caller.id, `event ${i}`);
  svc.replyText(mX, 'done');
  mX.free();
  // the rest of the pool: urgent messages the test takes (by priority, the backlog stays queued) and holds
  const held: Message[] = [];
  for (const size of [64, 8, 0]) {
    for (let i = 0; ; i++) {
      assert.ok(i < 2000, 'the pool fills within 2000 sends');
      try { c.send(caller.id, new Uint8Array(size), { priority: -1 }); } catch (e) {
        const code = (e as BusError).code;
        if (code === 'EXFULL') break;
        if (code !== 'ENOBUFS') throw e;
        for (let m; (m = caller.recv({ priority: -1 })) !== null;) held.push(m);
      }
    }
  }
  for (let m; (m = caller.recv({ priority: -1 })) !== null;) held.push(m);
  assert.ok(caller.stats().largestFree < A.BLOCK_HDR + A.MSG_HDR + A.ITEM_HDR, `no room for a REPLY_DEAD (largest free block ${caller.stats().largestFree})`);
  assert.is(caller.queued, 61, 'the backlog and the reply are queued');
  let handled = 0;
  const l = caller.listen(() => { busy(1000); handled++; });
  // the listener's first batch is being handed over (its slices held until the next batch), the
  // pump has looked and left X's end to it: it waits on its timer, not on the wake word
  for (let i = 0; i < 500 && handled < 3; i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(handled >= 3 && handled < 32, `in the middle of the first batch (handled ${handled})`);
  assert.is(caller.stats().sleepers.wake, 0, 'the pump waits on its timer');
  const d0 = caller.droppedTotal;
  gone.close({ drop: true }); // Y's REPLY_DEAD finds no room: dropped
  let atY = -1;
  const y = await within(pY.then((v) => { atY = handled; return v; }), 5000).catch((e: Error) => e.message);
  assert.is(y, 'EPIPE');
  // the listener's next batch (after the 32 it took) is told of the drop, and the pump then
  // asks: Y ends while the listener still works through the backlog (before: about a second
  // later, once the listener had long parked; ETIMEDOUT at the deadline with a slower timer)
  assert.ok(atY >= 0 && atY < 60, `Y ended while the listener worked through the backlog (handled ${atY} of 60)`);
  const r = await within(pX);
  assert.is(r.text(), 'done');
  r.free();
  for (let i = 0; i < 5000 && handled < 60; i++) await new Promise((res) => setTimeout(res, 1));
  assert.is(handled, 60, 'every event handed over');
  assert.ok(caller.droppedTotal - d0 >= 1, "Y's REPLY_DEAD was dropped: the case under test happened");
  l.stop();
  await within(l.done);
  for (const m of held) m.free();
  c.close();
});

t('after a raw-ABI call\'s end was seen, a call() still settles after the messages queued before its reply', async ({ bus, e }) => {
  // (once the pump has seen an end of a call it does not know, it takes each call's end by
  // its cookie: outside audit EC saw the order lost for the connection's life then)
  const raw = new Raw(e);
  const j = job(bus, 0), { caller, svc } = j;
  await stopped(j); // (first, no listener: the pump sees the raw call's end)
  const p0 = caller.call(svc.id, enc('q'), { timeout: 10000 });
  assert.is(raw.send(caller.slot, caller.gen, { msg: { dst: svc.id, cookie: 5000, flags: A.MSG_EXPECT_REPLY, timeout: 1n << 62n }, items: [hostVec(1)] }), 0);
  const m1 = svc.recv()!, m2 = svc.recv()!;
  svc.replyText(m2, 'raw answer'); // first in the caller's queue: the pump sees an end it does not know
  await new Promise((r) => setTimeout(r, 5));
  svc.replyText(m1, 'answer');
  m1.free(); m2.free();
  (await within(p0)).free();
  const u = caller.recv()!;
  assert.is(u.cookieReply, 5000, 'the raw call\'s reply is the user\'s');
  u.free();
  j.l = caller.listen(() => { busy(1000); j.handled++; });
  const p = caller.call(svc.id, enc('run'), { timeout: 60000 });
  const m = await nextCall(svc);
  for (let i = 0; i < 60; i++) svc.sendText(caller.id, `event ${i}`);
  svc.replyText(m, 'done');
  m.free();
  const r = await settled(p, j);
  assert.is(r.at, 60, 'every event queued before the reply was handed over first');
  r.value!.free();
  await stopped(j);
});

t('an iterator\'s body that awaits a call whose reply its batch took behind later messages gets it (no hold outside a listener)', async ({ bus }) => {
  const caller = bus.connect(), svc = bus.connect();
  const p = caller.call(svc.id, enc('run'), { timeout: 60000 });
  const m = svc.recv()!;
  svc.sendText(caller.id, 'e0');
  svc.sendText(caller.id, 'e1');
  svc.replyText(m, 'done');
  m.free();
  const seen: string[] = [];
  let answer = '';
  // the loop's first step takes e0, e1 and the reply in one batch; its body awaits the call
  // while e1 waits for the next step
  for await (const msg of caller.messages({ timeout: 2000 })) {
    seen.push(msg.text());
    if (seen.length === 1) { const r = await within(p, 2000); answer = r.text(); r.free(); }
    if (seen.length === 2) break;
  }
  assert.is(answer, 'done');
  assert.equal(seen, ['e0', 'e1']);
});

t('seeded random: calls in flight, events and replies interleaved; each call settles after the events sent before its reply', async ({ bus }) => {
  for (const seed of [1, 7, 0x5eed, 2024]) {
    const rand = rng(seed);
    const caller = bus.connect(), svc = bus.connect();
    let handled = 0;
    const slow = rand() < 0.5;
    const l = caller.listen(() => { if (slow) busy(30); handled++; });
    const nCalls = 1 + Math.floor(rand() * 8);
    /** per call: the events sent before its reply, and how many were handled when it settled */
    const before: number[] = [], atSettle: number[] = [];
    const calls = Array.from({ length: nCalls }, (_, i) => caller.call(svc.id, new Uint8Array([i]), { timeout: 60000 })
      .then((r) => { atSettle[i] = handled; r.free(); }));
    const asks: Message[] = [];
    while (asks.length < nCalls) asks.push(await nextCall(svc));
    let sent = 0;
    // answered in a random order, each after a random number of events (200 at most in all:
    // the caller's quota for this user is 256 messages)
    const order = asks.map((_, i) => i).sort(() => rand() - 0.5);
    for (const i of order) {
      const k = Math.floor(rand() * (200 / nCalls));
      for (let j = 0; j < k; j++) svc.sendText(caller.id, `e${sent++}`);
      before[asks[i].payload[0]] = sent;
      svc.replyText(asks[i], 'r');
      asks[i].free();
      if (rand() < 0.3) await new Promise((r) => setTimeout(r, 0));
    }
    await within(Promise.all(calls));
    for (let i = 0; i < nCalls; i++) assert.ok(atSettle[i] >= before[i], `seed ${seed}, call ${i}: settled with ${atSettle[i]} events handled, ${before[i]} sent before its reply`);
    for (let i = 0; i < 5000 && handled < sent; i++) await new Promise((r) => setTimeout(r, 1));
    assert.is(handled, sent, `seed ${seed}: every event handed over`);
    l.stop();
    await within(l.done);
    caller.close();
    svc.close();
  }
});

const busyFor = (us: number) => { const end = performance.now() + us / 1000; while (performance.now() < end); };

t("an iterator of the same connection that ends (return() from the listener's handler) does not wake the calls the listener's batch holds: the call still settles after every message before its reply was handed over (stop 65, an outside reading)", async ({ bus }) => {
  const caller = bus.connect(), svc = bus.connect();
  svc.sendText(caller.id, 'first');
  const it = caller.messages();
  assert.is((await it.next()).value!.text(), 'first'); // (a batched iterator)
  let handled = 0, atSettle = -1;
  const l = caller.listen(() => {
    handled++;
    busyFor(300); // (the listener yields mid-batch)
    if (handled === 3) void it.return();
  });
  const p = caller.call(svc.id, enc('run'), { timeout: 60000 }).then((r) => { atSettle = handled; r.free(); });
  let c: Message | null = null;
  for (let i = 0; i < 2000 && c === null; i++) { c = svc.recv(); if (c === null) await new Promise((r) => setTimeout(r, 1)); }
  for (let i = 0; i < 20; i++) svc.sendText(caller.id, `event ${i}`);
  svc.reply(c!, enc('done'));
  c!.free();
  await p;
  assert.is(atSettle, 20, 'handed every event queued before the reply first');
  l.stop();
  await l.done;
  assert.is(caller.queued, 0);
  caller.close(); svc.close();
});

t("a for await loop's batch that takes a call's reply while a listener of the connection is parked hands it to the call at once (it held it for the listener, and the loop's body, awaiting that call, waited until the listener looked again) (stop 65, an outside reading)", async ({ bus }) => {
  const caller = bus.connect(), svc = bus.connect();
  const seen: string[] = [];
  const l = caller.listen((m) => { seen.push(m.text()); });
  await new Promise((r) => setTimeout(r, 20)); // (parked on the empty queue)
  const p = caller.call(svc.id, enc('run'), { timeout: 60000 });
  let c: Message | null = null;
  for (let i = 0; i < 2000 && c === null; i++) { c = svc.recv(); if (c === null) await new Promise((r) => setTimeout(r, 1)); }
  svc.sendText(caller.id, 'event');
  svc.reply(c!, enc('done'));
  c!.free();
  let got = '';
  for await (const m of caller) {
    got = m.text();
    const r = await Promise.race([p, new Promise<null>((res) => setTimeout(() => res(null), 5000))]);
    assert.ok(r !== null, 'the call settled while the loop awaited it');
    assert.is(r!.text(), 'done');
    r!.free();
    break;
  }
  assert.is(got, 'event');
  l.stop();
  await l.done;
  assert.equal(seen, []);
  caller.close(); svc.close();
});

t.run();

// the provider's clock in real time (a call's deadline passes while the listener works), and
// reply records for 100 calls
const rt = busSuite('call order with a listener, real clock', { provider: new MockProvider({ seed: 42, realClock: true }), limits: { ...SMALL, replies: 128 } });

rt('a batch of nothing but answers is not an empty queue: every call settles at once and the message after them is handed over', async ({ bus }) => {
  const caller = bus.connect(), svc = bus.connect();
  const calls = Array.from({ length: 100 }, (_, i) => caller.call(svc.id, new Uint8Array([i]), { timeout: 60000 }));
  svc.sendText(caller.id, 'e0');
  for (let i = 0; i < 100; i++) {
    const m = svc.recv()!;
    svc.reply(m, m.payload);
    m.free();
  }
  svc.sendText(caller.id, 'e1');
  const seen: string[] = [];
  const l = caller.listen((msg) => { seen.push(msg.text()); });
  const got = await within(Promise.all(calls), 2000);
  for (let i = 0; i < 100; i++) { assert.is(got[i].payload[0], i); got[i].free(); }
  for (let i = 0; i < 1000 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 1));
  assert.equal(seen, ['e0', 'e1']);
  assert.is(caller.queued, 0);
  l.stop();
  await within(l.done);
});


rt('an answer queued before its deadline stays behind the messages before it when the deadline passes meanwhile', async ({ bus }) => {
  const j = job(bus, 5000), { caller, svc } = j;
  const p = caller.call(svc.id, enc('run'), { timeout: 60 });
  const m = await nextCall(svc);
  // 40 events of 5 ms each, then the answer, all within a few ms of the call: the listener
  // works 200 ms through them, past the call's 60 ms deadline
  for (let i = 0; i < 40; i++) svc.sendText(caller.id, `event ${i}`);
  svc.replyText(m, 'done');
  m.free();
  const r = await settled(p, j);
  assert.is(r.value?.text(), 'done', 'the answer came before the deadline: the call resolves');
  assert.is(r.at, 40, 'after every event queued before the answer');
  r.value!.free();
  await stopped(j);
});

rt('a call that times out settles at once though its REPLY_TIMEOUT was queued behind the listener\'s backlog', async ({ bus }) => {
  // (a message published after the deadline makes the listener's RECV_BATCH expire the call:
  // its REPLY_TIMEOUT is queued at the tail, behind what the listener has not taken yet;
  // outside audit EC saw the call wait for the whole backlog then)
  const caller = bus.connect(), svc = bus.connect(), other = bus.connect();
  let handled = 0, late = false, t0 = Infinity;
  const l = caller.listen(() => {
    handled++;
    if (late || performance.now() - t0 < 50) { busy(5000); return; }
    // the deadline passes inside this handler (no timer of the thread runs meanwhile), and a
    // send after it expires the call in the core, before the pump's own look
    late = true;
    while (performance.now() - t0 < 63);
    other.sendText(caller.id, 'late');
  });
  for (let i = 0; i < 60; i++) other.sendText(caller.id, `event ${i}`);
  t0 = performance.now();
  const p = caller.call(svc.id, enc('run'), { timeout: 60 });
  const m = svc.recv()!;
  let code = '', at = -1;
  try { await within(p); } catch (err) { code = (err as BusError).code; at = handled; }
  assert.is(code, 'ETIMEDOUT');
  assert.ok(at < 45, `settled before the listener got through the backlog (${at} of 61 handed over)`);
  for (let i = 0; i < 5000 && handled < 61; i++) await new Promise((r) => setTimeout(r, 1));
  assert.is(handled, 61);
  m.free();
  l.stop();
  await within(l.done);
});

rt('a call that times out with messages queued settles at once (ETIMEDOUT does not wait for the listener)', async ({ bus }) => {
  const j = job(bus, 5000), { caller, svc } = j;
  const p = caller.call(svc.id, enc('run'), { timeout: 60 });
  const m = await nextCall(svc);
  for (let i = 0; i < 40; i++) svc.sendText(caller.id, `event ${i}`);
  const r = await settled(p, j);
  assert.is(r.code, 'ETIMEDOUT');
  assert.ok(r.at < 40, `settled before the listener got through the events (${r.at} of 40 handed over)`);
  for (let i = 0; i < 5000 && j.handled < 40; i++) await new Promise((r2) => setTimeout(r2, 1));
  assert.is(j.handled, 40);
  assert.throws(() => svc.reply(m, null), (e: BusError) => e.code === 'EBADSLT', 'too late: the caller\'s record is gone');
  m.free();
  await stopped(j);
});

rt.run();
