// Keep-alive: a worker whose only code waits for one message stays alive until it arrives
// (500 ms later), then closes its connection and exits by itself; an unref'd receive does not
// hold a worker; receives that time out hold it until they do, and no timer is left holding
// it. Uses node:worker_threads workers (also under Deno: a Deno web Worker never exits by
// itself, so only a worker_threads Worker can show this).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { terminateAll, RUNTIME, sleep } from '../helpers/worker.ts';
import { ENGINE, threadBus, peer, MSG_MS } from './common.ts';

const s = suite(`threads: keep-alive [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

s('a worker waiting in recvAsync only receives a message sent 500 ms later, then exits by itself', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const { w, h, ready } = await peer(bus, { role: 'once' }, 'thread');
  let exitedEarly = false;
  w.exited(60000).then(() => { exitedEarly = true; }, () => {});
  await sleep(500);
  assert.not.ok(exitedEarly, 'still alive while its receive is pending');
  const payload = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
  main.send(ready.id, payload);
  const r = await w.next<{ got: number[] }>(MSG_MS, 'the message');
  assert.equal(r.got, [...payload]);
  const code = await w.exited(MSG_MS); // no terminate(): it exits because nothing holds it
  assert.is(code, 0);
  assert.is(bus.recoverThread(h.token), -1, 'it left the bus before exiting');
  assert.is(bus.engine.liveConns(), 1, 'its connection was closed');
  main.close();
  bus.close();
});

s("an unref'd pending receive does not keep a worker alive", async () => {
  const bus = await threadBus(ENGINE);
  const { w } = await peer(bus, { role: 'unref' }, 'thread');
  const code = await w.exited(MSG_MS);
  assert.is(code, 0);
  // it exited still joined, with its connection open: nothing delivered to it
  let more: unknown = null;
  try { more = await w.next(10); } catch { /* none */ }
  assert.is(more, null, 'no message and no error came from it');
});

s('waits for a name keep nothing alive when told so: conn.waitForName after unref(), bus.waitForName with keepAlive: false (stop 35: both held the worker until their timeout)', async () => {
  const bus = await threadBus(ENGINE);
  const { w } = await peer(bus, { role: 'name-unref' }, 'thread');
  assert.equal(await w.next(MSG_MS, 'its waits started'), { waiting: true });
  const t0 = performance.now();
  const code = await w.exited(MSG_MS); // within MSG_MS, not the waits' 20 s
  assert.is(code, 0);
  assert.ok(performance.now() - t0 < 10000, `exited with its waits pending: ${(performance.now() - t0).toFixed(0)} ms`);
  let more: unknown = null;
  try { more = await w.next(10); } catch { /* none */ }
  assert.is(more, null, 'neither wait ended before it exited');
  bus.close();
});

s('receives that time out keep a worker alive until their ETIMEDOUT; then it exits by itself', async () => {
  const bus = await threadBus(ENGINE);
  const { w, h } = await peer(bus, { role: 'timeout' }, 'thread');
  const r = await w.next<{ codes: string[] }>(MSG_MS, 'the three timeouts');
  assert.equal(r.codes, ['ETIMEDOUT', 'ETIMEDOUT', 'ETIMEDOUT']);
  const code = await w.exited(MSG_MS); // no terminate(): neither the keep-alive timer (unref'd) nor the deadline timer holds it
  assert.is(code, 0);
  assert.is(bus.recoverThread(h.token), -1, 'it left the bus before exiting');
  assert.is(bus.engine.liveConns(), 0);
  bus.close();
});

s("sends waiting in a receiver's line keep nothing alive: keepAlive: false ones behind the holder, and the passer of one that timed out (outside audit, stop 19: the line's timers held the worker for good, or 60 s)", async () => {
  const bus = await threadBus(ENGINE);
  const { w } = await peer(bus, { role: 'line-unref' }, 'thread');
  assert.equal(await w.next(MSG_MS, 'the third send to time out'), { code: 'ETIMEDOUT' });
  const code = await w.exited(MSG_MS); // no terminate(): nothing holds it
  assert.is(code, 0);
});

s.run();
