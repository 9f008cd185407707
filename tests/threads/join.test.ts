// Joining from another thread: the handle, Bus.join in a worker, messages both ways read in
// place, blocking receives in a worker, leaving, recovery of a terminated worker.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BusError, type BusHandle } from '../../js/index.ts';
import { terminateAll, within, RUNTIME } from '../helpers/worker.ts';
import { ENGINE, threadBus, peer, MSG_MS } from './common.ts';

const s = suite(`threads: join [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

s('handle(): the core, the memory, the engine, limits; a fresh token each time', async () => {
  const bus = await threadBus(ENGINE);
  const h1 = bus.handle(), h2 = bus.handle();
  assert.ok(h1.module instanceof WebAssembly.Module, 'the compiled core (also for a twin bus)');
  assert.ok(h1.memory === bus.memory);
  assert.is(h1.engine, ENGINE);
  assert.equal(h1.limits, bus.limits);
  assert.equal(h1.bloom, bus.bloom);
  assert.is(h1.userRegion, bus.userRegion);
  assert.ok(Number.isInteger(h1.token) && h1.token > 1 && h1.token <= 0xffffffff);
  assert.is.not(h1.token, h2.token);
  assert.is(bus.recoverThread(h1.token), -1, 'nobody joined with it');
  bus.close();
});

s('watches of one worker share one exit listener: watched once per join (13 handles), it gains one listener, and every watch ends at its exit', async () => {
  // (an outside audit, stop 56: a pooled worker that leaves and rejoins, watched once per
  // join, gained an 'exit' listener per watch, and Node warned MaxListenersExceeded past 10)
  const bus = await threadBus(ENGINE);
  const { w, h } = await peer(bus, { role: 'once' }, 'thread');
  const t = w.thread as unknown as { listenerCount(e: string): number };
  const base = t.listenerCount('exit');
  const handles = [h, ...Array.from({ length: 12 }, () => bus.handle())];
  const watches = handles.map((x) => bus.watch(w.thread!, x));
  assert.is(t.listenerCount('exit'), base + 1, 'one listener for the thirteen watches');
  await w.terminate();
  const results = await within(Promise.all(watches), MSG_MS, 'every watch to end at the exit');
  assert.ok(results[0]!.slot >= 1, `the joined handle's slot recovered (${JSON.stringify(results[0])})`);
  for (const r of results.slice(1)) assert.equal(r.slot, -1, 'nothing joined with the others');
  // late watches, one after another (under Deno the exit is told by cpuUsage, 2 s later: the
  // listener each added stayed for good before, an outside audit)
  const after = t.listenerCount('exit');
  for (let i = 0; i < 2; i++) {
    const late = await within(bus.watch(w.thread!, bus.handle()), MSG_MS, 'a late watch');
    assert.equal(late, { code: -1, slot: -1 }, 'a late watch: nothing to recover');
  }
  assert.is(t.listenerCount('exit'), after, 'late watches leave no listener');
  assert.is(bus.stats().threads.used, 1, 'the worker\'s slot recovered');
  bus.close();
});

s('a worker joins (no BUS_MAKE), messages cross both ways and are read in place', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect({ description: 'main' });
  const { w, h, ready } = await peer(bus, { role: 'echo' });
  assert.equal(ready.id128, [...bus.id128], 'the same bus');
  assert.ok(ready.slot >= 1, 'a thread slot of its own');
  assert.is(ready.engine, ENGINE);
  assert.is(ready.id, main.id + 1, 'ids continue: the bus was not made again');
  assert.is(bus.connections.length, 1);
  for (const size of [1, 7, 100, 4096, 20000]) {
    const out = new Uint8Array(size).map((_, i) => (i * 13 + size) & 0xff);
    const cookie = main.send(ready.id, out);
    const got = await w.next<{ got: number[]; inPlace: boolean; cookie: number }>(MSG_MS, `echo of ${size} bytes`);
    assert.equal(got.got, [...out], 'the worker read the bytes main sent');
    assert.ok(got.inPlace, "the worker's view is in its pool, in the shared memory");
    assert.is(got.cookie, cookie);
    const m = await main.recvAsync({ timeout: MSG_MS });
    assert.is(m.src, ready.id);
    assert.is(m.cookie, cookie + 1000);
    const p = m.payload;
    assert.ok(p.buffer === bus.memory.buffer && p.byteOffset >= main.poolBase && p.byteOffset < main.poolBase + main.poolSize, 'read in place');
    assert.equal([...p], [...out].reverse());
    m.free();
  }
  main.send(ready.id, null); // the stop message
  assert.equal(await w.next(MSG_MS, 'done'), { done: true });
  assert.is(bus.recoverThread(h.token), -1, 'it left the bus: nothing to recover');
  assert.is(main.poolUsed, 0);
  main.close();
  bus.close();
  await w.terminate();
});

s('recvWait in a worker: blocks until a message is published, null after its timeout', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const { w, ready } = await peer(bus, { role: 'wait' });
  await new Promise((r) => setTimeout(r, 200));
  main.send(ready.id, new Uint8Array([9, 8, 7]));
  const r = await w.next<{ got: number[]; waited: number; none: boolean; timedOutAfter: number }>(MSG_MS, 'recvWait result');
  assert.equal(r.got, [9, 8, 7]);
  assert.ok(r.waited >= 150, `it slept until the send (${r.waited} ms)`);
  assert.ok(r.none, 'null after the timeout');
  assert.ok(r.timedOutAfter >= 45, `after about 50 ms (${r.timedOutAfter})`);
  assert.equal(await w.next(MSG_MS, 'done'), { done: true });
  main.close();
  bus.close();
});

s('Bus.join: bad handles are refused', async () => {
  const bus = await threadBus(ENGINE);
  const { Bus } = await import('../../js/index.ts');
  const code = async (h: unknown) => {
    try { await Bus.join(h as BusHandle); } catch (e) { return (e as BusError).code; }
    return 'joined';
  };
  assert.is(await code({}), 'EINVAL');
  assert.is(await code({ ...bus.handle(), memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }) }), 'EBADF', 'no bus in it');
  assert.is(await code({ ...bus.handle(), token: 1 }), 'EINVAL', 'the creator token');
  assert.is(await code({ ...bus.handle(), engine: 'nope' }), 'EINVAL');
  bus.close();
});

s.run();
