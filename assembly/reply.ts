// reply: calls and their replies. A SEND with EXPECT_REPLY leaves a record in the bus's reply
// table (js/shared/abi.ts, "Calls and replies": caller, replier, cookie, deadline); a reply (a
// message with cookie_reply, without EXPECT_REPLY) must match one, and takes it. Every call
// ends exactly once: its reply, or a message from the bus to the caller, REPLY_TIMEOUT once
// its deadline passed, REPLY_DEAD when the replier closed or dropped the call. The core
// never sleeps: overdue calls are expired by whichever command runs next (replyTick, one
// atomic load while no call is pending), and the host arms a timer at a caller's deadline
// that runs a command. The table is the bus lock's: every change is made under it, journaled.
// Each record in use is on its caller's list (CONN_CALLS, in call order), each free one on
// the free list or above the high-water mark (abi.ts, "Calls and replies"): a call, a reply
// and a caller's close touch only the records they concern. Each record in use is also on the
// deadline list (the DEAD ones first, then the PENDING ones by deadline): the sweep takes
// what is due from its head, and stops at the first record that is not.
import * as A from "../js/shared/abi";
import { ld32, st64, aLoad, THREAD } from "./mem";
import { wr32, wr64, logCommit, logCheckpoint } from "./journal";
import { lockTry, unlock } from "./lock";
import { clock_time_get } from "./host";
import { busConns } from "./bus";
import { connAddr, connLive } from "./conn";
import { kmsgSend } from "./kmsg";
import { sliceBlock } from "./slice";
import { monitorsCopy } from "./monitor";
import { fail, failArg } from "./reason";

const H: u32 = A.BUS_BASE;

function table(): u32 { return ld32(H + A.BUS_REPLIES); }
function rec(i: u32): u32 { return table() + (i + 1) * A.REPLY_SIZE; }
function slotOf(c: u32): u32 { return u32((c - busConns()) / A.CONN_SIZE); }

/** (alo, ahi) <= (blo, bhi), as unsigned 64-bit numbers */
function le64(alo: u32, ahi: u32, blo: u32, bhi: u32): bool {
  return ahi < bhi || (ahi == bhi && alo <= blo);
}

function isCaller(r: u32, s: u32, gen: u32): bool {
  return ld32(r + A.REPLY_CALLER_SLOT) == s && ld32(r + A.REPLY_CALLER_GEN) == gen;
}
function isReplier(r: u32, s: u32, gen: u32): bool {
  return ld32(r + A.REPLY_REPLIER_SLOT) == s && ld32(r + A.REPLY_REPLIER_GEN) == gen;
}
function hasCookie(r: u32, lo: u32, hi: u32): bool {
  return ld32(r + A.REPLY_COOKIE) == lo && ld32(r + A.REPLY_COOKIE + 4) == hi;
}

/** Record `i1` (its index + 1, as the lists link them). */
function recAt(i1: u32): u32 { return table() + i1 * A.REPLY_SIZE; }
function index1(r: u32): u32 { return u32((r - table()) / A.REPLY_SIZE); }

/** Record `r` (index + 1 `i1`) off the deadline list (bus lock held). */
function dlUnlink(r: u32, i1: u32): void {
  const T = table(), next = ld32(r + A.REPLY_DL_NEXT), prev = ld32(r + A.REPLY_DL_PREV);
  // the last DEAD record: the one before it is the last now (DEAD too, or none)
  if (ld32(T + A.REPLY_T_DL_DEAD) == i1) wr32(T + A.REPLY_T_DL_DEAD, prev);
  if (prev != 0) wr32(recAt(prev) + A.REPLY_DL_NEXT, next);
  else wr32(T + A.REPLY_T_DL_HEAD, next);
  if (next != 0) wr32(recAt(next) + A.REPLY_DL_PREV, prev);
  else wr32(T + A.REPLY_T_DL_TAIL, prev);
  wr32(r + A.REPLY_DL_NEXT, 0);
  wr32(r + A.REPLY_DL_PREV, 0);
}

/** Record `r` (index + 1 `i1`), off the list, in after record `prev` (0: at the head). */
function dlLinkAfter(r: u32, i1: u32, prev: u32): void {
  const T = table();
  const next = prev != 0 ? ld32(recAt(prev) + A.REPLY_DL_NEXT) : ld32(T + A.REPLY_T_DL_HEAD);
  wr32(r + A.REPLY_DL_PREV, prev);
  wr32(r + A.REPLY_DL_NEXT, next);
  if (prev != 0) wr32(recAt(prev) + A.REPLY_DL_NEXT, i1);
  else wr32(T + A.REPLY_T_DL_HEAD, i1);
  if (next != 0) wr32(recAt(next) + A.REPLY_DL_PREV, i1);
  else wr32(T + A.REPLY_T_DL_TAIL, i1);
}

/**
 * PENDING record `r` (index + 1 `i1`, deadline (lo, hi)) into the deadline list: after the
 * last record whose deadline is not later (or the last DEAD one), walking back from the tail
 * (calls made with one timeout come in deadline order: no step back).
 */
function dlInsert(r: u32, i1: u32, lo: u32, hi: u32): void {
  let prev = ld32(table() + A.REPLY_T_DL_TAIL);
  while (prev != 0) {
    const p = recAt(prev);
    if (ld32(p + A.REPLY_STATE) == A.REPLY_DEAD || le64(ld32(p + A.REPLY_DEADLINE), ld32(p + A.REPLY_DEADLINE + 4), lo, hi)) break;
    prev = ld32(p + A.REPLY_DL_PREV);
  }
  dlLinkAfter(r, i1, prev);
}

/**
 * Take record `r` out of the table (bus lock held): off its caller's list (when that caller
 * is still the connection in the slot: a caller's close frees its records before its
 * generation moves), onto the free list.
 */
function replyFree(r: u32): void {
  const T = table(), i1 = index1(r);
  const cc = connAddr(ld32(r + A.REPLY_CALLER_SLOT));
  if (ld32(cc + A.CONN_GEN) == ld32(r + A.REPLY_CALLER_GEN)) {
    const next = ld32(r + A.REPLY_NEXT), prev = ld32(r + A.REPLY_PREV);
    if (prev != 0) wr32(recAt(prev) + A.REPLY_NEXT, next);
    else wr32(cc + A.CONN_CALLS, next);
    if (next != 0) wr32(recAt(next) + A.REPLY_PREV, prev);
    else wr32(cc + A.CONN_CALLS_TAIL, prev);
    wr32(cc + A.CONN_N_CALLS, ld32(cc + A.CONN_N_CALLS) - 1);
  }
  dlUnlink(r, i1);
  wr32(r + A.REPLY_STATE, A.REPLY_FREE);
  wr32(r + A.REPLY_NEXT, ld32(T + A.REPLY_T_FREE));
  wr32(r + A.REPLY_PREV, 0);
  wr32(T + A.REPLY_T_FREE, i1);
  wr32(T + A.REPLY_T_LIVE, ld32(T + A.REPLY_T_LIVE) - 1);
}

/**
 * A record owes REPLY_DEAD: after the deadline list's other DEAD records (they go out in the
 * order they came to owe it: a replier's close marks its calls in table order, as the sweep
 * before BUS_VERSION 15 delivered them), and the next command delivers it (due = 0).
 */
function replyOwe(r: u32): void {
  if (ld32(r + A.REPLY_STATE) != A.REPLY_DEAD) {
    const T = table(), i1 = index1(r);
    dlUnlink(r, i1);
    dlLinkAfter(r, i1, ld32(T + A.REPLY_T_DL_DEAD));
    wr32(T + A.REPLY_T_DL_DEAD, i1);
  }
  wr32(r + A.REPLY_STATE, A.REPLY_DEAD);
  wr64(table() + A.REPLY_T_DUE, 0, 0);
}

/**
 * May caller `c` make one more call? (bus lock held) The index of a free record (the free
 * list's first, else the first never taken), or -EMLINK (MAX_PENDING_REPLIES pending) /
 * -ENOSPC (the table is full). Changes nothing. O(1).
 */
export function replyCheck(c: u32): i32 {
  if (ld32(c + A.CONN_N_CALLS) >= u32(A.MAX_PENDING_REPLIES)) return failArg(A.EMLINK, A.R_SEND_CALLS_MAX, A.MAX_PENDING_REPLIES);
  const T = table(), f = ld32(T + A.REPLY_T_FREE), hwm = ld32(T + A.REPLY_T_HWM), n = ld32(H + A.BUS_N_REPLIES);
  if (f != 0) return i32(f - 1);
  if (hwm < n) return i32(hwm);
  return failArg(A.ENOSPC, A.R_SEND_REPLY_TABLE_FULL, n);
}

/** Fill record `i` (from replyCheck) for the call at `msg` from `c` to `d` (bus lock held). */
export function replyInsert(i: u32, c: u32, d: u32, msg: u32, sync: bool): void {
  const r = rec(i), T = table();
  // off the free list (replyCheck gave its first record), or the next never taken
  if (ld32(T + A.REPLY_T_FREE) == i + 1) wr32(T + A.REPLY_T_FREE, ld32(r + A.REPLY_NEXT));
  else wr32(T + A.REPLY_T_HWM, i + 1);
  // at the tail of its caller's list
  const tail = ld32(c + A.CONN_CALLS_TAIL);
  wr32(r + A.REPLY_NEXT, 0);
  wr32(r + A.REPLY_PREV, tail);
  if (tail != 0) wr32(recAt(tail) + A.REPLY_NEXT, i + 1);
  else wr32(c + A.CONN_CALLS, i + 1);
  wr32(c + A.CONN_CALLS_TAIL, i + 1);
  wr32(c + A.CONN_N_CALLS, ld32(c + A.CONN_N_CALLS) + 1);
  const dlLo = ld32(msg + A.MSG_TIMEOUT), dlHi = ld32(msg + A.MSG_TIMEOUT + 4);
  wr32(r + A.REPLY_CALLER_SLOT, slotOf(c));
  wr32(r + A.REPLY_CALLER_GEN, ld32(c + A.CONN_GEN));
  wr32(r + A.REPLY_REPLIER_SLOT, slotOf(d));
  wr32(r + A.REPLY_REPLIER_GEN, ld32(d + A.CONN_GEN));
  wr32(r + A.REPLY_FLAGS, sync ? A.REPLY_SYNC : 0);
  wr64(r + A.REPLY_COOKIE, ld32(msg + A.MSG_COOKIE), ld32(msg + A.MSG_COOKIE + 4));
  wr64(r + A.REPLY_DEADLINE, dlLo, dlHi);
  wr64(r + A.REPLY_CALLER_ID, ld32(c + A.CONN_ID), ld32(c + A.CONN_ID + 4));
  const live = ld32(T + A.REPLY_T_LIVE);
  if (live == 0 || le64(dlLo, dlHi, ld32(T + A.REPLY_T_DUE), ld32(T + A.REPLY_T_DUE + 4))) wr64(T + A.REPLY_T_DUE, dlLo, dlHi);
  wr32(T + A.REPLY_T_LIVE, live + 1);
  wr32(r + A.REPLY_STATE, A.REPLY_PENDING);
  dlInsert(r, i + 1, dlLo, dlHi);
}

/**
 * The pending call that a reply from `c` to `d` with cookie_reply (lo, hi) answers (bus lock
 * held): its record index, or -EBADSLT. A walk of d's calls, oldest first (at most
 * MAX_PENDING_REPLIES; a service answering in order finds its call first).
 */
export function replyFind(d: u32, c: u32, lo: u32, hi: u32): i32 {
  const ds = slotOf(d), dg = ld32(d + A.CONN_GEN), cs = slotOf(c), cg = ld32(c + A.CONN_GEN);
  let k: u32 = 0;
  for (let i1 = ld32(d + A.CONN_CALLS); i1 != 0 && k < u32(A.MAX_PENDING_REPLIES); i1 = ld32(recAt(i1) + A.REPLY_NEXT), k++) {
    const r = recAt(i1);
    if (ld32(r + A.REPLY_STATE) == A.REPLY_PENDING && isCaller(r, ds, dg) && isReplier(r, cs, cg) && hasCookie(r, lo, hi)) return i32(i1 - 1);
  }
  return fail(A.EBADSLT, A.R_SEND_REPLY_NO_CALL);
}

/**
 * Has caller `c` a record for its call with cookie (lo, hi), pending or owing its REPLY_DEAD
 * (c's lock held: every change of its list holds it, or the bus lock on c's own thread)? A
 * walk of c's list, at most MAX_PENDING_REPLIES: RECV_REPLY asks when it finds no end queued.
 */
export function replyHasCall(c: u32, lo: u32, hi: u32): bool {
  if (table() == 0) return false;
  let k: u32 = 0;
  for (let i1 = ld32(c + A.CONN_CALLS); i1 != 0 && k < u32(A.MAX_PENDING_REPLIES); i1 = ld32(recAt(i1) + A.REPLY_NEXT), k++) {
    if (hasCookie(recAt(i1), lo, hi)) return true;
  }
  return false;
}

/** The reply answering record `i` was sent: the call is over (bus lock held). */
export function replyDone(i: u32): void {
  replyFree(rec(i));
}

/**
 * Connection `c` closes (bus lock and its lock held, before its generation moves): the
 * calls it made are forgotten (nobody is left to tell), the calls made to it owe REPLY_DEAD
 * (delivered by replySweep once its lock is released).
 */
export function replyConnClosed(c: u32): void {
  if (ld32(table() + A.REPLY_T_LIVE) == 0) return;
  // the calls it made: its list
  // (each call whole: the log may be committed between two, logCheckpoint)
  for (let k: u32 = 0; ld32(c + A.CONN_CALLS) != 0 && k <= u32(A.MAX_PENDING_REPLIES); k++) {
    replyFree(recAt(ld32(c + A.CONN_CALLS)));
    logCheckpoint();
  }
  // the calls made to it: every record in use
  const live = ld32(table() + A.REPLY_T_LIVE);
  const s = slotOf(c), gen = ld32(c + A.CONN_GEN), n = ld32(H + A.BUS_N_REPLIES);
  let seen: u32 = 0;
  for (let i: u32 = 0; i < n && seen < live; i++) {
    const r = rec(i);
    const st = ld32(r + A.REPLY_STATE);
    if (st == A.REPLY_FREE) continue;
    seen++;
    if (st == A.REPLY_PENDING && isReplier(r, s, gen)) {
      replyOwe(r);
      logCheckpoint();
    }
  }
}

/** The record of the call at `m` (a message header) sent to `c` by the caller slot `from` (0xffffffff: any), or 0. */
function replyOf(c: u32, m: u32, from: u32): u32 {
  const s = slotOf(c), gen = ld32(c + A.CONN_GEN), n = ld32(H + A.BUS_N_REPLIES);
  const live = ld32(table() + A.REPLY_T_LIVE);
  const lo = ld32(m + A.MSG_COOKIE), hi = ld32(m + A.MSG_COOKIE + 4);
  let seen: u32 = 0;
  for (let i: u32 = 0; i < n && seen < live; i++) {
    const r = rec(i);
    if (ld32(r + A.REPLY_STATE) == A.REPLY_FREE) continue;
    seen++;
    if (ld32(r + A.REPLY_STATE) == A.REPLY_PENDING && isReplier(r, s, gen) && hasCookie(r, lo, hi) &&
      ld32(r + A.REPLY_CALLER_ID) == ld32(m + A.MSG_SRC_ID) && ld32(r + A.REPLY_CALLER_ID + 4) == ld32(m + A.MSG_SRC_ID + 4) &&
      (from == 0xffffffff || ld32(r + A.REPLY_CALLER_SLOT) == from)) return r;
  }
  return 0;
}

/** `c` DROPped the queued call at `m` (bus lock and its lock held): the call owes REPLY_DEAD. */
export function replyDropped(c: u32, m: u32): void {
  if ((ld32(m + A.MSG_FLAGS) & A.MSG_EXPECT_REPLY) == 0 || ld32(table() + A.REPLY_T_LIVE) == 0) return;
  const r = replyOf(c, m, 0xffffffff);
  if (r != 0) replyOwe(r);
}

/**
 * A reserved message at `m` in receiver `d`'s pool, sent by thread slot's connection `from`,
 * is cancelled (send_cancel or recovery; d's lock held): a call's record goes (the bus lock
 * is held then); a reply's caller is told REPLY_DEAD (its record went when the reply was sent).
 * Returns the REPLY_DEAD's block in `d` (0: none), for the monitors' copies once committed.
 */
export function replyUnsent(d: u32, m: u32, from: u32): u32 {
  const flags = ld32(m + A.MSG_FLAGS);
  if ((flags & A.MSG_EXPECT_REPLY) != 0) {
    if (ld32(table() + A.REPLY_T_LIVE) == 0) return 0;
    const r = replyOf(d, m, from);
    if (r != 0) replyFree(r);
  } else if (ld32(m + A.MSG_TIMEOUT) != 0 || ld32(m + A.MSG_TIMEOUT + 4) != 0) {
    // (its TIMESTAMP never fails the cancel, nor a recovery: A.CLOCK_PRECISION_COMMITTED)
    if (kmsgSend(d, A.ITEM_REPLY_DEAD, 0, 0, ld32(m + A.MSG_TIMEOUT), ld32(m + A.MSG_TIMEOUT + 4), 0, A.CLOCK_PRECISION_COMMITTED) == 0) return sliceBlock;
  }
  return 0;
}

/**
 * Deliver what the table owes at monotonic time (nowLo, nowHi) (bus lock held, no other):
 * REPLY_DEAD for DEAD records, REPLY_TIMEOUT for PENDING ones whose deadline passed, each
 * under its caller's lock and committed on its own; then the earliest deadline left. 0, or
 * WOULDBLOCK when a caller's lock is taken (what is left stays owed: due = 0).
 */
export function replySweep(nowLo: u32, nowHi: u32): i32 {
  const T = table();
  let dueLo: u32 = 0xffffffff, dueHi: u32 = 0xffffffff;
  // the deadline list from its head: the DEAD records, then the PENDING ones by deadline, up
  // to the first that is not due (its deadline is the earliest left)
  // (each record handled leaves the list: the next one is at its head)
  for (let i1 = ld32(T + A.REPLY_T_DL_HEAD); i1 != 0; i1 = ld32(T + A.REPLY_T_DL_HEAD)) {
    const r = recAt(i1);
    const st = ld32(r + A.REPLY_STATE);
    const dlLo = ld32(r + A.REPLY_DEADLINE), dlHi = ld32(r + A.REPLY_DEADLINE + 4);
    let item: u32 = 0;
    if (st == A.REPLY_DEAD) item = A.ITEM_REPLY_DEAD;
    else if (le64(dlLo, dlHi, nowLo, nowHi)) item = A.ITEM_REPLY_TIMEOUT;
    if (item == 0) {
      dueLo = dlLo;
      dueHi = dlHi;
      break;
    }
    const gen = ld32(r + A.REPLY_CALLER_GEN);
    const cc = connAddr(ld32(r + A.REPLY_CALLER_SLOT));
    if (connLive(cc, gen)) {
      if (!lockTry(cc + A.CONN_LOCK)) {
        wr64(T + A.REPLY_T_DUE, 0, 0);
        logCommit();
        return A.WOULDBLOCK;
      }
      // (the bus's message: its TIMESTAMP never fails the command that expires it, whose
      // earlier expiries are committed: A.CLOCK_PRECISION_COMMITTED)
      const sent = connLive(cc, gen) && kmsgSend(cc, item, 0, 0, ld32(r + A.REPLY_COOKIE), ld32(r + A.REPLY_COOKIE + 4), 0, A.CLOCK_PRECISION_COMMITTED) == 0;
      const kb = sliceBlock;
      replyFree(r);
      logCommit();
      if (sent) monitorsCopy(cc, kb, false, false); // the monitors' copies, once it is final (monitor.ts)
      unlock(cc + A.CONN_LOCK);
    } else {
      replyFree(r);
      logCommit();
    }
  }
  wr64(T + A.REPLY_T_DUE, dueLo, dueHi);
  logCommit();
  return 0;
}

/** The monotonic clock into the thread's scratch (0 when the host cannot tell); `precision`: clock_time_get's. */
function now(precision: u32): u32 {
  const p = THREAD + A.THREAD_SCRATCH + A.REPLY_SCRATCH_NOW;
  if (clock_time_get(1, precision, p) != 0) st64(p, 0, 0);
  return p;
}

/**
 * With the bus lock held: deliver what is owed now, at the end of a command whose change has
 * committed (a close, a DROP, a recovery): its clock reads may not fail the command
 * (A.CLOCK_PRECISION_COMMITTED; a clock the host cannot read here is 0: only REPLY_DEADs go).
 */
export function replySweepNow(): i32 {
  if (ld32(table() + A.REPLY_T_LIVE) == 0) return 0;
  const p = now(A.CLOCK_PRECISION_COMMITTED);
  return replySweep(ld32(p), ld32(p + 4));
}

/**
 * Run by every command before it starts (no lock held): expire what is due. One atomic load
 * while no call is pending; else a clock read and a comparison with the earliest deadline.
 * 0, or WOULDBLOCK (the bus lock, or a caller's, is taken: the host waits and runs the
 * command again).
 */
export function replyTick(): i32 {
  const T = table();
  if (T == 0 || aLoad(T + A.REPLY_T_LIVE) == 0) return 0;
  const p = now(0);
  const nLo = ld32(p), nHi = ld32(p + 4);
  if (!le64(ld32(T + A.REPLY_T_DUE), ld32(T + A.REPLY_T_DUE + 4), nLo, nHi)) return 0;
  if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
  const r = replySweep(nLo, nHi);
  unlock(H + A.BUS_LOCK);
  return r;
}


/**
 * The call at `m`, queued in `src`, moves to `dst` (an activator's queue passed on: activator.ts;
 * bus lock held): its record now names `dst` as the replier.
 */
export function replyMoved(src: u32, dst: u32, m: u32): void {
  if ((ld32(m + A.MSG_FLAGS) & A.MSG_EXPECT_REPLY) == 0 || ld32(table() + A.REPLY_T_LIVE) == 0) return;
  const r = replyOf(src, m, 0xffffffff);
  if (r == 0) return;
  wr32(r + A.REPLY_REPLIER_SLOT, slotOf(dst));
  wr32(r + A.REPLY_REPLIER_GEN, ld32(dst + A.CONN_GEN));
}
