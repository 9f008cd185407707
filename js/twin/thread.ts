// thread: the thread table. A thread that joins takes a slot (liveness word, journal,
// scratch, arena, command area). Mirrors assembly/thread.ts.
import * as A from '../shared/abi.ts';
import { I32, ld32, st32, setThread, THREAD, TOKEN } from './mem.ts';
import { busThreads, busNThreads, busConns, busNConns } from './bus.ts';

export function threadAddr(slot: number): number {
  return busThreads() + slot * A.THREAD_SIZE;
}

/** Take the first free slot; returns the slot index, -EALREADY (joined) or -EUSERS (table full). */
export function threadJoin(token: number): number {
  if (ld32(A.BUS_BASE + A.BUS_MAGIC_OFF) != A.BUS_MAGIC) return -A.EBADF;
  if (THREAD != 0) return -A.EALREADY;
  const n = busNThreads();
  for (let i = 0; i < n; i++) {
    const t = threadAddr(i);
    if (Atomics.compareExchange(I32, (t + A.THREAD_STATE) >>> 2, A.THREAD_FREE, A.THREAD_LIVE) == A.THREAD_FREE) {
      st32(t + A.THREAD_TOKEN, token);
      st32(t + A.THREAD_OP, A.OP_NONE);
      st32(t + A.THREAD_ID, i + 1);
      st32(t + A.THREAD_LOG_LEN, 0);
      st32(t + A.THREAD_FAULT, 0);
      st32(t + A.THREAD_BUSY, 0);
      setThread(t, token);
      return i;
    }
  }
  return -A.EUSERS;
}

/** Give the calling thread's slot back: -EINPROGRESS with a send pending, -EBUSY while it owns an open connection. */
export function threadLeave(): number {
  const t = THREAD;
  if (t == 0) return -A.EBADF;
  if (ld32(t + A.THREAD_OP) != A.OP_NONE) return -A.EINPROGRESS;
  // a slot recovered (and maybe taken by another thread) is no longer ours
  if (ld32(t + A.THREAD_TOKEN) != TOKEN) {
    setThread(0, 0);
    return -A.ESRCH;
  }
  // connections are the thread's: it closes them before it leaves (recovery would close
  // them as the next owner of the slot's)
  const n = busNConns(), slot = (t - busThreads()) / A.THREAD_SIZE;
  for (let i = 0; i < n; i++) {
    const c = busConns() + i * A.CONN_SIZE;
    if (ld32(c + A.CONN_STATE) == A.CONN_ACTIVE && ld32(c + A.CONN_OWNER) == slot) return -A.EBUSY;
  }
  st32(t + A.THREAD_TOKEN, 0);
  // a slot being recovered is the recoverer's to free
  if (Atomics.compareExchange(I32, (t + A.THREAD_STATE) >>> 2, A.THREAD_LIVE, A.THREAD_FREE) != A.THREAD_LIVE) {
    setThread(0, 0);
    return -A.ESRCH;
  }
  setThread(0, 0);
  return 0;
}

export function threadCmd(): number {
  return THREAD + A.THREAD_CMD;
}
