// aside: a staged broadcast (OP_BCAST, stage.ts) set aside in its sender's connection record,
// so that its thread can run other commands while it waits for a receiver's lock, and the
// staging slices whose free found the sender's lock taken, left there to be freed later.
//
// A staged broadcast stopped at a contended receiver (send_commit: WOULDBLOCK) holds its
// staging slice as the thread's one reservation: every other command of the thread says
// EINPROGRESS until it goes on. From an event loop that is a thread standing still, so the
// host sets it aside (send_aside): the slice moves from the thread slot to the sender's
// connection (CONN_STAGED, its place in the block's pub_prev word), the thread's op back to
// none. send_resume makes it the thread's op again, and send_commit goes on from its place;
// send_abandon ends it (the rest of the receivers do not get it). Nothing is copied: the
// message and its payload stay in the slice (before stop 70 the host copied the payload out,
// gave the slice back, and staged it again at every try, and each of those could meet a lock).
//
//   thread slot (op OP_BCAST)            sender's connection record
//   ┌──────────────────────────┐         ┌──────────────────────────────────┐
//   │ op_conn, op_gen: sender  │ aside → │ staged: the block                │
//   │ op_block: the block      │         │   block's pub_prev: op_from      │
//   │ op_from: its place       │ ← resume│   its message at BLOCK_HDR       │
//   │ op_len: its message size │         │   (op_len: the message's size)   │
//   └──────────────────────────┘         │ unfreed: blocks to free ─┐       │
//                                        └──────────────────────────┼───────┘
//                                          block ── link ──> block ─┘ ... 0
//
// A staging slice is freed under the sender's own lock. A broadcast that ended (delivered, or
// cancelled) whose free finds that lock taken does not wait for it: its block goes onto the
// connection's unfreed list, and the owner's next command that holds the lock (RECV, FREE, the
// next staging, send_abandon) frees it; a close takes the list with the pool. So no command of
// a staged broadcast waits for the sender's lock after its delivery began.
//
// The two words are written without the connection's lock, by its owner thread only (the
// thread that said its HELLO: the others are refused EPERM), journaled; its recoverer reads them
// under the lock once it is dead. Both count in CONN_N_RESV, as a reservation in flight does:
// the pool stays, and a BYEBYE without DROP does not count them.
import * as A from "../js/shared/abi";
import { ld32, st32, THREAD } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTry, unlock, wakeOnUnlock } from "./lock";
import { busThreads } from "./bus";
import { connAddr, connGet, connSlot, connLive } from "./conn";
import { fail, failArg, failGone } from "./reason";
import { sliceRelease } from "./slice";
import { threadOurs } from "./thread";

/** The calling thread's slot index. */
function mySlot(): u32 {
  return u32((THREAD - busThreads()) / A.THREAD_SIZE);
}

/** Is connection `c` the calling thread's (it said its HELLO)? -EPERM when not. */
function ownerCheck(c: u32): i32 {
  if (ld32(c + A.CONN_OWNER) != mySlot()) return failArg(A.EPERM, A.R_ASIDE_NOT_OWNER, ld32(c + A.CONN_OWNER));
  // (a thread declared dead that runs on writes nothing here: its recoverer closed the
  // connection; nor its reason words: the slot may be another thread's; the host says ESRCH
  // with its own words, its thread recovered)
  if (!threadOurs(THREAD)) return failGone(A.ESRCH);
  return 0;
}

/**
 * send_aside: the thread's staged broadcast, not delivered to every receiver yet (stopped at a
 * receiver's lock, or its delivery failed: R_BCAST_BUS_LOCK), set aside in its sender's
 * connection; the thread's op is none again. 0, or -EINVAL (none under way), -EPERM (the
 * sender is another thread's), -EBUSY (one is set aside there already), -ECONNRESET.
 */
export function sendAside(): i32 {
  const t = THREAD;
  if (t == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  if (ld32(t + A.THREAD_OP) != A.OP_BCAST || ld32(t + A.THREAD_OP_LEN) == 0) return fail(A.EINVAL, A.R_ASIDE_NOT_STAGED);
  const c = connAddr(ld32(t + A.THREAD_OP_CONN));
  // (its sender cannot close while the thread's op holds the slice: BYEBYE says EINPROGRESS)
  if (ld32(c + A.CONN_STATE) != A.CONN_ACTIVE || ld32(c + A.CONN_GEN) != ld32(t + A.THREAD_OP_GEN)) return fail(A.ECONNRESET, A.R_CONN_CLOSED);
  const r = ownerCheck(c);
  if (r < 0) return r;
  if (ld32(c + A.CONN_STAGED) != 0) return fail(A.EBUSY, A.R_ASIDE_TAKEN);
  const b = ld32(t + A.THREAD_OP_BLOCK);
  wr32(b + A.BLOCK_PUB_PREV, ld32(t + A.THREAD_OP_FROM));
  wr32(c + A.CONN_STAGED, b);
  wr32(t + A.THREAD_OP, A.OP_NONE);
  st32(t + A.THREAD_BCAST_SKIP, 0);
  logCommit();
  return 0;
}

/**
 * send_resume: the staged broadcast set aside in connection (`slot`, `gen`) is the thread's op
 * again (OP_BCAST, op_from its place): send_commit goes on from there (the host first puts back
 * the scratch and metadata block its delivery collected). 0, or -EINPROGRESS (the thread's op
 * is not none), -EINVAL (none set aside), -EPERM, -ECONNRESET (the close freed it).
 */
export function sendResume(slot: u32, gen: u32): i32 {
  const c = connGet(slot, gen);
  if (c < 0) return c;
  const t = THREAD;
  if (ld32(t + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  const r = ownerCheck(u32(c));
  if (r < 0) return r;
  const b = ld32(c + A.CONN_STAGED);
  if (b == 0) return fail(A.EINVAL, A.R_RESUME_NONE);
  // (the op_* words mean something only once op says so: only op is logged, as SEND's)
  st32(t + A.THREAD_OP_CONN, slot);
  st32(t + A.THREAD_OP_GEN, gen);
  st32(t + A.THREAD_OP_BLOCK, b);
  st32(t + A.THREAD_OP_FROM, ld32(b + A.BLOCK_PUB_PREV));
  st32(t + A.THREAD_OP_LEN, ld32(b + A.BLOCK_HDR + A.MSG_SIZE));
  wr32(c + A.CONN_STAGED, 0);
  wr32(t + A.THREAD_OP, A.OP_BCAST);
  logCommit();
  return 0;
}

/**
 * send_abandon: the staged broadcast set aside in connection (`slot`, `gen`) ends where it
 * stopped (the receivers from its place on do not get it); its slice is freed now if the
 * connection's lock is free, else left to free (unfreed). 0 (also when none is set aside), or
 * -EPERM, -ECONNRESET (the close freed it).
 */
export function sendAbandon(slot: u32, gen: u32): i32 {
  const ci = connGet(slot, gen);
  if (ci < 0) {
    // closed by another thread (raw ABI) while its words were ours: settled now (asideClosed)
    const s = connSlot(slot);
    if (s >= 0 && asideKept(u32(s)) && lockTry(s + A.CONN_LOCK)) {
      asideOnClosed(u32(s));
      logCommit();
      unlock(s + A.CONN_LOCK);
    }
    return ci;
  }
  const c = u32(ci);
  const r = ownerCheck(c);
  if (r < 0) return r;
  const b = ld32(c + A.CONN_STAGED);
  if (b != 0) {
    // (STAGED cleared first: a move half made, by a thread that died there, counts the block
    // nowhere rather than twice, asideCount: a close and RECV_REPLY's "no call" stay cautious)
    wr32(c + A.CONN_STAGED, 0);
    wr32(b + A.BLOCK_LINK, ld32(c + A.CONN_UNFREED));
    wr32(c + A.CONN_UNFREED, b);
    logCommit();
  }
  if (ld32(c + A.CONN_UNFREED) != 0 && lockTry(c + A.CONN_LOCK)) {
    // (looked at again under the lock: another thread may have closed it meanwhile)
    if (connLive(c, gen)) unfreedFree(c);
    else asideOnClosed(c);
    logCommit();
    unlock(c + A.CONN_LOCK);
  }
  return 0;
}

/**
 * The thread's staged broadcast, ended (delivered, or cancelled), whose free found its sender's
 * lock taken: its block goes onto the sender's unfreed list and the thread's op is none
 * (committed). False, nothing changed, when the sender is another thread's or closed (the
 * caller waits for the lock then, as before stop 70).
 */
export function stagedLeave(t: u32, c: u32): bool {
  if (ld32(c + A.CONN_STATE) != A.CONN_ACTIVE || ld32(c + A.CONN_GEN) != ld32(t + A.THREAD_OP_GEN)) return false;
  if (ld32(c + A.CONN_OWNER) != mySlot() || !threadOurs(t)) return false;
  const b = ld32(t + A.THREAD_OP_BLOCK);
  wr32(b + A.BLOCK_LINK, ld32(c + A.CONN_UNFREED));
  wr32(c + A.CONN_UNFREED, b);
  wr32(t + A.THREAD_OP, A.OP_NONE);
  logCommit();
  return true;
}

/**
 * Free the staging slices left on connection `c`'s unfreed list, UNFREED_PER_CMD at most (each
 * free is logged: the command's journal stays small), c's lock held, by its owner only (a
 * close, its owner's or its recoverer's, takes the list whole: asideClosed).
 */
export function unfreedFree(c: u32): void {
  // (the list is pushed to without the lock, by the owner alone: another thread with its handle
  // does not take from it)
  if (ld32(c + A.CONN_OWNER) != mySlot()) return;
  for (let k: u32 = 0; k < u32(A.UNFREED_PER_CMD); k++) {
    const b = ld32(c + A.CONN_UNFREED);
    if (b == 0) return;
    wr32(c + A.CONN_UNFREED, ld32(b + A.BLOCK_LINK));
    sliceRelease(c, b);
    wr32(c + A.CONN_N_RESV, ld32(c + A.CONN_N_RESV) - 1);
    // (its waits look again, as after a cancel: sendFinish)
    wakeOnUnlock(c);
  }
  if (ld32(c + A.CONN_N_RESV) == 0 && ld32(c + A.CONN_STATE) == A.CONN_CLOSING) wr32(c + A.CONN_STATE, A.CONN_FREE_SLOT);
}

/** The reservations of connection `c` that are its own staging slices (set aside, or left to free), not a send in flight. */
export function asideCount(c: u32): u32 {
  let n: u32 = ld32(c + A.CONN_STAGED) != 0 ? 1 : 0;
  for (let b = ld32(c + A.CONN_UNFREED); b != 0; b = ld32(b + A.BLOCK_LINK)) n++;
  return n;
}

/**
 * Connection `c` closes (its locks held): its set-aside broadcast ends, and its staging slices
 * go with its pool, when the closer is its owner (BYEBYE) or the owner's recoverer (`recovery`:
 * after it undid the owner's log). Not when another thread closes it (a raw BYEBYE with its
 * handle): the owner may be writing these words at this moment, without the lock, or may have
 * died half way through such a write that its recovery has not undone yet; they stay, counted
 * in n_resv (the slot CLOSING), for the owner to settle: asideOnClosed (its send_abandon, RECV,
 * FREE or BYEBYE of the closed handle, its leave) or its recovery.
 */
export function asideClosed(c: u32, recovery: bool): void {
  if (recovery || ld32(c + A.CONN_OWNER) == mySlot()) asideSettle(c);
}

/** Does closed connection `c` keep the calling thread's staging slices (CLOSING, its owner, the slot still the thread's)? Writes nothing. */
export function asideKept(c: u32): bool {
  return ld32(c + A.CONN_STATE) == A.CONN_CLOSING && ld32(c + A.CONN_OWNER) == mySlot() && threadOurs(THREAD) && asideCount(c) != 0;
}

/** A command of the owner found its handle closed, `c`'s lock held: the staging slices another thread's close left it are settled (asideClosed). */
export function asideOnClosed(c: u32): void {
  if (asideKept(c)) asideSettle(c);
}

/** Drop connection `c`'s kept staging slices from its count (its lock held; its pool goes, or went, with its close); a CLOSING slot left with no reservation is free. */
export function asideSettle(c: u32): void {
  const n = asideCount(c);
  if (n == 0) return;
  wr32(c + A.CONN_STAGED, 0);
  wr32(c + A.CONN_UNFREED, 0);
  const resv = ld32(c + A.CONN_N_RESV) - n;
  wr32(c + A.CONN_N_RESV, resv);
  if (resv == 0 && ld32(c + A.CONN_STATE) == A.CONN_CLOSING) wr32(c + A.CONN_STATE, A.CONN_FREE_SLOT);
}
