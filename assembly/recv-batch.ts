// recv-batch: RECV_BATCH (wasmbus; js/shared/abi.ts says the layout): the slices of the
// messages handled since the last batch are freed, then up to n queued messages received,
// all under one hold of the connection's lock: what a receiver that keeps up with a stream
// pays per lock, and per cache line the sender also writes, once for many messages. Each
// free and each message taken is committed before the next is begun.
import * as A from "../js/shared/abi";
import { ld32, st32, st64 } from "./mem";
import { logCommit } from "./journal";
import { lockTry, unlock } from "./lock";
import { unfreedFree, asideOnClosed } from "./aside";
import { connLive } from "./conn";
import { busShutdown } from "./bus";
import { poolPublish, poolOffset } from "./pool";
import { recvDequeue, recvDropped, freeSlice } from "./recv";
import { fail, failArg } from "./reason";

/** RECV with RECV_BATCH, the command's start checked (recv): 0, or -errno. */
export function recvBatch(c: u32, gen: u32, cmd: u32, flags: u32): i32 {
  if (flags != A.RECV_BATCH) return fail(A.EINVAL, A.R_RECV_BATCH_FLAGS);
  const size = ld32(cmd + A.CMD_SIZE);
  if (size <= u32(A.RECV_BATCH_ENTRIES) || ((size - A.RECV_BATCH_ENTRIES) & 7) != 0) return failArg(A.EINVAL, A.R_RECV_BATCH_SIZE, A.RECV_BATCH_ENTRIES);
  const n = (size - A.RECV_BATCH_ENTRIES) >>> 3;
  const nFree = ld32(cmd + A.RECV_BATCH_FREE);
  if (nFree > n) return failArg(A.EINVAL, A.R_RECV_BATCH_FREE, n);
  st32(cmd + A.RECV_BATCH_TAKEN, 0);
  if (!lockTry(c + A.CONN_LOCK)) return A.WOULDBLOCK;
  if (!connLive(c, gen)) {
    asideOnClosed(c); // (the owner's slices another thread's close left: aside.ts)
    logCommit();
    unlock(c + A.CONN_LOCK);
    return fail(A.ECONNRESET, A.R_CONN_CLOSED);
  }
  unfreedFree(c); // (its own staging slices left to free: aside.ts)
  logCommit();
  const e = cmd + A.RECV_BATCH_ENTRIES;
  // free_count and taken count what has committed, step by step: a trap in a later step (a
  // core bug) undoes only that step, and the caller still learns what was done
  st32(cmd + A.RECV_BATCH_FREE, 0);
  for (let i: u32 = 0; i < nFree; i++) {
    const r = freeSlice(c, ld32(e + i * 8));
    if (r < 0) {
      logCommit();
      unlock(c + A.CONN_LOCK);
      return r;
    }
    logCommit();
    st32(cmd + A.RECV_BATCH_FREE, i + 1);
  }
  // after a shutdown, freeing still works; receiving does not (as RECV)
  if (busShutdown()) {
    unlock(c + A.CONN_LOCK);
    return fail(A.ESHUTDOWN, A.R_BUS_SHUTDOWN);
  }
  recvDropped(c, cmd);
  let taken: u32 = 0;
  for (; taken < n; taken++) {
    const b = ld32(c + A.CONN_Q_HEAD);
    if (b == 0) break;
    recvDequeue(c, b, 0);
    poolPublish(c, b);
    logCommit();
    st32(e + taken * 8, poolOffset(c, b));
    st32(e + taken * 8 + 4, ld32(b + A.BLOCK_HDR + A.MSG_SIZE));
    st32(cmd + A.RECV_BATCH_TAKEN, taken + 1);
  }
  logCommit();
  unlock(c + A.CONN_LOCK);
  if (taken == 0) return fail(A.EAGAIN, A.R_RECV_EMPTY);
  st64(cmd + A.RECV_MSG_OFFSET, ld32(e), 0);
  st64(cmd + A.RECV_MSG_SIZE, ld32(e + 4), 0);
  return 0;
}
