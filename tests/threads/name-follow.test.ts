// A send by name whose name changes owner between its look-up and its queueing follows the
// name (assembly/name-follow.ts), with the window forced: the main thread's provider has no
// epoch, so its SEND asks it for CREDS between the look-up and the receiver's lock; there the
// provider has a worker change the name's owner and waits until it has. Two outside audits
// (stop 46) forced these windows and found a call that stayed at the activator until its
// timeout, and a send into an owner that closed meanwhile failing with ENXIO.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Bus, MockProvider, type Message } from '../../js/index.ts';
import { spawn, terminateAll, RUNTIME } from '../helpers/worker.ts';
import { checkBus } from '../helpers/check.ts';
import { ENGINE, MSG_MS, READY_MS, THREAD_LIMITS } from './common.ts';
import type { FollowInput } from './name-follow.worker.ts';
import { CMD, DONE, CTL_WORDS, ACQUIRE, RELEASE, CLOSE, REPORT, LEAVE } from './name-follow.ctl.ts';

const s = suite(`threads: a send by name follows its name [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

const WORKER = new URL('./name-follow.worker.ts', import.meta.url);
const NAME = 'org.example.Follow';

s('inline sends and calls by name whose name changes owner inside their SEND end where the name went', async () => {
  const ctl = new SharedArrayBuffer(CTL_WORDS * 4), c32 = new Int32Array(ctl);
  let n = 0, armed = 0;
  /** the worker's next command, waited for (bounded) */
  const ask = (cmd: number) => {
    n++;
    Atomics.store(c32, CMD, (n << 8) | cmd);
    Atomics.notify(c32, CMD);
    const until = performance.now() + MSG_MS;
    while (Atomics.load(c32, DONE) !== n) {
      if (performance.now() > until) throw new Error(`the worker did not finish command ${cmd} within ${MSG_MS} ms`);
      Atomics.wait(c32, DONE, Atomics.load(c32, DONE), 50);
    }
  };
  // the sender's provider: no epoch (CREDS asked on every SEND), its creds() runs the armed command
  const p = new MockProvider({ seed: 9 });
  (p as unknown as { epoch: undefined }).epoch = undefined;
  const creds = p.creds.bind(p);
  p.creds = (out) => { const c = armed; armed = 0; if (c !== 0) ask(c); return creds(out); };
  const bus = await Bus.create({ engine: ENGINE, provider: p, limits: THREAD_LIMITS });
  const w = spawn(WORKER, { handle: bus.handle(), ctl, name: NAME } satisfies FollowInput, { kind: 'thread' });
  const ready = await w.next<{ ready?: true; id?: number; error?: string }>(READY_MS, 'the worker to join');
  assert.is(ready.error, undefined, ready.error);
  const act = bus.connect({ activator: NAME, attachRecv: ['creds'] });
  const snd = bus.connect({ attachSend: 'all' });
  const report = async () => { ask(REPORT); return (await w.next<{ got: number[] }>(MSG_MS, 'the worker\'s report')).got; };
  const atAct = () => { const out: number[] = []; for (let m: Message | null = act.recv(); m; m = act.recv()) { out.push(m.cookie); m.free(); } return out; };

  // a call, looked up to the activator; the worker takes the name inside the SEND
  armed = ACQUIRE;
  const reply = snd.call(NAME, new Uint8Array([7]), { timeout: 5000 });
  assert.equal(atAct(), [], 'nothing at the activator');
  const [callCookie] = await report();
  assert.ok(callCookie > 0, 'the call at the new owner');
  (await reply).free(); // answered by the owner it reached
  // a plain send, looked up to the worker; it gives the name back inside the SEND
  armed = RELEASE;
  const c2 = snd.send(NAME, new Uint8Array([2]));
  assert.equal(await report(), [], 'nothing at the one that released it');
  assert.equal(atAct(), [c2], 'at the activator');
  // a plain send, looked up to the worker; it closes inside the SEND (the name back to the activator)
  ask(ACQUIRE);
  armed = CLOSE;
  const c3 = snd.send(NAME, new Uint8Array([3]));
  assert.equal(atAct(), [c3], 'at the activator, not ENXIO');
  ask(LEAVE);
  assert.equal(await w.next(MSG_MS, 'the worker to leave'), { done: true });
  assert.equal(checkBus(bus.engine), []);
  act.close();
  snd.close();
  bus.close();
});

s.run();
