// sleepers: how a futex word's waiters are counted, so that a waker notifies only when someone
// waits (docs/ARCHITECTURE.md, "Wake-ups"). A waiter adds 1 to the word's sleepers count before
// it waits. A waker that notifies takes off the count as many as its notify woke (notifyWord
// here; the core's wakeWaiters, assembly/lock.ts, for the words it wakes); a waiter that ends
// otherwise (the word had moved: 'not-equal'; its own timeout: 'timed-out') takes itself off
// (offCount). So the count falls to 0 the moment a notify wakes the last waiter, not when the
// woken waiters get to run (an event-loop turn later, or more): the publishes in between find
// 0 and skip their notify, each a trip through the runtime's waiter list under its global
// lock. (Before stop 34 each waiter took itself off when it ran: in a 64 B stream at depth 256,
// 58-70 % of the sends found a sleeper still counted and notified.) Every notify of a counted
// word goes through notifyWord or wakeWaiters: one that did not would leave its woken waiters
// counted, and every later publish would notify (harmless, but the cost this removes).

import { wakePolls } from './polls.ts';

/** A wait of a counted word ended `how` (Atomics.wait's or waitAsync's result): off the count unless a notify woke it (its waker took it off). */
export function offCount(i32: Int32Array, sleepers: number, how: string): void {
  if (how !== 'ok') Atomics.sub(i32, sleepers, 1);
}

/**
 * Notify every waiter on i32[index] and take them off the sleepers count at `sleepers` (the
 * waiters woken do not take themselves off: offCount). Returns how many were woken.
 */
export function notifyWord(i32: Int32Array, index: number, sleepers: number): number {
  wakePolls(i32, index); // (the polling waits of a runtime without waitAsync: polls.ts)
  const n = Atomics.notify(i32, index);
  if (n > 0) Atomics.sub(i32, sleepers, n);
  return n;
}
