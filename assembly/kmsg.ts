// kmsg: a kernel message (a message from the bus itself) queued to one connection: src_id
// 0, payload_type PAYLOAD_KERNEL, cookie_reply, one item of the given type and payload,
// and a TIMESTAMP item when the receiver's attach_recv asks for it. Used by bus
// notifications (notify.ts) and by the replies issue (REPLY_TIMEOUT, REPLY_DEAD).
//
// Slice: 0 kdbus_msg header (dst_id = d, src_id 0) | 64 the item | TIMESTAMP item
import * as A from "../js/shared/abi";
import { ld32, st32, st64, copy, fill, aAdd, THREAD } from "./mem";
import { wr32 } from "./journal";
import { clock_time_get } from "./host";
import { align8 } from "./items";
import { sliceReserve, sliceBlock, slicePublish } from "./slice";

const H: u32 = A.BUS_BASE;

/**
 * Queue a kernel message to connection `d` (its lock held, d ACTIVE): 0, or -1 when it did not
 * fit (quota of the kernel's pseudo-user UID_KERNEL, or the pool) and was dropped and
 * counted in d's CONN_DROPPED (reported by its next RECV as DROPPED_MSGS). The caller commits
 * the journal and unlocks. A failure's report does not overwrite the thread's reason words.
 */
export function kmsgSend(d: u32, itemType: u32, payload: u32, payloadSize: u32,
  cookieReplyLo: u32, cookieReplyHi: u32): i32 {
  const t = THREAD;
  const ts = (ld32(d + A.CONN_ATTACH_RECV) & A.ATTACH_TIMESTAMP) != 0;
  const itemSize = A.ITEM_HDR + payloadSize;
  const msgSize = A.MSG_HDR + align8(itemSize) + (ts ? A.TIMESTAMP_ITEM_SIZE : 0);
  const reason = ld32(t + A.THREAD_REASON), arg = ld32(t + A.THREAD_REASON_ARG);
  if (sliceReserve(d, u32(A.UID_KERNEL), A.BLOCK_HDR + msgSize) < 0) {
    st32(t + A.THREAD_REASON, reason); // the thread's own words: plain stores (reason.ts)
    st32(t + A.THREAD_REASON_ARG, arg);
    wr32(d + A.CONN_DROPPED, ld32(d + A.CONN_DROPPED) + 1);
    return -1;
  }
  const m = sliceBlock + A.BLOCK_HDR;
  // the header: from the bus (src 0), to d, kernel payload
  st64(m + A.MSG_SIZE, msgSize, 0);
  st64(m + A.MSG_FLAGS, 0, 0);
  st64(m + A.MSG_PRIORITY, 0, 0);
  copy(m + A.MSG_DST_ID, d + A.CONN_ID, 8);
  st64(m + A.MSG_SRC_ID, 0, 0);
  st64(m + A.MSG_PAYLOAD_TYPE, A.PAYLOAD_KERNEL, 0);
  st64(m + A.MSG_COOKIE, 0, 0);
  st64(m + A.MSG_TIMEOUT, cookieReplyLo, cookieReplyHi);
  // the item
  let w = m + A.MSG_HDR;
  st64(w + A.ITEM_SIZE, itemSize, 0);
  st64(w + A.ITEM_TYPE, itemType, 0);
  copy(w + A.ITEM_HDR, payload, payloadSize);
  fill(w + itemSize, 0, align8(itemSize) - itemSize);
  w += align8(itemSize);
  // TIMESTAMP: the bus's sequence number, the clocks
  if (ts) {
    st64(w + A.ITEM_SIZE, A.TIMESTAMP_ITEM_SIZE, 0);
    st64(w + A.ITEM_TYPE, A.ITEM_TIMESTAMP, 0);
    const seqLo = u32(aAdd(H + A.BUS_SEQNUM, 1) + 1);
    if (seqLo == 0) aAdd(H + A.BUS_SEQNUM + 4, 1);
    st64(w + A.ITEM_HDR, seqLo, ld32(H + A.BUS_SEQNUM + 4));
    if (clock_time_get(1, 0, w + A.ITEM_HDR + 8) != 0) st64(w + A.ITEM_HDR + 8, 0, 0);
    if (clock_time_get(0, 0, w + A.ITEM_HDR + 16) != 0) st64(w + A.ITEM_HDR + 16, 0, 0);
  }
  slicePublish(d, sliceBlock);
  return 0;
}
