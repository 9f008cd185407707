// thread: the thread table. A thread that joins takes a slot (liveness word, journal,
import * as A from "../js/shared/abi";
import { ld32, st32, aCas, setThread, THREAD, TOKEN } from "./mem";
import { busThreads, busNThreads, busConns, busNConns } from "./bus";
import { fail, failArg } from "./reason";

export function threadAddr(slot: u32): u32 {
  return busThreads() + slot * A.THREAD_SIZE;
}

/** Take the first free slot; returns the slot index or -EUSERS. */
export function threadJoin(token: u32): i32 {
  if (ld32(A.BUS_BASE + A.BUS_MAGIC_OFF) != A.BUS_MAGIC) return fail(A.EBADF, A.R_JOIN_NO_BUS);
  if (THREAD != 0) return fail(A.EALREADY, A.R_JOIN_ALREADY);
  const n = busNThreads();
  for (let i: u32 = 0; i < n; i++) {
    const t = threadAddr(i);
    if (aCas(t + A.THREAD_STATE, A.THREAD_FREE, A.THREAD_LIVE) == A.THREAD_FREE) {
      st32(t + A.THREAD_TOKEN, token);
      st32(t + A.THREAD_OP, A.OP_NONE);
      st32(t + A.THREAD_ID, i + 1);
      st32(t + A.THREAD_LOG_LEN, 0);
      st32(t + A.THREAD_FAULT, 0);
      st32(t + A.THREAD_BUSY, 0);
      setThread(t, token);
      return i32(i);
    }
  }
  return failArg(A.EUSERS, A.R_JOIN_FULL, n);
}

/** Give the calling thread's slot back: -EINPROGRESS with a send pending, -EBUSY while it owns an open connection. */
export function threadLeave(): i32 {
  const t = THREAD;
  if (t == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  if (ld32(t + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  // a slot recovered (and maybe taken by another thread) is no longer ours
  if (ld32(t + A.THREAD_TOKEN) != TOKEN) {
    setThread(0, 0); // first: the slot may be another thread's now (nothing is written into it)
    return fail(A.ESRCH, A.R_THREAD_RECOVERED);
  }
  // connections are the thread's: it closes them before it leaves (recovery would close
  // them as the next owner of the slot's)
  const n = busNConns(), slot = u32((t - busThreads()) / A.THREAD_SIZE);
  for (let i: u32 = 0; i < n; i++) {
    const c = busConns() + i * A.CONN_SIZE;
    if (ld32(c + A.CONN_STATE) == A.CONN_ACTIVE && ld32(c + A.CONN_OWNER) == slot) return fail(A.EBUSY, A.R_LEAVE_CONNS_OPEN);
  }
  st32(t + A.THREAD_TOKEN, 0);
  // a slot being recovered is the recoverer's to free
  if (aCas(t + A.THREAD_STATE, A.THREAD_LIVE, A.THREAD_FREE) != A.THREAD_LIVE) {
    setThread(0, 0); // first: the slot may be another thread's now (nothing is written into it)
    return fail(A.ESRCH, A.R_THREAD_RECOVERED);
  }
  setThread(0, 0);
  return 0;
}

export function threadCmd(): u32 {
  return THREAD + A.THREAD_CMD;
}
