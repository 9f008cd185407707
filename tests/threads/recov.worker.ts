// A test worker for the recovery tests: joins the bus from its handle and plays one role.
//   recoverer     races the other recoverers: each round (a counter in the bus's user region)
//                 it recovers the token the parent wrote there and records what it got
//   dying-sender  sends to `dst` as fast as it can; at message `dieAt` (after a second go
//                 message when dieAt > 0) it arms the fault hook (hooks build) so that it dies
//                 inside that send, holding the receiver's lock
//   hold-lock     holds a lock word for `ms` (a live thread that is slow, or one declared dead
//                 that still runs inside a command), then releases it
//   hot-lock      keeps a lock word taken for `ms` in holds of `hold` ms, handing it over
//                 between two holds as a release and the next holder's take would (its waiters
//                 bit cleared, its waiters woken) with no moment free: a live, contended lock
//                 that every look finds taken (a real release leaves a moment free, and a
//                 waiter woken by it may win it: the test must not depend on that race)
// Every wait has a timeout; every outcome is posted to the parent.
import { Bus, BusError, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';
import { senderPayload } from './payload.ts';

export interface RecovInput {
  role: 'recoverer' | 'dying-sender' | 'hold-lock' | 'hot-lock';
  handle: BusHandle;
  index?: number;
  /** recoverer: the control words' address (user region): [round, token, done, results...] */
  ctl?: number;
  workers?: number;
  rounds?: number;
  /** dying-sender */
  dst?: number;
  dieAt?: number;
  /** payload bytes (default 64: one inline SEND; above SEND_INLINE_MAX: the send window) */
  size?: number;
  fault?: number;
  /** hold-lock: the lock word's address and how long (word 1 of `ctl` set to 1 just before it releases it) */
  lock?: number;
  ms?: number;
  /** hold-lock: the parent declares it dead while it holds the lock (its bus.close() may throw) */
  declared?: boolean;
  /** hot-lock: each hold (ms) */
  hold?: number;
}

/** the control block of the recoverer race (word indices from ctl; recover-race.test.ts has the same) */
const CTL_ROUND = 0, CTL_TOKEN = 1, CTL_DONE = 2, CTL_RESULTS = 4;

const errText = (e: unknown) => (e instanceof BusError ? e.code : String((e as Error)?.stack ?? e));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const inp = await input<RecovInput>();
try {
  const index = inp.index ?? 0;
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 3 + index, creds: { uid: 3000 + index } }) });
  if (inp.role === 'recoverer') {
    const i32 = new Int32Array(bus.memory.buffer);
    const c = inp.ctl! >>> 2, W = inp.workers!, rounds = inp.rounds!;
    post({ ready: true, slot: bus.engine.threadSlot });
    for (let round = 1; round <= rounds; round++) {
      // all recoverers wake on the same store: they race
      const deadline = performance.now() + 20000;
      while (Atomics.load(i32, c + CTL_ROUND) < round) {
        if (performance.now() > deadline) throw new Error(`round ${round} never started`);
        Atomics.wait(i32, c + CTL_ROUND, round - 1, 100);
      }
      const token = Atomics.load(i32, c + CTL_TOKEN) >>> 0;
      let r: number;
      try { r = bus.recoverThread(token, { stopped: true }); } catch (e) { r = e instanceof BusError ? -e.errno : -9999; }
      Atomics.store(i32, c + CTL_RESULTS + (round - 1) * W + index, r);
      Atomics.add(i32, c + CTL_DONE, 1);
    }
    bus.close();
    post({ done: true });
  } else if (inp.role === 'dying-sender') {
    const conn = bus.connect({ poolSize: 65536, description: 'dying-sender' });
    post({ ready: true, id: conn.id, slot: bus.engine.threadSlot });
    const go = await conn.recvAsync({ timeout: 20000 });
    go.free();
    const dieAt = inp.dieAt ?? 0;
    for (let seq = 0; ;) {
      if (seq === dieAt) {
        // after the first messages: wait until the parent has taken them (a second go), so
        // that it does not need the receiver's lock while this thread lies dead holding it
        if (dieAt > 0) (await conn.recvAsync({ timeout: 20000 })).free();
        bus.engine.setFault(inp.fault ?? 1, true);
      }
      try {
        conn.send(inp.dst!, senderPayload(index, seq, inp.size ?? 64), { cookie: seq + 1 });
        if (seq === dieAt) { post({ error: `the send of ${seq} did not die` }); break; }
        seq++;
      } catch (e) {
        if (e instanceof BusError && (e.code === 'ENOBUFS' || e.code === 'EXFULL')) { await sleep(1); continue; }
        if (seq !== dieAt) throw e;
        post({ died: seq });
        break;
      }
    }
    // dead: stay here until terminated (a dead engine throws on every call)
    await sleep(30000);
  } else if (inp.role === 'hot-lock') {
    const i32 = new Int32Array(bus.memory.buffer);
    const id = bus.engine.threadSlot + 1, w = inp.lock! >>> 2;
    if (Atomics.compareExchange(i32, w, 0, id) !== 0) throw new Error('the lock was not free');
    post({ holding: true, slot: bus.engine.threadSlot });
    const t0 = performance.now();
    let handovers = 0;
    while (performance.now() - t0 < inp.ms!) {
      const h0 = performance.now();
      while (performance.now() - h0 < inp.hold!) Atomics.wait(i32, inp.ctl! >>> 2, 0, 1); // busy, but alive
      // handed over: the word moves (LOCK_WAITERS cleared) and its sleepers wake, never free
      const old = Atomics.exchange(i32, w, id);
      if ((old & 0x3fffffff) !== id) throw new Error('the lock was taken from its holder');
      if (old & 0x40000000) Atomics.notify(i32, w);
      handovers++;
    }
    const old = Atomics.exchange(i32, w, 0);
    if (old & 0x40000000) Atomics.notify(i32, w);
    bus.close();
    post({ released: true, handovers });
  } else if (inp.role === 'hold-lock') {
    const i32 = new Int32Array(bus.memory.buffer);
    const id = bus.engine.threadSlot + 1;
    if (Atomics.compareExchange(i32, inp.lock! >>> 2, 0, id) !== 0) throw new Error('the lock was not free');
    post({ holding: true, slot: bus.engine.threadSlot });
    const t0 = performance.now();
    while (performance.now() - t0 < inp.ms!) Atomics.wait(i32, inp.ctl! >>> 2, 0, 5); // busy, but alive
    Atomics.store(i32, (inp.ctl! >>> 2) + 1, 1); // (done with what it held the lock for: the control block's word 1)
    const old = Atomics.exchange(i32, inp.lock! >>> 2, 0);
    if (old & 0x40000000) Atomics.notify(i32, inp.lock! >>> 2);
    if (inp.declared) {
      // declared dead while it held the lock: its leave says so (or finds nothing to do)
      let close = 'ok';
      try { bus.close(); } catch (e) { close = errText(e); }
      post({ released: true, close });
    } else {
      bus.close();
      post({ released: true });
    }
  }
} catch (e) {
  post({ error: errText(e) });
}
