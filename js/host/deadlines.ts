// deadlines: the timeouts of this thread's event-loop waits (waitIn in wait-group.ts), on one
// timer. A wait with a timeout parks in Atomics.waitAsync *without* one and registers its
// deadline here; when the deadline passes, the timer calls the deadline's `due()`, which ends
// that wait alone (wait.ts: its waiter is resolved, and finds its time up when its loop
// re-checks the clock).
//
// Why not waitAsync's own timeout: V8 implements it with a delayed task per wait, which Node
// (and Deno) post to the event loop with a wake-up of their own (a uv_async_send: an eventfd
// write, an extra epoll_pwait and read) and keep as a timer until the timeout, even when the
// wait ended long before. For a receive with a timeout that is about one more event-loop
// wake-up per message, and one more live timer per wait until its timeout
// (measured with strace -c -f at 100 messages/s: +1.1 read/write and +1.3 epoll_pwait per
// message; without a timeout the counts equal postMessage's).
//
// The timer here is armed for the earliest deadline and re-armed lazily: a new deadline later
// than the armed one (the usual case: the same timeout again and again) touches no timer; a
// wait that ends early only leaves the set, and the timer, when it fires, finds nothing due
// and re-arms for the earliest deadline left (or not at all). So a loop of receives with a
// 20 s timeout costs a timer firing per second (LONGEST_TIMER_MS), not a timer per message.
//
// The timer is unref'd: a deadline keeps no thread alive (keep-alive is keepalive.ts's job,
// as for waitAsync's own timeout before). Words that many threads sleep on with timeouts (a
// receiver's ticket line) use waitAsync's own timeout instead (waitWordTimed).

import { LinkedSet, type Linked } from '../linked-set.ts';

/** One registered deadline: `due()` is called once `at` (performance.now() ms) has passed, unless dropDeadline() came first (wait-group.ts's GroupWait). */
export interface Deadline extends Linked {
  at: number;
  /** its time came (it has left the pending set already) */
  due(): void;
}

/** (a LinkedSet, not a Set: one joins and leaves per parked wait; linked-set.ts says why) */
const pending = new LinkedSet<Deadline>();
let timer: ReturnType<typeof setTimeout> | undefined;
/** the deadline the timer is armed for (Infinity: not armed) */
let armedAt = Infinity;
/** timer firings (for tests and diagnostics) */
let fired = 0;

/** A timer that keeps no thread alive: Node's Timeout.unref(), Deno.unrefTimer(id) (a browser's keep nothing alive). */
export function unref(t: unknown): void {
  const u = t as { unref?: () => unknown } | null;
  if (typeof u === 'object' && u !== null && typeof u.unref === 'function') { u.unref(); return; }
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof t === 'number' && typeof deno?.unrefTimer === 'function') deno.unrefTimer(t);
}

/**
 * The longest delay these timers are armed for (ms); a deadline further away is reached in
 * steps: a firing that finds nothing due re-arms. Why so short: Node keeps a list per timer
 * duration, and deletes the list of an unref'd timer that was cleared only when that duration
 * has passed ("unrefed ones are incredibly likely to come from http", lib/internal/timers.js).
 * The timers here are unref'd and re-armed with a new duration whenever an earlier deadline
 * comes: a loop of 1 ms receives beside one with an hour's timeout made a list for each of
 * 3 599 998, 3 599 997, ... ms, kept for the hour: ~150 bytes of heap per timeout (an outside
 * audit, stop 59: 5.5 MB in 45 s; Deno drifted too). Capped, the durations are 1 to 1 000 ms
 * and each list is gone within a second; the price is a firing per second while only
 * further deadlines are pending. (Also below 2^31 - 1 ms, past which Node and Deno fire a
 * timer after 1 ms and browsers at once.)
 */
export const LONGEST_TIMER_MS = 1000;

/** The delay of a timer armed for `at` (performance.now() ms): whole ms, at least 1, at most LONGEST_TIMER_MS (a further time is reached in steps: a firing that finds nothing due re-arms). Also the slot line's, the reply pump's, the room waits' and the ticket lines' timers. */
export function timerDelay(at: number): number {
  return Math.min(LONGEST_TIMER_MS, Math.max(1, Math.ceil(at - performance.now())));
}

function arm(at: number): void {
  if (timer !== undefined) clearTimeout(timer);
  armedAt = at;
  // timers count whole ms and may run a little early by performance.now(): fire() re-arms then
  timer = setTimeout(fire, timerDelay(at));
  unref(timer);
}

function fire(): void {
  timer = undefined;
  armedAt = Infinity;
  fired++;
  const t = performance.now();
  let next = Infinity;
  // (the links walked, not a for...of, which copies the members first: with 1 000 waits
  // pending that was an array of 1 000 per firing. due() resolves promises and notifies
  // words: it adds or deletes no deadline before this loop ends, and a later add arms for
  // itself: `next < armedAt`)
  for (let d = pending.first; d !== null;) {
    const after = d.linkNext as Deadline | null;
    if (d.at <= t) {
      pending.delete(d);
      d.due();
    } else if (d.at < next) next = d.at;
    d = after;
  }
  if (next < armedAt) arm(next);
}

/** Call `d.due()` once `d.at` (performance.now() ms) has passed, unless dropDeadline(d) comes first. */
export function addDeadline(d: Deadline): void {
  pending.add(d);
  if (d.at < armedAt) arm(d.at);
}

/** How many deadlines are pending. */
export function deadlinesPending(): number {
  return pending.size;
}

/** The first pending deadline, oldest first (walk on with `linkNext`; wait.ts looks for a word's other timed waits). */
export function firstDeadline(): Deadline | null {
  return pending.first;
}

/** The wait ended: forget its deadline (the timer stays as it is; see above). */
export function dropDeadline(d: Deadline): void {
  pending.delete(d);
}

/** Deadlines registered and not yet due or dropped, and timer firings (tests, diagnostics). */
export function deadlineStats(): { pending: number; fired: number; armed: boolean } {
  return { pending: pending.size, fired, armed: timer !== undefined };
}
