// Stress (issue 10): N workers that share one uid (as the threads of one process do) send to
// each other with sendAsync under a small per-user quota: backpressure, never a drop. Fixed
// counts; checks that no unicast is lost, each sender's order is kept, nothing deadlocks and
// every pool ends empty; on the main thread's engine, with mixed engines, and with a worker
// terminated in the middle of its traffic (bus.watch recovers it, nothing leaks).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Bus, MockProvider, type EngineKind } from '../../js/index.ts';
import { spawn, terminateAll, RUNTIME, within, type TestWorker } from '../helpers/worker.ts';
import { ENGINE, READY_MS } from './common.ts';
import type { StressInput } from './stress.worker.ts';

const s = suite(`threads: stress, backpressure [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

const WORKER = new URL('./stress.worker.ts', import.meta.url);
const STEP_MS = 25000;
const encoder = new TextEncoder();

interface Done { done: true; received: number; counts: Record<number, number>; errors: string[]; poolUsed: number; queued: number }

async function stress(n: number, count: number, engines: EngineKind[], victim = -1): Promise<void> {
  const bus = await Bus.create({
    // the parent is another user: its control messages (go, end) have a quota of their own in
    // each worker, so the workers' shared uid 1000 quota, which peers can fill before a worker
    // has even received its go, never holds them back (that was a deadlock of the test itself)
    engine: ENGINE, provider: new MockProvider({ seed: 42, creds: { uid: 999 } }),
    // a small message quota and small pools: senders hit ENOBUFS / EXFULL all the time
    limits: { threads: n + 2, connections: n + 2, poolMax: 65536, names: 16, matches: 16, replies: 16, maxQueuedPerUser: 4 },
  });
  const main = bus.connect({ poolSize: 65536 });
  const ws: TestWorker[] = [];
  let watched: ReturnType<Bus['watch']> | null = null;
  for (let i = 0; i < n; i++) {
    const h = bus.handle();
    const inp: StressInput = { handle: h, engine: engines[i % engines.length], index: i, count, parent: main.id };
    if (i === victim) inp.halfAt = Math.floor((count * (n - 1)) / 2);
    const w = spawn(WORKER, inp, i === victim ? { kind: 'thread' } : {});
    ws.push(w);
    if (i === victim) watched = bus.watch(w.thread!, h);
  }
  const ids: number[] = [];
  for (const w of ws) {
    const r = await w.next<{ ready: true; id: number } | { error: string }>(READY_MS, 'a stress worker to join');
    if ('error' in r) assert.unreachable(r.error);
    ids.push((r as { id: number }).id);
  }
  const go = encoder.encode(JSON.stringify({ ids, parent: main.id }));
  for (const id of ids) await main.sendAsync(id, go, { timeout: STEP_MS });
  if (victim >= 0) {
    assert.equal(await ws[victim].next(STEP_MS, 'the victim halfway'), { half: true });
    await ws[victim].terminate();
    const r = await within(watched!, STEP_MS, 'watch() to recover the victim');
    assert.is(r.error, undefined, String(r.error));
  }
  const survivors = ws.map((w, i) => i).filter((i) => i !== victim);
  for (const i of survivors) {
    const r = await ws[i].next<{ sent: number } | { error: string }>(STEP_MS, `worker ${i} to finish sending`);
    if ('error' in r) assert.unreachable(`worker ${i}: ${r.error}`);
  }
  // every sender is done (each of its messages queued): the end goes after them in each queue
  for (const i of survivors) await main.sendAsync(ids[i], null, { timeout: STEP_MS });
  for (const i of survivors) {
    const d = await ws[i].next<Done | { error: string }>(STEP_MS, `worker ${i} to finish receiving`);
    if ('error' in d) assert.unreachable(`worker ${i}: ${d.error}`);
    const done = d as Done;
    assert.equal(done.errors, [], `worker ${i}: order and bytes`);
    for (const j of survivors) {
      if (j !== i) assert.is(done.counts[j], count, `worker ${i} got every message of worker ${j}`);
    }
    if (victim >= 0) assert.ok((done.counts[victim] ?? 0) <= count, 'the victim: a prefix of its messages');
    assert.is(done.poolUsed, 0, `worker ${i}: pool empty`);
    assert.is(done.queued, 0, `worker ${i}: queue empty`);
  }
  assert.is(main.poolUsed, 0);
  main.close();
  assert.equal(bus.check(), [], 'bus.check(): nothing leaked');
  assert.is(bus.engine.liveConns(), 0);
  bus.close();
}

s(`2 workers on ${ENGINE}, 150 messages each way`, async () => {
  await stress(2, 150, [ENGINE]);
});

s(`4 workers on ${ENGINE}, 60 messages to each peer`, async () => {
  await stress(4, 60, [ENGINE]);
});

if (ENGINE === 'wasm') {
  // once per test run (the per-engine runs would repeat it): mixed engines, 8 workers
  s('8 workers, engines mixed (wasm and twin alternating), 12 messages to each peer', async () => {
    await stress(8, 12, ['wasm', 'twin']);
  });
}

s(`3 workers on ${ENGINE}, one terminated in the middle of its traffic: recovered, nothing leaked`, async () => {
  await stress(3, 80, [ENGINE], 2);
});

s.run();
