// Lossless broadcasts under contention: main emits COUNT signals to WORKERS subscribers that
// receive and free as fast as they can (each RECV and FREE takes the subscriber's lock, so the
// broadcaster keeps meeting it held). Pools never fill (main stays at most LAG signals ahead of
// the slowest subscriber), so the only way to lose one would be a contended lock: every
// subscriber must get all COUNT, with no DROPPED_MSGS. The same for the NAME_ADD / NAME_REMOVE
// of names main acquires and releases (NAME_ACQUIRE / NAME_RELEASE wait for a busy receiver too).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, terminateAll, sleep, RUNTIME, type TestWorker } from '../helpers/worker.ts';
import { checkBus } from '../helpers/check.ts';
import { ENGINE, threadBus, READY_MS } from './common.ts';

const WORKERS = 4;
const COUNT = 2000;
const NAMES = 1000; // acquired and released: 2 notifications each
const LAG = 64; // signals main may be ahead of the slowest subscriber (far below a pool's room)
const IFACE = 'org.wasmbus.Lossless';
const ENTRY = new URL('./lossless.worker.ts', import.meta.url);

const s = suite(`threads: lossless broadcast [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

async function subscribers(bus: Awaited<ReturnType<typeof threadBus>>, progress: SharedArrayBuffer, prefix?: string) {
  const ws: { w: TestWorker; id: number }[] = [];
  for (let i = 0; i < WORKERS; i++) {
    const w = spawn(ENTRY, { handle: bus.handle(), index: i, iface: IFACE, progress, prefix });
    const r = await w.next<{ ready?: boolean; id: number; error?: string }>(READY_MS, `subscriber ${i} to join`);
    assert.ok(r.ready, r.error);
    ws.push({ w, id: r.id });
  }
  return ws;
}

/** Wait until main is less than LAG ahead of the slowest subscriber (bounded: the deadline). */
async function keepUp(seen: Int32Array, n: number, deadline: number): Promise<void> {
  for (;;) {
    let min = Infinity;
    for (let i = 0; i < WORKERS; i++) min = Math.min(min, Atomics.load(seen, i));
    if (n - min < LAG) return;
    assert.ok(performance.now() < deadline, `subscribers stalled at ${min} of ${n} sent`);
    await sleep(0);
  }
}

s(`main emits ${COUNT} signals to ${WORKERS} subscribers busy receiving and freeing: each gets all, none dropped`, async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const progress = new SharedArrayBuffer(4 * WORKERS);
  const seen = new Int32Array(progress);
  const ws = await subscribers(bus, progress);
  const body = [new Uint8Array(48)];
  const deadline = performance.now() + 60000;
  for (let n = 0; n < COUNT; n++) {
    await keepUp(seen, n, deadline);
    main.emit({ path: '/org/wasmbus/Lossless', interface: IFACE, member: 'Tick', signature: 'ay', body });
  }
  for (const { id } of ws) main.send(id, null); // stop: queued behind every signal
  const done = await Promise.all(ws.map(({ w }) => w.next<{ done?: boolean; got: number; dropped: number; error?: string }>(READY_MS, 'subscriber done')));
  for (const d of done) assert.ok(d.done, d.error);
  assert.equal(done.map((d) => d.got), ws.map(() => COUNT), 'every subscriber got every signal');
  assert.equal(done.map((d) => d.dropped), ws.map(() => 0), 'none dropped');
  for (let m = main.recv(); m; m = main.recv()) m.free();
  assert.equal(checkBus(bus.engine), []);
  main.close();
  bus.close();
});

s(`main acquires and releases ${NAMES} names, ${WORKERS} subscribers to NAME_ADD / NAME_REMOVE busy receiving and freeing: each gets all ${2 * NAMES}, none dropped`, async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const progress = new SharedArrayBuffer(4 * WORKERS);
  const seen = new Int32Array(progress);
  const prefix = 'org.wasmbus.lossless.';
  const ws = await subscribers(bus, progress, prefix);
  const deadline = performance.now() + 60000;
  for (let n = 0; n < NAMES; n++) {
    await keepUp(seen, 2 * n, deadline);
    main.requestName(`${prefix}n${n}`);
    main.releaseName(`${prefix}n${n}`);
  }
  for (const { id } of ws) main.send(id, null); // stop: queued behind every notification
  const done = await Promise.all(ws.map(({ w }) => w.next<{ done?: boolean; got: number; dropped: number; error?: string }>(READY_MS, 'subscriber done')));
  for (const d of done) assert.ok(d.done, d.error);
  assert.equal(done.map((d) => d.got), ws.map(() => 2 * NAMES), 'every subscriber got every notification');
  assert.equal(done.map((d) => d.dropped), ws.map(() => 0), 'none dropped');
  for (let m = main.recv(); m; m = main.recv()) m.free();
  assert.equal(checkBus(bus.engine), []);
  main.close();
  bus.close();
});

s.run();
