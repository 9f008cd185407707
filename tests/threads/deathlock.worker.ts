// A worker for deathlock.test.ts: joins (Bus.join takes its liveness lock where the runtime has
// Web Locks, unless `liveness: false` is in its input), connects, posts { ready, id, slot, held } and waits for one command (postMessage):
//   'throw'  an uncaught error at the top level of this module: the worker dies
//   'close'  self.close() (a web Worker), process.exit(3) (a worker_threads Worker)
//   'leave'  closes its connection and leaves the bus cleanly, posts { left }, stays alive
//   'send'   sends one message to `to`, posts { sent } (it is still alive and on the bus)
// 'terminate' needs no command: the parent terminates it while it waits.
import * as wt from 'node:worker_threads';
import { Bus, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

interface Inp { handle: BusHandle; to: number; quick?: Int32Array; liveness?: boolean }
interface LocksLike { query(): Promise<{ held?: { name?: string }[] }> }

const inp = await input<Inp>();
if (inp.quick) {
  // join only once told to (quick[0] = 1): the parent blocks from then on
  post({ started: true });
  while (Atomics.load(inp.quick, 0) === 0) Atomics.wait(inp.quick, 0, 0, 50);
}
// a web Worker holds its liveness lock by default; a worker_threads Worker only when asked
// (liveness: false when told: a worker that joins without a lock)
const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 5 }), liveness: inp.liveness ?? (wt.parentPort && (globalThis as { navigator?: { locks?: unknown } }).navigator?.locks ? true : undefined) });
const conn = bus.connect({ poolSize: 65536, description: 'deathlock' });
if (inp.quick) {
  // join, leave cleanly and end at once, posting nothing (the parent blocks meanwhile)
  conn.close();
  bus.close();
  Atomics.add(inp.quick, 1, 1); // (one more worker has left)
  if (wt.parentPort) process.exit(0);
  (globalThis as unknown as { close(): void }).close();
}
const name = bus.livenessLockName(inp.handle.token);
const held = async () => {
  const locks = (globalThis as { navigator?: { locks?: LocksLike } }).navigator?.locks;
  return locks ? (await locks.query()).held?.some((l) => l.name === name) ?? false : false;
};
post({ ready: true, id: conn.id, slot: bus.engine.threadSlot, held: await held() });

type Cmd = string | { rejoin: boolean | undefined };
const next = () => new Promise<Cmd>((resolve) => {
  if (wt.parentPort) wt.parentPort.once('message', resolve);
  else (globalThis as unknown as { onmessage: (ev: { data: Cmd }) => void }).onmessage = (ev) => resolve(ev.data);
});
// commands until one ends the loop; then idle until terminated (a web Worker lives on; a
// worker_threads Worker exits by itself)
let b = bus, c = conn;
for (let going = true; going;) {
  const cmd = await next();
  if (cmd === 'throw') throw new Error('deathlock.worker: a top-level crash, on purpose');
  if (cmd === 'close') {
    if (wt.parentPort) process.exit(3);
    (globalThis as unknown as { close(): void }).close();
  }
  if (cmd === 'leave') {
    c.close();
    b.close();
    post({ left: true });
  } else if (cmd === 'send') {
    c.send(inp.to, new Uint8Array([7]));
    post({ sent: true });
  } else if (typeof cmd === 'object' && cmd !== null && 'rejoin' in cmd) {
    // (after 'leave') the same handle joins again, with `liveness` as given; its error, if any, is posted
    try {
      b = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 5 }), liveness: cmd.rejoin });
      c = b.connect({ poolSize: 65536, description: 'deathlock-again' });
      post({ ready: true, id: c.id, slot: b.engine.threadSlot, held: await held() });
    } catch (e) {
      post({ error: (e as { code?: string }).code ?? String(e), message: (e as Error).message });
    }
  } else going = false;
}
