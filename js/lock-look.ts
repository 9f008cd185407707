// lock-look: how long a lock has stayed taken, for an event-loop wait that meets it. Such a
// wait blocks its thread on a contended lock for ASYNC_LOCK_WAIT_MS at most, then lets its
// event loop run (a dead holder is recovered there) and looks again; a look does not block
// (engine.lockWaitMs 0). It fails with EDEADLK once the lock has stayed taken for
// LOCK_WAIT_MS. Before stop 32 "stayed taken" was the time since the first look that found
// it taken, whatever happened between the looks: a live lock that changed hands many times
// between two looks a second apart (a loaded machine, a busy event loop) read as stuck
// (tests/threads/recover-race.test.ts, the hot-lock test; an outside audit saw a call fail
// with EDEADLK once at the start of a loaded run with every thread alive, not reproduced,
// which is how it could have happened). Now the time starts
// again whenever a look finds another holder (or another lock) than the last one, and at
// LOCK_WAIT_MS the lock's word must also stay as the last look saw it for LOCK_STILL_MS more
// (engine.lockMoved): a dead or stopped holder never moves it, a live one does within
// microseconds of its command.
import * as A from './shared/abi.ts';
import { now } from './host/wait.ts';
import type { Engine } from './engine.ts';

export class LockLook {
  /** `clock`: ms, now()'s (a unit test gives its own) */
  constructor(private readonly clock: () => number = now) {}

  /** a look found the lock taken, and no try has gone through since */
  taken = false;
  /** when the lock was first found taken by the holder of the last look (now()'s clock, ms) */
  private since = 0;
  /** the lock word (an index in i32; -1: not known) and its value at the last look */
  private index = -1;
  private value = 0;
  /** when the last look was made (now()'s clock, ms) */
  private last = 0;

  /** A try of `e` found a lock taken (EDEADLK after its lock wait, or a look). */
  seen(e: Engine): void {
    const index = e.stuckIndex, value = e.stuckValue, t = this.clock();
    // another holder than at the last look (or another lock): the lock moved, its time starts again
    if (!this.taken || index !== this.index || value !== this.value) this.since = t;
    // the same holder, after a gap in which this thread stood still: only LOCK_LOOK_GAP_MS of it
    // counts (abi.ts says why), the rest moves the start on
    else if (t - this.last > A.LOCK_LOOK_GAP_MS) this.since += t - this.last - A.LOCK_LOOK_GAP_MS;
    this.last = t;
    this.taken = true;
    this.index = index;
    this.value = value;
  }

  /** A try went through (or failed for another reason): the lock is no longer in the way. */
  clear(): void {
    this.taken = false;
  }

  /**
   * Has the lock stayed taken for LOCK_WAIT_MS (the gaps between looks counting
   * LOCK_LOOK_GAP_MS at most, the time since the last look too: a caller that asks without a
   * look of its own, the reply pump, is not told of its thread's own block), and its word not
   * moved for LOCK_STILL_MS now? (Blocks at most LOCK_STILL_MS, once a second.) Looks more than
   * LOCK_LOOK_GAP_MS apart give up at their eleventh (ten gaps). No bound by the wall clock here: one
   * LockLook serves every wait of a connection, one after the other, and a wait that ended
   * with the lock still taken (its timeout) left its first look's time to the next wait, which
   * gave up at once (a review of stop 71 tried LOCK_LOOK_WALL_MS here; WaitSpan, one
   * broadcast's, keeps it).
   */
  stuck(e: Engine): boolean {
    if (!this.taken) return false;
    const t = this.clock();
    if (this.last - this.since + Math.min(t - this.last, A.LOCK_LOOK_GAP_MS) < A.LOCK_WAIT_MS) return false;
    if (this.index >= 0 && e.lockMoved(this.index, this.value, A.LOCK_STILL_MS)) {
      this.since = this.last = this.clock(); // a live holder: looked at again, from now
      return false;
    }
    return true;
  }
}

/**
 * The time of an event-loop wait that goes on from timers (emitAsync's broadcast set aside,
 * js/bcast-async.ts) as LockLook counts it: each step adds the time since the wait's previous
 * step, LOCK_LOOK_GAP_MS of a longer gap at most (its own thread stood still: the rest says
 * nothing of the lock; a set-aside broadcast passed a stuck subscriber over at its first step
 * after the thread's own second-long block, before the dead holder's 'exit' could recover it:
 * a review of stop 71); `wall` is the plain clock, for LOCK_LOOK_WALL_MS.
 */
export class WaitClock {
  /** the counted time of the last step (ms from the first) */
  counted = 0;
  private last = -1;
  constructor(private readonly clock: () => number = now) {}

  /** A step of the wait: the counted time now. */
  step(): number {
    const t = this.clock();
    if (this.last >= 0) this.counted += Math.min(t - this.last, A.LOCK_LOOK_GAP_MS);
    this.last = t;
    return this.counted;
  }

  /** The plain clock, ms. */
  wall(): number {
    return this.clock();
  }
}

/** A span of a WaitClock's wait (begun at a step): has it lasted LOCK_WAIT_MS counted, or LOCK_LOOK_WALL_MS of wall time? */
export class WaitSpan {
  private counted = -1;
  private wall = 0;
  constructor(private readonly w: WaitClock) {}
  get begun(): boolean { return this.counted >= 0; }
  /** Begin it now (at the clock's last step), unless begun. */
  begin(): void { if (this.counted < 0) { this.counted = this.w.counted; this.wall = this.w.wall(); } }
  /** Begin it again now. */
  restart(): void { this.counted = -1; this.begin(); }
  end(): void { this.counted = -1; }
  /** Begun, and LOCK_WAIT_MS counted, or LOCK_LOOK_WALL_MS by the wall clock, since. */
  get over(): boolean {
    return this.counted >= 0 && (this.w.counted - this.counted >= A.LOCK_WAIT_MS || this.w.wall() - this.wall >= A.LOCK_LOOK_WALL_MS);
  }
}
