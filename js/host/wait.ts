// wait: the host side of wake-ups. A receiver sleeps on its connection's wake word (the core
// adds 1 and notifies after it publishes a message into the queue). Event-loop threads wait
// with Atomics.waitAsync, threads that may block with Atomics.wait; the core itself never
// waits (docs/RUNTIMES.md, "Waiting": Node 20's Liftoff and wasm wait32). What keeps a thread
// alive while it waits is keepalive.ts's; the timeouts of event-loop waits are deadlines.ts's.
import { addDeadline, deadlinesPending, dropDeadline, firstDeadline, type Deadline } from './deadlines.ts';
import { LinkedSet } from '../linked-set.ts';
import { stepResolved, waitResolved, yieldTurn } from './fair.ts';
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

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsyncFn = (a: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
const waitAsyncFn: WaitAsyncFn | undefined = (Atomics as unknown as { waitAsync?: WaitAsyncFn }).waitAsync;
/** this runtime has Atomics.waitAsync (else event-loop waits poll: pollWord) */
export const HAS_WAIT_ASYNC = waitAsyncFn !== undefined;

/** Poll interval (ms) of the fallback for runtimes without Atomics.waitAsync. */
const POLL_MS = 4;

/**
 * Resolve when i32[index] is no longer `expected` (or may not be: spurious wake-ups are
 * allowed, the caller re-checks), or after `timeout` ms. Never rejects. The timeout is a
 * deadline on this thread's one deadline timer (deadlines.ts), not waitAsync's own: no
 * event-loop wake-up or timer per wait; its expiry ends this wait alone (Park, below).
 */
export function waitWord(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): Promise<void> {
  return new Promise<void>((resolve) => { waitWordThen(i32, index, expected, timeout, sleepers, resolve); });
}

/**
 * waitWord for a caller that has a promise of its own to settle: `done` is called once, with
 * what to resolve it with (a macrotask to wait for first, when the thread owes its event loop
 * one: fair.ts; else undefined). No promise of waitWord's own per wait. Returns the wait's
 * Park while it is parked, for its owner to end it early (endWait: an abort, an iterator's
 * return()), else null (ended already, or a polling wait: end that one with a notify).
 */
export function waitWordThen(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number, done: (v: Promise<void> | undefined) => void): Park | null {
  if (!waitAsyncFn) { void pollWord(i32, index, expected, timeout).then(() => { done(undefined); }); return null; }
  if (!(timeout > 0)) { done(undefined); return null; }
  if (spares.size !== 0 && Atomics.load(i32, index) === expected) {
    const p = takeSpare(i32, index, expected);
    if (p !== null) { p.arm(done, timeout); return p; }
  }
  // counted as a sleeper from before the wait until after it: publishers notify only then
  Atomics.add(i32, sleepers, 1);
  const r = waitAsyncFn(i32, index, expected);
  if (!r.async) {
    Atomics.sub(i32, sleepers, 1);
    // (the word had moved: the caller looks again in a microtask, a step of the same task)
    done(stepResolved() ? yieldTurn() : undefined);
    return null;
  }
  const p = new Park(i32, index, expected, sleepers);
  void r.value.then((how) => { p.woke(how); });
  p.arm(done, timeout);
  return p;
}

/**
 * End a wait of waitWordThen now, its `done` called (its owner ended it: an abort, a close of
 * an iterator), as its deadline would: the word's other waits sleep on.
 */
export function endWait(p: Park): void {
  if (!p.live) return;
  p.leave();
  p.retire();
}

/**
 * The waitAsync of a waitWordThen, with its waiter (the `done` to call) and, for a timed wait,
 * its deadline.
 *
 * A wait whose deadline passes, or whose owner ends it (endWait: an abort), ends alone. Before
 * stop 59 both notified the word, which woke every wait of the word (each re-checked and parked
 * again): 1 000 receives with timeouts parked on one connection cost ~0.8 s of CPU a second,
 * each expiry waking the rest (an outside audit, stop 58). A waitAsync cannot be taken back,
 * though: the one whose waiter left stays parked on the word, counted among its sleepers, until
 * a notify of the word. So:
 * - when no other wait of this thread (a Park) is parked on the word, the end notifies it as
 *   before (waking this waitAsync and whatever else sleeps there: nothing more, usually);
 * - otherwise the park becomes a *spare*: left parked, and taken over by the next wait of this
 *   thread on the same word from the same value (a receive loop that timed out and waits
 *   again) instead of a new waitAsync. A spare ends with the word's next notify, which every
 *   other way a wait ends brings (a publish, a close, the last one's end above), so none
 *   outlives the word's last wait; and there are never more than max(MIN_SPARES, waits parked)
 *   (the oldest's word is notified: amortized, at most two wake-ups per end).
 * Live parks are in deadlines.ts's pending set (timed) or in `untimed`; spares in `spares`.
 */
export class Park implements Deadline {
  linkPrev: Deadline | null = null;
  linkNext: Deadline | null = null;
  linkIn: object | null = null;
  at = Infinity;
  /** the `done` of the wait that has this park now, or null (a spare, or ended) */
  private waiter: ((v: Promise<void> | undefined) => void) | null = null;
  constructor(readonly i32: Int32Array, readonly index: number, readonly expected: number, readonly sleepers: number) {}

  /** a wait has it (not a spare, not ended) */
  get live(): boolean { return this.waiter !== null; }

  /** a wait of `timeout` ms (Infinity: none) on this park, ended by calling `done` (once) */
  arm(done: (v: Promise<void> | undefined) => void, timeout: number): void {
    this.waiter = done;
    if (timeout === Infinity) { this.at = Infinity; untimed.add(this); return; }
    this.at = now() + timeout;
    addDeadline(this);
  }

  /** out of the live sets (the pending deadlines, `untimed`) or the spares */
  leave(): void {
    if (this.linkIn === spares) spares.delete(this);
    else if (this.linkIn === untimed) untimed.delete(this);
    else dropDeadline(this);
  }

  /** the waitAsync resolved (`how`: its result): the waiter, if any, looks again */
  woke(how: string): void {
    parked++;
    offCount(this.i32, this.sleepers, how);
    const wasLive = this.waiter !== null;
    this.leave();
    // the word's last wait, woken by a notify that moved nothing (a listener's stop), may leave
    // spares that another wait's end kept while this one still looked parked: notified away
    // (none outlives the word's last wait; a spare it would not end stayed counted until the
    // word's next publish)
    if (wasLive && spares.size !== 0 && !this.sharesWord() && this.sparesOnWord()) notifyWord(this.i32, this.index, this.sleepers);
    this.end();
  }

  /** the deadline passed (deadlines.ts has dropped it): the waiter alone looks again */
  due(): void {
    this.retire();
  }

  /** the wait ended before its waitAsync did (out of the live sets already): a spare, or notified away; its waiter called */
  retire(): void {
    if (this.sharesWord()) {
      spares.add(this);
      if (spares.size > Math.max(MIN_SPARES, deadlinesPending() + untimed.size)) {
        const old = spares.first!;
        spares.delete(old);
        notifyWord(old.i32, old.index, old.sleepers);
      }
    } else notifyWord(this.i32, this.index, this.sleepers); // (its woke() comes; nothing to do then)
    this.end();
  }

  private end(): void {
    const w = this.waiter;
    if (w === null) return;
    this.waiter = null;
    w(waitResolved(now()) ? yieldTurn() : undefined);
  }

  /** a spare is parked on the same word */
  private sparesOnWord(): boolean {
    for (let p = spares.first; p !== null; p = p.linkNext as Park | null) if (p.index === this.index && p.i32 === this.i32) return true;
    return false;
  }

  /** another wait of this thread is parked on the same word */
  private sharesWord(): boolean {
    for (let d = firstDeadline(); d !== null; d = d.linkNext as Deadline | null) {
      if (d instanceof Park && d.index === this.index && d.i32 === this.i32) return true;
    }
    for (let d = untimed.first; d !== null; d = d.linkNext as Park | null) {
      if (d.index === this.index && d.i32 === this.i32) return true;
    }
    return false;
  }
}

/** the fewest spares kept however few waits are parked (a burst that times out together) */
const MIN_SPARES = 64;
/** parks whose wait ended (its deadline, its owner) while another wait of this thread was parked on their word */
const spares = new LinkedSet<Park>();
/** parks of waits with no timeout */
const untimed = new LinkedSet<Park>();

/** a spare parked on i32[index] from `expected`, taken out of the spares (null: none) */
function takeSpare(i32: Int32Array, index: number, expected: number): Park | null {
  for (let p = spares.first; p !== null; p = p.linkNext as Park | null) {
    if (p.index === index && p.i32 === i32 && p.expected === expected) {
      spares.delete(p);
      return p;
    }
  }
  return null;
}

/** Spares kept, and waits with no timeout parked (tests, diagnostics; timed ones: deadlineStats). */
export function parkStats(): { spares: number; untimed: number } {
  return { spares: spares.size, untimed: untimed.size };
}

/** what conn.parkListen did: parked (its callback will be called once), nothing (the word had moved: look again), or nothing for a lock found stuck (lockBusy) */
export const PARK_PARKED = 1, PARK_MOVED = 0, PARK_BUSY = -1;

/**
 * A park with a callback, no promise of its own (conn.listen's park, stop 40): wait on
 * i32[index] from `expected` with no timeout, and call `onWake` with waitAsync's result once
 * it resolves ('polled' from the timer fallback where the runtime has no Atomics.waitAsync).
 * The callback, made once by its caller, is the wait's one `then`: none of waitWord's
 * promises and none of an `await` on them, per park. false: the word had moved already
 * (nothing parked, nothing will be called). The woken callback counts the wake-up: parkWoke.
 */
export function parkOn(i32: Int32Array, index: number, expected: number, sleepers: number, onWake: (how: string) => void): boolean {
  if (!waitAsyncFn) {
    void pollWord(i32, index, expected, Infinity).then(() => onWake('polled'));
    return true;
  }
  Atomics.add(i32, sleepers, 1);
  const r = waitAsyncFn(i32, index, expected);
  if (!r.async) {
    Atomics.sub(i32, sleepers, 1);
    return false;
  }
  void r.value.then(onWake);
  return true;
}

/**
 * A parkOn's wake-up, `how` as its callback was given it: counted as waitWord counts its own
 * (parks(), the sleepers word; pollWord counted its ticks); true when the thread should yield
 * a macrotask before it goes on (fair.ts).
 */
export function parkWoke(i32: Int32Array, sleepers: number, how: string): boolean {
  if (how !== 'polled') {
    parked++;
    offCount(i32, sleepers, how);
  }
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
function pollWord(i32: Int32Array, index: number, expected: number, timeout: number): Promise<void> {
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
