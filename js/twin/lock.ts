// lock: lock words in the shared memory. A word holds its holder's thread id (slot + 1), so
// a survivor can release the locks of a dead thread; LOCK_WAITERS marks a sleeper. The core
// never sleeps: after LOCK_SPIN failed attempts it records the word in the thread slot and
// the command returns WOULDBLOCK, having changed nothing; the host waits and retries.
// Order: the bus lock first, then one connection lock. Mirrors assembly/lock.ts.
import * as A from '../shared/abi.ts';
import { I32, ld32, st32, trap, THREAD, TOKEN } from './mem.ts';
import { busConns, busNConns } from './bus.ts';

export function lockTry(p: number): boolean {
  const me = ld32(THREAD + A.THREAD_ID);
  const i = p >>> 2;
  for (let n = 0; n < A.LOCK_SPIN; n++) {
    const v = Atomics.compareExchange(I32, i, 0, me);
    if (v == 0) return lockTaken(p);
    if ((v & A.LOCK_ID_MASK) == me) trap(); // taken twice: a core bug
  }
  while (true) {
    const v = Atomics.load(I32, i);
    if (v == 0) {
      if (Atomics.compareExchange(I32, i, 0, me) == 0) return lockTaken(p);
      continue;
    }
    if ((v & A.LOCK_WAITERS) != 0 || Atomics.compareExchange(I32, i, v, v | A.LOCK_WAITERS) == v) {
      st32(THREAD + A.THREAD_WAIT_ADDR, p);
      st32(THREAD + A.THREAD_WAIT_VAL, v | A.LOCK_WAITERS);
      break;
    }
  }
  return false;
}

/**
 * A lock was just taken. A thread that was declared dead meanwhile (a terminated worker
 * that runs on, as Deno's do until their next turn) must not touch anything, nor may it
 * act for the thread that took its slot after recovery (the token tells): it gives the
 * lock back and stops. Its earlier locks and changes are unwound by its host.
 */
function lockTaken(p: number): boolean {
  if (Atomics.load(I32, (THREAD + A.THREAD_STATE) >>> 2) != A.THREAD_LIVE || ld32(THREAD + A.THREAD_TOKEN) != TOKEN) {
    unlockMine(p);
    trap();
  }
  return true;
}

/** Release `p` only if this thread holds it. */
function unlockMine(p: number): void {
  const me = ld32(THREAD + A.THREAD_ID), i = p >>> 2;
  if (Atomics.compareExchange(I32, i, me, 0) == me) return;
  if (Atomics.compareExchange(I32, i, me | A.LOCK_WAITERS, 0) == (me | A.LOCK_WAITERS)) Atomics.notify(I32, i);
}

export function unlock(p: number): void {
  const old = Atomics.exchange(I32, p >>> 2, 0);
  if ((old & A.LOCK_WAITERS) != 0) Atomics.notify(I32, p >>> 2);
}

/**
 * The first lock word held by thread id `id`, or 0. Marks it LOCK_WAITERS and records it in
 * the calling thread's slot, so that the caller can return WOULDBLOCK and wait for it.
 */
export function lockHeldBy(id: number): number {
  const n = busNConns(), conns = busConns();
  for (let s = -1; s < n; s++) {
    const p = s < 0 ? A.BUS_BASE + A.BUS_LOCK : conns + s * A.CONN_SIZE + A.CONN_LOCK;
    const v = Atomics.load(I32, p >>> 2);
    if ((v & A.LOCK_ID_MASK) != id) continue;
    if ((v & A.LOCK_WAITERS) == 0 && Atomics.compareExchange(I32, p >>> 2, v, v | A.LOCK_WAITERS) != v) continue;
    st32(THREAD + A.THREAD_WAIT_ADDR, p);
    st32(THREAD + A.THREAD_WAIT_VAL, v | A.LOCK_WAITERS);
    return p;
  }
  return 0;
}

/** Release every lock held by thread id `id` (recovery). */
export function unlockAllOf(id: number): void {
  if ((ld32(A.BUS_BASE + A.BUS_LOCK) & A.LOCK_ID_MASK) == id) unlock(A.BUS_BASE + A.BUS_LOCK);
  const n = busNConns(), conns = busConns();
  for (let s = 0; s < n; s++) {
    const p = conns + s * A.CONN_SIZE + A.CONN_LOCK;
    if ((ld32(p) & A.LOCK_ID_MASK) == id) unlock(p);
  }
}
