// A listener's keep-alive (js/listen.ts, js/host/keepalive.ts): conn.listen takes the
// thread's keep-alive once, for its whole life, instead of at every park. Before, each parked
// message ref'd and unref'd the keep-alive timer (a toggle of a cold timer handle, some
// 10-25 µs of the receiving thread's CPU per message at 100 messages/s: docs/BENCHMARKS.md,
// stop 26). What the user sees stays as documented for recvAsync's keep-alive: keepAlive: false
// holds nothing, conn.unref() / ref() move the hold while the listener listens, and a stopped
// listener holds nothing. Both engines, one thread; the holds are counted by keepalive.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Bus, BusError, MockProvider } from '../../js/index.ts';
import { keepAliveHolds, keepAliveTakes } from '../../js/host/keepalive.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** wait (bounded) until `cond` holds */
async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(1);
  }
}

for (const engine of ['wasm', 'twin'] as const) {
  test(`listen holds the keep-alive once for its life, not once per parked message (${engine})`, async () => {
    const bus = await Bus.create({ engine, provider: new MockProvider() });
    const a = bus.connect(), b = bus.connect();
    assert.is(keepAliveHolds(), 0, 'nothing held before the listener');
    const takes0 = keepAliveTakes();
    const l = b.listen(() => {});
    await sleep(5); // parked
    assert.ok(keepAliveHolds() >= 1, 'a parked listener holds the thread');
    for (let i = 0; i < 6; i++) {
      a.send(b.id, new Uint8Array(8));
      await until(() => l.received === i + 1, `message ${i}`);
      await sleep(5); // the listener parks again (its spin, 50 µs at most, ran out long before)
    }
    assert.is(l.received, 6);
    assert.is(keepAliveTakes() - takes0, 1, 'the keep-alive timer was taken once, when the listener began');
    l.stop();
    await l.done;
    assert.is(keepAliveHolds(), 0, 'a stopped listener holds nothing');
    a.close(); b.close(); bus.close();
  });

  test(`listen's keep-alive: keepAlive: false holds nothing; unref() and ref() move the hold while it listens (${engine})`, async () => {
    const bus = await Bus.create({ engine, provider: new MockProvider() });
    const a = bus.connect(), b = bus.connect();
    const l1 = b.listen(() => {}, { keepAlive: false });
    await sleep(5);
    assert.is(keepAliveHolds(), 0, 'keepAlive: false');
    a.send(b.id, new Uint8Array(8));
    await until(() => l1.received === 1, 'the message');
    assert.is(keepAliveHolds(), 0, 'keepAlive: false, after a message');
    l1.stop();
    await l1.done;
    const l2 = b.listen(() => {});
    await sleep(5);
    assert.ok(keepAliveHolds() >= 1, 'held by default');
    b.unref();
    assert.is(keepAliveHolds(), 0, 'unref() while listening releases it');
    a.send(b.id, new Uint8Array(8));
    await until(() => l2.received === 1, 'the message after unref()');
    await sleep(5);
    assert.is(keepAliveHolds(), 0, 'an unref\'d listener parks without a hold');
    b.ref();
    assert.ok(keepAliveHolds() >= 1, 'ref() while listening takes it again');
    l2.stop();
    await l2.done;
    assert.is(keepAliveHolds(), 0, 'a stopped listener holds nothing');
    b.close();
    const l3 = a.listen(() => {});
    await sleep(5);
    a.close(); // closing the connection ends the listener, and its hold
    await l3.done;
    assert.is(keepAliveHolds(), 0, 'a listener ended by close() holds nothing');
    bus.close();
  });

  test(`a signal whose addEventListener throws: listen() and recvAsync() say EINVAL, and listen keeps neither the connection's listener place nor the keep-alive (${engine})`, async () => {
    // (a plain Error, and the place and the hold kept for good: the process never exited; an
    // outside audit, stop 40)
    const bus = await Bus.create({ engine, provider: new MockProvider() });
    const a = bus.connect(), b = bus.connect();
    const bad = { aborted: false, reason: undefined, addEventListener() { throw new Error('no listeners here'); }, removeEventListener() {} } as unknown as AbortSignal;
    const holds0 = keepAliveHolds();
    let err: unknown = null;
    try { b.listen(() => {}, { signal: bad }); } catch (e) { err = e; }
    assert.instance(err, BusError);
    assert.is((err as BusError).code, 'EINVAL');
    assert.match((err as BusError).message, /^listen: EINVAL: signal must be an AbortSignal that takes an 'abort' listener: its addEventListener threw \(no listeners here\)$/);
    assert.is(keepAliveHolds(), holds0, 'no keep-alive kept');
    const r = await b.recvAsync({ signal: bad, timeout: 1000 }).then(() => null, (e: unknown) => e);
    assert.instance(r, BusError);
    assert.match((r as BusError).message, /^recvAsync: EINVAL: signal must be an AbortSignal/);
    assert.is(b.pendingReceives, 0);
    const got: number[] = [];
    const l = b.listen((m) => { got.push(m.payload[0]); }); // (EBUSY before: the place was kept)
    a.send(b.id, new Uint8Array([7]));
    await until(() => got.length === 1, 'the message');
    l.stop();
    await l.done;
    assert.is(keepAliveHolds(), holds0, 'nothing held once the listener stopped');
    a.close(); b.close(); bus.close();
  });
}

test.run();
