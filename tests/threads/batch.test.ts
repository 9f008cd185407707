// bus.batch across threads: a worker's batch owes a parked receiver on another thread its
// wake until the batch ends (js/host/owed.ts); a worker that never ends its batch (blocked,
// then declared dead) has the wake paid by its recovery (assembly/recover.ts, payOwed), and its
// own batch's end then writes nothing into the slot it no longer has.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { terminateAll, RUNTIME, within } from '../helpers/worker.ts';
import { ENGINE, threadBus, peer, MSG_MS } from './common.ts';

const s = suite(`threads: batch [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

/**
 * A bus, main's connection with a receive parked on it, and a worker that sent main one
 * message inside its batch and then blocked there (returned once it has); `release` lets the
 * worker's batch end.
 */
async function blockedInBatch() {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const ctl = new SharedArrayBuffer(8), c = new Int32Array(ctl);
  const got = main.recvAsync({ timeout: 3 * MSG_MS });
  got.catch(() => {});
  const q = await peer(bus, { role: 'batch-held', ctl, dst: main.id });
  for (const end = performance.now() + MSG_MS; Atomics.load(c, 0) === 0;) {
    if (performance.now() >= end) { Atomics.store(c, 1, 1); Atomics.notify(c, 1); assert.unreachable('the worker sends in its batch and blocks'); }
    await new Promise((r) => setTimeout(r, 2));
  }
  const release = () => { Atomics.store(c, 1, 1); Atomics.notify(c, 1); };
  return { bus, main, got, q, release };
}

s('a worker blocked inside its batch owes main\'s parked receive its wake; recovering the worker pays it', async () => {
  const { bus, main, got, q, release } = await blockedInBatch();
  try {
    await new Promise((r) => setTimeout(r, 100));
    const st = main.stats();
    assert.is(st.queued, 1, 'the message is queued');
    assert.is(st.sleepers.wake, 1, 'main\'s receive is still parked: the wake is owed, 100 ms after the send');
    const slot = bus.recoverThread(q.h.token);
    assert.is(slot, q.ready.slot, 'the blocked worker declared dead and recovered');
    const m = await within(got, MSG_MS, 'main\'s receive, woken by the recovery');
    assert.equal([...m.payload], [9]);
    m.free();
  } finally {
    release();
  }
  const out = await q.w.next<{ end: string; close: string }>(MSG_MS, 'the worker to end its batch');
  assert.is(out.end, 'ok', 'its batch ended quietly (the slot is no longer its own: nothing written)');
  assert.equal(bus.check(), [], 'the bus consistent');
  main.close();
  bus.close();
});

s('a worker\'s batch: main\'s parked receive is woken once the batch ends', async () => {
  const { bus, main, got, q, release } = await blockedInBatch();
  assert.is(main.stats().sleepers.wake, 1, 'parked while the batch lasts');
  release();
  const m = await within(got, MSG_MS, 'main\'s receive, woken at the batch\'s end');
  assert.equal([...m.payload], [9]);
  m.free();
  const out = await q.w.next<{ end: string; close: string }>(MSG_MS, 'the worker to leave');
  assert.equal(out, { end: 'ok', close: 'ok' });
  assert.equal(bus.check(), []);
  main.close();
  bus.close();
});

s.run();
