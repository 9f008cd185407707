// Wake-ups on one thread: recvAsync (Atomics.waitAsync on the connection's wake word) and
// recvWait (Atomics.wait), their timeouts, close and abort while waiting.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BusError, abi as A, type Bus } from '../../js/index.ts';
import { RUNTIME } from '../helpers/worker.ts';
import { ENGINE, threadBus } from './common.ts';

const s = suite<{ bus: Bus }>(`threads: wake-ups [${ENGINE}, ${RUNTIME}]`, {} as { bus: Bus });
s.before.each(async (ctx) => { ctx.bus = await threadBus(ENGINE); });
s.after.each((ctx) => {
  for (const c of ctx.bus.connections) { while (c.drop()); c.close(); }
  ctx.bus.close();
});

async function rejects(p: Promise<unknown>, code: string): Promise<BusError> {
  try { await p; } catch (e) {
    assert.instance(e, BusError);
    assert.is((e as BusError).code, code);
    return e as BusError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const later = (ms: number, fn: () => void) => setTimeout(fn, ms);

s('recvAsync: a queued message at once; else the next one published', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.sendText(b.id, 'first');
  const m1 = await b.recvAsync({ timeout: 1000 });
  assert.is(m1.text(), 'first');
  m1.free();
  const t0 = performance.now();
  later(60, () => a.sendText(b.id, 'second'));
  const p = b.recvAsync({ timeout: 2000 });
  assert.is(b.pendingReceives, 1);
  const m2 = await p;
  assert.is(m2.text(), 'second');
  assert.ok(performance.now() - t0 >= 50, 'it waited for the send');
  assert.is(b.pendingReceives, 0);
  m2.free();
});

s('recvAsync: the wake word moves once per published message', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const word = () => Atomics.load(bus.engine.i32, (bus.engine.connAddr(b.slot) + A.CONN_WAKE) >>> 2);
  const w0 = word();
  a.send(b.id, null);
  a.send(b.id, null);
  assert.is(word() - w0, 2);
  b.drop(); b.drop();
});

s('recvAsync: ETIMEDOUT after its timeout, nothing left pending', async ({ bus }) => {
  const b = bus.connect();
  const t0 = performance.now();
  await rejects(b.recvAsync({ timeout: 50 }), 'ETIMEDOUT');
  const dt = performance.now() - t0;
  assert.ok(dt >= 45 && dt < 2000, `after about 50 ms (${dt})`);
  assert.is(b.pendingReceives, 0);
  await rejects(b.recvAsync({ timeout: 0 }), 'ETIMEDOUT');
  await rejects(b.recvAsync({ timeout: -1 }), 'EINVAL');
  await rejects(b.recvAsync({ timeout: NaN }), 'EINVAL');
});

s('recvAsync: close() rejects pending receives with ECONNRESET at once', async ({ bus }) => {
  const b = bus.connect();
  const p1 = b.recvAsync({ timeout: 5000 }), p2 = b.recvAsync({ timeout: 5000 });
  await new Promise((r) => setTimeout(r, 10));
  const t0 = performance.now();
  b.close();
  await rejects(p1, 'ECONNRESET');
  await rejects(p2, 'ECONNRESET');
  assert.ok(performance.now() - t0 < 500);
  assert.is(b.pendingReceives, 0);
  await rejects(b.recvAsync({ timeout: 10 }), 'ECONNRESET');
});

s('recvAsync: an aborted signal rejects with ECANCELED', async ({ bus }) => {
  const b = bus.connect();
  const ac = new AbortController();
  const p = b.recvAsync({ timeout: 5000, signal: ac.signal });
  later(20, () => ac.abort());
  await rejects(p, 'ECANCELED');
  assert.is(b.pendingReceives, 0);
  await rejects(b.recvAsync({ signal: ac.signal }), 'ECANCELED');
});

s('recvAsync: two pending receives get two different messages, in order', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p1 = b.recvAsync({ timeout: 2000 }), p2 = b.recvAsync({ timeout: 2000 });
  later(10, () => { a.sendText(b.id, 'x'); a.sendText(b.id, 'y'); });
  const [m1, m2] = await Promise.all([p1, p2]);
  assert.equal([m1.text(), m2.text()].sort(), ['x', 'y']);
  m1.free(); m2.free();
});

s('recvAsync: peek and priority options pass through', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  later(10, () => a.sendText(b.id, 'p', { priority: 5 }));
  const m = await b.recvAsync({ timeout: 2000, peek: true });
  assert.is(m.text(), 'p');
  m.free();
  assert.is(b.queued, 1, 'peeked, still queued');
  await rejects(b.recvAsync({ timeout: 30, priority: 0 }), 'ETIMEDOUT');
  const n = await b.recvAsync({ timeout: 1000, priority: 5 });
  assert.is(n.text(), 'p');
  n.free();
});

s('recvWait: a queued message at once; null after its timeout (this thread may block)', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.sendText(b.id, 'now');
  const m = b.recvWait(1000)!;
  assert.is(m.text(), 'now');
  m.free();
  const t0 = performance.now();
  assert.is(b.recvWait(30), null);
  assert.ok(performance.now() - t0 >= 25);
  assert.is(b.recvWait(0), null);
  try { b.recvWait(-5); assert.unreachable(); } catch (e) { assert.is((e as BusError).code, 'EINVAL'); }
});

s('unref()/ref() and keepAlive: false leave receives working', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  // nothing of the bus keeps this thread alive now (keepalive.test.ts shows it in workers):
  // this timer does, as the application's own work would
  const alive = setTimeout(() => {}, 5000);
  try {
    assert.is(b.unref(), b);
    later(10, () => a.sendText(b.id, 'u'));
    const m = await b.recvAsync({ timeout: 2000 });
    m.free();
    b.ref();
    later(10, () => a.sendText(b.id, 'k'));
    const k = await b.recvAsync({ timeout: 2000, keepAlive: false });
    assert.is(k.text(), 'k');
    k.free();
  } finally {
    clearTimeout(alive);
  }
});

s.run();
