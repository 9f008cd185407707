// bcast-async: emitAsync's broadcast, which does not block its thread at a subscriber whose
// lock another thread holds.
//
// emit() waits for such a lock blocking, up to LOCK_WAIT_MS (1 s), then passes that
// subscriber over (its loss counted): from an event loop that stalled the loop a second per
// stuck subscriber, on every call, and a dead holder was not recovered meanwhile (Node's
// 'exit' waits for the loop). emitAsync's broadcast (since stop 67):
//
// - Its first try waits for a lock at most ASYNC_LOCK_WAIT_MS blocking (SPIN_LOCK_WAIT_MS
//   spinning on a page's main thread). A lock in its way before anything was delivered (the
//   bus lock, which NAME match rules, owned names and due calls need) fails that try having
//   changed nothing: it is made again from a timer every ASYNC_LOCK_RETRY_MS, by lockRetry
//   (lock-retry.ts), within the call's timeout and signal, EDEADLK once the lock is stuck.
// - Stopped at a subscriber's lock, it is set aside where it stopped (js/bcast-park.ts) and
//   goes on from a timer every ASYNC_LOCK_RETRY_MS (the event loop runs before every try),
//   from that subscriber on, never from the start (a subscriber before it gets the signal
//   once). After LOCK_WAIT_MS at one place, whatever its holders did (several taking turns,
//   or the bus lock taken between, included: emit()'s bound is its wall time too), one more
//   try waits for the lock ASYNC_LOCK_WAIT_MS (a live holder lets go within microseconds),
//   then the subscriber is passed over, its loss counted; at the bus lock the broadcast then
//   ends with EDEADLK (R_BCAST_BUS_LOCK), the rest not getting it, as emit()'s; a pass-over
//   that meets the bus lock taken (NAME rules) is tried again until the bus lock itself has
//   been in the way that long. A subscriber passed over and still held by the same holder
//   costs the thread's next broadcasts a pause and that one short try, not LOCK_WAIT_MS again
//   (emit() waits it again on every call).
// - A broadcast larger than the command area is staged in the sender's pool (stage.ts): its
//   reservation is the thread's op, which recovery finds. Stopped at a subscriber's lock it is
//   set aside in its sender's connection record (send_aside, assembly/aside.ts; since stop 70:
//   stop 69 gave its slice back and staged it again at each try), the thread's op none again;
//   each try makes it the thread's op again (send_resume) and goes on from its stop, the same
//   way; a broadcast that ends otherwise abandons it (send_abandon). Its first try is made again
//   from timers as an in-memory one's when a lock is in its way before anything was delivered
//   (the sender's own, for the staging; the bus lock): its slice's cancel and free never wait
//   (left to the sender's next command that holds its lock), so such a failure changed nothing
//   (since stop 70: those waits were emit()'s before, and a dead worker holding the sender's
//   lock blocked the thread LOCK_WAIT_MS per call). (Before stop 69 it was never set aside: its
//   try waited as emit()'s does, LOCK_WAIT_MS per stuck subscriber.)
//
// Order: a connection's awaitable broadcasts go in call order: one made while an earlier one
// is under way waits for it to end (bounded by its own timeout and signal: then nothing of it
// is sent). Synchronous sends go at once, ahead of a broadcast set aside (API.md, "Order").
import * as A from './shared/abi.ts';
import { BusError, canceled, shutdownError } from './errno.ts';
import { isShutdown, type Engine } from './engine.ts';
import { now } from './host/wait.ts';
import { unref as unrefTimer } from './host/deadlines.ts';
import { abortHooks } from './abort-hooks.ts';
import { lockRetry, pause } from './lock-retry.ts';
import { WaitClock, WaitSpan } from './lock-look.ts';
import { SEND, commandError } from './cmd/index.ts';
import type { ParkedBroadcast } from './bcast-park.ts';
import { sendSignal, type PreparedSignal } from './signals.ts';
import type { Connection } from './connection.ts';

/** The wait's bounds (emitAsync's options): until its first try has gone through. */
export interface BroadcastWait {
  readonly op: string;
  /** ms from the call (Infinity: none) */
  readonly timeout: number;
  readonly signal?: AbortSignal | undefined;
  /** its timers keep the thread alive (undefined: as the connection's ref() / unref() say at each) */
  readonly keepAlive: boolean | undefined;
}

/** The end of each connection's last awaitable broadcast under way (their order). */
const tails = new WeakMap<Connection, Promise<void>>();
/**
 * Per engine (bus) of this thread: the subscribers' lock words (an index in i32) a broadcast
 * passed over, each with the holder it had then. An entry holds while that holder keeps the
 * word: dropped when a look finds another holder or none, and whenever one of the thread's
 * broadcasts ends, for every word no longer held by its holder (holder ids are thread slots,
 * reused: an entry kept after its lock was let go dropped a subscriber a live thread of that
 * id held 40 ms, and one wiped by any broadcast that went through, or aged by the wait at a
 * second stuck subscriber, made each broadcast wait LOCK_WAIT_MS again: reviews of stop 67).
 */
const passedOver = new WeakMap<Engine, Map<number, number>>();
const BUS_LOCK_INDEX = (A.BUS_BASE + A.BUS_LOCK) >>> 2;

/** An awaitable broadcast past its first try at the call (the slow path): what its tries send. */
interface Job {
  readonly c: Connection;
  readonly s: PreparedSignal;
  /** the message's bytes: s.bytes (the codec's scratch) while only the call's try uses them, else a copy */
  bytes: Uint8Array;
  readonly cookie: number;
  readonly w: BroadcastWait;
  readonly deadline: number;
  /** something may have been delivered: the cookie stays used */
  went: boolean;
}

/**
 * emitAsync's broadcast of signal `s` (prepared, with `cookie`) from connection `c`: its first
 * try at once when the connection has no earlier broadcast under way (what it throws is
 * thrown, but a lock in its way), else once that one ended; resolves to the cookie when every
 * subscriber got it, was passed over or had no room. The common case, a try that goes
 * through, makes no object but the promise.
 */
export function broadcastAsync(c: Connection, s: PreparedSignal, cookie: number, op: string, timeout: number, signal: AbortSignal | undefined, keepAlive: boolean | undefined): Promise<number> {
  const e = c.engine;
  const before = tails.get(c);
  let p: ParkedBroadcast | null = null, lockErr: BusError | null = null;
  if (before === undefined) {
    try {
      p = tryOnce(e, e.asyncLockWaitMs, c, s, s.bytes, cookie, op);
    } catch (err) {
      if (!lockTaken(err)) throw err;
      lockErr = err;
    }
    if (p === null && lockErr === null) {
      forget(e);
      return Promise.resolve(cookie);
    }
  }
  const job: Job = { c, s, bytes: s.bytes, cookie, w: { op, timeout, signal, keepAlive }, deadline: now() + timeout, went: p !== null };
  // (a try after this moment: its own copy of the bytes, the codec's scratch being the next
  // encoding's: a broadcast waiting its turn sent another signal's, a seeded random test)
  if (p === null) job.bytes = s.bytes.slice();
  const done = p !== null ? goOn(c, p, job.w) : before === undefined ? start(job, lockErr) : turn(c, before, job.w, job.deadline).then(() => start(job, null));
  // (the next one waits for every earlier one: this one may end before the one it waited for,
  // at its timeout or signal)
  const settled = done.then(noop, noop);
  const end: Promise<void> = (before === undefined ? settled : Promise.all([before, settled])).then(() => {
    if (tails.get(c) === end) tails.delete(c);
  });
  tails.set(c, end);
  return done.then(() => cookie, (err: unknown) => {
    if (!job.went) c.untakeCookie(cookie); // (nothing of it sent: as a signal not sent)
    throw err;
  });
}

function noop(): void {}

/** A broadcast of the thread ended: the memory keeps only the locks still held by the holders they were passed over with. */
function forget(e: Engine): void {
  const passed = passedOver.get(e);
  if (passed === undefined) return;
  for (const [word, holder] of passed) if ((Atomics.load(e.i32, word) & A.LOCK_ID_MASK) !== holder) passed.delete(word);
}

/**
 * An EDEADLK of the engine's lock wait in a first try: a try that changed nothing (before its
 * delivery: a stop at a subscriber is set aside, and a staged one's cancel never waits; not the
 * R_BCAST_BUS_LOCK of a broadcast that went on after a wait, which a first try never is).
 */
function lockTaken(err: unknown): err is BusError {
  return err instanceof BusError && err.errno === A.EDEADLK && err.reason !== A.R_BCAST_BUS_LOCK;
}

/** One try: the SEND of the signal with a lock wait of `waitMs`; the broadcast set aside, or null when it went. */
function tryOnce(e: Engine, waitMs: number, c: Connection, s: PreparedSignal, bytes: Uint8Array, cookie: number, op: string): ParkedBroadcast | null {
  e.parked = null;
  e.parkBroadcast = true;
  e.lockWaitMs = waitMs;
  try {
    sendSignal(c, s, bytes, cookie, op);
  } finally {
    e.parkBroadcast = false;
    e.lockWaitMs = e.syncLockWaitMs;
  }
  const p = e.parked;
  e.parked = null;
  return p;
}

/**
 * The first try from the event loop (`lockErr`: the one made at the call met a lock): made
 * again while a lock is in its way by lockRetry (it changed nothing), as waitForName's
 * commands are, a staged one too (a lock in its way before its delivery: nothing reserved,
 * nothing delivered); set aside at a subscriber's lock.
 */
async function start(job: Job, lockErr: BusError | null): Promise<void> {
  const { c, w } = job, e = c.engine, op = w.op;
  const keepAlive = w.keepAlive ?? c.keepsAlive;
  // (lockRetry sets e.lockWaitMs for each try: the first waits, the next only look)
  const send = (): ParkedBroadcast | null => tryOnce(e, e.lockWaitMs, c, job.s, job.bytes, job.cookie, op);
  if (lockErr !== null) await pause(A.ASYNC_LOCK_RETRY_MS, { op, signal: w.signal, keepAlive });
  const retry = {
    op, deadline: job.deadline, signal: w.signal, keepAlive,
    timedOut: (err: BusError) => new BusError(A.ETIMEDOUT, op, `a lock the broadcast needs stayed taken past its timeout of ${w.timeout} ms: nothing was sent (${err.message})`),
  };
  const p = await lockRetry(e, send, retry);
  if (p === null) {
    forget(e);
    return;
  }
  job.went = true;
  return goOn(c, p, w);
}

/** Go on with broadcast `p` from timers until it has gone to every subscriber. */
async function goOn(c: Connection, p: ParkedBroadcast, w: BroadcastWait): Promise<void> {
  try {
    await goOnFrom(c, p, w);
  } catch (err) {
    // (ended before every subscriber had it: a staged one's slice, set aside in its sender's
    // connection, is freed; a close freed it already, a recovery of this thread frees it)
    try { c.engine.abandonBroadcast(p); } catch { /* recovered meanwhile */ }
    throw err;
  } finally {
    forget(c.engine);
  }
}

async function goOnFrom(c: Connection, p: ParkedBroadcast, w: BroadcastWait): Promise<void> {
  const e = c.engine, op = w.op, t = e.cmd - A.THREAD_CMD;
  let passed = passedOver.get(e);
  if (passed === undefined) passedOver.set(e, passed = new Map());
  // (its spans count the time between two steps LOCK_LOOK_GAP_MS at most, as LockLook does:
  // after its thread's own long block it passed a stuck subscriber over at its next step,
  // before the dead holder's 'exit' could recover it; LOCK_LOOK_WALL_MS ends each whatever
  // the gaps: a review of stop 71)
  const clock = new WaitClock();
  const since = new WaitSpan(clock), pendingSince = new WaitSpan(clock), busSince = new WaitSpan(clock), cancelSince = new WaitSpan(clock);
  let at = -1, last = false;
  for (;;) {
    // the event loop runs before every try (a burst of broadcasts past a stuck subscriber ran
    // on microtasks alone, the loop's timers never, and a dead holder's 'exit' never came: a
    // review of stop 67)
    await pause(A.ASYNC_LOCK_RETRY_MS, { op, keepAlive: w.keepAlive ?? c.keepsAlive });
    clock.step();
    // (a new place: its time starts now; not another lock at the same place, the bus lock a
    // broadcast with NAME rules takes again at each try, which would restart it for good: a
    // review of stop 67)
    if (p.from !== at) {
      at = p.from;
      since.restart();
      last = false;
      cancelSince.end();
    }
    const word = p.waitIndex, holder = Atomics.load(e.i32, word) & A.LOCK_ID_MASK;
    const known = passed.get(word);
    if (known !== undefined && known !== holder) passed.delete(word);
    let skip = false, waitMs = 0;
    if (known === holder || since.over) {
      // one more try that waits for the lock a moment (a live holder lets go within
      // microseconds), then the subscriber is passed over: at once for one passed over before
      // and still held by that holder, after LOCK_WAIT_MS at this place otherwise
      if (last) skip = true;
      else { last = true; waitMs = e.asyncLockWaitMs; }
    }
    // (the shutdown first: on the creator's thread it closes the connections too, and a wait
    // that was pending says ESHUTDOWN: API.md, ESHUTDOWN)
    if (isShutdown(e.u32)) throw shutdownError(op, 'the bus was shut down while the broadcast waited for a subscriber\'s lock: the subscribers before that one got the signal, the rest did not');
    if (c.closed) throw new BusError(A.ECONNRESET, op, 'the connection closed while its broadcast waited for a subscriber\'s lock: the subscribers before that one got the signal, the rest did not');
    // a look-only try while the lock it stopped at is held by the holder it stopped at would
    // only stop there again (its state copied back and out, the thread's op taken and given
    // back): not made (stop 69 skipped it for a staged one, which it staged again each time)
    if (!skip && waitMs === 0 && holder !== 0 && holder === (p.waitValue & A.LOCK_ID_MASK)) continue;
    e.parked = null;
    e.parkBroadcast = true;
    e.lockWaitMs = waitMs; // (0: only a look; the thread blocked at the first try, and blocks once more before a pass-over)
    let r: number;
    try {
      r = e.resumeBroadcast(p, skip);
    } finally {
      e.parkBroadcast = false;
      e.lockWaitMs = e.syncLockWaitMs;
    }
    const again = e.parked as ParkedBroadcast | null;
    e.parked = null;
    if (r === -A.EINPROGRESS && again === null) {
      // a raw send of this thread reserved and not committed yet: nothing was restored; the
      // broadcast waits for it (a commit or cancel comes from this thread's own code)
      pendingSince.begin();
      if (pendingSince.over) throw new BusError(A.EINPROGRESS, op, `a raw SEND of this thread stayed reserved (no send_commit / send_cancel) for ${A.LOCK_WAIT_MS} ms while the broadcast waited to go on: the subscribers before its stop got the signal, the rest did not`, A.R_OP_PENDING);
      // (a pass-over that changed nothing is made again as a pass-over: made a waiting try
      // again, it stopped at the same place, and the next pass-over met the same: a review of
      // stop 69 saw a staged one never end so)
      if (!skip) last = false;
      continue;
    }
    pendingSince.end();
    if (r === -A.EAGAIN) {
      // a raw send of this thread whose commit gave up (EDEADLK) could not be cancelled first (a
      // lock still taken): nothing changed. Tried again from timers, LOCK_WAIT_MS at most
      cancelSince.begin();
      if (!cancelSince.over) { if (!skip) last = false; continue; }
      throw new BusError(A.EDEADLK, op, `a lock that cancelling this thread's send whose commit gave up needs stayed taken for ${A.LOCK_WAIT_MS} ms after the broadcast waited for a subscriber's lock: the subscribers before that one got the signal, the rest did not`, A.R_LOCK_WAIT);
    }
    // (its time counts only while they follow each other: a stop between restarts it; a
    // pass-over that meets it stays one, and so still ends)
    cancelSince.end();
    if (skip && r === -A.EDEADLK && again === null && e.u32[(t + A.THREAD_REASON) >>> 2] === A.R_BCAST_BUS_LOCK) {
      // the pass-over met the bus lock taken (NAME rules need it at each try): that try
      // delivered nothing (the core checks the bus lock first), and the copy set aside is
      // still whole: tried again, passing over, until the bus lock itself has been in the way
      // LOCK_WAIT_MS (emit() ends there at once: one holder's moment on the bus lock cost the
      // rest of the subscribers the signal, a review of stop 67)
      busSince.begin();
      if (!busSince.over) continue;
    }
    busSince.end();
    // (remembered when it was passed over for real: the core passes over only a lock still taken)
    const movedOn = r === 0 || (r === A.WOULDBLOCK && again !== null && again.from !== at);
    if (skip && movedOn && word !== BUS_LOCK_INDEX && holder !== 0) passed.set(word, holder);
    if (r === A.WOULDBLOCK && again !== null) {
      p = again;
      continue;
    }
    if (r < 0) throw commandError(e.u32, e.cmd, r, op, SEND.NAME, { dst: 'broadcast' });
    return;
  }
}

/** Wait for `before` (the connection's earlier broadcast) to end, by `deadline` (ETIMEDOUT) and within `w`'s signal (ECANCELED). */
function turn(c: Connection, before: Promise<void>, w: BroadcastWait, deadline: number): Promise<void> {
  const { op, signal } = w;
  if (signal?.aborted) return Promise.reject(canceled(op, signal));
  return new Promise<void>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = { handleEvent: () => { end(); reject(canceled(op, signal)); } };
    const end = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== undefined) abortHooks.unwatch(signal, onAbort);
    };
    if (deadline !== Infinity) {
      const start = now();
      timer = setTimeout(() => {
        end();
        reject(new BusError(A.ETIMEDOUT, op, `the connection's earlier broadcast was still under way after ${Math.round(now() - start)} ms (timeout ${w.timeout} ms): this one was not sent`));
      }, Math.max(0, deadline - start));
      if (!(w.keepAlive ?? c.keepsAlive)) unrefTimer(timer);
    }
    if (signal !== undefined) abortHooks.watch(signal, onAbort, op);
    void before.then(() => { end(); resolve(); });
  });
}
