// recover: what survivors do about a thread that died (a terminated worker) or trapped.
//
//   recover(token, force)  the thread that joined with `token` is dead: undo its half-made
//                  command from its undo log, release the locks it held, end its reserved
//                  SEND, close the connections it opened (as BYEBYE would, queue or not), and
//                  free its thread slot. Returns the slot.
//   unwind()       the calling thread trapped inside the core: undo and unlock only.
// One recoverer at a time: THREAD_RECOVERER holds its token (claimed before the state becomes
// RECOVERING), and another thread takes a recovery over only when that recoverer is not LIVE.
// Re-entrant: a recovery that returns WOULDBLOCK (or that its host gave up on) is simply
// called again by the same thread, or taken over once that thread is dead.
import * as A from "../js/shared/abi";
import { ld32, st32, aLoad, aStore, aCas, THREAD, TOKEN, JOIN_GEN } from "./mem";
import { logUndo, logCommit } from "./journal";
import { lockTry, lockTakeOver, unlock, unlockAllOf, lockHeldBy, lockBusAndConn, wakeForget, payOwed, wakeEveryConn } from "./lock";
import { busNConns } from "./bus";
import { threadAddr, threadFind, threadLive } from "./thread";
import { connAddr } from "./conn";
import { connClose } from "./byebye";
import { notifyQueue, notifyFlush, notifyEnd, notifyResuming, notifyTakeOver } from "./notify";
import { sendFinish, sendPending } from "./send";
import { asideCount, asideSettle } from "./aside";
import { monitorsCopy } from "./monitor";
import { replySweepNow } from "./reply";
import { fail, failArg } from "./reason";

const H: u32 = A.BUS_BASE;

export function recover(token: u32, force: u32): i32 {
  const me = THREAD;
  if (me == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  // run again after a close's notifications stopped at a contended receiver (step 6, bus lock
  // held): they go on; then the recovery goes on from the start (every step is re-entrant)
  if (notifyResuming()) {
    const r = notifyEnd(true, 0);
    if (r < 0) return r;
    replySweepNow();
    unlock(H + A.BUS_LOCK);
  }
  if (token == 0) return fail(A.EINVAL, A.R_RECOVER_TOKEN);
  if (token == TOKEN) return fail(A.EINVAL, A.R_RECOVER_SELF);
  const s = threadFind(token);
  if (s < 0) return fail(A.ESRCH, A.R_RECOVER_NOT_LIVE);
  const slot = u32(s), t = threadAddr(slot);
  if (t == me) return fail(A.EINVAL, A.R_RECOVER_SELF);
  // 1. the recovery is ours: claimed, or taken over from a recoverer that is not LIVE
  const owner = aCas(t + A.THREAD_RECOVERER, 0, TOKEN);
  if (owner != 0 && owner != TOKEN) {
    if (threadLive(owner)) return fail(A.EALREADY, A.R_RECOVER_OWNED);
    if (aCas(t + A.THREAD_RECOVERER, owner, TOKEN) != owner) return fail(A.EALREADY, A.R_RECOVER_OWNED);
  }
  // ... of the thread we were asked about (it may have left, and its slot been retaken)
  if (aLoad(t + A.THREAD_TOKEN) != token) {
    aCas(t + A.THREAD_RECOVERER, TOKEN, 0);
    return fail(A.ESRCH, A.R_RECOVER_NOT_LIVE);
  }
  // 2. declared dead: LIVE (or FREE: it died while joining or leaving) -> RECOVERING. From
  //    here on the thread, if it still runs, stops at its next lock (the live check).
  let st = aLoad(t + A.THREAD_STATE);
  while (st != A.THREAD_RECOVERING) {
    const was = aCas(t + A.THREAD_STATE, st, A.THREAD_RECOVERING);
    if (was == st) break;
    st = was;
  }
  // 3. a thread declared dead may still be running (Deno runs a terminated worker until its
  //    next turn): while it holds a lock, let it finish; once it takes another, it stops.
  //    `force` (the host waited RECOVER_BUSY_MS, or knows the thread stopped) skips this.
  if (force == 0 && lockHeldBy(slot + 1) != 0) return A.WOULDBLOCK;
  //    ... nor while its host is copying into a slice it reserved, or it is joining (THREAD_BUSY)
  if (force == 0 && aLoad(t + A.THREAD_BUSY) != 0) {
    st32(me + A.THREAD_WAIT_ADDR, t + A.THREAD_BUSY);
    st32(me + A.THREAD_WAIT_VAL, 1);
    return A.WOULDBLOCK;
  }
  // 4. the command it was in: undone; its locks: released (nobody else takes them)
  logUndo(t);
  //    ... but notifications it had queued with a change it committed and not all sent
  //    (OP_NOTIFY): sent now from its queue, where its progress says, before anything can
  //    change the registry again (its bus lock taken over; it held it while sending them)
  if (ld32(t + A.THREAD_OP) == A.OP_NOTIFY) {
    if (!lockTakeOver(H + A.BUS_LOCK, slot + 1) && !lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
    unlockAllOf(slot + 1); // (its receivers' locks first: they get theirs)
    notifyTakeOver(t);
    replySweepNow(); // (a close's REPLY_DEADs, as BYEBYE's end sends them)
    unlock(H + A.BUS_LOCK);
  }
  unlockAllOf(slot + 1);
  //    ... and the wakes it owed, if it died in a batch (bus.batch: its receivers may be parked
  //    on messages it published)
  payOwed(t);
  //    ... and the notify of a wake it may have died before (between the release that counted
  //    its messages in a word and the notify after it: lock.ts, unlock): every parked receiver
  //    looks again
  wakeEveryConn();
  // 5. its reserved SEND (or a broadcast's staging slice): read and cancelled under the
  //    lock of the pool it is in (the receiver's; the sender's for a broadcast)
  if (sendPending(t)) {
    const d = connAddr(ld32(t + A.THREAD_OP_CONN));
    if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK; // a cancel may end a call's record (reply.ts)
    if (!lockTry(d + A.CONN_LOCK)) {
      unlock(H + A.BUS_LOCK);
      return A.WOULDBLOCK;
    }
    if (sendPending(t) && connAddr(ld32(t + A.THREAD_OP_CONN)) == d) {
      const kb = sendFinish(t, false);
      logCommit();
      if (kb != 0) monitorsCopy(d, kb, false, false); // a cancelled reply's REPLY_DEAD
    }
    unlock(d + A.CONN_LOCK);
    unlock(H + A.BUS_LOCK);
  }
  // 6. its connections: closed, each checked again under its locks
  const n = busNConns();
  for (let i: u32 = 0; i < n; i++) {
    const c = connAddr(i);
    // (one another thread closed while this one was alive, its staging slices kept for it:
    // settled now, the owner being dead: aside.ts)
    if (ld32(c + A.CONN_STATE) == A.CONN_CLOSING && ld32(c + A.CONN_OWNER) == slot && asideCount(c) != 0) {
      if (!lockTry(c + A.CONN_LOCK)) return A.WOULDBLOCK;
      if (ld32(c + A.CONN_STATE) == A.CONN_CLOSING && ld32(c + A.CONN_OWNER) == slot) asideSettle(c);
      logCommit();
      unlock(c + A.CONN_LOCK);
      continue;
    }
    if (ld32(c + A.CONN_STATE) != A.CONN_ACTIVE || ld32(c + A.CONN_OWNER) != slot) continue;
    if (!lockBusAndConn(c)) return A.WOULDBLOCK;
    const track = ld32(me + A.THREAD_OP) == A.OP_NONE; // (no send of its own pending: its op words are free)
    const q = notifyQueue(track);
    if (ld32(c + A.CONN_STATE) == A.CONN_ACTIVE && ld32(c + A.CONN_OWNER) == slot) connClose(c, q, true);
    logCommit(); // the close, whole
    unlock(c + A.CONN_LOCK);
    // then its notifications, each committed on its own: waiting for a contended receiver as
    // BYEBYE's (WOULDBLOCK with the bus lock held, OP_NOTIFY: recover run again goes on), unless
    // the recoverer is in a command of its own (a pending send: its op words are taken), which
    // sends them with a bounded spin
    if (track) {
      const r = notifyEnd(false, 0);
      if (r < 0) return r;
    } else notifyFlush(q);
    replySweepNow(); // REPLY_DEAD to those who called it (what a taken lock defers stays owed)
    unlock(H + A.BUS_LOCK);
  }
  // 7. its slot, left clean (no send, empty log, not busy) and freed: FREE, then the token
  //    cleared (now a joiner may take it), then the claim released
  st32(t + A.THREAD_OP, A.OP_NONE); // an in-memory broadcast it stopped (OP_BCAST_MEM) ends here: the rest do not get it
  st32(t + A.THREAD_BCAST_SKIP, 0);
  st32(t + A.THREAD_LOG_LEN, 0);
  st32(t + A.THREAD_FAULT, 0);
  aStore(t + A.THREAD_BUSY, 0);
  aStore(t + A.THREAD_STATE, A.THREAD_FREE);
  aCas(t + A.THREAD_TOKEN, token, 0);
  aCas(t + A.THREAD_RECOVERER, TOKEN, 0);
  return i32(slot);
}

export function unwind(): i32 {
  const t = THREAD;
  if (t == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  // a thread declared dead whose slot is no longer its own (recovered: the token cleared, or
  // another thread joined since) touches nothing there: its recoverer undid its command and
  // released its locks, and the slot's journal and the locks of its id (slot + 1) are the
  // joiner's now (a joiner with the same token: the join generation tells). Before stop 54 a
  // dead thread that ran on into a lock (lockTaken's trap) undid the joiner's journal and
  // released the joiner's locks, the bus lock among them.
  if (aLoad(t + A.THREAD_TOKEN) != TOKEN || aLoad(t + A.THREAD_JOIN_GEN) != JOIN_GEN) {
    wakeForget();
    return 0;
  }
  logUndo(t);
  unlockAllOf(ld32(t + A.THREAD_ID));
  // (the twin's core is one module per thread, shared by its buses: a wake left pending here
  // must not reach another bus's memory with the next command)
  wakeForget();
  st32(t + A.THREAD_FAULT, 0);
  // a trap ends an in-memory broadcast (OP_BCAST_MEM, nothing reserved): the receivers before
  // got it, the rest do not (a staged one's op_from is logged: send_commit goes on); and the
  // notifications of a BYEBYE, HELLO, NAME_ACQUIRE or NAME_RELEASE waiting for a receiver
  // or a recovery's close (OP_NOTIFY: the change is done, the bus lock is released above): the
  // rest are not sent
  if (ld32(t + A.THREAD_OP) == A.OP_BCAST_MEM || ld32(t + A.THREAD_OP) == A.OP_NOTIFY) st32(t + A.THREAD_OP, A.OP_NONE);
  st32(t + A.THREAD_BCAST_SKIP, 0);
  return 0;
}
