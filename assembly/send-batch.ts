// send-batch: SEND_BATCH, sendmmsg's idea on the bus: each PAYLOAD_VEC item of one SEND is a
// message of its own (js/shared/abi.ts says the rules). The command is checked, routed and
// its metadata collected once (send.ts; each message takes its own sequence number here);
// the receiver's lock is taken once for all of them, and each message is reserved, laid out
// and queued as a lone SEND's would be, in item order, until one finds no room. Each queued
// message is committed before the next one is begun, so a thread that dies in the middle
// leaves the ones before it delivered and nothing of the one it was writing. The receiver is
// woken once, when the lock is released (with a monitor, each copy published into the
// monitor wakes it at once: lock.ts, wakeOnUnlock).
import * as A from "../js/shared/abi";
import { ld32, st32, st64, aLoad } from "./mem";
import { logCommit } from "./journal";
import { lockTry, unlock } from "./lock";
import { align8 } from "./items";
import { sliceMsgSize, sliceReserve, sliceBlock, sliceWriteOne, slicePublish } from "./slice";
import { monitorsCopy, monitorsLock, monitorsUnlock } from "./monitor";
import { metaNextSeq } from "./meta";
import { fail } from "./reason";
import { routeHeld } from "./name-follow";

/** The batch's own rules, after kdbus's checks of the SEND (0, or -EINVAL naming the rule). */
export function sendBatchCheck(cmd: u32, bcast: bool, signal: bool, expect: bool, timeout: bool,
  nVecs: u32, noBytes: u32): i32 {
  if ((ld32(cmd + A.CMD_FLAGS) & (A.SEND_SYNC_REPLY | A.SEND_PROBE)) != 0) return fail(A.EINVAL, A.R_SEND_BATCH_FLAGS);
  if (bcast || signal || expect || timeout) return fail(A.EINVAL, A.R_SEND_BATCH_KIND);
  if (nVecs == 0 || noBytes != 0) return fail(A.EINVAL, A.R_SEND_BATCH_VEC);
  return 0;
}

/**
 * The batch's messages into receiver `d` (id dstLo, dstHi), from sender `c` whose metadata
 * thread `t` collected (the bus lock held by the caller when `names` needed it). Returns 0
 * when every message was queued, else the -errno of the first that found no room (the space
 * word in the thread slot, as sendLocked leaves it); SEND_BATCH_SENT says how many were.
 */
export function sendBatch(c: u32, d: u32, t: u32, cmd: u32, msg: u32, msgEnd: u32, dstLo: u32, dstHi: u32,
  dstName: u32, dstNameSize: u32, mask: u32, check: bool, seq: u32): i32 {
  if (!lockTry(d + A.CONN_LOCK)) return A.WOULDBLOCK;
  const held = routeHeld(d, dstLo, dstHi, check, seq);
  if (held != 0) return held;
  // the monitors' locks, once for the batch: one that stays contended stops it here, nothing
  // sent, for the host to wait on (monitor.ts)
  if (!monitorsLock(d)) {
    unlock(d + A.CONN_LOCK);
    return A.WOULDBLOCK;
  }
  const msgSize = sliceMsgSize(1, dstNameSize, t, c, mask);
  const head = A.BLOCK_HDR + align8(msgSize);
  const uid = ld32(c + A.CONN_UID);
  const cookieLo = ld32(msg + A.MSG_COOKIE), cookieHi = ld32(msg + A.MSG_COOKIE + 4);
  let sent: u32 = 0, r: i32 = 0;
  for (let p = msg + A.MSG_HDR; p < msgEnd; p += align8(ld32(p + A.ITEM_SIZE))) {
    if (ld32(p + A.ITEM_TYPE) != A.ITEM_PAYLOAD_VEC) continue;
    // (each message its own sequence number: the first took metaCollect's; one that then
    // finds no room leaves a gap, as a lone SEND that fails does)
    if (sent != 0) metaNextSeq(t);
    r = sliceReserve(d, uid, head + align8(ld32(p + A.VEC_SIZE)));
    if (r < 0) {
      // no room: where a sender waits for it, and the word's value now (every bump of it
      // takes this lock, which is still held)
      st32(t + A.THREAD_WAIT_ADDR, d + A.CONN_SPACE);
      st32(t + A.THREAD_WAIT_VAL, aLoad(d + A.CONN_SPACE));
      break;
    }
    const b = sliceBlock;
    sliceWriteOne(b, msg, p, msgSize, d, c, dstName, dstNameSize, t, mask);
    if (sent != 0) {
      const lo = u32(cookieLo + sent); // (u32(): the twin wraps as wasm does)
      st64(b + A.BLOCK_HDR + A.MSG_COOKIE, lo, cookieHi + (lo < cookieLo ? 1 : 0));
    }
    slicePublish(d, b);
    logCommit();
    // the count as each message commits: a trap in a later one (a core bug) undoes only that
    // one, and the caller still learns how many went
    st64(cmd + A.SEND_BATCH_SENT, ++sent, 0);
    monitorsCopy(d, b, true, false); // committed: a retry cannot copy it twice (monitor.ts)
  }
  monitorsUnlock(d);
  unlock(d + A.CONN_LOCK);
  return r;
}
