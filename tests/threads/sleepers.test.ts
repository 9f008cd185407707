// The sleepers counts across threads (js/host/sleepers.ts): a worker's receive parked on its
// connection's wake word is taken off the count by the thread that publishes, at the publish,
// not when the worker gets to run (here it cannot: its thread is blocked meanwhile).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { busStats, abi as A } from '../../js/index.ts';
import { terminateAll, RUNTIME } from '../helpers/worker.ts';
import { ENGINE, threadBus, peer, MSG_MS } from './common.ts';

const s = suite(`threads: sleepers [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

s('a worker\'s parked recvAsync is off its count at main\'s publish, before the worker has run', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const ctl = new SharedArrayBuffer(8), c = new Int32Array(ctl);
  const { w, ready } = await peer(bus, { role: 'held', ctl });
  // the worker's receive parked, then its thread blocked
  for (const end = performance.now() + MSG_MS; Atomics.load(c, 0) === 0;) {
    assert.ok(performance.now() < end, 'the worker blocks');
    await new Promise((r) => setTimeout(r, 2));
  }
  const slot = busStats(bus.engine).connections.find((x) => x.id === ready.id)!.slot;
  const sleepers = () => Atomics.load(bus.engine.i32, (bus.engine.connAddr(slot) + A.CONN_SLEEPERS) >>> 2);
  try {
    assert.is(sleepers(), 1, 'its receive is parked and counted');
    main.send(ready.id, new Uint8Array([7]));
    assert.is(sleepers(), 0, 'taken off by the publish (before stop 34: when the worker ran)');
    main.send(ready.id, new Uint8Array([8]));
    assert.is(sleepers(), 0, 'the next publish finds none to notify');
  } finally {
    Atomics.store(c, 1, 1);
    Atomics.notify(c, 1);
  }
  const out = await w.next<{ got?: number[]; error?: string }>(MSG_MS, 'the worker to receive');
  assert.equal(out.got, [7], JSON.stringify(out));
  assert.is(sleepers(), 0);
  assert.equal(bus.check(), []);
  main.close();
  bus.close();
});

s('100 receives parked on main\'s connection, fed by a worker\'s burst: counted once, each gets one message, in the order they parked (wait groups, stop 60)', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const N = 100;
  const { w, ready } = await peer(bus, { role: 'sender', dst: main.id, count: N });
  const slot = main.slot;
  const sleepers = () => Atomics.load(bus.engine.i32, (bus.engine.connAddr(slot) + A.CONN_SLEEPERS) >>> 2);
  const cookies: number[] = [];
  const rs = Array.from({ length: N }, (_, k) => main.recvAsync({ timeout: MSG_MS }).then((m) => { cookies[k] = m.cookie; m.free(); }));
  await new Promise((r) => setTimeout(r, 5));
  assert.is(sleepers(), 1, 'one wait of the thread for the hundred');
  main.send(ready.id, null); // (the sender's go)
  await Promise.all(rs);
  assert.equal(cookies, Array.from({ length: N }, (_, k) => k + 1), 'receive k got the k-th message');
  const out = await w.next<{ done?: boolean; error?: string }>(MSG_MS, 'the sender to finish');
  assert.ok(out.done, JSON.stringify(out));
  assert.is(main.pendingReceives, 0);
  assert.is(sleepers(), 0);
  assert.equal(bus.check(), []);
  main.close();
  bus.close();
});

s('a worker that leaves the bus with passers of its sends behind a holder in a receiver\'s line leaves no count on the line\'s turn word (stop 62: outside audit GB, 1-3 left after bursts of sendAsync)', async () => {
  const bus = await threadBus(ENGINE);
  const rx = bus.connect({ poolSize: 16384 }), tx = bus.connect();
  const turnSleepers = () => Atomics.load(bus.engine.i32, (bus.engine.connAddr(rx.slot) + A.CONN_TURN_SLEEPERS) >>> 2);
  // rx's pool full: messages received and kept (they hold the pool, no quota), until EXFULL
  const kept: { free(): void }[] = [];
  for (;;) {
    try { tx.send(rx.id, new Uint8Array(1024)); } catch (e) { if ((e as { code?: string }).code === 'EXFULL') break; const m = rx.recv(); if (m === null) throw e; kept.push(m); }
  }
  for (let m = rx.recv(); m !== null; m = rx.recv()) kept.push(m);
  for (;;) { try { tx.send(rx.id, new Uint8Array(1024)); const m = rx.recv(); if (m !== null) kept.push(m); } catch { break; } }
  // the holder: this thread's send, waiting for room
  const held = tx.sendAsync(rx.id, new Uint8Array(1024), { timeout: 20000 });
  await new Promise((r) => setTimeout(r, 5));
  for (let round = 0; round < 3; round++) {
    const { w } = await peer(bus, { role: 'line-leave', dst: rx.id, index: round }, 'thread');
    const out = await w.next<{ codes?: string[]; error?: string }>(MSG_MS, 'the worker to leave');
    assert.equal(out.codes, ['ETIMEDOUT', 'ECANCELED'], JSON.stringify(out));
    assert.is(await w.exited(MSG_MS), 0);
    assert.is(turnSleepers(), 0, `round ${round}: nothing of the worker counted on the turn word`);
  }
  for (const m of kept) m.free();
  await held;
  for (let m = rx.recv(); m !== null; m = rx.recv()) m.free();
  assert.equal(bus.check(), []);
  tx.close();
  rx.close();
  bus.close();
});

s.run();
