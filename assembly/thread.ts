// thread: the thread table. A thread that joins takes a slot (liveness word, token, journal,
// command area); recover() (assembly/recover.ts) frees the slot of a thread that died.
import * as A from "../js/shared/abi";
import { ld32, st32, aLoad, aStore, aCas, aAdd, notifyAll, trap, setThread, THREAD, TOKEN, JOIN_GEN, HOOKS } from "./mem";
import { busThreads, busNThreads, busConns, busNConns, busShutdown } from "./bus";
import { fail, failArg } from "./reason";
import { metaForget } from "./meta";
import { payOwed, lockTry, unlock } from "./lock";
import { logCommit } from "./journal";
import { asideCount, asideSettle } from "./aside";

export function threadAddr(slot: u32): u32 {
  return busThreads() + slot * A.THREAD_SIZE;
}

/** The slot whose token is `token` (in any state: joining, LIVE, being recovered, leaving), or -1. */
export function threadFind(token: u32): i32 {
  if (token == 0) return -1;
  const n = busNThreads();
  for (let i: u32 = 0; i < n; i++) {
    if (aLoad(threadAddr(i) + A.THREAD_TOKEN) == token) return i32(i);
  }
  return -1;
}

/** Is the thread that joined with `token` LIVE (its slot still holds that token)? */
export function threadLive(token: u32): bool {
  const s = threadFind(token);
  return s >= 0 && aLoad(threadAddr(u32(s)) + A.THREAD_STATE) == A.THREAD_LIVE;
}

/** hooks builds: a test makes this thread die at step `k` of thread_join / thread_leave. */
function hookStep(fault: u32, k: u32): void {
  if (HOOKS && fault == u32(A.FAULT_THREAD_STEP + k)) trap();
}

/**
 * Take the first free slot; returns the slot index or -EUSERS. The slot is claimed by its
 * token (0 -> token) before it goes LIVE, so a thread that dies at any step of this is found
 * by its token (recover), and a free slot is one whose token is 0.
 */
export function threadJoin(token: u32): i32 {
  if (ld32(A.BUS_BASE + A.BUS_MAGIC_OFF) != A.BUS_MAGIC) return fail(A.EBADF, A.R_JOIN_NO_BUS);
  if (THREAD != 0) return fail(A.EALREADY, A.R_JOIN_ALREADY);
  if (token == 0) return fail(A.EINVAL, A.R_JOIN_TOKEN);
  if (busShutdown()) return fail(A.ESHUTDOWN, A.R_BUS_SHUTDOWN); // (the bus is ending: no new thread)
  const n = busNThreads();
  for (let i: u32 = 0; i < n; i++) {
    const t = threadAddr(i);
    if (aLoad(t + A.THREAD_STATE) != A.THREAD_FREE || aLoad(t + A.THREAD_RECOVERER) != 0) continue;
    const fault = HOOKS ? ld32(t + A.THREAD_FAULT) : 0;
    if (aCas(t + A.THREAD_TOKEN, 0, token) != 0) continue;
    // a token joins one thread: another slot holding it (a handle posted to two workers, or
    // a slot still being recovered) makes this join give its claim back (two racing joins
    // with one token may both fail: never both succeed)
    for (let j: u32 = 0; j < n; j++) {
      if (j != i && aLoad(threadAddr(j) + A.THREAD_TOKEN) == token) {
        aCas(t + A.THREAD_TOKEN, token, 0);
        return fail(A.EBUSY, A.R_JOIN_TOKEN_IN_USE);
      }
    }
    hookStep(fault, 1);
    // busy while joining: a recovery that is not forced waits for a joiner that still runs
    aStore(t + A.THREAD_BUSY, 1);
    if (aLoad(t + A.THREAD_STATE) != A.THREAD_FREE) {
      // a recovery of the slot's last thread is still ending: not free after all
      aCas(t + A.THREAD_TOKEN, token, 0);
      aStore(t + A.THREAD_BUSY, 0);
      notifyAll(t + A.THREAD_BUSY);
      continue;
    }
    hookStep(fault, 2);
    st32(t + A.THREAD_OP, A.OP_NONE);
    st32(t + A.THREAD_BCAST_SKIP, 0);
    st32(t + A.THREAD_ID, i + 1);
    st32(t + A.THREAD_LOG_LEN, 0);
    st32(t + A.THREAD_FAULT, 0);
    st32(t + A.THREAD_DEFER, 0);
    st32(t + A.THREAD_OWED_N, 0);
    metaForget(t + A.THREAD_META); // the metadata cache was the last thread's
    // the slot's join generation moves before it goes LIVE: a thread recovered while it still
    // ran, whose token this join reuses (a pool that reuses its handles), finds the slot LIVE
    // with its token again, but not its generation (threadOurs)
    const gen = aAdd(t + A.THREAD_JOIN_GEN, 1) + 1;
    if (aCas(t + A.THREAD_STATE, A.THREAD_FREE, A.THREAD_LIVE) != A.THREAD_FREE) {
      // declared dead while joining (found by its token): the recoverer frees the slot
      aStore(t + A.THREAD_BUSY, 0);
      notifyAll(t + A.THREAD_BUSY);
      return fail(A.ESRCH, A.R_JOIN_RECOVERED);
    }
    hookStep(fault, 3);
    aStore(t + A.THREAD_BUSY, 0);
    if (aLoad(t + A.THREAD_STATE) != A.THREAD_LIVE) notifyAll(t + A.THREAD_BUSY);
    setThread(t, token, gen);
    return i32(i);
  }
  return failArg(A.EUSERS, A.R_JOIN_FULL, n);
}

/**
 * Give the calling thread's slot back: -ESRCH when it was recovered, -EINPROGRESS with a send
 * pending, -EBUSY while it owns an open connection. LIVE -> FREE first, the token cleared last: a thread that dies in
 * between leaves a slot that recover(token) finishes freeing.
 */
export function threadLeave(): i32 {
  const t = THREAD;
  if (t == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  // a slot recovered (and maybe taken by another thread), or being recovered (the recoverer
  // frees it), is no longer ours, whatever its op and connections say: a thread declared dead
  // in the middle of a send was refused EINPROGRESS (or EBUSY) on every try before, for as
  // long as its recovery ran or for good, and could not leave
  if (!threadOurs(t)) {
    setThread(0, 0, 0); // first: the slot may be another thread's now (nothing is written into it)
    return fail(A.ESRCH, A.R_THREAD_RECOVERED);
  }
  if (ld32(t + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  // connections are the thread's: it closes them before it leaves (recovery would close
  // them as the next owner of the slot's)
  const n = busNConns(), slot = u32((t - busThreads()) / A.THREAD_SIZE);
  for (let i: u32 = 0; i < n; i++) {
    const c = busConns() + i * A.CONN_SIZE;
    if (ld32(c + A.CONN_STATE) == A.CONN_ACTIVE && ld32(c + A.CONN_OWNER) == slot) return fail(A.EBUSY, A.R_LEAVE_CONNS_OPEN);
  }
  // (the step hook read first: the settle's logged stores would count it down)
  const fault = HOOKS ? ld32(t + A.THREAD_FAULT) : 0;
  if (HOOKS && fault >= u32(A.FAULT_THREAD_STEP)) st32(t + A.THREAD_FAULT, 0);
  // a connection another thread closed, its staging slices kept for this one (aside.ts):
  // settled now, under its lock (taken by a moment's holder: EBUSY, leave again); each whole
  for (let i: u32 = 0; i < n; i++) {
    const c = busConns() + i * A.CONN_SIZE;
    if (ld32(c + A.CONN_STATE) != A.CONN_CLOSING || ld32(c + A.CONN_OWNER) != slot || asideCount(c) == 0) continue;
    if (!lockTry(c + A.CONN_LOCK)) {
      if (HOOKS) st32(t + A.THREAD_FAULT, fault);
      return failArg(A.EBUSY, A.R_LEAVE_STAGING_LOCK, i);
    }
    asideSettle(c);
    logCommit();
    unlock(c + A.CONN_LOCK);
  }
  payOwed(t); // (a batch that closes the bus: its wakes before the slot is given up)
  hookStep(fault, 1);
  // a slot being recovered is the recoverer's to free
  if (aCas(t + A.THREAD_STATE, A.THREAD_LIVE, A.THREAD_FREE) != A.THREAD_LIVE) {
    setThread(0, 0, 0); // first: the slot may be another thread's now (nothing is written into it)
    return fail(A.ESRCH, A.R_THREAD_RECOVERED);
  }
  hookStep(fault, 2);
  st32(t + A.THREAD_FAULT, 0);
  aCas(t + A.THREAD_TOKEN, TOKEN, 0);
  setThread(0, 0, 0);
  return 0;
}

/**
 * Is slot `t` still the calling thread's: LIVE, with its token, and joined by no thread since
 * (its join generation)? What a thread declared dead checks before it touches anything there.
 */
export function threadOurs(t: u32): bool {
  return aLoad(t + A.THREAD_STATE) == A.THREAD_LIVE && aLoad(t + A.THREAD_TOKEN) == TOKEN && aLoad(t + A.THREAD_JOIN_GEN) == JOIN_GEN;
}

/** The calling thread's join generation (THREAD_JOIN_GEN as its join left it; 0: not joined): its host's gate compares it too. */
export function threadGen(): u32 {
  return THREAD == 0 ? 0 : JOIN_GEN;
}

export function threadCmd(): u32 {
  return THREAD + A.THREAD_CMD;
}
