// Sends by name racing a worker's NAME_ACQUIRE of the name from its activator: every message
// sent to the name reaches the new owner, in the order sent, none left at the activator, for
// inline sends (the bus lock kept from the look-up to the queueing) and for sends whose slice is
// reserved (host vecs: send_commit moves a message that the acquire's move missed). An outside
// audit (stop 46) saw 11 of 40 trials strand a 64 KiB message at the activator, out of order
// for good.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, terminateAll, RUNTIME } from '../helpers/worker.ts';
import { checkBus } from '../helpers/check.ts';
import { prng } from '../helpers/diffkit.ts';
import { ENGINE, threadBus, MSG_MS, READY_MS, THREAD_LIMITS } from './common.ts';
import type { RaceInput } from './activator-race.worker.ts';

const s = suite(`threads: sends by name racing an acquire from the activator [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

const WORKER = new URL('./activator-race.worker.ts', import.meta.url);
const TRIALS = 80, N = 4;

s(`${TRIALS} trials of ${N} sends by name (64 KiB reserved, 16 B inline) started as a worker takes the name: all at the owner, in order`, async () => {
  const bus = await threadBus(ENGINE, { ...THREAD_LIMITS, names: 64, poolMax: 2 << 20 });
  const main = bus.connect();
  const ctl = new SharedArrayBuffer(12), c32 = new Int32Array(ctl);
  const w = spawn(WORKER, { handle: bus.handle(), ctl, trials: TRIALS } satisfies RaceInput, { kind: 'thread' });
  const ready = await w.next<{ ready?: true; error?: string }>(READY_MS, 'the worker to join');
  assert.is(ready.error, undefined, ready.error);
  const rnd = prng(46);
  const stranded: string[] = [];
  for (let k = 0; k < TRIALS; k++) {
    const name = `org.race.T${k}`, size = k % 4 === 3 ? 16 : 65536;
    const act = bus.connect({ activator: name, poolSize: 2 << 20 });
    Atomics.store(c32, 1, rnd.int(30_000)); // the worker's spin before its acquire, ns
    Atomics.store(c32, 0, k + 1);
    Atomics.notify(c32, 0);
    // the sends begin as the worker goes for the name (a bounded wait: the worker's own
    // wait times out first, and its error comes through next() below)
    const until = performance.now() + MSG_MS;
    while (Atomics.load(c32, 2) !== -(k + 1) && performance.now() < until);
    const payload = new Uint8Array(size);
    for (let i = 0; i < N; i++) { payload[0] = i; main.send(name, payload); }
    const acq = await w.next<{ acquired?: string; error?: string }>(MSG_MS, `trial ${k}: the acquire`);
    assert.is(acq.error, undefined, acq.error);
    assert.is(acq.acquired, 'primary');
    main.send(name, null); // the end: to the owner, behind everything sent before it
    const r = await w.next<{ got?: number[]; error?: string }>(MSG_MS, `trial ${k}: the owner's messages`);
    assert.is(r.error, undefined, r.error);
    if (act.queued !== 0) stranded.push(`trial ${k} (${size} B): ${act.queued} left at the activator, the owner got [${r.got}]`);
    else assert.equal(r.got, Array.from({ length: N }, (_, i) => i), `trial ${k} (${size} B): every message at the owner, in order`);
    for (let m = act.recv(); m; m = act.recv()) m.free();
    act.close();
  }
  assert.equal(stranded, [], 'no message stranded at an activator');
  assert.equal(await w.next(MSG_MS, 'the worker to leave'), { done: true });
  assert.equal(checkBus(bus.engine), []);
  main.close();
  bus.close();
});

s.run();
