// fair: a thread's own wake-ups leave its event loop its turns (js/host/fair.ts). A caller
// and its service on one thread, or two connections playing ping-pong, wake each other
// through Atomics.waitAsync; on Node those resolutions never went back to the timers (outside
// audit, stop 20: 200 000 same-thread calls ran in 9 s while a 10 ms timer waited). Each
// test runs round trips until a timer of 10 ms has fired, or ROUNDS round trips: the timer
// must come first (an order, not a time: the old code ran all ROUNDS first).
import * as assert from 'uvu/assert';
import type { Connection } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('fair');
/** enough round trips for several seconds on the old code (42 µs each in the audit) */
const ROUNDS = 50000;

/** run `trip` until a 10 ms timer fires or ROUNDS trips are done; how many were done when it fired (-1: never) */
async function untilTimer(trip: () => Promise<void>): Promise<number> {
  let fired = -1, n = 0;
  const timer = setTimeout(() => { fired = n; }, 10);
  try {
    while (fired < 0 && n < ROUNDS) { await trip(); n++; }
  } finally {
    clearTimeout(timer);
  }
  return fired;
}

/** a service on this thread answering every call with recvAsync + reply, until `svc` closes */
function recvService(svc: Connection): Promise<void> {
  return (async () => {
    for (;;) {
      let m;
      try { m = await svc.recvAsync({ timeout: 10000 }); } catch { return; }
      svc.reply(m, null);
      m.free();
    }
  })();
}

t('call() to a service on the same thread (recvAsync): the thread\'s timers run meanwhile', async ({ bus }) => {
  const svc = bus.connect(), a = bus.connect();
  const served = recvService(svc);
  const fired = await untilTimer(async () => { (await a.call(svc.id, null, { timeout: 5000 })).free(); });
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS} calls were done`);
  svc.close();
  await served;
  a.close();
});

t('call() to a service on the same thread (conn.listen): the thread\'s timers run meanwhile', async ({ bus }) => {
  const svc = bus.connect(), a = bus.connect();
  const l = svc.listen((m) => { svc.reply(m, null); });
  const fired = await untilTimer(async () => { (await a.call(svc.id, null, { timeout: 5000 })).free(); });
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS} calls were done`);
  l.stop();
  await l.done;
  svc.close(); a.close();
});

t('send() + recvAsync() ping-pong between two connections of one thread: the thread\'s timers run meanwhile', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const ball = new Uint8Array(8);
  const echo = (async () => {
    for (;;) {
      let m;
      try { m = await b.recvAsync({ timeout: 10000 }); } catch { return; }
      m.free();
      b.send(a.id, ball);
    }
  })();
  const fired = await untilTimer(async () => {
    a.send(b.id, ball);
    (await a.recvAsync({ timeout: 5000 })).free();
  });
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS} round trips were done`);
  b.close();
  await echo;
  a.close();
});

/** about `us` µs of work (a handler's), without a timer */
function busy(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end) { /* spin */ }
}

t('a for await loop over a flood of queued messages (each handled refills the queue): the thread\'s timers run meanwhile', async ({ bus }) => {
  // (an outside audit, stop 30: every step found its message queued and resolved as a
  // microtask, so with 20 µs of work a message such a loop held a page's timers for a whole
  // 2 s flood; conn.listen yields every DRAIN_MS on its own)
  const a = bus.connect(), b = bus.connect();
  const ball = new Uint8Array(8);
  for (let i = 0; i < 32; i++) a.send(b.id, ball);
  let fired = -1, n = 0;
  const timer = setTimeout(() => { fired = n; }, 10);
  for await (const m of b) {
    void m;
    busy(20);
    if (++n >= ROUNDS / 5 || fired >= 0) break;
    a.send(b.id, ball);
  }
  clearTimeout(timer);
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS / 5} messages were handled`);
  while (b.drop()) { /* the rest */ }
  a.close(); b.close();
});

t('a recvAsync() loop over a flood of queued messages: the thread\'s timers run meanwhile', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const ball = new Uint8Array(8);
  for (let i = 0; i < 32; i++) a.send(b.id, ball);
  let fired = -1, n = 0;
  const timer = setTimeout(() => { fired = n; }, 10);
  while (n < ROUNDS / 5 && fired < 0) {
    const m = await b.recvAsync({ timeout: 5000 });
    m.free();
    busy(20);
    n++;
    a.send(b.id, ball);
  }
  clearTimeout(timer);
  assert.ok(fired >= 0, `the 10 ms timer fired before ${ROUNDS / 5} messages were handled`);
  while (b.drop()) { /* the rest */ }
  a.close(); b.close();
});

t.run();
