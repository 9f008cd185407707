import * as A from "../js/shared/abi";
import { ld32, ldi32, st64, aXchg } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTry, unlock } from "./lock";
import { connLive } from "./conn";
import { itemlessCmdStart } from "./cmd-start";
import { poolFree, poolPublish, poolUnpublish, poolOffset } from "./pool";
import { quotaRelease } from "./quota";
import { queuePeek, queueUnlink, queuePrev, queueFindReply } from "./queue";
import { threadCmd } from "./thread";
import { unfreedFree, asideCount, asideOnClosed } from "./aside";
import { busShutdown } from "./bus";
import { fail } from "./reason";
import { replyDropped, replySweepNow, replyHasCall } from "./reply";
import { recvBatch } from "./recv-batch";

const H: u32 = A.BUS_BASE;

/** Take a block off the queue and give back its quota. */
export function recvDequeue(c: u32, b: u32, prev: u32): void {
  queueUnlink(c, b, prev);
  quotaRelease(c, ld32(b + A.BLOCK_QUSER), ld32(b + A.BLOCK_ACCT));
  wr32(b + A.BLOCK_STATE, u32(ld32(b + A.BLOCK_STATE) & ~A.BLOCK_KERNEL));
}

export function recv(slot: u32, gen: u32): i32 {
  const ci = itemlessCmdStart(slot, A.RECV_CMD_SIZE, A.RECV_PEEK | A.RECV_DROP | A.RECV_USE_PRIORITY | A.RECV_REPLY | A.RECV_REPLY_FIRST | A.RECV_BATCH, A.RECV_BATCH);
  if (ci < 0) return ci;
  const c = u32(ci);
  const cmd = threadCmd();
  const flags = ld32(cmd + A.CMD_FLAGS);
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  st64(cmd + A.RECV_DROPPED_MSGS, 0, 0);
  st64(cmd + A.RECV_MSG_OFFSET, ld32(c + A.CONN_POOL_SIZE), 0);
  st64(cmd + A.RECV_MSG_SIZE, 0, 0);
  st64(cmd + A.RECV_MSG_RETURN_FLAGS, 0, 0);
  if ((flags & A.RECV_BATCH) != 0) return recvBatch(c, gen, cmd, flags);
  // DROP with a priority is not reliable (kdbus): refused
  if ((flags & A.RECV_DROP) != 0 && (flags & A.RECV_USE_PRIORITY) != 0) return fail(A.EINVAL, A.R_RECV_DROP_PRIORITY);
  // a call's reply: alone (with a call's cookie, or 0: the end of any call), or with REPLY_FIRST
  if ((flags & (A.RECV_REPLY | A.RECV_REPLY_FIRST)) != 0 && (flags & ~A.RECV_REPLY_FIRST) != A.RECV_REPLY) return fail(A.EINVAL, A.R_RECV_REPLY_FLAGS);
  // after a shutdown, queued messages can only be dropped (so that the connection can close)
  if ((flags & A.RECV_DROP) == 0 && busShutdown()) return fail(A.ESHUTDOWN, A.R_BUS_SHUTDOWN);
  // DROP of a call makes REPLY_DEAD (reply.ts): the bus lock first
  const drop = (flags & A.RECV_DROP) != 0;
  if (drop && !lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
  if (!lockTry(c + A.CONN_LOCK)) {
    if (drop) unlock(H + A.BUS_LOCK);
    return A.WOULDBLOCK;
  }
  const live = connLive(c, gen);
  if (live) unfreedFree(c); // (its own staging slices left to free: aside.ts)
  else asideOnClosed(c);
  const ret = live ? recvLocked(c, cmd, flags) : fail(A.ECONNRESET, A.R_CONN_CLOSED);
  logCommit();
  unlock(c + A.CONN_LOCK);
  if (drop) {
    if (ret == 0) replySweepNow(); // the dropped call's REPLY_DEAD (a taken lock defers it: still owed)
    unlock(H + A.BUS_LOCK);
  }
  return ret;
}

/**
 * The messages dropped for `c` since its last RECV into the command's dropped_msgs (the lock
 * held): full pool or quota (CONN_DROPPED, under the lock), and lost to a contended lock
 * (CONN_KMSG_LOST, an atomic counter: taken with an exchange).
 */
export function recvDropped(c: u32, cmd: u32): void {
  const lost = aXchg(c + A.CONN_KMSG_LOST, 0);
  const dropped = u32(ld32(c + A.CONN_DROPPED) + lost);
  if (dropped != 0) {
    st64(cmd + A.RECV_DROPPED_MSGS, dropped, 0);
    st64(cmd + A.CMD_RETURN_FLAGS, A.RECV_RETURN_DROPPED_MSGS, 0);
    if (ld32(c + A.CONN_DROPPED) != 0) wr32(c + A.CONN_DROPPED, 0);
  }
}

function recvLocked(c: u32, cmd: u32, flags: u32): i32 {
  if ((flags & A.RECV_REPLY) != 0) {
    // a call's reply (cookie 0: of any call), wherever it is queued (REPLY_FIRST: only with no
    // message before it); the dropped count stays for the next RECV
    const lo = ld32(cmd + A.RECV_PRIORITY), hi = ld32(cmd + A.RECV_PRIORITY + 4);
    const r = queueFindReply(c, lo, hi);
    if (r != 0 && queuePrev != 0 && (flags & A.RECV_REPLY_FIRST) != 0) {
      st64(cmd + A.CMD_RETURN_FLAGS, A.RECV_RETURN_BEHIND, 0);
      return fail(A.EAGAIN, A.R_RECV_NO_REPLY);
    }
    if (r == 0) {
      // none queued: and no record of that call either, with no reservation into this pool
      // in flight (a reply's takes its call's record before its commit queues it)? Then its
      // end was dropped for lack of room (REPLY_DEAD, REPLY_TIMEOUT): nothing will come
      if ((lo | hi) != 0 && ld32(c + A.CONN_N_RESV) == asideCount(c) && !replyHasCall(c, lo, hi)) st64(cmd + A.CMD_RETURN_FLAGS, A.RECV_RETURN_NO_CALL, 0);
      return fail(A.EAGAIN, A.R_RECV_NO_REPLY);
    }
    recvDequeue(c, r, queuePrev);
    poolPublish(c, r);
    st64(cmd + A.RECV_MSG_OFFSET, poolOffset(c, r), 0);
    st64(cmd + A.RECV_MSG_SIZE, ld32(r + A.BLOCK_HDR + A.MSG_SIZE), 0);
    return 0;
  }
  recvDropped(c, cmd);
  const b = queuePeek(c, (flags & A.RECV_USE_PRIORITY) != 0, ld32(cmd + A.RECV_PRIORITY), ldi32(cmd + A.RECV_PRIORITY + 4));
  if (b == 0) return fail(A.EAGAIN, A.R_RECV_EMPTY);
  if ((flags & A.RECV_DROP) != 0) {
    recvDequeue(c, b, queuePrev);
    replyDropped(c, b + A.BLOCK_HDR);
    if ((ld32(b + A.BLOCK_STATE) & A.BLOCK_USER) == 0) poolFree(c, b);
    return 0;
  }
  if ((flags & A.RECV_PEEK) == 0) recvDequeue(c, b, queuePrev);
  poolPublish(c, b);
  st64(cmd + A.RECV_MSG_OFFSET, poolOffset(c, b), 0);
  st64(cmd + A.RECV_MSG_SIZE, ld32(b + A.BLOCK_HDR + A.MSG_SIZE), 0);
  return 0;
}

/** FREE: give a published slice back; an offset that is not one -> -ENXIO. */
export function free(slot: u32, gen: u32): i32 {
  const ci = itemlessCmdStart(slot, A.FREE_CMD_SIZE, 0);
  if (ci < 0) return ci;
  const c = u32(ci);
  const cmd = threadCmd();
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  if (!lockTry(c + A.CONN_LOCK)) return A.WOULDBLOCK;
  const live = connLive(c, gen);
  if (live) unfreedFree(c); // (its own staging slices left to free: aside.ts)
  else asideOnClosed(c);
  const ret = live ? freeLocked(c, cmd) : fail(A.ECONNRESET, A.R_CONN_CLOSED);
  logCommit();
  unlock(c + A.CONN_LOCK);
  return ret;
}

function freeLocked(c: u32, cmd: u32): i32 {
  if (ld32(cmd + A.FREE_OFFSET + 4) != 0) return fail(A.ENXIO, A.R_FREE_OFFSET);
  return freeSlice(c, ld32(cmd + A.FREE_OFFSET));
}

/** FREE of the slice at pool offset `off` (the lock held): 0, or -ENXIO when it is not a published slice. */
export function freeSlice(c: u32, off: u32): i32 {
  if (off == ld32(c + A.CONN_POOL_SIZE)) return 0; // the empty slice
  if ((off & 7) != 0 || off < u32(A.BLOCK_HDR) || off > ld32(c + A.CONN_POOL_SIZE)) return fail(A.ENXIO, A.R_FREE_OFFSET);
  const b = poolUnpublish(c, off);
  if (b == 0) return fail(A.ENXIO, A.R_FREE_OFFSET);
  if ((ld32(b + A.BLOCK_STATE) & A.BLOCK_KERNEL) == 0) poolFree(c, b);
  return 0;
}
