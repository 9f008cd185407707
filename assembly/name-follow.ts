// name-follow: a send by name whose name changes owner between its look-up and its queueing
// follows the name. SEND looks the name up under the bus lock and gives the lock back before
// it takes the receiver's (DIFFERENCES.md, "SEND by name"); a NAME_ACQUIRE, NAME_RELEASE or
// close in between moves the messages queued for the name between an activator and a real
// owner (activator.ts), and a message queued after that move stayed behind, out of order for
// good, or went with a closing owner's pool (two outside audits, stop 46).
//
// BUS_NAME_SEQ moves with every change of a name's primary owner (name-change.ts, nameLeft),
// under the bus lock and before the change's move, which holds both owners' locks. So:
// - a SEND that holds the receiver's lock and finds the word moved since its look-up looks
//   the name up again (ROUTE_AGAIN, at most NAME_ROUTE_TRIES look-ups); one that finds it
//   unmoved queues its message before any later change can move the receiver's queue, and the
//   move takes it along;
// - a SEND whose slice is reserved (host vecs) notes the word of its look-up in its block
//   (BLOCK_PUB_PREV: unused until the block is published); its send_commit, finding the word
//   moved, takes the bus lock and delivers to the name's primary owner then (nameFollowTo,
//   nameMoveReserved), as a move would have; one that finds no room there stays where it was
//   reserved, unless that is the name's activator, whose queue the acquire moved (then it is
//   dropped and counted, as the acquire dropped those of the queue that found no room: left
//   there, it waited for the name's next acquire, behind everything sent since; an outside
//   audit, stop 48). A call whose receiver closed meanwhile stays where it was: its caller was
//   told REPLY_DEAD by that close.
import * as A from "../js/shared/abi";
import { ld32, aLoad } from "./mem";
import { wr32 } from "./journal";
import { sliceReserve, sliceBlock, slicePublish, sliceRelease, sliceFollowSize, sliceFollowWrite } from "./slice";
import { align8 } from "./items";
import { replyMoved } from "./reply";
import { nameLookup, namePrimary, ownerConn } from "./registry";
import { routeLive } from "./route";
import { unlock, wakeOnUnlock } from "./lock";
import { fail } from "./reason";

const H: u32 = A.BUS_BASE;

/** BUS_NAME_SEQ now (an atomic load: it moves under the bus lock, read without it). */
export function nameSeq(): u32 {
  return aLoad(H + A.BUS_NAME_SEQ);
}

/**
 * Receiver `d`, its lock just taken by a unicast SEND (or SEND_BATCH) routed to id (dstLo,
 * dstHi): 0 when it is still that receiver and, by name (`check`), the name has not changed
 * owner since the look-up's `seq`; else its lock is given back and the answer is ROUTE_AGAIN
 * (look the name up again: it changed owner, or its owner closed and passed it on) or -ENXIO.
 */
export function routeHeld(d: u32, dstLo: u32, dstHi: u32, check: bool, seq: u32): i32 {
  const moved = check && nameSeq() != seq;
  if (routeLive(d, dstLo, dstHi) && !moved) return 0;
  unlock(d + A.CONN_LOCK);
  return moved ? A.ROUTE_AGAIN : fail(A.ENXIO, A.R_SEND_NO_RECEIVER);
}

/** The DST_NAME item of the message in block `b` when it was sent by name (its first item), else 0. */
export function sentNameItem(b: u32): u32 {
  const m = b + A.BLOCK_HDR;
  const it = m + A.MSG_HDR;
  if (it + A.ITEM_HDR > m + ld32(m + A.MSG_SIZE) || ld32(it + A.ITEM_TYPE) != A.ITEM_DST_NAME) return 0;
  return it;
}

/**
 * Where a reserved message sent by name (its DST_NAME item at `it`, reserved in `d`; `same`:
 * d is still the connection it was reserved in) goes at its commit, the name having changed
 * owner since its look-up (bus lock held): the name's primary owner now, or 0 to stay in d
 * (d owns it still, or nobody does: where the look-up sent it; or a call whose receiver
 * closed, whose caller that close told REPLY_DEAD).
 */
export function nameFollowTo(d: u32, same: bool, it: u32): u32 {
  if (!same && (ld32(it - A.MSG_HDR + A.MSG_FLAGS) & A.MSG_EXPECT_REPLY) != 0) return 0;
  const e = nameLookup(it + A.ITEM_HDR, ld32(it + A.ITEM_SIZE) - A.ITEM_HDR - 1);
  if (e == 0) return 0;
  const o = namePrimary(e);
  if (o == 0) return 0;
  const to = ownerConn(o);
  return to == d ? 0 : to;
}

/**
 * Whether a reserved message that finds no room in the name's owner stays in `d`, where it
 * was reserved: when d is open (`same`) and not an activator (an activator's messages for
 * the name went to the owner at the acquire, those without room dropped: activatorMove).
 */
export function staysOnNoRoom(d: u32, same: bool): bool {
  return same && (ld32(d + A.CONN_FLAGS) & A.HELLO_ACTIVATOR) == 0;
}

/**
 * Deliver thread `t`'s reserved message (in `d`, `same` as above) to `to` instead (both locks
 * held, and the bus lock): a copy of its slice, addressed to `to` (a call's record names `to`
 * as its replier), and the reservation in `d` ends as a cancel's would, without a reply's
 * REPLY_DEAD. Returns the block queued in `to`; 0 when `to` has no room (its quota, its pool):
 * then, when it stays (staysOnNoRoom: d open and no activator), nothing changed (the caller
 * publishes the message in `d`, where it was reserved: not dropped, as an outside audit found
 * it was at first); else (d closed, or d the activator) the message is dropped, counted in
 * `to`'s dropped count, as a move from an activator drops it, and its reservation ends.
 */
export function nameMoveReserved(t: u32, d: u32, to: u32, same: bool): u32 {
  const b = ld32(t + A.THREAD_OP_BLOCK), m = b + A.BLOCK_HDR;
  const acct = ld32(b + A.BLOCK_ACCT);
  // (the sender's uid from d's quota row, kept by a close: the reservation holds the slot)
  const uid = ld32(d + A.CONN_QUOTA + ld32(b + A.BLOCK_QUSER) * A.QUOTA_SIZE + A.QUOTA_UID);
  // the copy carries the metadata items `to` asks for, of those collected for d (before stop
  // 55 it carried d's: a receiver got items it had not asked for, and missed some it had, an
  // outside audit); the slice is position-independent (offsets from its start)
  const recv = ld32(to + A.CONN_ATTACH_RECV);
  const size = sliceFollowSize(m, recv), stored = acct - A.BLOCK_HDR - align8(ld32(m + A.MSG_SIZE));
  let nb: u32 = 0;
  if (sliceReserve(to, uid, A.BLOCK_HDR + align8(size) + stored) < 0) {
    if (staysOnNoRoom(d, same)) return 0;
    wr32(to + A.CONN_DROPPED, ld32(to + A.CONN_DROPPED) + 1);
  } else {
    nb = sliceBlock;
    sliceFollowWrite(nb + A.BLOCK_HDR, m, recv, size, to, stored);
    if (same) replyMoved(d, to, m);
    // d's waits look again, as after a cancel (send.ts, sendFinish): a call's end dropped
    // while this reservation was in flight is told by their next look. (Before `to`'s wake:
    // one wake waits for its unlock, and `to`'s is a delivery.)
    if (same) wakeOnUnlock(d);
    slicePublish(to, nb);
  }
  const resv = ld32(d + A.CONN_N_RESV) - 1;
  wr32(d + A.CONN_N_RESV, resv);
  if (!same) {
    if (resv == 0 && ld32(d + A.CONN_STATE) == A.CONN_CLOSING) wr32(d + A.CONN_STATE, A.CONN_FREE_SLOT);
  } else sliceRelease(d, b);
  wr32(t + A.THREAD_OP, A.OP_NONE);
  return nb;
}
