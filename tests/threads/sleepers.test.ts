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

s.run();
