// activator: the messages a name's activator holds for it. An activator (HELLO_ACTIVATOR with
// one NAME item) is the name's primary owner while no real owner is (registry.ts keeps its
// owner record last in the name's queue); SEND by name queues there. When a connection takes
// the name, the queued messages whose DST_NAME is that name move to it; when the last real
// owner gives the name back, those still queued in its pool move back (KDBUS.md).
//
// A SEND by name whose name changes owner between its look-up and its queueing follows the
// name, so that such a move does not leave it behind (name-follow.ts).
//
// Locks: the bus lock, then both connections' locks (tried: a command never waits holding a
// lock, so holding two connection locks cannot deadlock; only commands that hold the bus lock
// ever hold two). A move is committed one message at a time (the journal holds one message's
// stores at most), after the registry change that caused it was committed: a thread that dies
// mid-move leaves every message in exactly one of the two pools.
import * as A from "../js/shared/abi";
import { ld32, ld8, copy } from "./mem";
import { wr32, logCommit } from "./journal";
import { poolFree } from "./pool";
import { quotaRelease } from "./quota";
import { queueUnlink } from "./queue";
import { sliceReserve, sliceBlock, slicePublish } from "./slice";
import { replyMoved } from "./reply";

/** Is the message of block `b` addressed by name to the name at `s` (`len` bytes)? (its DST_NAME is its first item) */
function sentToName(b: u32, s: u32, len: u32): bool {
  const m = b + A.BLOCK_HDR;
  const end = m + ld32(m + A.MSG_SIZE);
  const it = m + A.MSG_HDR;
  if (it + A.ITEM_HDR > end || ld32(it + A.ITEM_TYPE) != A.ITEM_DST_NAME) return false;
  if (ld32(it + A.ITEM_SIZE) != A.ITEM_HDR + len + 1) return false;
  for (let i: u32 = 0; i < len; i++) if (ld8(it + A.ITEM_HDR + i) != ld8(s + i)) return false;
  return true;
}

/** How many messages queued in `src` were sent to the name at `s` (`len` bytes)? (its lock held) */
export function activatorCount(src: u32, s: u32, len: u32): u32 {
  let n: u32 = 0;
  for (let b = ld32(src + A.CONN_Q_HEAD); b != 0; b = ld32(b + A.BLOCK_NEXT)) if (sentToName(b, s, len)) n++;
  return n;
}

/**
 * Move the messages queued in `src` that were sent to the name at `s` (`len` bytes) into
 * `dst`'s pool, in order (bus lock and both connection locks held; the caller's changes
 * committed). A message that finds no room in `dst` (its quota, its pool) is dropped, counted
 * in dst's dropped count (its next RECV reports DROPPED_MSGS). Each message moved is
 * committed on its own. Returns how many moved.
 */
export function activatorMove(src: u32, dst: u32, s: u32, len: u32): u32 {
  let moved: u32 = 0, prev: u32 = 0;
  for (let b = ld32(src + A.CONN_Q_HEAD); b != 0;) {
    const next = ld32(b + A.BLOCK_NEXT);
    if (!sentToName(b, s, len)) {
      prev = b;
      b = next;
      continue;
    }
    const q = ld32(b + A.BLOCK_QUSER), acct = ld32(b + A.BLOCK_ACCT);
    const uid = ld32(src + A.CONN_QUOTA + q * A.QUOTA_SIZE + A.QUOTA_UID);
    const m = b + A.BLOCK_HDR;
    if (sliceReserve(dst, uid, acct) < 0) {
      wr32(dst + A.CONN_DROPPED, ld32(dst + A.CONN_DROPPED) + 1);
    } else {
      const nb = sliceBlock;
      copy(nb + A.BLOCK_HDR, m, acct - A.BLOCK_HDR); // the slice is position-independent (offsets from its start)
      copy(nb + A.BLOCK_HDR + A.MSG_DST_ID, dst + A.CONN_ID, 8);
      replyMoved(src, dst, m);
      slicePublish(dst, nb);
      moved++;
    }
    queueUnlink(src, b, prev);
    quotaRelease(src, q, acct);
    wr32(b + A.BLOCK_STATE, u32(ld32(b + A.BLOCK_STATE) & ~A.BLOCK_KERNEL));
    if ((ld32(b + A.BLOCK_STATE) & A.BLOCK_USER) == 0) poolFree(src, b); // a PEEKed one stays until FREE
    logCommit();
    b = next; // prev stays: b left the queue
  }
  return moved;
}
