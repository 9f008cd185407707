// Recovery under real threads: recoverers that race for the same dead thread (one wins, the
// counts never underflow), a main thread that touches a dead worker's lock before the worker's
// 'exit' reaches it (a bounded wait, EDEADLK, then watch() recovers it), the same at random
// with terminate() during traffic, and a slow but live lock holder that is waited for and not
// declared dead.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Bus, BusError, MockProvider, WasmEngine, TwinEngine, abi as A, type Connection, type Engine, type Message } from '../../js/index.ts';
import { spawn, terminateAll, RUNTIME, within, type TestWorker } from '../helpers/worker.ts';
import { checkBus } from '../helpers/check.ts';
import { Raw, hostVec } from '../helpers/raw.ts';
import { ENGINE, THREAD_LIMITS, READY_MS, MSG_MS, peer } from './common.ts';
import { senderPayload } from './payload.ts';
import type { RecovInput } from './recov.worker.ts'; // types only: importing it would run it
import { existsSync } from 'node:fs';

// the recoverers' control block (word indices from the user region), as recov.worker.ts reads it
const CTL_ROUND = 0, CTL_TOKEN = 1, CTL_DONE = 2, CTL_RESULTS = 4;

const s = suite(`threads: recovery races and bounded lock waits [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

const WORKER = new URL('./recov.worker.ts', import.meta.url);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function makeBus(hooks = false): Promise<Bus> {
  return Bus.create({ engine: ENGINE, provider: new MockProvider({ seed: 42 }), limits: THREAD_LIMITS, userRegion: 65536, hooks });
}

async function start<T>(bus: Bus, inp: Omit<RecovInput, 'handle'>): Promise<{ w: TestWorker; h: ReturnType<Bus['handle']>; ready: T }> {
  const h = bus.handle();
  const w = spawn(WORKER, { ...inp, handle: h }, { kind: 'thread' });
  const ready = await w.next<T & { error?: string }>(READY_MS, `${inp.role} to join`);
  if (ready.error) assert.unreachable(`${inp.role}: ${ready.error}`);
  return { w, h, ready };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(1);
  }
}

function takeAll(c: Connection): number {
  let n = 0;
  for (let m = c.recv(); m; m = c.recv()) { m.free(); n++; }
  return n;
}

s('recoverers race for the same dead thread, many times: exactly one recovers it, nothing underflows', async () => {
  const bus = await makeBus();
  const e = bus.engine, raw = new Raw(e);
  const main = bus.connect();
  const W = 3, ROUNDS = 25;
  const i32 = new Int32Array(bus.memory.buffer), c = bus.userRegion >>> 2;
  const ws = [];
  for (let i = 0; i < W; i++) ws.push(await start<{ slot: number }>(bus, { role: 'recoverer', index: i, ctl: bus.userRegion, workers: W, rounds: ROUNDS }));
  const rc = e.connAddr(main.slot);
  let winners = [0, 0, 0];
  for (let round = 1; round <= ROUNDS; round++) {
    // the victim: joins, opens a connection, queues one message and reserves another, dies
    const p = new MockProvider({ seed: round });
    const v: Engine = ENGINE === 'wasm' ? await WasmEngine.create(bus.module!, bus.memory, p) : new TwinEngine(bus.memory, p);
    const token = bus.handle().token;
    assert.ok(v.threadJoin(token) >= 0);
    const rawV = new Raw(v);
    const h = rawV.hello({ attachSend: 0, attachRecv: 0 });
    assert.ok(h.r >= 0);
    assert.is(rawV.free(h.slot, h.gen, h.offset), 0);
    assert.is(rawV.send(h.slot, h.gen, { msg: { dst: main.id }, items: [hostVec(32)] }), 0);
    rawV.writeSend({ msg: { dst: main.id }, items: [hostVec(64)] });
    assert.is(v.send(h.slot, h.gen), A.SEND_PENDING);
    assert.is(e.u32[(rc + A.CONN_N_RESV) >>> 2], 1);
    Atomics.store(i32, c + CTL_TOKEN, token);
    Atomics.store(i32, c + CTL_ROUND, round);
    Atomics.notify(i32, c + CTL_ROUND);
    await until(() => Atomics.load(i32, c + CTL_DONE) >= round * W, MSG_MS, `round ${round}`);
    const got = [];
    for (let i = 0; i < W; i++) got.push(Atomics.load(i32, c + CTL_RESULTS + (round - 1) * W + i));
    const won = got.filter((r) => r === v.threadSlot).length;
    assert.is(won, 1, `round ${round}: exactly one recoverer recovered it (${got})`);
    for (const r of got) assert.ok(r === v.threadSlot || r === -1 || r === -A.EALREADY, `round ${round}: ${got}`);
    winners[got.indexOf(v.threadSlot)]++;
    assert.is(e.u32[(rc + A.CONN_N_RESV) >>> 2], 0, 'the reservation was cancelled once');
    assert.equal(checkBus(e), [], `round ${round}: consistent`);
    assert.is(takeAll(main), 1, 'the committed message is there, the reserved one is not');
    assert.is(main.poolUsed, 0, 'used did not underflow');
  }
  for (const w of ws) assert.equal(await w.w.next(MSG_MS, 'recoverer done'), { done: true });
  void winners; void raw;
  main.close();
  bus.close();
});

/**
 * A worker (watched) that dies inside a SEND to `r`, holding r's lock (fault injection: a
 * hooks bus), told to go by `main`: the worker, its watch() and the lock word's address.
 */
async function deadHolder(bus: Bus, main: Connection, r: Connection) {
  const d = await start<{ id: number; slot: number }>(bus, { role: 'dying-sender', index: 1, dst: r.id, dieAt: 0, fault: 1 });
  const watched = bus.watch(d.w.thread!, d.h);
  main.send(d.ready.id, null); // go
  assert.equal(await d.w.next(MSG_MS, 'the worker to die'), { died: 0 });
  const lock = bus.engine.connAddr(r.slot) + A.CONN_LOCK;
  assert.is(bus.engine.u32[lock >>> 2] & A.LOCK_ID_MASK, d.ready.slot + 1, 'the dead worker holds the receiver\'s lock');
  return { d, watched, lock };
}

s('a worker dies inside SEND holding the receiver\'s lock: the main thread\'s send fails with EDEADLK instead of hanging, then watch() recovers it', async () => {
  const bus = await makeBus(true);
  const main = bus.connect();
  const r = bus.connect();
  const { d, watched, lock } = await deadHolder(bus, main, r);
  // the worker lies dead and its 'exit' has not reached this thread (Node delivers it on this
  // thread's event loop; Deno's node:worker_threads fires it from terminate() itself, so the
  // worker is terminated only after the send, in both runtimes)
  const t0 = performance.now();
  let code = 'sent';
  try { main.send(r.id, new Uint8Array([1])); } catch (err) { code = (err as BusError).code; }
  const waited = performance.now() - t0;
  assert.is(code, 'EDEADLK');
  assert.ok(waited >= A.LOCK_WAIT_MS * 0.9 && waited < A.LOCK_WAIT_MS * 5, `a bounded wait (${waited.toFixed(0)} ms)`);
  assert.is(r.poolUsed, 0, 'the failed send changed nothing');
  await d.w.terminate();
  const res = await within(watched, MSG_MS, 'watch() after exit');
  assert.is(res.error, undefined, String(res.error));
  assert.is(res.slot, d.ready.slot, 'recovered');
  assert.is(bus.engine.u32[lock >>> 2], 0, 'its lock released');
  assert.equal(checkBus(bus.engine), []);
  main.send(r.id, new Uint8Array([2]));
  const m = r.recv()!;
  assert.equal([...m.payload], [2]);
  m.free();
  main.close();
  r.close();
  bus.close();
});

s('several event-loop waits on a dead worker\'s lock leave the event loop free: its exit is handled, watch() recovers it, and every wait then succeeds', async () => {
  // (before: each retry blocked the thread ASYNC_LOCK_WAIT_MS in Atomics.wait, and with two
  // waiters Node never left its timers phase: the 'exit' came after LOCK_WAIT_MS, when a
  // wait had already failed with EDEADLK; found by an outside audit)
  const bus = await makeBus(true);
  const main = bus.connect(), a = bus.connect(), b = bus.connect(), c = bus.connect();
  const r = bus.connect();
  const { d, watched } = await deadHolder(bus, main, r);
  const settle = (p: Promise<unknown>) => p.then(() => 'ok', (e: BusError) => e.code ?? String(e));
  const waits = [
    settle(a.sendAsync(r.id, new Uint8Array([1]), { timeout: 20000 })),
    settle(b.sendAsync(r.id, new Uint8Array([2]), { timeout: 20000 })),
    settle(c.call(r.id, new Uint8Array([3]), { timeout: 20000 }).then((m) => m.free())),
  ];
  await sleep(100); // the waits are retrying now
  await d.w.terminate();
  const res = await within(watched, MSG_MS, 'watch() after exit');
  assert.is(res.error, undefined, String(res.error));
  const [ra, rb] = await Promise.all(waits.slice(0, 2));
  assert.equal([ra, rb], ['ok', 'ok'], 'both sendAsync waited for the recovery (no EDEADLK)');
  // the call's message is there too: answer it
  const got: number[] = [];
  while (got.length < 3) {
    const m = await r.recvAsync({ timeout: MSG_MS });
    got.push(m.payload[0]);
    if (m.expectsReply) r.reply(m, new Uint8Array([9]));
    m.free();
  }
  assert.equal(got.sort(), [1, 2, 3]);
  assert.is(await waits[2], 'ok', 'the call waited for the recovery too');
  assert.equal(checkBus(bus.engine), []);
  for (const x of [main, a, b, c, r]) x.close();
  bus.close();
});

s('a worker terminated at random while the main thread sends to it and receives from it: nothing hangs, recovered, consistent', async () => {
  const bus = await makeBus();
  const main = bus.connect();
  const p = await peer(bus, { role: 'sender', index: 4, dst: main.id, count: 1e9, size: 64 }, 'thread');
  const watched = bus.watch(p.w.thread!, p.h);
  let next = 0;
  const take = (m: Message) => {
    const dv = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
    assert.is(dv.getUint32(4, true), next, 'in order, none lost, none twice');
    assert.equal([...m.payload], [...senderPayload(4, next, 64)]);
    m.free();
    next++;
  };
  main.send(p.ready.id, null); // go
  while (next < 200) take(await main.recvAsync({ timeout: MSG_MS }));
  const codes = new Map<string, number>();
  const terminated = p.w.terminate();
  // synchronous traffic, without returning to the event loop, while the worker is killed
  const end = performance.now() + 300;
  while (performance.now() < end) {
    try {
      main.send(p.ready.id, new Uint8Array(16));
    } catch (err) {
      const c = (err as BusError).code ?? String(err);
      codes.set(c, (codes.get(c) ?? 0) + 1);
      // ENXIO: recovered already (Deno's node:worker_threads fires 'exit' from terminate())
      assert.ok(['ENOBUFS', 'EXFULL', 'EDEADLK', 'ENXIO'].includes(c), `send: ${c}`);
    }
    try {
      const m = main.recv();
      if (m) take(m);
    } catch (err) {
      const c = (err as BusError).code ?? String(err);
      codes.set(c, (codes.get(c) ?? 0) + 1);
      assert.is(c, 'EDEADLK');
    }
  }
  await terminated;
  const r = await within(watched, MSG_MS, 'watch() after exit');
  assert.is(r.error, undefined, String(r.error));
  assert.is(r.slot, p.ready.slot);
  for (let m = main.recv(); m; m = main.recv()) take(m);
  assert.is(main.poolUsed, 0, 'nothing reserved, nothing leaked');
  assert.equal(checkBus(bus.engine), []);
  assert.is(bus.engine.liveConns(), 1);
  main.close();
  bus.close();
});

s('a live thread that holds a lock for a while (slow, not dead): the send waits for it, succeeds, and nobody is declared dead', async () => {
  const bus = await makeBus();
  const main = bus.connect(), r = bus.connect();
  const lock = bus.engine.connAddr(r.slot) + A.CONN_LOCK;
  const hold = await start<{ holding: boolean; slot: number }>(bus, { role: 'hold-lock', lock, ms: 300, ctl: bus.userRegion });
  assert.ok(hold.ready.holding);
  const t0 = performance.now();
  main.send(r.id, new Uint8Array([9]));
  const waited = performance.now() - t0;
  assert.ok(waited < A.LOCK_WAIT_MS, `waited ${waited.toFixed(0)} ms, within the bound`);
  assert.equal(await hold.w.next(MSG_MS, 'released'), { released: true });
  assert.is(bus.recoverThread(hold.h.token), -1, 'it left by itself: it was never declared dead');
  const m = r.recv()!;
  assert.equal([...m.payload], [9]);
  m.free();
  assert.equal(checkBus(bus.engine), []);
  main.close();
  r.close();
  bus.close();
});

s('a live, contended lock that every look finds taken (it changes hands between looks, never free) is not declared stuck: event-loop waits end at their own timeout with ETIMEDOUT, never EDEADLK, and go through once it is free', async () => {
  // (before stop 32, looks a second apart counted as a second of one holder; an outside audit
  // saw a call fail with EDEADLK once on a loaded machine with every thread alive)
  const bus = await makeBus();
  const main = bus.connect(), r = bus.connect();
  main.send(r.id, new Uint8Array([7])); // queued before the lock is held
  const lock = bus.engine.connAddr(r.slot) + A.CONN_LOCK;
  const HOT_MS = 3000, TIMEOUT = 1800;
  const hot = await start<{ holding: boolean; slot: number }>(bus, { role: 'hot-lock', lock, ms: HOT_MS, hold: 4, ctl: bus.userRegion });
  assert.ok(hot.ready.holding);
  const t0 = performance.now();
  const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof BusError ? e.code : String(e)));
  // a receive of r (its RECV takes r's lock) and a send to r (its SEND does), both waiting on the event loop
  const [recv, send] = await Promise.all([
    outcome(r.recvAsync({ timeout: TIMEOUT }).then((m) => m.free())),
    outcome(main.sendAsync(r.id, new Uint8Array([8]), { timeout: TIMEOUT })),
  ]);
  const took = performance.now() - t0;
  assert.is(recv, 'ETIMEDOUT', `the receive: ${recv} after ${took.toFixed(0)} ms (before: EDEADLK after LOCK_WAIT_MS)`);
  assert.is(send, 'ETIMEDOUT', `the send: ${send} after ${took.toFixed(0)} ms (before: EDEADLK after LOCK_WAIT_MS)`);
  const done = await hot.w.next<{ released: boolean; handovers: number }>(HOT_MS + MSG_MS, 'released');
  assert.ok(done.released && done.handovers > 100, `the lock changed hands ${done.handovers} times`);
  // free again: both go through, nothing lost
  const m = await within(r.recvAsync({ timeout: MSG_MS }), MSG_MS, 'the message once the lock is free');
  assert.equal([...m.payload], [7]);
  m.free();
  await within(main.sendAsync(r.id, new Uint8Array([9]), { timeout: MSG_MS }), MSG_MS, 'a send once the lock is free');
  r.recv()!.free();
  assert.equal(checkBus(bus.engine), []);
  main.close();
  r.close();
  bus.close();
});

/** the OS thread id thread slot `slot`'s thread wrote into the liveness table (0: not known) */
function osThread(bus: Bus, slot: number): number {
  const u32 = bus.engine.u32;
  return Atomics.load(u32, (u32[(A.BUS_BASE + A.BUS_LIVENESS) >>> 2] + slot * A.LIVENESS_SIZE + A.LIVENESS_OS_THREAD) >>> 2);
}

/**
 * A bus, two connections, and a worker (hold-lock) that holds r's lock for `ms` and is declared
 * dead meanwhile; `done()`: it had finished what it held the lock for (word 1 of the user region)
 */
async function lockHolder(ms: number) {
  const bus = await makeBus();
  const main = bus.connect(), r = bus.connect();
  const lock = bus.engine.connAddr(r.slot) + A.CONN_LOCK;
  const i32 = new Int32Array(bus.memory.buffer), word = (bus.userRegion >>> 2) + 1;
  Atomics.store(i32, word, 0);
  const hold = await start<{ holding: boolean; slot: number }>(bus, { role: 'hold-lock', lock, ms, ctl: bus.userRegion, declared: true });
  assert.ok(hold.ready.holding);
  const end = () => { main.send(r.id, new Uint8Array([1])); r.recv()!.free(); main.close(); r.close(); bus.close(); };
  return { bus, hold, done: () => Atomics.load(i32, word) === 1, tid: osThread(bus, hold.ready.slot), end };
}

s('a thread declared dead while it still runs inside a command (its OS thread alive: a Deno worker after terminate(), or one the OS descheduled) is waited for until it leaves the lock, not 100 ms', async () => {
  // (an outside audit, stop 31: a Deno worker descheduled for more than 100 ms inside a command
  // after terminate() was recovered under it, and the bus was left broken)
  const { bus, hold, done, tid, end } = await lockHolder(400);
  if (tid === 0) {
    console.log('  (skipped: this runtime gives no OS thread id here: no /proc, or Deno without -A)');
    await hold.w.next(MSG_MS, 'released');
  } else {
    // as watch() does on Deno after 'exit' (stopped: false), and as a blocking call does
    const slot = await within(bus.recoverThreadAsync(hold.h.token), MSG_MS, 'the recovery');
    assert.ok(done(), 'the recovery went ahead only once the thread had left the lock it was in');
    assert.is(slot, hold.ready.slot);
    assert.ok((await hold.w.next<{ released: boolean }>(MSG_MS, 'released')).released);
    assert.equal(checkBus(bus.engine), []);
    assert.is(osThread(bus, hold.ready.slot), 0, 'its OS thread word cleared by the recovery');
  }
  end();
});

s('watch() of a worker terminated while it holds a lock: under Deno (its exit comes before the worker stops) the recovery waits until the worker has left the lock; under Node (exit: stopped) it goes ahead at once', async () => {
  const { bus, hold, done, tid, end } = await lockHolder(400);
  const watched = bus.watch(hold.w.thread!, hold.h);
  void hold.w.terminate();
  const res = await within(watched, MSG_MS, 'watch() to recover the terminated worker');
  assert.is(res.error, undefined, String(res.error));
  assert.is(res.slot, hold.ready.slot);
  if (RUNTIME === 'deno' && tid !== 0) assert.ok(done(), 'Deno: recovered only once the worker had left the lock it held');
  assert.equal(checkBus(bus.engine), []);
  end();
});

s('a thread declared dead whose OS thread is gone is recovered without the 100 ms wait, although it died holding a lock', async () => {
  if (RUNTIME === 'deno') {
    // (Deno's terminate() does not interrupt a synchronous loop: a worker there cannot be made
    // to stop while it holds a lock; it releases it first, which is the case above)
    console.log('  (skipped under Deno: terminate() lets a worker finish its synchronous loop, so none stops holding a lock)');
    return;
  }
  const { bus, hold, tid, end } = await lockHolder(60000);
  await hold.w.terminate();
  if (tid === 0) {
    console.log('  (skipped: this runtime gives no OS thread id here: no /proc)');
    bus.recoverThread(hold.h.token);
  } else {
    await until(() => !taskExists(tid), MSG_MS, 'its OS thread to end');
    // the first try of an event-loop recovery goes ahead at once (before: EDEADLK, tried again
    // every 50 ms until the dying thread had had its 100 ms)
    const first = await Promise.race([bus.recoverThreadAsync(hold.h.token), sleep(30).then(() => 'later')]);
    assert.is(first, hold.ready.slot, 'recovered by its first try');
    assert.equal(checkBus(bus.engine), []);
  }
  end();
});

/** does /proc/self/task/<tid> exist (this test's own look, as host/os-thread.ts's) */
function taskExists(tid: number): boolean {
  const D = (globalThis as { Deno?: { statSync(p: string): unknown } }).Deno;
  try {
    if (D) D.statSync(`/proc/self/task/${tid}`);
    else if (!existsSync(`/proc/self/task/${tid}`)) return false;
    return true;
  } catch {
    return false;
  }
}

s.run();
