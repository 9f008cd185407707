// wait: the host side of wake-ups. A receiver sleeps on its connection's wake word (the core
// adds 1 and notifies after it publishes a message into the queue). Event-loop threads wait
// with Atomics.waitAsync, threads that may block with Atomics.wait; the core itself never
// waits (docs/RUNTIMES.md, "Waiting": Node 20's Liftoff and wasm wait32). A thread's event-loop
// waits on one word share one waitAsync: wait-group.ts. What keeps a thread alive while it waits
// is keepalive.ts's; the timeouts of event-loop waits are deadlines.ts's.
import { waitResolved, yieldTurn } from './fair.ts';
import { offCount, notifyWord } from './sleepers.ts';
import { addPoll, dropPoll, type Poll } from './polls.ts';
import { payAll } from './owed.ts';

export function now(): number {
  return performance.now();
}

/**
 * A settled promise: `RESOLVED.then(f)` runs `f` as a microtask, natively (the steps of
 * RoomWait and CallEnd). Node's queueMicrotask wraps each callback for its async hooks: 240
 * more bytes per call and a slower call() burst (stop 33, allocation sampling and three
 * alternations).
 */
export const RESOLVED: Promise<void> = Promise.resolve();

/** waits of this thread that were resolved by the event loop (a waitAsync that parked, a poll's timer): one that moved on since a moment means the event loop has run since */
let parked = 0;
export function parks(): number {
  return parked;
}
/** a wait of this thread was resolved by the event loop (wait-group.ts's, a listener's park) */
export function countPark(): void {
  parked++;
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsyncFn = (a: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
const waitAsyncFn: WaitAsyncFn | undefined = (Atomics as unknown as { waitAsync?: WaitAsyncFn }).waitAsync;
/** Atomics.waitAsync, where the runtime has it (wait-group.ts parks its groups' waits with it) */
export const waitAsync = waitAsyncFn;
/** this runtime has Atomics.waitAsync (else event-loop waits poll: pollWord) */
export const HAS_WAIT_ASYNC = waitAsyncFn !== undefined;

/** Poll interval (ms) of the fallback for runtimes without Atomics.waitAsync. */
const POLL_MS = 4;

/** what conn.parkListen did: parked (its callback will be called once), nothing (the word had moved: look again), or nothing for a lock found stuck (lockBusy) */
export const PARK_PARKED = 1, PARK_MOVED = 0, PARK_BUSY = -1;

/**
 * A listener's park woke (its group woke it): counted in parks(); true when the thread should
 * yield a macrotask before it goes on (fair.ts).
 */
export function parkWoke(): boolean {
  countPark();
  return waitResolved(now());
}

/**
 * waitWord with Atomics.waitAsync's own timeout: each wait posts its own timer task to the
 * runtime (an event-loop wake-up and a timer per wait), but its expiry wakes this wait alone.
 * For words that many threads sleep on with timeouts (a receiver's ticket line, turns.ts).
 */
export function waitWordTimed(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): Promise<void> {
  if (!waitAsyncFn) return pollWord(i32, index, expected, timeout);
  Atomics.add(i32, sleepers, 1);
  const r = waitAsyncFn(i32, index, expected, timeout === Infinity ? undefined : Math.max(0, timeout));
  if (!r.async) {
    Atomics.sub(i32, sleepers, 1);
    return Promise.resolve();
  }
  return r.value.then((how) => { parked++; offCount(i32, sleepers, how); return waitResolved(now()) ? yieldTurn() : undefined; });
}

/**
 * waitWordTimed telling how the wait ended: 'ok' (notified: the word may or may not have
 * moved), 'timed-out', or 'not-equal' (it had moved already). null where the runtime has no
 * Atomics.waitAsync (the caller falls back to waitWordTimed's polling).
 */
export function waitWordHow(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): Promise<'ok' | 'timed-out' | 'not-equal'> | null {
  if (!waitAsyncFn) return null;
  Atomics.add(i32, sleepers, 1);
  const r = waitAsyncFn(i32, index, expected, timeout === Infinity ? undefined : Math.max(0, timeout));
  if (!r.async) {
    Atomics.sub(i32, sleepers, 1);
    return Promise.resolve(r.value);
  }
  return r.value.then((how) => { parked++; offCount(i32, sleepers, how); return waitResolved(now()) ? yieldTurn().then(() => how) : how; });
}

/**
 * No Atomics.waitAsync (older Firefox): poll the word with timers. A notify of the word by
 * this thread ends the poll at once (polls.ts), as it would end a waitAsync.
 */
export function pollWord(i32: Int32Array, index: number, expected: number, timeout: number): Promise<void> {
  return new Promise((resolve) => {
    const end = now() + timeout;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll: Poll = {
      i32,
      index,
      wake: () => {
        dropPoll(poll);
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      },
    };
    const tick = () => {
      timer = undefined;
      if (Atomics.load(i32, index) !== expected || now() >= end) poll.wake();
      else timer = setTimeout(() => { parked++; tick(); }, Math.min(POLL_MS, Math.max(0, end - now())));
    };
    addPoll(poll);
    tick();
  });
}

/**
 * Block until i32[index] is no longer `expected`, or `timeout` ms. Returns false when this
 * thread may not block (a browser main thread refuses Atomics.wait).
 */
export function waitWordBlocking(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): boolean {
  payAll(); // (a batch's deferred wakes first: the thread may wait for an answer to one of them)
  Atomics.add(i32, sleepers, 1);
  let how = 'not-equal';
  try {
    how = Atomics.wait(i32, index, expected, timeout === Infinity ? undefined : Math.max(0, timeout));
    return true;
  } catch (err) {
    if (err instanceof TypeError) return false;
    throw err;
  } finally {
    offCount(i32, sleepers, how);
  }
}

/** Wake every waiter on i32[index] after changing it (they re-check and wait again); `sleepers`: the word's sleepers count. */
export function bump(i32: Int32Array, index: number, sleepers: number): void {
  Atomics.add(i32, index, 1);
  notifyWord(i32, index, sleepers);
}

/** Can this thread block in Atomics.wait? (A browser main thread throws TypeError, whatever the value.) */
export function canBlock(i32: Int32Array, index: number): boolean {
  try {
    Atomics.wait(i32, index, Atomics.load(i32, index) ^ 1, 0); // not-equal at once where allowed
    return true;
  } catch (err) {
    if (err instanceof TypeError) return false;
    throw err;
  }
}
