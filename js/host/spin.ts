// spin: the adaptive spin a receiver does before it parks (Atomics.waitAsync for recvAsync,
// Atomics.wait for recvWait). A peer that answers within microseconds is caught by the spin,
// which saves the futex round trip and, for recvAsync, the trip through the event loop that
// resolves a waitAsync (docs/ARCHITECTURE.md, "Wake-ups"). A spin is bounded by SPIN_MS (the
// longest the event loop is blocked by one) and is only done while recent spins caught their
// message: a saturating score per connection, raised by HIT for a spin that caught the
// message, lowered by MISS for one that ran out of budget. With a low score the receiver parks
// at once, except one probing wait, which spins to notice a peer that became fast: the first
// probe PROBE_EVERY waits after the score fell, and each probe that misses doubles the gap,
// up to PROBE_MAX. So a connection whose answers are slow (100 messages/s, or idle) burns
// almost no CPU spinning (one 50 µs probe in 1024 waits once the gap has grown).
//
// Only spins count, not how soon a parked wait was answered: on a machine with fewer free
// cores than spinning threads, a spin takes the core its peer needs, so the peer answers
// quickly exactly when the receiver parks. Counting such fast parked answers as a reason to
// spin (as this did before) made a loaded 2-vCPU VM spin on 2 waits in 3 and miss on
// nearly all of them (4,700 spins, 1 hit in 10,000 round trips): 50 µs of CPU and latency
// lost each time. With HIT = 2 and MISS = 4 the score holds while at least two spins in three
// catch their message, about where a spin starts to cost more than the park it saves.
//
// A burst overrides the score: a wait that starts within RECENT_MS of a wake-up that itself
// came within RECENT_MS of the one before spins whatever the score, since messages arriving
// microseconds apart mean the peer is running now. (A wake-up: a wait that ended with a
// message for its waiter; two waiters woken by one notify are one wake-up.) The score alone, lowered by two misses at the
// end of a burst, made the next burst's waits park one by one, each wake-up costing 20-40 µs
// (one-way 64 B at depth 1, bench:threads' loop, four alternations: 52-161 k msg/s without,
// 154-252 k with). Slow traffic never qualifies (a receive loop at 100 msg/s wakes 10 ms
// apart), and a spin the OS descheduled ends it until two quick wake-ups come again.
//
// The budget is checked on the clock every LOADS word loads (about 0.3 µs of loads), so a
// spin that runs stops within a fraction of a microsecond of its budget. What a spin cannot
// stop is the OS taking the core away mid-spin (a loaded machine): two clock reads further
// apart than GAP_MS mean the thread was descheduled. Such a spin ends at once (it parks
// instead of spinning on), and whatever it caught does not count as a hit: the score drops
// to 0, so the next waits park unless a probe finds the peer fast again. On a machine
// whose cores are all busy, spinning only takes time from the peer it waits for.
//
// Busy polling (a connection's `busyPoll`, SO_BUSY_POLL's idea): the score above keeps a
// stream of two threads that both parked from ever spinning again (BENCHMARKS.md, stops 14
// and 15: both spinning, a depth-16 stream ran 5.7-8.3x postMessage; adaptive, 0.3-0.6 M
// msg/s). A connection that the user knows carries a stream, on a thread with a core to
// spare, can ask for a spin of `pollMs` before every park, whatever the score: at most
// pollMs of CPU per wait that misses (a connection that then goes idle spins once per wait,
// so an idle one costs nothing more). The deschedule rule still ends a spin at once. Busy
// polling rests when it plainly does not work: POLL_MISSES busy-poll spins in a row that
// caught nothing (ran out, or were descheduled) mean a slow peer, or a peer that cannot run
// while this thread spins (two threads on one vCPU: each hop of a round trip waited out the
// other side's whole spin, 8 k round trips/s against 26-27 k with the adaptive spin, and 24 k
// with this rest, BENCHMARKS stop 27); the next POLL_REST waits follow the adaptive rules
// instead (their spins SPIN_MS long), then busy polling resumes.

import { now } from './wait.ts';
import { payAll } from './owed.ts';

/** The longest one spin may take, in ms (50 µs: the event loop is never blocked longer by it). */
export const SPIN_MS = 0.05;
/**
 * Two clock reads of one spin further apart than this (ms) mean the OS descheduled the
 * thread (LOADS loads take well under 1 µs on any machine the bus targets; 10 µs leaves room
 * for a slow clock read and a minor GC step).
 */
export const GAP_MS = 0.01;
/**
 * The longest busy poll a connection may ask for, in µs: one spin blocks the event loop for
 * its whole length, and 100 µs is the longest block the event loop's rules allow (issue 10).
 */
export const BUSY_POLL_MAX_US = 100;
/** busy-poll spins in a row that caught nothing before busy polling rests */
export const POLL_MISSES = 16;
/** waits that follow the adaptive rules while busy polling rests (at 100 msg/s, 16 misses of 50 µs and 3-4 adaptive probes in 272 waits: about 4 µs a wait) */
export const POLL_REST = 256;
const SCORE_MAX = 8;
/** spin while the score is at least this */
const SCORE_SPIN = 2;
/** a spin that caught its message raises the score by this */
const HIT = 2;
/** a spin that ran out of budget lowers it by this */
const MISS = 4;
/** with a low score, the first probing spin comes this many waits after the score fell */
const PROBE_EVERY = 32;
/** each probe that misses doubles the gap to the next one, up to this many waits */
const PROBE_MAX = 1024;
/** word loads between clock reads */
const LOADS = 128;
/**
 * Messages arriving this close together (ms, the last two wake-ups of the connection's waits)
 * are a burst under way: a wait that starts within this long of the last wake-up spins
 * whatever the score (docs/BENCHMARKS.md, stop 13)
 */
export const RECENT_MS = 0.02;

/** Per connection: whether its waits should spin first. Allocation-free. */
export class Spinner {
  /** starts optimistic: the first waits spin */
  score = SCORE_SPIN;
  /** busy polling (ms; 0: off): every wait spins this long before it parks, whatever the score (Connection.busyPoll; set with setPoll) */
  get pollMs(): number { return this.poll; }
  private poll = 0;
  /** busy-poll spins in a row that caught nothing; waits left while busy polling rests; rests so far */
  private pollMisses = 0;
  private pollRest = 0;
  pollRests = 0;
  /** the spin shouldSpin just allowed is a busy poll's (not the adaptive rules') */
  private polled = false;
  /** waits left until the next probe, and the gap after it */
  private toProbe = PROBE_EVERY;
  private probeGap = PROBE_EVERY;
  /** spins done, and spins that caught the message (not counting descheduled ones) */
  spins = 0;
  hits = 0;
  /** the longest one spin took, in ms, not counting spins that were descheduled */
  maxMs = 0;
  /** the longest one spin took, in ms, counting spins that were descheduled (wall time) */
  maxWallMs = 0;
  /** spins that took longer than 2 × SPIN_MS, 100 µs (wall time: the thread was descheduled, or a busy poll of BUSY_POLL_MAX_US ran its whole budget) */
  over = 0;
  /** spins that noticed they were descheduled (a gap over GAP_MS between clock reads) and ended */
  preempted = 0;

  /** when the last wait of this connection ended with a message (ms, now()'s clock), and how long after the one before */
  private lastWake = -Infinity;
  private wakeGap = Infinity;
  /** spins done because wake-ups came in a burst, whatever the score */
  recent = 0;

  /** @internal A wait (a spin or a park) ended at `t` with a message for its waiter (not another waiter's: the caller calls this once its look found one). */
  woke(t: number): void {
    this.wakeGap = t - this.lastWake;
    this.lastWake = t;
  }

  /** @internal Should the next wait spin? (`t`: now()) */
  shouldSpin(t: number = now()): boolean {
    this.polled = false;
    if (this.poll > 0) {
      if (this.pollRest === 0) return (this.polled = true);
      this.pollRest--;
    }
    if (this.wakeGap < RECENT_MS && t - this.lastWake < RECENT_MS) { this.recent++; return true; }
    if (this.score >= SCORE_SPIN) return true;
    if (--this.toProbe > 0) return false;
    // a probe: if it misses, the next one comes twice as late (a hit resets the gap)
    this.toProbe = this.probeGap;
    if (this.probeGap < PROBE_MAX) this.probeGap *= 2;
    return true;
  }

  /** @internal Spin until i32[index] is no longer `seen` (true) or `ms` pass (false). */
  spin(i32: Int32Array, index: number, seen: number, ms: number): boolean {
    this.spins++;
    payAll(); // (a batch's deferred wakes first: js/host/owed.ts)
    // a busy poll's spin is its length; any other (the adaptive rules', a resting busy poll's
    // included) is SPIN_MS
    const polled = this.polled;
    this.polled = false;
    const budget = polled ? this.poll : SPIN_MS;
    const start = now(), end = start + Math.min(ms, budget);
    let last = start;
    for (;;) {
      for (let n = 0; n < LOADS; n++) {
        if (Atomics.load(i32, index) !== seen) {
          const t = now();
          if (t - last > GAP_MS) this.descheduled(t - start, polled);
          else {
            this.took(t - start);
            this.hits++;
            this.score = Math.min(this.score + HIT, SCORE_MAX);
            this.toProbe = this.probeGap = PROBE_EVERY;
            this.pollMisses = 0;
          }
          return true;
        }
      }
      const t = now();
      if (t - last > GAP_MS) { this.descheduled(t - start, polled); return false; }
      if (t >= end) {
        this.took(t - start);
        // a spin cut short by the caller's own deadline (ms < its budget) says nothing of the peer
        if (ms >= budget) {
          this.score = Math.max(this.score - MISS, 0);
          if (polled) this.pollMissed();
        }
        return false;
      }
      last = t;
    }
  }

  private took(ms: number): void {
    if (ms > this.maxMs) this.maxMs = ms;
    if (ms > this.maxWallMs) this.maxWallMs = ms;
    if (ms > 2 * SPIN_MS) this.over++;
  }

  /** Busy polling of `us` µs (0: off, up to BUSY_POLL_MAX_US), from a fresh start (no misses counted, no rest). */
  setPoll(us: number): void {
    // (Connection.busyPoll checks first, with a BusError; this is for a direct call)
    if (!(Number.isInteger(us) && us >= 0 && us <= BUSY_POLL_MAX_US)) throw new RangeError(`busy polling is a whole number of µs from 0 to ${BUSY_POLL_MAX_US}, got ${String(us)}`);
    this.poll = us / 1000;
    this.pollMisses = this.pollRest = 0;
  }

  /** A busy-poll spin caught nothing: POLL_MISSES in a row, and busy polling rests for POLL_REST waits. */
  private pollMissed(): void {
    if (++this.pollMisses < POLL_MISSES) return;
    this.pollMisses = 0;
    this.pollRest = POLL_REST;
    this.pollRests++;
  }

  /** The OS took the core away mid-spin: whatever it caught is no evidence of a fast peer. */
  private descheduled(ms: number, polled: boolean): void {
    if (polled) this.pollMissed();
    this.preempted++;
    this.score = 0;
    this.wakeGap = Infinity; // (and no spin for a burst either: the core is not ours)
    if (ms > this.maxWallMs) this.maxWallMs = ms;
    if (ms > 2 * SPIN_MS) this.over++;
  }
}
