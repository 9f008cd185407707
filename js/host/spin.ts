// spin: the adaptive spin a receiver does before it parks (Atomics.waitAsync for recvAsync,
// Atomics.wait for recvWait). A peer that answers within microseconds is caught by the spin,
// which saves the futex round trip and, for recvAsync, the trip through the event loop that
// resolves a waitAsync (docs/ARCHITECTURE.md, "Wake-ups"). A spin is bounded by SPIN_MS (the
// longest the event loop is blocked by one) and is only done while recent waits were answered
// within that budget: a saturating score per connection, raised by an answer within the
// budget, lowered by a slower one. With a low score the receiver parks at once, except one
// wait in PROBE_EVERY, which spins to notice a peer that became fast. So a connection whose
// answers are slow (100 messages/s, or idle) burns no CPU spinning.
//
// The budget is checked on the clock every LOADS word loads (about 0.3 µs of loads), so a
// spin that runs stops within a fraction of a microsecond of its budget. What a spin cannot
// stop is the OS taking the core away mid-spin (a loaded machine): two clock reads further
// apart than GAP_MS mean the thread was descheduled. Such a spin ends at once (it parks
// instead of spinning on), and whatever it caught does not count as a fast answer: the score
// drops to 0, so the next waits park unless a probe finds the peer fast again. On a machine
// whose cores are all busy, spinning only takes time from the peer it waits for.

import { now } from './wait.ts';

/** The longest one spin may take, in ms (50 µs: the event loop is never blocked longer by it). */
export const SPIN_MS = 0.05;
/**
 * Two clock reads of one spin further apart than this (ms) mean the OS descheduled the
 * thread (LOADS loads take well under 1 µs on any machine the bus targets; 10 µs leaves room
 * for a slow clock read and a minor GC step).
 */
export const GAP_MS = 0.01;
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
  /** the last spin was descheduled: its wait does not count as answered fast */
  private descheduled = false;
  /** spins done, and spins that caught the message (statistics, benches) */
  spins = 0;
  hits = 0;
  /** the longest one spin took, in ms, not counting spins that were descheduled */
  maxMs = 0;
  /** the longest one spin took, in ms, counting spins that were descheduled (wall time) */
  maxWallMs = 0;
  /** spins that took longer than 2 × SPIN_MS (wall time: the thread was descheduled) */
  over = 0;
  /** spins that noticed they were descheduled (a gap over GAP_MS between clock reads) and ended */
  preempted = 0;

  /** Should the next wait spin? */
  shouldSpin(): boolean {
    if (this.score >= SCORE_SPIN) return true;
    return (++this.waits & (PROBE_EVERY - 1)) === 0;
  }

  /** Spin until i32[index] is no longer `seen` (true) or `ms` pass (false). */
  spin(i32: Int32Array, index: number, seen: number, ms: number): boolean {
    this.spins++;
    const start = now(), end = start + Math.min(ms, SPIN_MS);
    let last = start;
    for (;;) {
      for (let n = 0; n < LOADS; n++) {
        if (Atomics.load(i32, index) !== seen) {
          const t = now();
          this.took(t - start, t - last > GAP_MS);
          if (!this.descheduled) this.hits++;
          return true;
        }
      }
      const t = now();
      if (t - last > GAP_MS) { this.took(t - start, true); return false; }
      if (t >= end) { this.took(t - start, false); return false; }
      last = t;
    }
  }

  private took(ms: number, descheduled: boolean): void {
    this.descheduled = descheduled;
    if (descheduled) {
      this.preempted++;
      this.score = 0;
    } else if (ms > this.maxMs) this.maxMs = ms;
    if (ms > this.maxWallMs) this.maxWallMs = ms;
    if (ms > 2 * SPIN_MS) this.over++;
  }

  /** A wait ended with a message `ms` after the queue was found empty. */
  answered(ms: number): void {
    if (this.descheduled) { this.descheduled = false; return; } // the score was dropped already
    if (ms <= SPIN_MS) { if (this.score < SCORE_MAX) this.score += 2; }
    else if (this.score > 0) this.score--;
  }
}
