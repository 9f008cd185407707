// quota: the kdbus receive quota. Half of a pool is reserved for its owner; each sending
// user may hold a third of what is left (its own bytes counted as free), and at most
// max_queued_per_user queued messages (the bus header's BUS_MAX_QUEUED, set at BUS_MAKE,
// default MAX_QUEUED_PER_USER). Only queued, not yet received messages count. Every release
// bumps the receiver's space word (CONN_SPACE), where a sender waiting for room sleeps.
import * as A from "../js/shared/abi";
import { ld32 } from "./mem";
import { wake } from "./lock";
import { wr32 } from "./journal";
import { failArg } from "./reason";

/** -ENOBUFS (R_SEND_NEVER_FITS) when `bytes` exceed what any one user may ever hold in receiver `c` (its share of an empty pool), else 0. */
export function quotaNeverFits(c: u32, bytes: u32): i32 {
  const share = u32((ld32(c + A.CONN_POOL_SIZE) >>> 1) / 3);
  return bytes > share ? failArg(A.ENOBUFS, A.R_SEND_NEVER_FITS, share) : 0;
}

/**
 * Charge `bytes` to `uid` in receiver `c`; returns the quota entry index or -ENOBUFS.
 * `counted`: the message count limit applies (false for a broadcast's staging slice in its
 * sender's own pool, which is no message queued there: stage.ts).
 */
export function quotaCharge(c: u32, uid: u32, bytes: u32, counted: bool = true): i32 {
  const half = ld32(c + A.CONN_POOL_SIZE) >>> 1;
  const accounted = ld32(c + A.CONN_ACCOUNTED);
  // the most any one user may ever hold (an empty receiver): a larger message never fits
  const never = quotaNeverFits(c, bytes);
  if (never < 0) return never;
  if (half < accounted) return failArg(A.ENOBUFS, A.R_SEND_QUOTA_BYTES, 0);
  // the entry of this uid, else the first unused one; stop once every used entry was seen
  const nUsers = ld32(c + A.CONN_N_USERS);
  let idx = -1, spare = -1, seen: u32 = 0;
  for (let i = 0; i < A.QUOTA_USERS; i++) {
    const q = c + A.CONN_QUOTA + i * A.QUOTA_SIZE;
    if (ld32(q + A.QUOTA_USED) != 0) {
      if (ld32(q + A.QUOTA_UID) == uid) { idx = i; break; }
      seen++;
    } else if (spare < 0) spare = i;
    if (seen == nUsers && spare >= 0) break;
  }
  if (idx < 0) {
    if (spare < 0) return failArg(A.ENOBUFS, A.R_SEND_QUOTA_USERS, A.QUOTA_USERS);
    idx = spare;
  }
  const q = c + A.CONN_QUOTA + idx * A.QUOTA_SIZE;
  const own = ld32(q + A.QUOTA_USED) != 0 ? ld32(q + A.QUOTA_BYTES) : 0;
  const msgs = ld32(q + A.QUOTA_USED) != 0 ? ld32(q + A.QUOTA_MSGS) : 0;
  const avail = u32((half - accounted + own) / 3);
  const maxMsgs = ld32(A.BUS_BASE + A.BUS_MAX_QUEUED);
  // the bytes first (as kdbus's kdbus_conn_quota_inc checked them), then the count: a sender
  // short of both is told QUOTA_BYTES, which the host's line of waiting senders does not let
  // other users pass (their bytes would shrink its share); told QUOTA_MSGS, it was passed and
  // starved (before stop 48: an outside audit)
  if (avail < own || avail - own < bytes) return failArg(A.ENOBUFS, A.R_SEND_QUOTA_BYTES, avail);
  if (counted && msgs >= maxMsgs) return failArg(A.ENOBUFS, A.R_SEND_QUOTA_MSGS, maxMsgs);
  if (ld32(q + A.QUOTA_USED) == 0) {
    wr32(q + A.QUOTA_USED, 1);
    wr32(q + A.QUOTA_UID, uid);
    wr32(c + A.CONN_N_USERS, ld32(c + A.CONN_N_USERS) + 1);
  }
  wr32(q + A.QUOTA_BYTES, own + bytes);
  wr32(q + A.QUOTA_MSGS, msgs + 1);
  wr32(c + A.CONN_ACCOUNTED, accounted + bytes);
  return idx;
}

/** Give back what quotaCharge took: room for senders waiting for it (their space word bumped). */
export function quotaRelease(c: u32, idx: u32, bytes: u32): void {
  quotaUncharge(c, idx, bytes);
  wake(c + A.CONN_SPACE, c + A.CONN_SPACE_SLEEPERS); // room for senders waiting (backpressure)
}

/**
 * Undo a quotaCharge made under the same hold of `c`'s lock (its block could not be
 * allocated): nobody saw the charge, so nobody gains room and the space word stays. (Bumping
 * it there woke the failed sender's own sendAsync at once, every time: a busy loop while
 * the pool was full.)
 */
export function quotaUncharge(c: u32, idx: u32, bytes: u32): void {
  const q = c + A.CONN_QUOTA + idx * A.QUOTA_SIZE;
  const msgs = ld32(q + A.QUOTA_MSGS) - 1;
  wr32(q + A.QUOTA_BYTES, ld32(q + A.QUOTA_BYTES) - bytes);
  wr32(q + A.QUOTA_MSGS, msgs);
  wr32(c + A.CONN_ACCOUNTED, ld32(c + A.CONN_ACCOUNTED) - bytes);
  if (msgs == 0) {
    wr32(q + A.QUOTA_USED, 0);
    wr32(q + A.QUOTA_UID, 0);
    wr32(c + A.CONN_N_USERS, ld32(c + A.CONN_N_USERS) - 1);
  }
}
