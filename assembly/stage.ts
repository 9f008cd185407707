// stage: a broadcast whose payload is (partly) in host vecs (docs/ARCHITECTURE.md,
// "Broadcasts and the one reservation per thread"). SEND reserves one staging slice in the
// SENDER's own pool, copies the message (header and items) to its start and the shared-memory
// VECs' bytes after it, points every VEC of that copy (and each host VEC of the command) at
// its bytes in the slice, journals the reservation as the thread's one op (OP_BCAST) and
// returns SEND_PENDING. The host copies the host bytes in once; send_commit then delivers
// from the slice to every matching receiver (broadcast.ts, as for a payload in shared
// memory) and frees it; send_cancel and recovery free it (sendFinish in send.ts).
//
// The slice is charged to the sender's uid in its own pool like any message (quota.ts), but
// for the message count limit, so a sender can stage what a receiver with a pool of its size
// could receive: ENOBUFS / EXFULL otherwise: the pool's errno, with the reason
// R_SEND_BCAST_STAGING.
import * as A from "../js/shared/abi";
import { ld32, ldi32, st32, st64, copy } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTry, unlock } from "./lock";
import { connAddr, connLive } from "./conn";
import { align8 } from "./items";
import { sliceReserve, sliceBlock } from "./slice";
import { broadcastFrom, broadcastNeedsBusLock } from "./broadcast";
import { fail, failArg } from "./reason";
import { unfreedFree, asideOnClosed } from "./aside";

/** Stage the validated broadcast at `msg` (host vecs in it) from connection `c` (slot `slot`) for thread `t`. */
export function stageReserve(c: u32, slot: u32, gen: u32, t: u32, msg: u32, msgEnd: u32, stored: u32): i32 {
  const len = msgEnd - msg;
  // the bus lock its delivery will need (NAME rules, the sender's owned names asked for) is
  // waited for first, with nothing reserved or copied: found taken at send_commit instead, an
  // event-loop try (emitAsync) cancelled and staged the whole payload again at each look,
  // every ASYNC_LOCK_RETRY_MS while the lock stayed taken (a review of stop 71). Taken by
  // another thread after this look, send_commit still meets it (nothing delivered yet)
  if (broadcastNeedsBusLock(c)) {
    if (!lockTry(A.BUS_BASE + A.BUS_LOCK)) return A.WOULDBLOCK;
    unlock(A.BUS_BASE + A.BUS_LOCK);
  }
  if (!lockTry(c + A.CONN_LOCK)) return A.WOULDBLOCK;
  // (looked at again under the lock: another thread's close between SEND's look and this one
  // left a reservation in a closed pool, and the slot CLOSING for good)
  if (!connLive(c, gen)) {
    asideOnClosed(c);
    logCommit();
    unlock(c + A.CONN_LOCK);
    return fail(A.ECONNRESET, A.R_CONN_CLOSED);
  }
  unfreedFree(c); // (earlier staging slices left to free: room for this one)
  logCommit(); // (whole: the reservation below may fail and return with the lock given back)
  const need = A.BLOCK_HDR + align8(len) + stored;
  // (its bytes charged, not the message count limit: before stop 65 a sender with
  // max_queued_per_user messages of its own user queued to it, its workers' requests, could
  // not broadcast a host-vec signal at all: an outside reading)
  const r = sliceReserve(c, ld32(c + A.CONN_UID), need, false);
  if (r < 0) {
    unlock(c + A.CONN_LOCK);
    return failArg(-r, A.R_SEND_BCAST_STAGING, need); // the pool's errno, and whose pool it was
  }
  // nobody sees the block before it is freed: plain stores (undoing the allocation frees it)
  const b = sliceBlock, m = b + A.BLOCK_HDR;
  copy(m, msg, len);
  let data = m + align8(len);
  for (let p = msg + A.MSG_HDR; p < msgEnd; p += align8(ld32(p + A.ITEM_SIZE))) {
    if (ld32(p + A.ITEM_TYPE) != A.ITEM_PAYLOAD_VEC) continue;
    const vlo = ld32(p + A.VEC_SIZE);
    const alo = ldi32(p + A.VEC_ADDRESS), ahi = ldi32(p + A.VEC_ADDRESS + 4);
    if (alo == 0 && ahi == 0) continue; // padding: no bytes
    if (alo == A.VEC_HOST_HALF && ahi == A.VEC_HOST_HALF) st64(p + A.VEC_ADDRESS, data, 0); // the host copies there
    else copy(data, u32(alo), vlo);
    st64(m + (p - msg) + A.VEC_ADDRESS, data, 0);
    data += align8(vlo);
  }
  wr32(c + A.CONN_N_RESV, ld32(c + A.CONN_N_RESV) + 1);
  st32(t + A.THREAD_OP_CONN, slot);
  st32(t + A.THREAD_OP_GEN, ld32(c + A.CONN_GEN));
  st32(t + A.THREAD_OP_BLOCK, b);
  st32(t + A.THREAD_OP_FROM, 0); // the first position (broadcast.ts) send_commit delivers to
  st32(t + A.THREAD_OP_LEN, len);
  wr32(t + A.THREAD_OP, A.OP_BCAST);
  logCommit();
  unlock(c + A.CONN_LOCK);
  return A.SEND_PENDING;
}

/**
 * send_commit's first half for OP_BCAST: deliver the staged message to every matching
 * receiver, once (op_from: the next connection slot, logged with each delivery, so a commit
 * trapped midway and run again goes on there; op_len 0 afterwards: a send_commit run again
 * after WOULDBLOCK only frees).
 * No lock held: the slice stays reserved, and its pool stays while the reservation counts in
 * CONN_N_RESV. 0 or WOULDBLOCK (nothing delivered yet).
 */
export function stageDeliver(t: u32): i32 {
  const len = ld32(t + A.THREAD_OP_LEN);
  if (len == 0) return 0;
  const c = connAddr(ld32(t + A.THREAD_OP_CONN));
  // a sender closed meanwhile sends nothing
  if (ld32(c + A.CONN_STATE) == A.CONN_ACTIVE && ld32(c + A.CONN_GEN) == ld32(t + A.THREAD_OP_GEN)) {
    const m = ld32(t + A.THREAD_OP_BLOCK) + A.BLOCK_HDR;
    const r = broadcastFrom(c, m, m + len, true);
    if (r < 0) return r;
  } else {
    // (the host's pass-over request, read and cleared by the delivery it was for, which does
    // not run now: left BCAST_SKIP, it passed over the first receiver of the thread's next
    // broadcast, or a unicast's monitor, whose lock was held at that moment: a review of stop 71)
    st32(t + A.THREAD_BCAST_SKIP, 0);
  }
  st32(t + A.THREAD_OP_LEN, 0);
  return 0;
}
