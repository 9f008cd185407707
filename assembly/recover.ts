// recover: what survivors do about a thread that died (a terminated worker) or trapped.
//
//   recover(slot, force)  another thread is dead: undo its half-made command from its undo log,
//                  release the locks it held, end its reserved SEND, close the connections
//                  it opened (as BYEBYE would, queue or not), and free its thread slot.
//   unwind()       the calling thread trapped inside the core: undo and unlock only.
// Re-entrant: a recovery that returns WOULDBLOCK is simply called again.
import * as A from "../js/shared/abi";
import { ld32, st32, aCas, aStore, THREAD } from "./mem";
import { logUndo, logCommit } from "./journal";
import { lockTry, unlock, unlockAllOf, lockHeldBy } from "./lock";
import { busNThreads, busNConns } from "./bus";
import { threadAddr } from "./thread";
import { connAddr, connClose } from "./conn";
import { sendFinish, sendPendingConn } from "./send";
import { fail, failArg } from "./reason";

const H: u32 = A.BUS_BASE;

export function recover(slot: u32, force: u32): i32 {
  const me = THREAD;
  if (me == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  if (slot >= busNThreads()) return failArg(A.EINVAL, A.R_RECOVER_SLOT, busNThreads());
  const t = threadAddr(slot);
  if (t == me) return fail(A.EINVAL, A.R_RECOVER_SELF);
  const st = aCas(t + A.THREAD_STATE, A.THREAD_LIVE, A.THREAD_DEAD);
  if (st != A.THREAD_LIVE && st != A.THREAD_DEAD) return fail(A.ESRCH, A.R_RECOVER_NOT_LIVE);
  // 0. a thread declared dead may still be running (Deno runs a terminated worker until its
  //    next turn): while it holds a lock, let it finish; once it takes another, it stops.
  //    `force` (the host waited RECOVER_BUSY_MS, or knows the thread stopped) skips this.
  if (force == 0 && lockHeldBy(slot + 1) != 0) return A.WOULDBLOCK;
  //    ... nor while its host is copying into a slice it reserved (THREAD_BUSY)
  if (force == 0 && ld32(t + A.THREAD_BUSY) != 0) {
    st32(me + A.THREAD_WAIT_ADDR, t + A.THREAD_BUSY);
    st32(me + A.THREAD_WAIT_VAL, 1);
    return A.WOULDBLOCK;
  }
  // 1. the command it was in: undone; its locks: released (nobody else takes them)
  logUndo(t);
  unlockAllOf(slot + 1);
  // 2. its reserved SEND: cancelled under the receiver's lock
  const d = sendPendingConn(t);
  if (d >= 0) {
    if (!lockTry(u32(d) + A.CONN_LOCK)) return A.WOULDBLOCK;
    sendFinish(t, false);
    logCommit();
    unlock(u32(d) + A.CONN_LOCK);
  }
  // 3. its connections: closed
  const n = busNConns();
  for (let i: u32 = 0; i < n; i++) {
    const c = connAddr(i);
    if (ld32(c + A.CONN_STATE) != A.CONN_ACTIVE || ld32(c + A.CONN_OWNER) != slot) continue;
    if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
    if (!lockTry(c + A.CONN_LOCK)) {
      unlock(H + A.BUS_LOCK);
      return A.WOULDBLOCK;
    }
    if (ld32(c + A.CONN_STATE) == A.CONN_ACTIVE && ld32(c + A.CONN_OWNER) == slot) connClose(c);
    logCommit();
    unlock(c + A.CONN_LOCK);
    unlock(H + A.BUS_LOCK);
  }
  // 4. its slot
  st32(t + A.THREAD_TOKEN, 0);
  st32(t + A.THREAD_BUSY, 0);
  aStore(t + A.THREAD_STATE, A.THREAD_FREE);
  return 0;
}

export function unwind(): i32 {
  const t = THREAD;
  if (t == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  logUndo(t);
  unlockAllOf(ld32(t + A.THREAD_ID));
  st32(t + A.THREAD_FAULT, 0);
  return 0;
}
