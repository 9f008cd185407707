// A worker that dies without leaving (terminate()): bus.watch() recovers its thread slot on
// 'exit' (its command finished or undone, its locks released, its connections closed), and the
// bus stays consistent and usable. node:worker_threads workers (also under Deno): only they
// have an exit event that says the thread has stopped.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BusError, type Bus, type Connection, type Message } from '../../js/index.ts';
import { terminateAll, RUNTIME, within } from '../helpers/worker.ts';
import { checkBus } from '../helpers/check.ts';
import { ENGINE, threadBus, peer, MSG_MS } from './common.ts';
import { senderPayload } from './payload.ts';

const s = suite(`threads: recovery [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

function sendCode(c: Connection, dst: number): string {
  try { c.send(dst, null); } catch (e) { return (e as BusError).code; }
  return 'sent';
}

/** A fresh peer takes a thread slot and talks: the bus still works. */
async function stillWorks(bus: Bus, main: Connection): Promise<void> {
  const q = await peer(bus, { role: 'echo' }, 'thread');
  main.send(q.ready.id, new Uint8Array([1, 2, 3]));
  assert.equal((await q.w.next<{ got: number[] }>(MSG_MS, 'echo')).got, [1, 2, 3]);
  const m = await main.recvAsync({ timeout: MSG_MS });
  assert.equal([...m.payload], [3, 2, 1]);
  m.free();
  main.send(q.ready.id, null);
  assert.equal(await q.w.next(MSG_MS, 'done'), { done: true });
  assert.is(bus.recoverThread(q.h.token), -1);
}

s('an idle worker (joined, connected, waiting) is terminated: watch() recovers its slot', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const p = await peer(bus, { role: 'echo' }, 'thread');
  const watched = bus.watch(p.w.thread!, p.h);
  assert.is(bus.engine.liveConns(), 2);
  await p.w.terminate();
  const r = await within(watched, MSG_MS, 'watch() after exit');
  assert.is(r.error, undefined, String(r.error));
  assert.is(r.slot, p.ready.slot, 'its slot was recovered');
  assert.is(bus.recoverThread(p.h.token), -1, 'only once');
  assert.is(bus.engine.liveConns(), 1, 'its connection was closed');
  assert.is(sendCode(main, p.ready.id), 'ENXIO');
  assert.equal(checkBus(bus.engine), []);
  await stillWorks(bus, main);
  main.close();
  bus.close();
});

// Deno: terminate() does not interrupt running JS (the worker stops at its next event-loop
// turn) and Deno's node:worker_threads emits 'exit' before that. The engine's busy word and
// the live check at every lock keep a worker that runs on from touching the bus once it is
// declared dead (docs/ARCHITECTURE.md, "A thread declared dead that still runs").
s('a worker terminated while it sends as fast as it can: recovered, nothing half-made', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const p = await peer(bus, { role: 'sender', index: 3, dst: main.id, count: 1e9, size: 64 }, 'thread');
  const watched = bus.watch(p.w.thread!, p.h);
  let next = 0;
  const take = (m: Message) => {
    const dv = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
    assert.is(dv.getUint32(4, true), next, 'in order, none lost, none twice');
    assert.equal([...m.payload], [...senderPayload(3, next, 64)]);
    m.free();
    next++;
  };
  main.send(p.ready.id, null); // go
  while (next < 300) take(await main.recvAsync({ timeout: MSG_MS }));
  await p.w.terminate(); // most likely inside a send, maybe holding a lock
  const r = await within(watched, MSG_MS, 'watch() after exit');
  assert.is(r.error, undefined, String(r.error));
  assert.is(r.slot, p.ready.slot);
  for (let m = main.recv(); m; m = main.recv()) take(m); // what it published before it died
  assert.is(main.poolUsed, 0, 'nothing reserved, nothing leaked');
  assert.equal(checkBus(bus.engine), []);
  assert.is(bus.engine.liveConns(), 1);
  await stillWorks(bus, main);
  main.close();
  bus.close();
});

s.run();
