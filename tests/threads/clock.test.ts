// One clock for every thread: a call's deadline is set on the caller's clock and checked by
// whichever thread runs a command next (its tick). With the real providers (no MockProvider
// here) the monotonic clock must agree between threads: in Deno (and browsers)
// performance.now() counts from each thread's own start, so a worker started later used to
// set deadlines that lay in the past on the main thread's clock, and the main thread's next
// command expired its call at once (js/host/provider.ts, performanceClock).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Bus } from '../../js/index.ts';
import { spawn, terminateAll, RUNTIME, sleep } from '../helpers/worker.ts';
import { ENGINE, MSG_MS, READY_MS, THREAD_LIMITS } from './common.ts';

const s = suite(`threads: one clock [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

s('a call from a worker started late is not expired early by the main thread\'s commands (real clocks)', async () => {
  const bus = await Bus.create({ engine: ENGINE, limits: THREAD_LIMITS }); // the runtime's own provider
  const main = bus.connect();
  await sleep(2000); // the main thread's clock now runs ahead of a new worker's own start by more than the call's 1 s timeout
  const w = spawn(new URL('./clock.worker.ts', import.meta.url), { handle: bus.handle(), dst: main.id });
  assert.equal(await w.next(READY_MS, 'the worker to join'), { ready: true });
  const call = await main.recvAsync({ timeout: MSG_MS });
  assert.ok(call.expectsReply);
  // commands on this thread meanwhile: each one's tick checks the call's deadline on this clock
  for (let i = 0; i < 5; i++) { assert.is(main.recv(), null); await sleep(10); }
  main.reply(call, new Uint8Array([7]));
  call.free();
  assert.equal(await w.next(MSG_MS, 'the call to end'), { outcome: 'reply 7' });
  main.close();
  bus.close();
});

s.run();
