// slice: a message's slice in the receiver's pool: its size, its reservation (quota and
// pool block), its bytes laid out as a kdbus message, and its publication.
//
// Slice layout (offsets from the message start):
//   0   struct kdbus_msg header (64 bytes); dst_id = receiver, src_id = sender
//   64  DST_NAME item (if sent)                   ┐
//       PAYLOAD_OFF item per VEC, in order          │ msg.size covers the header
//       BLOOM_FILTER item (signals)                 │ and these items
//       metadata items (TIMESTAMP, CREDS, ...)     ┘ in attach-bit order (meta.ts)
//   ALIGN8(msg.size)  payload bytes of each non-padding VEC, each 8-byte aligned
import * as A from "../js/shared/abi";
import { ld32, ldi32, st32, st64, copy, fill } from "./mem";
import { wr32, logCommit } from "./journal";
import { wakeOnUnlock } from "./lock";
import { align8 } from "./items";
import { poolAlloc, poolFree } from "./pool";
import { quotaCharge, quotaUncharge, quotaRelease } from "./quota";
import { queueAppend } from "./queue";
import { metaSize, metaWrite } from "./meta";
import { failArg } from "./reason";

/** the block sliceReserve reserved (set by it, read by its caller in the same command) */
export let sliceBlock: u32 = 0;

/** msg.size of the slice: header, DST_NAME, one PAYLOAD_OFF per VEC, metadata items (collected by thread `t` for sender `c`). */
export function sliceMsgSize(nVecs: u32, dstNameSize: u32, t: u32, c: u32, mask: u32): u32 {
  let n: u32 = A.MSG_HDR + nVecs * A.VEC_ITEM_SIZE;
  if (dstNameSize != 0) n += align8(dstNameSize);
  return n + metaSize(t, c, mask);
}

/**
 * Charge `need` bytes (block header included) to `uid` in receiver `d` and allocate the
 * block (its lock held): 0 with the block in sliceBlock, or -ENOBUFS / -EXFULL (nothing
 * left changed). The block is RESERVED: nobody sees it until slicePublish.
 */
export function sliceReserve(d: u32, uid: u32, need: u32, counted: bool = true): i32 {
  const q = quotaCharge(d, uid, need, counted);
  if (q < 0) return q;
  const b = poolAlloc(d, need);
  if (b == 0) {
    quotaUncharge(d, q, need);
    logCommit();
    return failArg(A.EXFULL, A.R_SEND_POOL_FULL, need);
  }
  wr32(b + A.BLOCK_STATE, A.BLOCK_USED | A.BLOCK_RESERVED);
  st32(b + A.BLOCK_QUSER, q); // meaningful only while the block is used: not logged
  st32(b + A.BLOCK_ACCT, need);
  sliceBlock = b;
  return 0;
}

/**
 * Lay the message at `msg` (ending at `msgEnd`) out in block `b` of receiver `d`, from
 * sender `c`. Bytes from the shared memory are copied now; a host VEC's address is
 * rewritten to its destination in the slice, where the host copies it before send_commit.
 * Nobody else sees the block before it is queued, so these stores are not logged (undoing
 * the allocation frees the block, whatever it holds).
 */
export function sliceWrite(b: u32, msg: u32, msgEnd: u32, msgSize: u32, d: u32, c: u32,
  dstName: u32, dstNameSize: u32, t: u32, mask: u32): void {
  const m = b + A.BLOCK_HDR;
  let w = sliceHead(m, msg, msgSize, d, c, dstName, dstNameSize);
  // PAYLOAD_OFF per VEC; bytes from the shared memory are copied now, host bytes later
  let data = align8(msgSize);
  for (let p = msg + A.MSG_HDR; p < msgEnd; p += align8(ld32(p + A.ITEM_SIZE))) {
    if (ld32(p + A.ITEM_TYPE) != A.ITEM_PAYLOAD_VEC) continue;
    data = sliceVec(m, w, p, data);
    w += A.VEC_ITEM_SIZE;
  }
  sliceTail(w, msgSize, t, c, mask);
}

/**
 * sliceWrite for one message of a batch (SEND_BATCH): the header and DST_NAME of the message
 * at `msg`, its one PAYLOAD_VEC item at `vec` (bytes in shared memory), the metadata.
 * `msgSize` is sliceMsgSize's for one VEC.
 */
export function sliceWriteOne(b: u32, msg: u32, vec: u32, msgSize: u32, d: u32, c: u32,
  dstName: u32, dstNameSize: u32, t: u32, mask: u32): void {
  const m = b + A.BLOCK_HDR;
  const w = sliceHead(m, msg, msgSize, d, c, dstName, dstNameSize);
  sliceVec(m, w, vec, align8(msgSize));
  sliceTail(w + A.VEC_ITEM_SIZE, msgSize, t, c, mask);
}

/** The message header at `m` (ids and size filled in) and its DST_NAME item; returns where the PAYLOAD_OFF items go. */
function sliceHead(m: u32, msg: u32, msgSize: u32, d: u32, c: u32, dstName: u32, dstNameSize: u32): u32 {
  copy(m, msg, A.MSG_HDR);
  st64(m + A.MSG_SIZE, msgSize, 0);
  copy(m + A.MSG_DST_ID, d + A.CONN_ID, 8);
  copy(m + A.MSG_SRC_ID, c + A.CONN_ID, 8);
  let w = m + A.MSG_HDR;
  if (dstName != 0) {
    copy(w, dstName, dstNameSize);
    fill(w + dstNameSize, 0, align8(dstNameSize) - dstNameSize);
    w += align8(dstNameSize);
  }
  return w;
}

/**
 * The PAYLOAD_OFF item at `w` for the VEC item at `p`, its bytes at slice offset `data`
 * (copied now from shared memory; a host VEC's address rewritten to them); returns the next
 * payload offset.
 */
function sliceVec(m: u32, w: u32, p: u32, data: u32): u32 {
  const vlo = ld32(p + A.VEC_SIZE);
  const alo = ldi32(p + A.VEC_ADDRESS), ahi = ldi32(p + A.VEC_ADDRESS + 4);
  st64(w + A.ITEM_SIZE, A.VEC_ITEM_SIZE, 0);
  st64(w + A.ITEM_TYPE, A.ITEM_PAYLOAD_OFF, 0);
  st64(w + A.VEC_SIZE, vlo, 0);
  if (alo == 0 && ahi == 0) {
    st64(w + A.VEC_ADDRESS, 0xffffffff, 0xffffffff);
    return data;
  }
  st64(w + A.VEC_ADDRESS, data, 0);
  if (alo == A.VEC_HOST_HALF && ahi == A.VEC_HOST_HALF) st64(p + A.VEC_ADDRESS, m + data, 0);
  else copy(m + data, u32(alo), vlo);
  fill(m + data + vlo, 0, align8(vlo) - vlo);
  return data + align8(vlo);
}

/** The metadata items from `w` on, and the padding up to align8(msgSize). */
function sliceTail(w: u32, msgSize: u32, t: u32, c: u32, mask: u32): void {
  w = metaWrite(w, t, c, mask);
  fill(w, 0, align8(msgSize) - msgSize);
}

/** The attach bit of metadata item type `type` (TIMESTAMP … CONN_DESCRIPTION), 0 for any other item. */
function metaBit(type: u32): u32 {
  return type >= u32(A.ITEM_TIMESTAMP) && type <= u32(A.ITEM_CONN_DESCRIPTION) ? u32(1 << (type - A.ITEM_TIMESTAMP)) : 0;
}

/** Does message item `p` stay in a copy for a receiver asking for `recv` (sliceFollowSize)? */
function followKeeps(p: u32, recv: u32): bool {
  const type = ld32(p + A.ITEM_TYPE), bit = metaBit(type);
  if (bit != 0) return (recv & bit) != 0;
  return type != A.ITEM_TRUNCATED || (ld32(p + A.ITEM_HDR) & recv) != 0;
}

/**
 * msg.size of a copy of message `m` (a slice) for another receiver, one asking for the
 * metadata of attach mask `recv`: its items but the metadata items `recv` leaves out (a
 * reserved send by name that follows its name at its commit: name-follow.ts). The items were
 * collected for the receiver of its look-up; those the new one asks for beyond them are not
 * collected there (the bus lock is held): left out.
 */
export function sliceFollowSize(m: u32, recv: u32): u32 {
  const end = m + ld32(m + A.MSG_SIZE);
  let n: u32 = A.MSG_HDR;
  for (let p = m + A.MSG_HDR; p < end; p += align8(ld32(p + A.ITEM_SIZE))) {
    if (ld32(p + A.ITEM_SIZE) < u32(A.ITEM_HDR)) break; // (a slice written over from outside: no endless walk under the locks)
    if (followKeeps(p, recv)) n += align8(ld32(p + A.ITEM_SIZE));
  }
  return n;
}

/**
 * Write that copy at `nm` for receiver `to`: the header (msg.size `size`, dst_id `to`'s), the
 * items kept (a TRUNCATED item's cut bits narrowed to `recv`), the PAYLOAD_OFF offsets moved
 * with the payload, then its `stored` payload bytes.
 */
export function sliceFollowWrite(nm: u32, m: u32, recv: u32, size: u32, to: u32, stored: u32): void {
  const end = m + ld32(m + A.MSG_SIZE);
  const from = align8(ld32(m + A.MSG_SIZE)), at = align8(size);
  copy(nm, m, A.MSG_HDR);
  st64(nm + A.MSG_SIZE, size, 0);
  copy(nm + A.MSG_DST_ID, to + A.CONN_ID, 8);
  let w = nm + A.MSG_HDR;
  for (let p = m + A.MSG_HDR; p < end; p += align8(ld32(p + A.ITEM_SIZE))) {
    if (ld32(p + A.ITEM_SIZE) < u32(A.ITEM_HDR)) break; // (as sliceFollowSize)
    if (!followKeeps(p, recv)) continue;
    const n = align8(ld32(p + A.ITEM_SIZE)), type = ld32(p + A.ITEM_TYPE);
    copy(w, p, n);
    if (type == A.ITEM_TRUNCATED) st64(w + A.ITEM_HDR, ld32(p + A.ITEM_HDR) & recv, 0);
    else if (type == A.ITEM_PAYLOAD_OFF && ld32(p + A.VEC_ADDRESS + 4) != 0xffffffff) {
      st64(w + A.VEC_ADDRESS, ld32(p + A.VEC_ADDRESS) - from + at, 0); // (a padding vector's ~0 kept)
    }
    w += n;
  }
  fill(w, 0, at - (w - nm));
  copy(nm + at, m + from, stored);
}

/** Queue a written slice; its receiver is woken when the lock is released (receiver lock held). */
export function slicePublish(d: u32, b: u32): void {
  wr32(b + A.BLOCK_STATE, A.BLOCK_USED | A.BLOCK_KERNEL);
  queueAppend(d, b);
  wakeOnUnlock(d);
}

/** Undo sliceReserve: give the quota back and free the block (receiver lock held). */
export function sliceRelease(d: u32, b: u32): void {
  quotaRelease(d, ld32(b + A.BLOCK_QUSER), ld32(b + A.BLOCK_ACCT));
  poolFree(d, b);
}
