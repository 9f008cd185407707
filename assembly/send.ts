// send: SEND validation, routing by id, the receiver's slice laid out as a kdbus message,
//
// Slice layout in the receiver's pool (offsets from the message start):
//   0   struct kdbus_msg header (64 bytes); dst_id = receiver, src_id = sender
//   64  DST_NAME item (if sent)                   ┐
//       PAYLOAD_OFF item per VEC, in order          │ msg.size covers the header
//       BLOOM_FILTER item (signals)                 │ and these items
//       metadata items (TIMESTAMP, CREDS, ...)     ┘
//   ALIGN8(msg.size)  payload bytes of each non-padding VEC, each 8-byte aligned
import * as A from "../js/shared/abi";
import { ld32, ldi32, st32, st64, copy, fill, inMemory, sumLe, aAdd, THREAD } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTry, unlock, wake } from "./lock";
import { clock_time_get, creds_get } from "./host";
import { busLayoutEnd, busBloomSize } from "./bus";
import { connGet, connById, cmdCheck } from "./conn";
import { itemSize, itemType, itemString, nameValid, align8 } from "./items";
import { poolAlloc, poolFree } from "./pool";
import { quotaCharge, quotaRelease } from "./quota";
import { queueAppend } from "./queue";
import { threadCmd } from "./thread";

const H: u32 = A.BUS_BASE;
const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;
// the message's metadata, collected into the thread's scratch before locking
const META_CREDS: u32 = 0; // 8 x u64
const META_SEQ: u32 = 64; // TIMESTAMP payload: seqnum, monotonic, realtime
const META_MONO: u32 = 72;
const META_REAL: u32 = 80;

/** A VEC source range is valid in the caller's command area or the user region. */
function vecRangeOk(addr: u32, size: u32, cmd: u32): bool {
  if (addr >= cmd && sumLe(addr, size, cmd + A.CMD_MAX)) return true;
  if (addr < u32(A.RESERVED_END) || !inMemory(addr, size)) return false;
  return sumLe(addr, size, H) || addr >= busLayoutEnd();
}

/** SEND: 0 when delivered, SEND_PENDING when host vecs wait for send_commit, or -errno. */
export function send(slot: u32, gen: u32): i32 {
  const c = connGet(slot, gen);
  if (c < 0) return c;
  const t = THREAD;
  if (ld32(t + A.THREAD_OP) != A.OP_NONE) return -A.EINPROGRESS;
  const cmd = threadCmd();
  let r = cmdCheck(cmd, A.SEND_CMD_SIZE, A.SEND_SYNC_REPLY);
  if (r < 0) return r;
  const cmdEnd = cmd + ld32(cmd + A.CMD_SIZE);
  for (let p = cmd + A.SEND_CMD_SIZE; p < cmdEnd;) {
    const size = itemSize(p, cmdEnd);
    if (size == 0) return -A.EINVAL;
    if (itemType(p) == A.ITEM_CANCEL_FD) return -A.EOPNOTSUPP;
    return -A.EINVAL;
  }
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  st64(cmd + A.SEND_REPLY_OFFSET, 0, 0);
  st64(cmd + A.SEND_REPLY_SIZE, 0, 0);
  st64(cmd + A.SEND_REPLY_RETURN_FLAGS, 0, 0);

  // the message: 8-aligned, inside the caller's command area
  const msg = ld32(cmd + A.SEND_MSG_ADDRESS);
  if (ld32(cmd + A.SEND_MSG_ADDRESS + 4) != 0 || (msg & 7) != 0 || msg < cmd ||
    !sumLe(msg, A.MSG_HDR, cmd + A.CMD_MAX)) return -A.EFAULT;
  const msgSizeLo = ld32(msg + A.MSG_SIZE);
  if (ld32(msg + A.MSG_SIZE + 4) != 0 || msgSizeLo > u32(A.CMD_MAX)) return -A.EMSGSIZE;
  if (msgSizeLo < u32(A.MSG_HDR)) return -A.EINVAL;
  const msgEnd = msg + msgSizeLo;
  if (msgEnd > cmd + A.CMD_MAX) return -A.EFAULT;

  if ((ld32(c + A.CONN_FLAGS) & KINDS) != 0) return -A.EOPNOTSUPP;
  const flags = ld32(msg + A.MSG_FLAGS);
  if (ld32(msg + A.MSG_FLAGS + 4) != 0 || (flags & ~7) != 0) return -A.EINVAL;
  if (ld32(msg + A.MSG_PAYLOAD_TYPE) == 0 && ld32(msg + A.MSG_PAYLOAD_TYPE + 4) == 0) return -A.EINVAL;
  const srcLo = ld32(msg + A.MSG_SRC_ID), srcHi = ld32(msg + A.MSG_SRC_ID + 4);
  if ((srcLo != 0 || srcHi != 0) && (srcLo != ld32(c + A.CONN_ID) || srcHi != ld32(c + A.CONN_ID + 4))) return -A.EINVAL;

  // items
  let nVecs: u32 = 0, hostVecs: u32 = 0, payload: u32 = 0, stored: u32 = 0, oversize = false;
  let bloom: u32 = 0, bloomSize: u32 = 0, dstName: u32 = 0, dstNameSize: u32 = 0, dstNameLen: i32 = 0;
  for (let p = msg + A.MSG_HDR; p < msgEnd;) {
    const size = itemSize(p, msgEnd);
    if (size == 0) return -A.EINVAL;
    const type = itemType(p);
    if (type == A.ITEM_PAYLOAD_VEC) {
      if (size != A.VEC_ITEM_SIZE) return -A.EINVAL;
      const vlo = ld32(p + A.VEC_SIZE), vhi = ld32(p + A.VEC_SIZE + 4);
      if (vlo == 0 && vhi == 0) return -A.EINVAL;
      const alo = ldi32(p + A.VEC_ADDRESS), ahi = ldi32(p + A.VEC_ADDRESS + 4);
      if (vhi != 0 || vlo > u32(A.MAX_PAYLOAD)) oversize = true;
      else if (alo == A.VEC_HOST_HALF && ahi == A.VEC_HOST_HALF) {
        hostVecs++;
        stored += align8(vlo);
      } else if (alo != 0 || ahi != 0) {
        if (ahi != 0 || !vecRangeOk(u32(alo), vlo, cmd)) return -A.EFAULT;
        stored += align8(vlo);
      }
      if (!oversize) payload += vlo;
      nVecs++;
    } else if (type == A.ITEM_BLOOM_FILTER) {
      if (bloom != 0) return -A.EEXIST;
      if (size < u32(A.BLOOM_FILTER_HDR)) return -A.EINVAL;
      if (((size - A.BLOOM_FILTER_HDR) & 7) != 0) return -A.EFAULT;
      bloom = p;
      bloomSize = size - A.BLOOM_FILTER_HDR;
    } else if (type == A.ITEM_DST_NAME) {
      if (dstName != 0) return -A.EEXIST;
      dstNameLen = itemString(p, size);
      if (dstNameLen < 0) return -A.EINVAL;
      dstName = p;
      dstNameSize = size;
    } else if (type == A.ITEM_PAYLOAD_MEMFD || type == A.ITEM_FDS || type == A.ITEM_CANCEL_FD) {
      return -A.EOPNOTSUPP;
    } else return -A.EINVAL;
    p += align8(size);
  }

  // the checks of KDBUS.md, in its order
  const dstLo = ld32(msg + A.MSG_DST_ID), dstHi = ld32(msg + A.MSG_DST_ID + 4);
  const bcast = dstLo == 0xffffffff && dstHi == 0xffffffff;
  const signal = (flags & A.MSG_SIGNAL) != 0, expect = (flags & A.MSG_EXPECT_REPLY) != 0;
  const tmo = ld32(msg + A.MSG_TIMEOUT) != 0 || ld32(msg + A.MSG_TIMEOUT + 4) != 0;
  const reply = !expect && tmo;
  if (bcast && !signal) return -A.EBADMSG;
  if (bcast && (expect || tmo)) return -A.ENOTUNIQ;
  if (bcast && dstName != 0) return -A.EBADMSG;
  if (expect && !tmo) return -A.EINVAL;
  if (expect && signal) return -A.ENOTUNIQ;
  if ((ld32(cmd + A.CMD_FLAGS) & A.SEND_SYNC_REPLY) != 0 && !expect) return -A.EINVAL;
  if (reply && signal) return -A.EINVAL;
  if ((bloom != 0) != signal) return -A.EBADMSG;
  if (bloom != 0 && bloomSize != busBloomSize()) return -A.EDOM;
  if (dstLo == 0 && dstHi == 0 && dstName == 0) return -A.EDESTADDRREQ;
  if (dstName != 0 && !nameValid(dstName + A.ITEM_HDR, dstNameLen)) return -A.EINVAL;
  if (oversize || payload > u32(A.MAX_PAYLOAD)) return -A.EMSGSIZE;
  // not built yet: calls and replies (bus semantics issue), signals (matches issue)
  if (expect || reply || signal) return -A.EOPNOTSUPP;
  // no name can be owned before the names issue: a name has no owner
  if (dstName != 0) return -A.ESRCH;

  const d = connById(dstLo, dstHi);
  if (d == 0 || (ld32(d + A.CONN_FLAGS) & KINDS) != 0) return -A.ENXIO;

  // metadata, collected once per message before any lock is taken (the receiver's mask is
  // read unlocked: a concurrent change of it applies from the next message on)
  const mask = ld32(c + A.CONN_ATTACH_SEND) & ld32(d + A.CONN_ATTACH_RECV) & A.ATTACH_IMPLEMENTED;
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
  let msgSize: u32 = A.MSG_HDR + nVecs * A.VEC_ITEM_SIZE;
  if (dstName != 0) msgSize += align8(dstNameSize);
  if ((mask & A.ATTACH_TIMESTAMP) != 0) msgSize += A.TIMESTAMP_ITEM_SIZE;
  if ((mask & A.ATTACH_CREDS) != 0) msgSize += A.CREDS_ITEM_SIZE;
  const need = A.BLOCK_HDR + align8(msgSize) + stored;

  if (!lockTry(d + A.CONN_LOCK)) return A.WOULDBLOCK;
  // the receiver may have gone (or its slot been reused) since the look-up
  if (ld32(d + A.CONN_STATE) != A.CONN_ACTIVE || ld32(d + A.CONN_ID) != dstLo || ld32(d + A.CONN_ID + 4) != dstHi) {
    unlock(d + A.CONN_LOCK);
    return -A.ENXIO;
  }
  const q = quotaCharge(d, ld32(c + A.CONN_UID), need);
  if (q < 0) {
    unlock(d + A.CONN_LOCK);
    return q;
  }
  const b = poolAlloc(d, need);
  if (b == 0) {
    quotaRelease(d, q, need);
    logCommit();
    unlock(d + A.CONN_LOCK);
    return -A.EXFULL;
  }
  wr32(b + A.BLOCK_STATE, A.BLOCK_USED | A.BLOCK_RESERVED);
  st32(b + A.BLOCK_QUSER, q); // meaningful only while the block is used: not logged
  st32(b + A.BLOCK_ACCT, need);

  // the slice's bytes: nobody else sees the block before it is queued, so these stores
  // are not logged (undoing the allocation frees the block, whatever it holds)
  const m = b + A.BLOCK_HDR;
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
  // PAYLOAD_OFF per VEC; bytes from the shared memory are copied now, host bytes later
  let data = align8(msgSize);
  for (let p = msg + A.MSG_HDR; p < msgEnd; p += align8(ld32(p + A.ITEM_SIZE))) {
    if (ld32(p + A.ITEM_TYPE) != A.ITEM_PAYLOAD_VEC) continue;
    const vlo = ld32(p + A.VEC_SIZE);
    const alo = ldi32(p + A.VEC_ADDRESS), ahi = ldi32(p + A.VEC_ADDRESS + 4);
    st64(w + A.ITEM_SIZE, A.VEC_ITEM_SIZE, 0);
    st64(w + A.ITEM_TYPE, A.ITEM_PAYLOAD_OFF, 0);
    st64(w + A.VEC_SIZE, vlo, 0);
    if (alo == 0 && ahi == 0) {
      st64(w + A.VEC_ADDRESS, 0xffffffff, 0xffffffff);
    } else {
      st64(w + A.VEC_ADDRESS, data, 0);
      if (alo == A.VEC_HOST_HALF && ahi == A.VEC_HOST_HALF) st64(p + A.VEC_ADDRESS, m + data, 0);
      else copy(m + data, u32(alo), vlo);
      fill(m + data + vlo, 0, align8(vlo) - vlo);
      data += align8(vlo);
    }
    w += A.VEC_ITEM_SIZE;
  }
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
  fill(w, 0, align8(msgSize) - msgSize);

  let ret = 0;
  if (hostVecs != 0) {
    // journal the reservation: send_commit publishes it, send_cancel (or recovery) undoes it
    // (the op_* fields mean something only once op says OP_SEND: only op is logged)
    wr32(d + A.CONN_N_RESV, ld32(d + A.CONN_N_RESV) + 1);
    st32(t + A.THREAD_OP_CONN, u32((d - ld32(H + A.BUS_CONNS)) / A.CONN_SIZE));
    st32(t + A.THREAD_OP_GEN, ld32(d + A.CONN_GEN));
    st32(t + A.THREAD_OP_BLOCK, b);
    st32(t + A.THREAD_OP_FROM, slot);
    wr32(t + A.THREAD_OP, A.OP_SEND);
    ret = A.SEND_PENDING;
  } else sendPublish(d, b);
  logCommit();
  unlock(d + A.CONN_LOCK);
  return ret;
}

/** Queue a written slice and wake its receiver (receiver lock held). */
function sendPublish(d: u32, b: u32): void {
  wr32(b + A.BLOCK_STATE, A.BLOCK_USED | A.BLOCK_KERNEL);
  queueAppend(d, b);
  wake(d + A.CONN_WAKE, d + A.CONN_SLEEPERS);
}

/**
 * End the reservation journaled in thread slot `t` (the receiver's lock held): publish it,
 * or undo it. A receiver that was closed meanwhile took the slice with its pool; its slot
 * is freed by the last reservation that ends.
 */
export function sendFinish(t: u32, publish: bool): void {
  const d = ld32(H + A.BUS_CONNS) + ld32(t + A.THREAD_OP_CONN) * A.CONN_SIZE;
  const b = ld32(t + A.THREAD_OP_BLOCK);
  const resv = ld32(d + A.CONN_N_RESV) - 1;
  wr32(d + A.CONN_N_RESV, resv);
  if (ld32(d + A.CONN_GEN) != ld32(t + A.THREAD_OP_GEN)) {
    if (resv == 0 && ld32(d + A.CONN_STATE) == A.CONN_CLOSING) wr32(d + A.CONN_STATE, A.CONN_FREE_SLOT);
  } else if (publish) {
    sendPublish(d, b);
  } else {
    quotaRelease(d, ld32(b + A.BLOCK_QUSER), ld32(b + A.BLOCK_ACCT));
    poolFree(d, b);
  }
  wr32(t + A.THREAD_OP, A.OP_NONE);
}

/** The receiver of thread `t`'s pending SEND (its lock to take), or -EINVAL when none. */
export function sendPendingConn(t: u32): i32 {
  if (ld32(t + A.THREAD_OP) != A.OP_SEND) return -A.EINVAL;
  return i32(ld32(H + A.BUS_CONNS) + ld32(t + A.THREAD_OP_CONN) * A.CONN_SIZE);
}

function sendEnd(publish: bool): i32 {
  const t = THREAD;
  if (t == 0) return -A.EBADF;
  const di = sendPendingConn(t);
  if (di < 0) return di;
  const d = u32(di);
  if (!lockTry(d + A.CONN_LOCK)) return A.WOULDBLOCK;
  sendFinish(t, publish);
  logCommit();
  unlock(d + A.CONN_LOCK);
  return 0;
}

/** Publish the slice of a SEND that returned SEND_PENDING (the host copied its bytes). */
export function sendCommit(): i32 {
  return sendEnd(true);
}

/** Undo the reservation of a SEND that returned SEND_PENDING. */
export function sendCancel(): i32 {
  return sendEnd(false);
}
