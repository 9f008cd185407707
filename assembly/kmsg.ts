// kmsg: messages from the bus itself (src_id 0, payload type PAYLOAD_KERNEL): one item of
// the given type (REPLY_TIMEOUT / REPLY_DEAD with an empty payload, from reply.ts; ID_* and
// NAME_* notifications, from notify.ts), plus TIMESTAMP when the receiver's receive mask
// asks for it (a notification's taken once for all its receivers).
//
// Slice: 0 kdbus_msg header (dst_id = d, or ~0 for a notification; src_id 0, cookie_reply) | 64 the item | TIMESTAMP Charged to the pseudo-user UID_KERNEL in the receiver's quota;
// a receiver without room does not get it: its dropped count goes up, and its next RECV
// reports DROPPED_MSGS.
import * as A from "../js/shared/abi";
import { ld32, st32, st64, copy, fill, THREAD } from "./mem";
import { wr32 } from "./journal";
import { align8 } from "./items";
import { metaCollect, metaWrite } from "./meta";
import { sliceReserve, sliceBlock, slicePublish } from "./slice";
import { wakeOnUnlock } from "./lock";

/**
 * Queue a bus message with one item `itemType` (`payloadSize` bytes from `payload`, which
 * may be 0/0) and cookie_reply (lo, hi) to connection `d` (its lock held, it is ACTIVE).
 * `stamp`: the 24-byte TIMESTAMP payload to attach (a notification's, taken once for all its
 * receivers: notify.ts), or 0: collected here, for this receiver alone (REPLY_TIMEOUT,
 * REPLY_DEAD). Returns 0, or -ENOBUFS / -EXFULL when it was dropped (and counted in d's
 * CONN_DROPPED). A drop does not overwrite the calling thread's reason words (its command did not fail).
 */
export function kmsgSend(d: u32, itemType: u32, payload: u32, payloadSize: u32, cookieReplyLo: u32, cookieReplyHi: u32, stamp: u32 = 0, precision: u32 = 0): i32 {
  const mask = ld32(d + A.CONN_ATTACH_RECV) & A.ATTACH_TIMESTAMP;
  const itemSize = A.ITEM_HDR + payloadSize;
  let size: u32 = A.MSG_HDR + align8(itemSize);
  if (mask != 0) size += A.TIMESTAMP_ITEM_SIZE;
  const t = THREAD;
  const reason = ld32(t + A.THREAD_REASON), arg = ld32(t + A.THREAD_REASON_ARG);
  const r = sliceReserve(d, u32(A.UID_KERNEL), A.BLOCK_HDR + size);
  if (r < 0) {
    st32(t + A.THREAD_REASON, reason); // the thread's own words: plain stores (reason.ts)
    st32(t + A.THREAD_REASON_ARG, arg);
    wr32(d + A.CONN_DROPPED, ld32(d + A.CONN_DROPPED) + 1);
    // a call's end dropped: its caller's wait looks again (RECV_REPLY then says the call is
    // gone, RECV_RETURN_NO_CALL) instead of sleeping until the call's deadline (d's lock held)
    if (itemType == A.ITEM_REPLY_DEAD || itemType == A.ITEM_REPLY_TIMEOUT) wakeOnUnlock(d);
    return r;
  }
  const b = sliceBlock;
  const m = b + A.BLOCK_HDR;
  st64(m + A.MSG_SIZE, size, 0);
  st64(m + A.MSG_FLAGS, 0, 0);
  st64(m + A.MSG_PRIORITY, 0, 0);
  // a notification (the one caller with a shared stamp) is a broadcast: dst_id ~0 for every
  // receiver, monitors included, as kdbus staged it; REPLY_TIMEOUT / REPLY_DEAD go to the
  // caller, dst_id its id (before stop 42 a notification said its receiver's id: an outside audit)
  if (stamp != 0) st64(m + A.MSG_DST_ID, 0xffffffff, 0xffffffff);
  else copy(m + A.MSG_DST_ID, d + A.CONN_ID, 8);
  st64(m + A.MSG_SRC_ID, 0, 0);
  st64(m + A.MSG_PAYLOAD_TYPE, A.PAYLOAD_KERNEL, 0);
  st64(m + A.MSG_COOKIE, 0, 0);
  st64(m + A.MSG_TIMEOUT, cookieReplyLo, cookieReplyHi);
  const w = m + A.MSG_HDR;
  st64(w + A.ITEM_SIZE, itemSize, 0);
  st64(w + A.ITEM_TYPE, itemType, 0);
  if (payloadSize != 0) copy(w + A.ITEM_HDR, payload, payloadSize);
  fill(w + itemSize, 0, align8(itemSize) - itemSize);
  if (mask != 0 && stamp != 0) {
    const ts = w + align8(itemSize);
    st64(ts + A.ITEM_SIZE, A.TIMESTAMP_ITEM_SIZE, 0);
    st64(ts + A.ITEM_TYPE, A.ITEM_TIMESTAMP, 0);
    copy(ts + A.ITEM_HDR, stamp, 24);
  } else if (mask != 0) {
    metaCollect(THREAD, mask, precision); // TIMESTAMP only: no sender connection (c = 0) is needed
    metaWrite(w + align8(itemSize), THREAD, 0, mask);
  }
  slicePublish(d, b);
  return 0;
}
