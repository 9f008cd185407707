// meta: the metadata a message carries: what the sender lets receivers see (attach_send)
// and the receiver wants (attach_recv), of what the core can attach today
// (ATTACH_IMPLEMENTED). Collected once per message into the sending thread's scratch, before
// any lock is taken; written into the slice as items by metaWrite. The metadata issue adds
// the other items (PIDS, NAMES, COMM, ...) here.
import * as A from "../js/shared/abi";
import { st64, copy, fill, aAdd, ld32 } from "./mem";
import { clock_time_get, creds_get } from "./host";

const H: u32 = A.BUS_BASE;
// the message's metadata in the thread's scratch
const META_CREDS: u32 = 0; // 8 x u64
const META_SEQ: u32 = 64; // TIMESTAMP payload: seqnum, monotonic, realtime
const META_MONO: u32 = 72;
const META_REAL: u32 = 80;

/** The items a message from `c` to `d` carries (the receiver's mask is read unlocked: a change applies from the next message on). */
export function metaMask(c: u32, d: u32): u32 {
  return ld32(c + A.CONN_ATTACH_SEND) & ld32(d + A.CONN_ATTACH_RECV) & A.ATTACH_IMPLEMENTED;
}

/** Take the message's sequence number and collect the items of `mask` into thread `t`'s scratch. */
export function metaCollect(t: u32, mask: u32): void {
  const meta = t + A.THREAD_SCRATCH;
  const seqLo = u32(aAdd(H + A.BUS_SEQNUM, 1) + 1);
  if (seqLo == 0) aAdd(H + A.BUS_SEQNUM + 4, 1);
  st64(meta + META_SEQ, seqLo, ld32(H + A.BUS_SEQNUM + 4));
  if ((mask & A.ATTACH_TIMESTAMP) != 0) {
    if (clock_time_get(1, 0, meta + META_MONO) != 0) st64(meta + META_MONO, 0, 0);
    if (clock_time_get(0, 0, meta + META_REAL) != 0) st64(meta + META_REAL, 0, 0);
  }
  if ((mask & A.ATTACH_CREDS) != 0) {
    if (creds_get(meta + META_CREDS) != 0) fill(meta + META_CREDS, 0xff, A.CREDS_SIZE);
  }
}

/** Bytes of the metadata items of `mask`. */
export function metaSize(mask: u32): u32 {
  let n: u32 = 0;
  if ((mask & A.ATTACH_TIMESTAMP) != 0) n += A.TIMESTAMP_ITEM_SIZE;
  if ((mask & A.ATTACH_CREDS) != 0) n += A.CREDS_ITEM_SIZE;
  return n;
}

/** Write the metadata items collected in thread `t`'s scratch at `w`; returns the end. */
export function metaWrite(w: u32, t: u32, mask: u32): u32 {
  const meta = t + A.THREAD_SCRATCH;
  if ((mask & A.ATTACH_TIMESTAMP) != 0) {
    st64(w + A.ITEM_SIZE, A.TIMESTAMP_ITEM_SIZE, 0);
    st64(w + A.ITEM_TYPE, A.ITEM_TIMESTAMP, 0);
    copy(w + A.ITEM_HDR, meta + META_SEQ, 24);
    w += A.TIMESTAMP_ITEM_SIZE;
  }
  if ((mask & A.ATTACH_CREDS) != 0) {
    st64(w + A.ITEM_SIZE, A.CREDS_ITEM_SIZE, 0);
    st64(w + A.ITEM_TYPE, A.ITEM_CREDS, 0);
    copy(w + A.ITEM_HDR, meta + META_CREDS, A.CREDS_SIZE);
    w += A.CREDS_ITEM_SIZE;
  }
  return w;
}
