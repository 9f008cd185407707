// byebye: BYEBYE, and closing a connection (BYEBYE's, and recovery's for a dead thread's
// connections): its names pass on, the calls made to it end, ID_REMOVE goes out.
import * as A from "../js/shared/abi";
import { ld32, st64 } from "./mem";
import { wr32, logCommit } from "./journal";
import { unlock, wake, wakeWaiters, lockBusAndConn } from "./lock";
import { busConns } from "./bus";
import { fail, failArg } from "./reason";
import { threadCmd } from "./thread";
import { idRemove } from "./idtable";
import { replyConnClosed, replySweepNow } from "./reply";
import { notifyIdRemove, notifyQueue, notifyEnd, notifyResuming } from "./notify";
import { namesDropAll, namesHandBack } from "./name-change";
import { connLive } from "./conn";
import { itemlessCmdStart } from "./cmd-start";
import { matchConnClosed } from "./match";
import { asideCount, asideClosed, asideOnClosed } from "./aside";

const H: u32 = A.BUS_BASE;

/**
 * BYEBYE: only with an empty queue and no send reserved into it (-EBUSY), unless BYEBYE_DROP:
 * then whatever is queued goes with the pool, as at a death (connClose). A closed handle
 * gives -ECONNRESET.
 */
export function byebye(slot: u32, gen: u32): i32 {
  // run again after its notifications stopped at a contended receiver: they go on (bus lock held)
  if (notifyResuming()) return byebyeNotify(true);
  const ci = itemlessCmdStart(slot, A.BYEBYE_CMD_SIZE, A.BYEBYE_DROP);
  if (ci < 0) return ci;
  const c = u32(ci);
  const cmd = threadCmd();
  const drop = (ld32(cmd + A.CMD_FLAGS) & A.BYEBYE_DROP) != 0;
  if (!lockBusAndConn(c)) return A.WOULDBLOCK;
  let ret = 0;
  if (!connLive(c, gen)) {
    asideOnClosed(c); // (the owner's slices another thread's close left: aside.ts)
    ret = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  }
  else if (!drop && ld32(c + A.CONN_N_QUEUED) != 0) ret = failArg(A.EBUSY, A.R_BYEBYE_QUEUED, ld32(c + A.CONN_N_QUEUED));
  // (its own staging slices, a broadcast set aside or left to free, go with it: aside.ts)
  else if (!drop && ld32(c + A.CONN_N_RESV) != asideCount(c)) ret = failArg(A.EBUSY, A.R_BYEBYE_RESERVED, ld32(c + A.CONN_N_RESV) - asideCount(c));
  else {
    st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
    connClose(c, notifyQueue(true), false); // its notifications queued, committed with the close (recover.ts sends them if this thread dies)
  }
  logCommit(); // the close, whole
  unlock(c + A.CONN_LOCK);
  if (ret != 0) {
    unlock(H + A.BUS_LOCK);
    return ret;
  }
  return byebyeNotify(false);
}

/**
 * BYEBYE's end (the close committed, the bus lock held): its notifications, each committed
 * on its own, waiting for a contended receiver (notifyFlushWait: WOULDBLOCK with the bus lock
 * held, OP_NOTIFY; `resume`: BYEBYE run again, going on where they stopped); then the calls
 * made to it end: REPLY_DEAD to their callers (what a taken lock defers stays owed, for the
 * next command: replyTick).
 */
function byebyeNotify(resume: bool): i32 {
  const r = notifyEnd(resume, 0);
  if (r < 0) return r; // stopped: the bus lock stays held
  replySweepNow();
  unlock(H + A.BUS_LOCK);
  return 0;
}

/**
 * Close a connection (bus and connection locks held): its pool and queue go with it, and its
 * id leaves the id table, its match entries are freed, its calls are forgotten and the calls made to it owe REPLY_DEAD
 * (reply.ts; the closer delivers them once it has released this lock: replySweepNow), its
 * names pass to the next in their queues
 * (BYEBYE, and recovery for the connections of a dead thread). A slot
 * that still has sends reserved into it stays CLOSING until the last one is committed or
 * cancelled; then it is free. Its notifications (NAME_* of the names passed on, ID_REMOVE) are
 * queued at `q` (notifyQueue): the caller commits the close, then sends them (notifyFlush).
 */
export function connClose(c: u32, q: u32, recovery: bool): void {
  namesHandBack(c); // a queue (recovery only) gives its name's messages back to the activator
  replyConnClosed(c);
  matchConnClosed(c);
  namesDropAll(c, q); // each name it owns passes to the next in its queue (or back to its activator)
  if ((ld32(c + A.CONN_FLAGS) & A.HELLO_MONITOR) != 0) wr32(H + A.BUS_N_MONITORS, ld32(H + A.BUS_N_MONITORS) - 1);
  idRemove(u32((c - busConns()) / A.CONN_SIZE), ld32(c + A.CONN_ID));
  asideClosed(c, recovery); // a staged broadcast set aside ends here; its slices go with the pool (the owner's, or its recoverer's close)
  wr32(c + A.CONN_STATE, ld32(c + A.CONN_N_RESV) != 0 ? A.CONN_CLOSING : A.CONN_FREE_SLOT);
  wr32(c + A.CONN_GEN, u32(ld32(c + A.CONN_GEN) + 1));
  wr32(H + A.BUS_CONNS_LIVE, ld32(H + A.BUS_CONNS_LIVE) - 1);
  wake(c + A.CONN_WAKE, c + A.CONN_SLEEPERS); // sleepers re-check and find it closed
  wake(c + A.CONN_SPACE, c + A.CONN_SPACE_SLEEPERS); // senders waiting for room re-check and find it closed
  // and so do those behind them in its line (the hosts' ticket line, woken without a change:
  // before, each slept until its next check of the holder, up to 1.6 s; found by an outside audit)
  wakeWaiters(c + A.CONN_TURN_SERVING, c + A.CONN_TURN_SLEEPERS);
  notifyIdRemove(c, q); // its own lock held: c is no longer ACTIVE, never a receiver of this
}
