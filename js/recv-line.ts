// recv-line: the parked receives of one connection on this thread, in the order they parked,
// and the hand-over that keeps that order: a message that a younger one takes while an older
// one waits goes to the oldest.
//
// The wait group (host/wait-group.ts) wakes the oldest receives first, as many as there are
// messages, and they look in that order, each in a microtask of its own. That alone did not
// keep the order whenever a look came back empty handed for a moment (stop 68, a test's flake
// reproduced on a loaded machine, 4–7 runs in 40): a look that found the connection's lock
// taken by the sending worker (descheduled while it held it) waits ASYNC_LOCK_RETRY_MS for its
// next try while the younger ones, woken for later messages, find the lock free and take
// the earlier ones; a look that found the queue empty a moment before the next message came
// looks again behind those woken with it; a receive back from a deadline's turn is not among
// those a step wakes. Rather than order every look, the take is ordered: the receive that took
// a message gives it to the oldest receive of the line when that one is older, and looks again.
//
// Only recvAsync's waits that take any message are in the line: no `priority` limit (an older
// one with a limit might refuse it) and no `peek` (a peek takes nothing). A receive not in it
// (a recvAsync's first look, a spin's catch; the waits of a `for await` loop's steps and of a
// listener, which their owner ends: a listener's handler must not run after its stop()) gives
// what it takes to the line's oldest the same way, then waits. A batch (a listener's, a
// `for await` loop's first look) takes what it finds.
//
// The one given a message resumes in a microtask, or after the macrotask it owes the event loop
// (host/fair.ts); until then the message is `held`: close() without `drop` says EBUSY, as for a
// batch's messages not handed over. Its wait aborted meanwhile: it hands the message over all the
// same (the abort came after the message was its; passing it on to the next of the line broke the
// order, a review of stop 68: the next had been given a later one already).
import { dropWait, type GroupWait } from './host/wait-group.ts';
import type { Message } from './message.ts';
import type { Waiter } from './waiter.ts';

/** A receive's wait (recvAsyncWait) that may stand in its connection's line. */
export interface LineWaiter extends Waiter {
  /** its place in the line (RecvLine's own links: the waiter is in the connection's waiters too) */
  lPrev: LineWaiter | null;
  lNext: LineWaiter | null;
  inLine: boolean;
  /** a message a younger receive took and gave it, not yet handed over (its wait then returns it, whatever ended the wait meanwhile) */
  given: Message | null;
  /** the DROPPED_MSGS that the RECV which took `given` reported (told with it) */
  givenDropped: number;
  /** its park in the wait group now, or null (given a message, it leaves the group at once: no step wakes it for another) */
  park: GroupWait | null;
}

/** The line of a connection's parked receives on this thread, oldest first; allocation-free. */
export class RecvLine {
  private head: LineWaiter | null = null;
  private tail: LineWaiter | null = null;
  /** messages given and not handed over yet (their receives resume in a microtask, or after a macrotask they owe the event loop): close() without `drop` says EBUSY meanwhile */
  held = 0;

  /** `w` parks for the first time: the end of the line. */
  join(w: LineWaiter): void {
    w.lPrev = this.tail;
    w.lNext = null;
    if (this.tail !== null) this.tail.lNext = w;
    else this.head = w;
    this.tail = w;
    w.inLine = true;
  }

  /** `w` is out of the line (its wait ended, or it was given a message). */
  leave(w: LineWaiter): void {
    if (!w.inLine) return;
    const prev = w.lPrev, next = w.lNext;
    if (prev !== null) prev.lNext = next;
    else this.head = next;
    if (next !== null) next.lPrev = prev;
    else this.tail = prev;
    w.lPrev = w.lNext = null;
    w.inLine = false;
  }

  /**
   * `taker` took `m` (its RECV reported `dropped`): when a receive older than it waits (any
   * receive of the line when the taker is not in it: a receive's first look, a spin's catch),
   * that one gets it (the oldest whose wait has not ended with an error: those are leaving),
   * out of the line and woken; true then (the taker looks again). False: the taker is the
   * oldest, it keeps `m`.
   */
  give(taker: LineWaiter | null, m: Message, dropped: number): boolean {
    for (let y = this.head; y !== null && y !== taker; y = y.lNext) {
      if (y.error !== null) continue;
      this.leave(y);
      this.held++;
      y.given = m;
      y.givenDropped = dropped;
      if (y.park !== null) { dropWait(y.park); y.park = null; }
      y.cancel?.();
      return true;
    }
    return false;
  }
}
