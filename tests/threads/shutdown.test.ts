// bus.shutdown() with workers waiting in recvWait and in recvAsync (and an iterator): each
// wakes within a bounded time with ESHUTDOWN, closes, leaves, and (node:worker_threads) exits
// by itself; then the creator's memory holds no thread and no connection.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RUNTIME, spawn, terminateAll, sleep } from '../helpers/worker.ts';
import { ENGINE, threadBus, READY_MS } from './common.ts';

const s = suite(`threads: shutdown [${ENGINE}, ${RUNTIME}]`);
s.after(() => terminateAll());

const W = new URL('./shutdown.worker.ts', import.meta.url);

s('shutdown wakes workers in recvWait, recvAsync and for-await with ESHUTDOWN; they leave', async () => {
  const bus = await threadBus(ENGINE);
  const modes = ['wait', 'async', 'iter'] as const;
  const ws = modes.map((mode) => spawn(W, { handle: bus.handle(), mode }));
  for (const w of ws) await w.next(READY_MS, 'worker ready');
  await sleep(50); // let them go to sleep
  bus.shutdown();
  const results = await Promise.all(ws.map((w) => w.next<{ error: string; removers: string }>(2000, 'woken within 2 s')));
  for (const [i, r] of results.entries()) assert.is(r.error, 'ESHUTDOWN', modes[i]);
  for (const [i, r] of results.entries()) assert.is(r.removers, 'ok', `${modes[i]}: a match's and a handler's removers after the shutdown are no-ops`);
  for (const w of ws) if (w.kind === 'thread') await w.exited(5000); // nothing keeps them alive
  const st = bus.stats();
  assert.is(st.threads.used, 0, 'every thread left');
  assert.is(st.connections.length, 0);
});

s.run();
