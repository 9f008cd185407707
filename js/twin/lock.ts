// lock: lock words in the shared memory. A word holds its holder's thread id (slot + 1), so
// a survivor can release the locks of a dead thread; LOCK_WAITERS marks a sleeper. The core
// never sleeps: after LOCK_SPIN failed attempts it records the word in the thread slot and
// the command returns WOULDBLOCK, having changed nothing; the host waits and retries.
// Order: the bus lock first, then connection locks by ascending slot. Mirrors assembly/lock.ts.
import * as A from '../shared/abi.ts';
import { I32, ld32, st32, trap, THREAD } from './mem.ts';
import { busConns, busNConns } from './bus.ts';

export function lockTry(p: number): boolean {
  const me = ld32(THREAD + A.THREAD_ID);
  const i = p >>> 2;
  for (let n = 0; n < A.LOCK_SPIN; n++) {
    const v = Atomics.compareExchange(I32, i, 0, me);
    if (v == 0) return true;
    if ((v & A.LOCK_ID_MASK) == me) trap(); // taken twice: a core bug
  }
  for (;;) {
    const v = Atomics.load(I32, i);
    if (v == 0) {
      if (Atomics.compareExchange(I32, i, 0, me) == 0) return true;
      continue;
    }
    if ((v & A.LOCK_WAITERS) != 0 || Atomics.compareExchange(I32, i, v, v | A.LOCK_WAITERS) == v) {
      st32(THREAD + A.THREAD_WAIT_ADDR, p);
      st32(THREAD + A.THREAD_WAIT_VAL, v | A.LOCK_WAITERS);
      return false;
    }
  }
}

export function unlock(p: number): void {
  const old = Atomics.exchange(I32, p >>> 2, 0);
  if ((old & A.LOCK_WAITERS) != 0) Atomics.notify(I32, p >>> 2);
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
