// Lookups without the bus lock: while a worker opens and closes connections as fast as it can
// (re-using slots, rewriting id table links, in every bucket in turn), the main thread sends
// to a connection that stays open. SEND reads the id table with no lock: it must find that
// connection every time (never ENXIO), and the bus must end consistent.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, terminateAll, RUNTIME } from '../helpers/worker.ts';
import { checkBus } from '../helpers/check.ts';
import { Bus, MockProvider } from '../../js/index.ts';
import { ENGINE, READY_MS } from './common.ts';

const s = suite(`threads: lookups [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

s('SEND finds a live connection while another thread churns HELLO / BYEBYE', async () => {
  const bus = await Bus.create({ engine: ENGINE, provider: new MockProvider({ seed: 42 }), userRegion: 4096,
    limits: { threads: 4, connections: 8, poolMax: 65536, names: 4, matches: 4, replies: 4 } });
  const tx = bus.connect(), rx = bus.connect();
  const i32 = bus.engine.i32, stop = bus.userRegion; // a word of the user region: the stop flag
  Atomics.store(i32, stop >>> 2, 0);
  const w = spawn(new URL('./churn.worker.ts', import.meta.url), { handle: bus.handle(), stop });
  const ready = await w.next<{ ready?: boolean; error?: string }>(READY_MS, 'churn worker to join');
  assert.ok(ready.ready, ready.error);
  const payload = new Uint8Array([1, 2, 3]);
  let sent = 0, failed = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1500) {
    for (let i = 0; i < 200; i++) {
      try {
        tx.send(rx.id, payload);
        rx.recv()!.free();
        sent++;
      } catch (e) {
        failed++;
        if (failed === 1) console.error(e);
      }
    }
  }
  Atomics.store(i32, stop >>> 2, 1);
  if (process.env.LOOKUP_DEBUG) console.log({ sent, failed });
  const done = await w.next<{ done?: boolean; churned?: number; error?: string }>(READY_MS, 'churn worker done');
  assert.ok(done.done, done.error);
  assert.is(failed, 0, `every send found its receiver (${sent} sent, ${done.churned} HELLO/BYEBYE meanwhile)`);
  assert.ok((done.churned ?? 0) > 100, `the worker churned (${done.churned})`);
  assert.equal(checkBus(bus.engine), []);
  tx.close();
  rx.close();
  bus.close();
});

s.run();
