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

s("a thread with no connection of its own: Bus look-ups (their short-lived connection) and bus.waitForName on a bus with 1 000 names, while another thread greets every new connection (stop 65, an outside reading)", async () => {
  // (the short-lived connection's 64 KiB pool could not hold a LIST of ~800 names or more:
  // EXFULL; and a greeting queued to it made its close() throw EBUSY, which replaced the answer
  // and left the connection open)
  const bus = await Bus.create({ engine: ENGINE, provider: new MockProvider({ seed: 42 }), userRegion: 4096 });
  const i32 = bus.engine.i32, stop = bus.userRegion;
  Atomics.store(i32, stop >>> 2, 0);
  const w = spawn(new URL('./greeter.worker.ts', import.meta.url), { handle: bus.handle(), stop, names: 1000 });
  const ready = await w.next<{ ready?: boolean; error?: string }>(READY_MS, 'greeter worker to join');
  assert.ok(ready.ready, ready.error);
  const errors: string[] = [];
  let looked = 0;
  for (const t0 = performance.now(); looked < 200 && performance.now() - t0 < 4000; looked++) {
    try { assert.ok(bus.getNameOwner('org.example.Service.Worker5') !== null); } catch (err) { errors.push(String(err)); break; }
  }
  assert.equal(errors, []);
  assert.is(bus.connections.length, 0, 'no look-up connection left open');
  assert.ok(bus.listNames().length >= 1000);
  assert.ok(await bus.waitForName('org.example.Service.Worker999', { timeout: 5000 }) > 0);
  Atomics.store(i32, stop >>> 2, 1);
  const done = await w.next<{ done?: boolean; greeted: number; error?: string }>(READY_MS, 'greeter worker to end');
  assert.ok(done.done, done.error);
  assert.ok(done.greeted > 0, 'the worker greeted the look-ups\' connections');
  assert.equal(checkBus(bus.engine), []);
  bus.close();
});

s.run();
