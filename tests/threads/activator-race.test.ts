// Sends by name racing a worker's change of the name's owner: it takes the name from its
// activator (NAME_ACQUIRE), or gives it back (NAME_RELEASE). Every message sent to the name
// ends where the name went, in the order sent, none left behind: inline sends (looked up
// again when the name changed owner before they were queued) and sends whose slice is reserved
// (host vecs: send_commit delivers to the name's owner then). Two outside audits (stop 46) saw
// such messages stranded, out of order for good: 11 of 40 trials of 64 KiB sends at an
// acquire, 3 to 10 of 30 at a release.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, terminateAll, RUNTIME } from '../helpers/worker.ts';
import { checkBus } from '../helpers/check.ts';
import { prng } from '../helpers/diffkit.ts';
import { ENGINE, threadBus, MSG_MS, READY_MS, THREAD_LIMITS } from './common.ts';
import type { RaceInput } from './activator-race.worker.ts';
import { GO, SPIN, STEP, MODE, CTL_WORDS } from './activator-race.ctl.ts';

const s = suite(`threads: sends by name racing a change of the name's owner [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

const WORKER = new URL('./activator-race.worker.ts', import.meta.url);
const TRIALS = 80, N = 5;

s(`${TRIALS} trials of ${N} sends by name (64 KiB reserved, 16 B inline) started as a worker takes the name from its activator or gives it back: every message where the name went, in order`, async () => {
  const bus = await threadBus(ENGINE, { ...THREAD_LIMITS, names: 64, poolMax: 2 << 20 });
  const main = bus.connect();
  const ctl = new SharedArrayBuffer(CTL_WORDS * 4), c32 = new Int32Array(ctl);
  const w = spawn(WORKER, { handle: bus.handle(), ctl, trials: TRIALS } satisfies RaceInput, { kind: 'thread' });
  const ready = await w.next<{ ready?: true; id?: number; error?: string }>(READY_MS, 'the worker to join');
  assert.is(ready.error, undefined, ready.error);
  const rnd = prng(46);
  const wrong: string[] = [];
  for (let k = 0; k < TRIALS; k++) {
    const name = `org.race.T${k}`, size = k % 4 >= 2 ? 16 : 65536, release = k % 2 === 1;
    const act = bus.connect({ activator: name, poolSize: 2 << 20 });
    Atomics.store(c32, MODE, release ? 1 : 0);
    Atomics.store(c32, SPIN, rnd.int(60_000)); // the worker's spin before its change, ns
    Atomics.store(c32, GO, k + 1);
    Atomics.notify(c32, GO);
    // the sends begin as the worker goes (a bounded wait: the worker's own wait times out
    // first, and its error comes through next() below)
    const until = performance.now() + MSG_MS;
    while (Atomics.load(c32, STEP) !== -(k + 1) && performance.now() < until);
    const payload = new Uint8Array(size);
    for (let i = 0; i < N; i++) { payload[0] = i; main.send(name, payload); }
    const ch = await w.next<{ changed?: string; error?: string }>(MSG_MS, `trial ${k}: the change`);
    assert.is(ch.error, undefined, ch.error);
    assert.is(ch.changed, release ? 'released' : 'primary');
    // the end, to the worker by id: behind everything sent to it
    main.send(ready.id!, null);
    const r = await w.next<{ got?: number[]; error?: string }>(MSG_MS, `trial ${k}: the worker's messages`);
    assert.is(r.error, undefined, r.error);
    const atAct: number[] = [];
    for (let m = act.recv(); m; m = act.recv()) { atAct.push(m.payload[0]); m.free(); }
    const all = Array.from({ length: N }, (_, i) => i);
    // an acquire: all at the worker; a release: all at the activator (the worker received nothing before it)
    const [there, elsewhere] = release ? [atAct, r.got!] : [r.got!, atAct];
    if (JSON.stringify(there) !== JSON.stringify(all) || elsewhere.length !== 0) {
      wrong.push(`trial ${k} (${release ? 'release' : 'acquire'}, ${size} B): the worker got [${r.got}], the activator [${atAct}]`);
    }
    act.close();
  }
  assert.equal(wrong, [], 'every message where the name went, in order');
  assert.equal(await w.next(MSG_MS, 'the worker to leave'), { done: true });
  assert.equal(checkBus(bus.engine), []);
  main.close();
  bus.close();
});

s.run();
