// spin: the adaptive spin a receiver does before it parks (Atomics.waitAsync for recvAsync,
// Atomics.wait for recvWait). A peer that answers within microseconds is caught by the spin,
// which saves the futex round trip and, for recvAsync, the trip through the event loop that
// resolves a waitAsync (docs/ARCHITECTURE.md, "Wake-ups"). A spin is bounded by SPIN_MS (the
// longest the event loop is blocked by one) and is only done while recent waits were answered
// within that budget: a saturating score per connection, raised by an answer within the
// budget, lowered by a slower one. With a low score the receiver parks at once, except one
// wait in PROBE_EVERY, which spins to notice a peer that became fast. So a connection whose
// answers are slow (100 messages/s, or idle) burns no CPU spinning.

import { now } from './wait.ts';

/** The longest one spin may take, in ms (50 µs: the event loop is never blocked longer by it). */
export const SPIN_MS = 0.05;
const SCORE_MAX = 8;
/** spin while the score is at least this */
const SCORE_SPIN = 2;
/** with a low score, every PROBE_EVERY-th wait spins anyway (a power of two) */
const PROBE_EVERY = 32;
/** word loads between clock reads */
const LOADS = 128;

/** Per connection: whether its waits should spin first. Allocation-free. */
export class Spinner {
  /** starts optimistic: the first waits spin */
  score = SCORE_SPIN;
  private waits = 0;
  /** spins done, and spins that caught the message (statistics, benches) */
  spins = 0;
  hits = 0;
  /** the longest one spin took, in ms (benches: the longest event-loop block it caused) */
  maxMs = 0;
  /** spins that took longer than 2 × SPIN_MS (the thread was descheduled while it spun) */
  over = 0;

  /** Should the next wait spin? */
  shouldSpin(): boolean {
    if (this.score >= SCORE_SPIN) return true;
    return (++this.waits & (PROBE_EVERY - 1)) === 0;
  }

  /** Spin until i32[index] is no longer `seen` (true) or `ms` pass (false). */
  spin(i32: Int32Array, index: number, seen: number, ms: number): boolean {
    this.spins++;
    const start = now(), end = start + Math.min(ms, SPIN_MS);
    for (;;) {
      for (let n = 0; n < LOADS; n++) {
        if (Atomics.load(i32, index) !== seen) { this.hits++; this.took(now() - start); return true; }
      }
      const t = now();
      if (t >= end) { this.took(t - start); return false; }
    }
  }

  private took(ms: number): void {
    if (ms > this.maxMs) this.maxMs = ms;
    if (ms > 2 * SPIN_MS) this.over++;
  }

  /** A wait ended with a message `ms` after the queue was found empty. */
  answered(ms: number): void {
    if (ms <= SPIN_MS) { if (this.score < SCORE_MAX) this.score += 2; }
    else if (this.score > 0) this.score--;
  }
}
