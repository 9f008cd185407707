// Calls across threads: a worker answers conn.call() and conn.callSync() of the main thread;
// a call pending at a worker that is terminated ends with EPIPE once bus.watch() recovered
// the worker's thread (its connection closed: REPLY_DEAD).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BusError } from '../../js/index.ts';
import { spawn, terminateAll, RUNTIME, within } from '../helpers/worker.ts';
import { ENGINE, threadBus, MSG_MS, READY_MS, THREAD_LIMITS } from './common.ts';

const s = suite(`threads: calls [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

const WORKER = new URL('./calls.worker.ts', import.meta.url);
interface Ready { ready: true; id: number; slot: number; error?: string }

s('a worker answers call() and callSync()', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const w = spawn(WORKER, { role: 'replier', handle: bus.handle() }, { kind: 'thread' });
  const ready = await w.next<Ready>(READY_MS, 'the replier to join');
  assert.is(ready.error, undefined);
  const r = await within(main.call(ready.id, new Uint8Array([1, 2, 3]), { timeout: MSG_MS }), MSG_MS * 2, 'the reply');
  assert.equal([...r.payload], [3, 2, 1]);
  r.free();
  const r2 = main.callSync(ready.id, new Uint8Array([4, 5]), { timeout: MSG_MS });
  assert.equal([...r2.payload], [5, 4]);
  r2.free();
  main.send(ready.id, null); // not a call: the worker stops
  assert.equal(await w.next(MSG_MS, 'done'), { done: true, answered: 2 });
  assert.is(main.pendingCalls, 0);
  main.close();
  bus.close();
});

/**
 * `step` awaited in a loop for `ms`, a 1 ms interval ticking meanwhile: how many steps ran,
 * how often the interval ticked and its longest gap (the timer tests below)
 */
async function timersDuring(step: () => Promise<void>, ms = 400): Promise<{ steps: number; ticks: number; gap: number }> {
  let ticks = 0, last = performance.now(), gap = 0;
  const iv = setInterval(() => { const t = performance.now(); gap = Math.max(gap, t - last); last = t; ticks++; }, 1);
  const end = performance.now() + ms;
  let steps = 0;
  last = performance.now();
  while (performance.now() < end) { await step(); steps++; }
  gap = Math.max(gap, performance.now() - last);
  clearInterval(iv);
  return { steps, ticks, gap };
}

// (stop 57, an outside audit: a reply caught by the caller's spin resolved its call in a
// microtask, uncounted by the thread's chain of wake-ups (host/fair.ts), so a loop of awaited
// calls whose replies the spin caught went back to the event loop's timers only when a spin
// missed: a 1 ms interval's longest gap 47.5 ms in 400 ms of such calls with 99.7 % caught,
// 30 ms once catches count. The test asks only that the timers run at all (a loaded machine
// stretches the gaps on its own: 236 ms with CI and an audit beside it): the old code passes it
// whenever its spins miss now and then, as they did in every run seen here; it would not if
// they never missed)
s('a loop of awaited calls whose replies the spin catches lets the timers run (host/fair.ts)', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect({ busyPoll: 100 });
  const w = spawn(WORKER, { role: 'fast', handle: bus.handle() }, { kind: 'thread' });
  const ready = await w.next<Ready>(READY_MS, 'the replier to join');
  assert.is(ready.error, undefined);
  const payload = new Uint8Array([1, 2]);
  const call = async () => { (await main.call(ready.id, payload, { timeout: MSG_MS })).free(); };
  for (let i = 0; i < 2000; i++) await call(); // (warm)
  const { steps: calls, ticks, gap } = await timersDuring(call);
  main.send(ready.id, null);
  await w.next(MSG_MS, 'done');
  assert.ok(calls > 100, `${calls} calls in 400 ms`);
  assert.ok(ticks >= 4, `a 1 ms interval ticked ${ticks} times during 400 ms of calls (longest gap ${gap.toFixed(1)} ms, ${calls} calls)`);
  assert.is(main.pendingCalls, 0);
  main.close();
  bus.close();
});

s('a loop of recvAsync() round trips whose answers the spin catches lets the timers run (host/fair.ts)', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect({ busyPoll: 100 });
  const w = spawn(WORKER, { role: 'echo', handle: bus.handle() }, { kind: 'thread' });
  const ready = await w.next<Ready>(READY_MS, 'the echo to join');
  assert.is(ready.error, undefined);
  const payload = new Uint8Array([1, 2]);
  const trip = async () => { main.send(ready.id, payload); (await main.recvAsync({ timeout: MSG_MS })).free(); };
  for (let i = 0; i < 2000; i++) await trip(); // (warm)
  const { steps: trips, ticks, gap } = await timersDuring(trip);
  main.send(ready.id, null);
  assert.equal(await w.next(MSG_MS, 'done'), { done: true, answered: 2000 + trips });
  assert.ok(trips > 100, `${trips} round trips in 400 ms`);
  assert.ok(ticks >= 4, `a 1 ms interval ticked ${ticks} times during 400 ms of round trips (longest gap ${gap.toFixed(1)} ms, ${trips} round trips)`);
  assert.is(main.stats().queued, 0);
  main.close();
  bus.close();
});

s('a job\'s events before its answer: with a listener on the caller, each call settles after them', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const w = spawn(WORKER, { role: 'progress', handle: bus.handle() }, { kind: 'thread' });
  const ready = await w.next<Ready>(READY_MS, 'the job service to join');
  assert.is(ready.error, undefined);
  let events = 0;
  // (a handler a little slow: the listener yields in the middle of its batches, when the
  // reply pump would run)
  const l = main.listen(() => { const end = performance.now() + 0.02; while (performance.now() < end); events++; });
  try {
    for (const n of [0, 1, 31, 32, 33, 300, 7, 600]) {
      const before = events;
      const r = await within(main.call(ready.id, new Uint8Array([n & 255, n >> 8]), { timeout: MSG_MS }), MSG_MS * 2, `the answer of a job of ${n} events`);
      assert.is(events - before, n, `a job of ${n} events: all handed over when its call settled`);
      r.free();
    }
    main.send(ready.id, null);
    assert.equal(await w.next(MSG_MS, 'done'), { done: true, answered: 8 });
  } finally {
    // (also when an assertion failed: a listener left running kept the process alive after
    // the suite, until the runner's timeout killed it, stop 68)
    l.stop();
  }
  await within(l.done, MSG_MS, 'the listener to end');
  assert.is(main.pendingCalls, 0);
  main.close();
  bus.close();
});

s('a call pending at a worker that is terminated and recovered ends with EPIPE', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const h = bus.handle();
  const w = spawn(WORKER, { role: 'hold', handle: h }, { kind: 'thread' });
  const ready = await w.next<Ready>(READY_MS, 'the worker to join');
  assert.is(ready.error, undefined);
  const watched = bus.watch(w.thread!, h);
  const p = main.call(ready.id, new Uint8Array([1]), { timeout: 60000 });
  const outcome = p.then(() => 'resolved', (e) => (e as BusError).code);
  assert.equal(await w.next(MSG_MS, 'the call received'), { got: true });
  await w.terminate();
  const rec = await within(watched, MSG_MS, 'watch() after exit');
  assert.is(rec.error, undefined, String(rec.error));
  assert.is(await within(outcome, MSG_MS, 'the call to end'), 'EPIPE');
  assert.is(main.pendingCalls, 0);
  assert.is(main.recv(), null);
  main.close();
  bus.close();
});

s('a burst of 1000 concurrent calls to a worker service: every one answered (backpressure, not EMLINK / ENOBUFS)', async () => {
  // issue 10's burst: before, 448 of 1000 answered, 437 ENOBUFS and 115 timeouts. Now a
  // call waits for a pending-call slot (128 per caller) and for room in the service, and the
  // service's replyAsync waits for room in the caller.
  const bus = await threadBus(ENGINE, { ...THREAD_LIMITS, replies: 1024 });
  const main = bus.connect();
  const w = spawn(WORKER, { role: 'service', handle: bus.handle() }, { kind: 'thread' });
  const ready = await w.next<Ready>(READY_MS, 'the service to join');
  assert.is(ready.error, undefined);
  const N = 1000;
  const calls: Promise<number>[] = [];
  for (let i = 0; i < N; i++) {
    calls.push(main.call(ready.id, new Uint8Array([i & 0xff, i >> 8]), { timeout: 30000 }).then((r) => {
      const v = r.payload[0] | (r.payload[1] << 8);
      r.free();
      return v;
    }));
  }
  const got = await within(Promise.all(calls), 60000, 'the 1000 replies');
  assert.equal(got, [...Array(N).keys()], 'each call got its own reply');
  main.send(ready.id, null); // not a call: the service stops
  assert.equal(await w.next(MSG_MS, 'done'), { done: true, answered: N });
  assert.is(main.pendingCalls, 0);
  assert.is(main.recv(), null);
  main.close();
  bus.close();
});

s.run();
