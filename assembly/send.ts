// send: SEND: the command and message validated in the order of kdbus's checks (KDBUS.md),
// then routed (route.ts), its metadata collected (meta.ts), its slice reserved and laid out
// in the receiver's pool (slice.ts), and queued or journaled as the thread's one pending
// reservation until send_commit / send_cancel.
import * as A from "../js/shared/abi";
import { ld32, ldi32, st32, st64, inMemory, sumLe, aLoad, THREAD } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTry, unlock, wakeOnUnlock } from "./lock";
import { busLayoutEnd, busBloomSize, busShutdown } from "./bus";
import { connGet, cmdCheck } from "./conn";
import { itemSize, itemType, itemString, align8 } from "./items";
import { nameValid } from "./names";
import { routeById, routeByName, routeIdLo, routeIdHi } from "./route";
import { metaMask, metaCollect, metaNames, metaReuse, metaGot } from "./meta";
import { ownedMayHave } from "./owned";
import { sliceMsgSize, sliceReserve, sliceBlock, sliceWrite, slicePublish, sliceRelease } from "./slice";
import { threadCmd } from "./thread";
import { matchSignal, matchNamesLocked } from "./match";
import { broadcast, broadcastResume } from "./broadcast";
import { stageReserve, stageDeliver } from "./stage";
import { stagedLeave, unfreedFree } from "./aside";
import { monitorsCopy, monitorsLock, monitorsUnlock, monitorsWaitEnd } from "./monitor";
import { fail, failArg } from "./reason";
import { quotaNeverFits } from "./quota";
import { sendBatchCheck, sendBatch } from "./send-batch";
import { replyTick, replyCheck, replyInsert, replyFind, replyDone, replyUnsent } from "./reply";
import { nameSeq, sentNameItem, nameFollowTo, nameMoveReserved, staysOnNoRoom, routeHeld } from "./name-follow";

const H: u32 = A.BUS_BASE;
const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;

/** A VEC source range is valid in the caller's command area or the user region. */
function vecRangeOk(addr: u32, size: u32, cmd: u32): bool {
  if (addr >= cmd && sumLe(addr, size, cmd + A.CMD_MAX)) return true;
  if (addr < u32(A.RESERVED_END) || !inMemory(addr, size)) return false;
  return sumLe(addr, size, H) || addr >= busLayoutEnd();
}

/** SEND: 0 when delivered, SEND_PENDING when host vecs wait for send_commit, or -errno. */
export function send(slot: u32, gen: u32): i32 {
  // run again after a broadcast stopped at a contended receiver: it goes on (broadcast.ts)
  if (THREAD != 0 && ld32(THREAD + A.THREAD_OP) == A.OP_BCAST_MEM) return broadcastResume(THREAD, threadCmd());
  const c = connGet(slot, gen);
  if (c < 0) return c;
  const t = THREAD;
  if (ld32(t + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  monitorsWaitEnd(t);
  if (busShutdown()) return fail(A.ESHUTDOWN, A.R_BUS_SHUTDOWN);
  let r = replyTick();
  if (r < 0) return r;
  // monitors, activators (and policy holders) do not send: refused before the command is
  // read (KDBUS.md's first SEND check, as kdbus)
  if ((ld32(c + A.CONN_FLAGS) & KINDS) != 0) return fail(A.EOPNOTSUPP, A.R_SEND_SENDER_KIND);
  const cmd = threadCmd();
  r = cmdCheck(cmd, A.SEND_CMD_SIZE, A.SEND_SYNC_REPLY | A.SEND_PROBE | A.SEND_BATCH);
  if (r < 0) return r;
  const cmdEnd = cmd + ld32(cmd + A.CMD_SIZE);
  for (let p = cmd + A.SEND_CMD_SIZE; p < cmdEnd;) {
    const size = itemSize(p, cmdEnd);
    if (size == 0) return fail(A.EINVAL, A.R_ITEM_MALFORMED);
    if (itemType(p) == A.ITEM_CANCEL_FD) return failArg(A.EOPNOTSUPP, A.R_ITEM_UNSUPPORTED, A.ITEM_CANCEL_FD);
    return failArg(A.EINVAL, A.R_ITEM_UNKNOWN, itemType(p));
  }
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  st64(cmd + A.SEND_REPLY_OFFSET, 0, 0);
  st64(cmd + A.SEND_REPLY_SIZE, 0, 0);
  st64(cmd + A.SEND_REPLY_RETURN_FLAGS, 0, 0);

  // the message: 8-aligned, inside the caller's command area
  const msg = ld32(cmd + A.SEND_MSG_ADDRESS);
  if (ld32(cmd + A.SEND_MSG_ADDRESS + 4) != 0 || (msg & 7) != 0 || msg < cmd ||
    !sumLe(msg, A.MSG_HDR, cmd + A.CMD_MAX)) return fail(A.EFAULT, A.R_SEND_MSG_ADDRESS);
  const msgSizeLo = ld32(msg + A.MSG_SIZE);
  if (ld32(msg + A.MSG_SIZE + 4) != 0 || msgSizeLo > u32(A.CMD_MAX)) return failArg(A.EMSGSIZE, A.R_SEND_MSG_TOO_LARGE, A.CMD_MAX);
  if (msgSizeLo < u32(A.MSG_HDR)) return failArg(A.EINVAL, A.R_SEND_MSG_TOO_SMALL, A.MSG_HDR);
  const msgEnd = msg + msgSizeLo;
  if (msgEnd > cmd + A.CMD_MAX) return fail(A.EFAULT, A.R_SEND_MSG_OUTSIDE);

  const flags = ld32(msg + A.MSG_FLAGS);
  if (ld32(msg + A.MSG_FLAGS + 4) != 0 || (flags & ~7) != 0) return fail(A.EINVAL, A.R_SEND_MSG_FLAGS);
  if (ld32(msg + A.MSG_PAYLOAD_TYPE) == 0 && ld32(msg + A.MSG_PAYLOAD_TYPE + 4) == 0) return fail(A.EINVAL, A.R_SEND_PAYLOAD_TYPE);
  const srcLo = ld32(msg + A.MSG_SRC_ID), srcHi = ld32(msg + A.MSG_SRC_ID + 4);
  if ((srcLo != 0 || srcHi != 0) && (srcLo != ld32(c + A.CONN_ID) || srcHi != ld32(c + A.CONN_ID + 4))) return fail(A.EINVAL, A.R_SEND_SRC_ID);

  // items
  let nVecs: u32 = 0, hostVecs: u32 = 0, noBytes: u32 = 0, payload: u32 = 0, stored: u32 = 0, oversize = false;
  let bloom: u32 = 0, bloomSize: u32 = 0, dstName: u32 = 0, dstNameSize: u32 = 0, dstNameLen: i32 = 0;
  for (let p = msg + A.MSG_HDR; p < msgEnd;) {
    const size = itemSize(p, msgEnd);
    if (size == 0) return fail(A.EINVAL, A.R_ITEM_MALFORMED);
    const type = itemType(p);
    if (type == A.ITEM_PAYLOAD_VEC) {
      if (size != A.VEC_ITEM_SIZE) return fail(A.EINVAL, A.R_SEND_VEC_ITEM);
      const vlo = ld32(p + A.VEC_SIZE), vhi = ld32(p + A.VEC_SIZE + 4);
      if (vlo == 0 && vhi == 0) return fail(A.EINVAL, A.R_SEND_VEC_EMPTY);
      const alo = ldi32(p + A.VEC_ADDRESS), ahi = ldi32(p + A.VEC_ADDRESS + 4);
      // (a host vector or padding, of any size: what a batch refuses, send-batch.ts)
      if ((alo == 0 && ahi == 0) || (alo == A.VEC_HOST_HALF && ahi == A.VEC_HOST_HALF)) noBytes++;
      if (vhi != 0 || vlo > u32(A.MAX_PAYLOAD)) oversize = true;
      else if (alo == A.VEC_HOST_HALF && ahi == A.VEC_HOST_HALF) {
        hostVecs++;
        stored += align8(vlo);
      } else if (alo != 0 || ahi != 0) {
        if (ahi != 0 || !vecRangeOk(u32(alo), vlo, cmd)) return fail(A.EFAULT, A.R_SEND_VEC_ADDRESS);
        stored += align8(vlo);
      }
      if (!oversize) payload += vlo;
      nVecs++;
    } else if (type == A.ITEM_BLOOM_FILTER) {
      if (bloom != 0) return failArg(A.EEXIST, A.R_ITEM_DUPLICATE, type);
      if (size < u32(A.BLOOM_FILTER_HDR)) return fail(A.EINVAL, A.R_SEND_BLOOM_SHORT);
      if (((size - A.BLOOM_FILTER_HDR) & 7) != 0) return fail(A.EFAULT, A.R_SEND_BLOOM_ALIGN);
      bloom = p;
      bloomSize = size - A.BLOOM_FILTER_HDR;
    } else if (type == A.ITEM_DST_NAME) {
      if (dstName != 0) return failArg(A.EEXIST, A.R_ITEM_DUPLICATE, type);
      dstNameLen = itemString(p, size);
      if (dstNameLen < 0) return failArg(A.EINVAL, A.R_ITEM_STRING, type);
      dstName = p;
      dstNameSize = size;
    } else if (type == A.ITEM_PAYLOAD_MEMFD || type == A.ITEM_FDS || type == A.ITEM_CANCEL_FD) {
      return failArg(A.EOPNOTSUPP, A.R_ITEM_UNSUPPORTED, type);
    } else return failArg(A.EINVAL, A.R_ITEM_UNKNOWN, type);
    p += align8(size);
  }

  // the checks of KDBUS.md, in its order
  const dstLo = ld32(msg + A.MSG_DST_ID), dstHi = ld32(msg + A.MSG_DST_ID + 4);
  const bcast = dstLo == 0xffffffff && dstHi == 0xffffffff;
  const signal = (flags & A.MSG_SIGNAL) != 0, expect = (flags & A.MSG_EXPECT_REPLY) != 0;
  const tmo = ld32(msg + A.MSG_TIMEOUT) != 0 || ld32(msg + A.MSG_TIMEOUT + 4) != 0;
  const reply = !expect && tmo;
  if (bcast && !signal) return fail(A.EBADMSG, A.R_SEND_BCAST_NOT_SIGNAL);
  if (bcast && (expect || tmo)) return fail(A.ENOTUNIQ, A.R_SEND_BCAST_REPLY);
  if (bcast && dstName != 0) return fail(A.EBADMSG, A.R_SEND_BCAST_NAME);
  if (expect && !tmo) return fail(A.EINVAL, A.R_SEND_EXPECT_TIMEOUT);
  if (expect && signal) return fail(A.ENOTUNIQ, A.R_SEND_EXPECT_SIGNAL);
  if ((ld32(cmd + A.CMD_FLAGS) & A.SEND_SYNC_REPLY) != 0 && !expect) return fail(A.EINVAL, A.R_SEND_SYNC_EXPECT);
  if (reply && signal) return fail(A.EINVAL, A.R_SEND_REPLY_SIGNAL);
  if ((bloom != 0) != signal) return fail(A.EBADMSG, A.R_SEND_BLOOM_SIGNAL);
  if (bloom != 0 && bloomSize != busBloomSize()) return failArg(A.EDOM, A.R_SEND_BLOOM_SIZE, busBloomSize());
  if (dstLo == 0 && dstHi == 0 && dstName == 0) return fail(A.EDESTADDRREQ, A.R_SEND_NO_DST);
  if (dstName != 0 && !nameValid(dstName + A.ITEM_HDR, dstNameLen)) return fail(A.EINVAL, A.R_SEND_NAME_INVALID);
  // a batch: its own rules; MAX_PAYLOAD is each message's (each VEC's) bound (send-batch.ts)
  const batch = (ld32(cmd + A.CMD_FLAGS) & A.SEND_BATCH) != 0;
  if (batch) {
    r = sendBatchCheck(cmd, bcast, signal, expect, tmo, nVecs, noBytes);
    if (r < 0) return r;
  }
  if (oversize || (!batch && payload > u32(A.MAX_PAYLOAD))) return failArg(A.EMSGSIZE, A.R_SEND_PAYLOAD_MAX, A.MAX_PAYLOAD);
  const probe = (ld32(cmd + A.CMD_FLAGS) & A.SEND_PROBE) != 0;
  // a broadcast signal: every receiver whose match entries accept it (broadcast.ts)
  if (bcast) {
    if (probe) return 0; // checked, not delivered
    // host vecs: staged in the sender's own pool until send_commit (stage.ts)
    if (hostVecs != 0) return stageReserve(u32(c), slot, gen, t, msg, msgEnd, stored);
    st32(t + A.THREAD_OP_FROM, 0); // the first position; a stop makes the op OP_BCAST_MEM
    return broadcast(c, msg, msgEnd, nVecs, stored, bloom, false);
  }

  // the receiver: by name (its owner's id from then on; the registry is read under the bus
  // lock), or by id (no lock); by name, looked up again when the name changed owner before the
  // message was queued (name-follow.ts: at most NAME_ROUTE_TRIES look-ups)
  // (the last try does not check: it keeps the bus lock from its look-up until the message is
  // queued, so the name cannot change owner under it; it never says ROUTE_AGAIN)
  for (let tries: u32 = 1; tries <= u32(A.NAME_ROUTE_TRIES); tries++) {
    r = sendRouted(c, slot, t, cmd, msg, msgEnd, flags, dstLo, dstHi, dstName, dstNameLen, dstNameSize, signal, expect, reply,
      batch, nVecs, stored, hostVecs, bloom, probe, tries < u32(A.NAME_ROUTE_TRIES), tries > 1);
    if (r != A.ROUTE_AGAIN) break;
  }
  return r;
}

/**
 * SEND, its checks done: routed (by name, with the bus lock: `recheck` says whether the
 * receiver's lock may send it back for another look-up when the name changed owner
 * meanwhile), its metadata collected, and delivered.
 */
function sendRouted(c: u32, slot: u32, t: u32, cmd: u32, msg: u32, msgEnd: u32, flags: u32, dstLo: u32, dstHi: u32,
  dstName: u32, dstNameLen: u32, dstNameSize: u32, signal: bool, expect: bool, reply: bool, batch: bool, nVecs: u32,
  stored: u32, hostVecs: u32, bloom: u32, probe: bool, recheck: bool, again: bool): i32 {
  let r: i32 = 0;
  let held = false; // the bus lock
  let toLo = dstLo, toHi = dstHi;
  let di: i32 = 0;
  let seq: u32 = 0;
  if (dstName != 0) {
    if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
    held = true;
    di = routeByName(dstName + A.ITEM_HDR, dstNameLen, dstLo, dstHi, (flags & A.MSG_NO_AUTO_START) != 0);
    toLo = routeIdLo;
    toHi = routeIdHi;
    seq = nameSeq(); // (under the bus lock: the look-up's)
  } else di = routeById(dstLo, dstHi);
  if (di < 0) {
    if (held) unlock(H + A.BUS_LOCK);
    return di;
  }
  const d = u32(di);

  // metadata, collected once per message. OWNED_NAME items (when the receiver asks and the
  // sender may own a name) are read from the registry under the bus lock, held until the
  // slice is written: the names are the sender's at the moment its message is routed (a look-up
  // by name keeps the lock it took). The rest is collected before the lock for a send by id.
  const mask = metaMask(c, d);
  const names = (mask & A.ATTACH_NAMES) != 0 && ownedMayHave(c);
  // (by name, the last try keeps it too: only the bus lock keeps the name's owner still until
  // the message is queued. Before stop 48 the fourth try gave it back unchecked, and an inline
  // message whose name moved meanwhile was queued at the holder the name had left, behind its
  // sender's later messages at the new owner: an outside audit, 1 to 14 inversions a trial
  // under a name acquired and released thousands of times.) A try that may look again gives
  // it back for the metadata, the owned names' too: they are read below, under the bus lock
  // taken again, after which the route is checked (ROUTE_AGAIN when the name moved). Before
  // stop 54 a SEND that needed the owned names kept it, and called the provider with it held:
  // a slow provider stalled every thread's bus-lock commands (an outside audit, EDEADLK)
  if (held && recheck) {
    unlock(H + A.BUS_LOCK);
    held = false;
  }
  // once per message: a look-up again (`again`: BUS_NAME_SEQ moved, which any name's change of
  // owner does) keeps what the first collected unless its receiver asks for more. Before stop
  // 55 each look-up collected anew (the provider called up to four times a message), the last
  // with the bus lock held, so churn of other names on the bus made a slow provider stall
  // every thread's bus-lock commands again (an outside audit, EDEADLK)
  if (!again || !metaReuse(t, mask)) metaCollect(t, again ? mask | metaGot(t) : mask);

  // a call or a reply: its record in the reply table, under the bus lock (reply.ts), which
  // is taken before the receiver's (the lock order)
  // (a signal's NAME rules read the name registry: under the bus lock too, match.ts)
  const nameRules = signal && matchNamesLocked();
  if ((names || nameRules || expect || reply) && !held) {
    if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
    held = true;
  }
  if (names) metaNames(t, c);
  // by name: did the name change owner since the look-up? With the bus lock held (taken again
  // for a call, a reply or NAME rules, after it was given back for the metadata; an outside
  // audit, stop 46) nothing can change now: ask here; without it, the receiver's lock asks
  if (dstName != 0 && held && recheck && nameSeq() != seq) {
    unlock(H + A.BUS_LOCK);
    return A.ROUTE_AGAIN;
  }
  const check = dstName != 0 && recheck && !held;
  if (batch) {
    r = sendBatch(c, d, t, cmd, msg, msgEnd, toLo, toHi, dstName, dstNameSize, mask, check, seq);
    if (held) unlock(H + A.BUS_LOCK);
    return r;
  }
  const msgSize = sliceMsgSize(nVecs, dstNameSize, t, c, mask);
  const need = A.BLOCK_HDR + align8(msgSize) + stored;
  let rec = -1;
  if (expect || reply) {
    rec = expect ? replyCheck(c) : replyFind(d, c, ld32(msg + A.MSG_TIMEOUT), ld32(msg + A.MSG_TIMEOUT + 4));
    if (rec < 0) {
      unlock(H + A.BUS_LOCK);
      return rec;
    }
  }
  r = sendLocked(c, d, slot, t, msg, msgEnd, msgSize, need, toLo, toHi, dstName, dstNameSize, mask, hostVecs, rec, expect,
    (ld32(cmd + A.CMD_FLAGS) & A.SEND_SYNC_REPLY) != 0, signal ? bloom : 0, nameRules, probe, check, seq);
  if (held) unlock(H + A.BUS_LOCK);
  return r;
}

/**
 * SEND once routed to `d`, whose id is (dstLo, dstHi) (by name: its owner's id): the receiver's
 * lock, its slice, the reply record (the bus lock held for a call or reply, and for a signal
 * with `names`).
 */
function sendLocked(c: u32, d: u32, slot: u32, t: u32, msg: u32, msgEnd: u32, msgSize: u32, need: u32,
  dstLo: u32, dstHi: u32, dstName: u32, dstNameSize: u32, mask: u32, hostVecs: u32, rec: i32, expect: bool, sync: bool,
  signalBloom: u32, names: bool, probe: bool, check: bool, seq: u32): i32 {
  if (!lockTry(d + A.CONN_LOCK)) return A.WOULDBLOCK;
  const held = routeHeld(d, dstLo, dstHi, check, seq);
  if (held != 0) return held;
  // a unicast signal reaches its receiver only through a matching rule; else it is dropped
  // silently (SEND returns 0)
  if (signalBloom != 0 && !matchSignal(d, c, dstLo, dstHi, signalBloom, names)) {
    unlock(d + A.CONN_LOCK);
    return 0;
  }
  // under d's lock, where every release of room bumps it too (a name leaving d bumps it under
  // the bus lock: only a look again for its waiters, which also check BUS_NAME_SEQ)
  const space = aLoad(d + A.CONN_SPACE);
  if (probe) {
    // SEND_PROBE: every check done but the receiver's room; nothing changed
    const never = quotaNeverFits(d, need);
    if (never == 0) {
      st32(t + A.THREAD_WAIT_ADDR, d + A.CONN_SPACE);
      st32(t + A.THREAD_WAIT_VAL, space);
    }
    unlock(d + A.CONN_LOCK);
    return never;
  }
  // the monitors' locks before the delivery (a host-vector SEND's: at send_commit): one that
  // stays contended stops the SEND here, nothing changed, for the host to wait on (monitor.ts)
  const mons = hostVecs == 0;
  if (mons && !monitorsLock(d)) {
    unlock(d + A.CONN_LOCK);
    return A.WOULDBLOCK;
  }
  const r = sliceReserve(d, ld32(c + A.CONN_UID), need);
  if (r < 0) {
    // no room (quota or pool): where sendAsync waits for room (backpressure), and the word's
    // value now; a bump after this failure makes the wait return at once
    if (mons) monitorsUnlock(d);
    st32(t + A.THREAD_WAIT_ADDR, d + A.CONN_SPACE);
    st32(t + A.THREAD_WAIT_VAL, space);
    unlock(d + A.CONN_LOCK);
    return r;
  }
  const b = sliceBlock;
  sliceWrite(b, msg, msgEnd, msgSize, d, c, dstName, dstNameSize, t, mask);
  // a call leaves its record; a reply takes its call's (a failed reply leaves it: the
  // replier may try again, and else the call times out: one outcome either way)
  if (rec >= 0) {
    if (expect) replyInsert(u32(rec), c, d, msg, sync);
    else replyDone(u32(rec));
  }

  let ret = 0;
  if (hostVecs != 0) {
    // journal the reservation: send_commit publishes it, send_cancel (or recovery) undoes it
    // (the op_* fields mean something only once op says OP_SEND: only op is logged)
    wr32(d + A.CONN_N_RESV, ld32(d + A.CONN_N_RESV) + 1);
    // by name: the look-up's BUS_NAME_SEQ, for send_commit (name-follow.ts; the word is unused
    // until the block is published, and nobody else sees the block before then: not logged)
    if (dstName != 0) st32(b + A.BLOCK_PUB_PREV, seq);
    st32(t + A.THREAD_OP_CONN, u32((d - ld32(H + A.BUS_CONNS)) / A.CONN_SIZE));
    st32(t + A.THREAD_OP_GEN, ld32(d + A.CONN_GEN));
    st32(t + A.THREAD_OP_BLOCK, b);
    st32(t + A.THREAD_OP_FROM, slot);
    wr32(t + A.THREAD_OP, A.OP_SEND);
    ret = A.SEND_PENDING;
  } else slicePublish(d, b);
  logCommit();
  if (mons) monitorsCopy(d, b, true, true); // committed: a retry cannot copy it twice (monitor.ts); gives their locks back
  unlock(d + A.CONN_LOCK);
  return ret;
}

/**
 * End the reservation journaled in thread slot `t` (the receiver's lock held): publish it,
 * or undo it. Returns the block now queued in the receiver (the message; for a cancelled
 * reply, its caller's REPLY_DEAD), 0 for none: the caller copies it to the monitors once it
 * has committed. A receiver that was closed meanwhile took the slice with its pool; its slot
 * is freed by the last reservation that ends. A broadcast's staging slice (OP_BCAST, in the
 * sender's pool, delivered by then, monitors included) is never published: it is freed.
 */
export function sendFinish(t: u32, publish: bool): u32 {
  const d = ld32(H + A.BUS_CONNS) + ld32(t + A.THREAD_OP_CONN) * A.CONN_SIZE;
  const b = ld32(t + A.THREAD_OP_BLOCK);
  const same = ld32(d + A.CONN_GEN) == ld32(t + A.THREAD_OP_GEN);
  let out: u32 = 0;
  if (ld32(t + A.THREAD_OP) == A.OP_BCAST) publish = false;
  // a cancelled call leaves no record, a cancelled reply tells its caller (the bus lock is
  // held for a cancel: sendEnd, recovery). First: kmsgSend may commit the log when it fails.
  else if (same && !publish) out = replyUnsent(d, b + A.BLOCK_HDR, ld32(t + A.THREAD_OP_FROM));
  const resv = ld32(d + A.CONN_N_RESV) - 1;
  wr32(d + A.CONN_N_RESV, resv);
  if (!same) {
    if (resv == 0 && ld32(d + A.CONN_STATE) == A.CONN_CLOSING) wr32(d + A.CONN_STATE, A.CONN_FREE_SLOT);
  } else if (publish) {
    slicePublish(d, b);
    out = b;
  } else {
    sliceRelease(d, b);
    // (its receiver's waits look again: a call's end dropped while this reservation was in
    // flight, when RECV_REPLY could not say the call was gone, is told by the next look)
    wakeOnUnlock(d);
  }
  wr32(t + A.THREAD_OP, A.OP_NONE);
  return out;
}

/** Is thread `t`'s op a reservation (a SEND's slice, or a broadcast's staging slice)? */
export function sendPending(t: u32): bool {
  const op = ld32(t + A.THREAD_OP);
  return op == A.OP_SEND || op == A.OP_BCAST;
}

/** The pool of thread `t`'s pending reservation (its lock to take: the receiver's, or for a broadcast the sender's), or -EINVAL when none. */
export function sendPendingConn(t: u32): i32 {
  if (!sendPending(t)) return fail(A.EINVAL, A.R_SEND_NOT_PENDING);
  return i32(ld32(H + A.BUS_CONNS) + ld32(t + A.THREAD_OP_CONN) * A.CONN_SIZE);
}

function sendEnd(publish: bool): i32 {
  const t = THREAD;
  if (t == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  const di = sendPendingConn(t);
  if (di < 0) return di;
  const d = u32(di);
  if (ld32(t + A.THREAD_OP) == A.OP_SEND) monitorsWaitEnd(t);
  // a broadcast is delivered from its staging slice first, with no lock of ours held
  if (publish && ld32(t + A.THREAD_OP) == A.OP_BCAST) {
    const r = stageDeliver(t);
    if (r < 0) return r;
  }
  const mons = ld32(t + A.THREAD_OP) == A.OP_SEND;
  // a message sent by name whose name changed owner since its look-up follows the name (the
  // look-up's BUS_NAME_SEQ in its block: name-follow.ts), under the bus lock
  const blk = ld32(t + A.THREAD_OP_BLOCK);
  const it = publish && mons ? sentNameItem(blk) : 0;
  let follow = it != 0 && nameSeq() != ld32(blk + A.BLOCK_PUB_PREV);
  // a cancel may end a call's record (reply.ts): the bus lock first (a broadcast's staging
  // slice has none)
  const staged = ld32(t + A.THREAD_OP) == A.OP_BCAST;
  let bus = (!publish && !staged) || follow;
  if (bus && !lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
  if (!lockTry(d + A.CONN_LOCK)) {
    if (bus) unlock(H + A.BUS_LOCK);
    // a staged broadcast's slice (delivered, or cancelled) whose sender's lock is taken is left
    // on the sender's unfreed list, freed by its owner's next command that holds that lock
    // (aside.ts): its commit or cancel does not wait (before stop 70 a commit that delivered to
    // every receiver said EDEADLK when its free waited LOCK_WAIT_MS in vain)
    if (staged && stagedLeave(t, d)) return 0;
    return A.WOULDBLOCK;
  }
  // the look that counts is the one under d's lock: an acquire from d as the name's activator
  // moves BUS_NAME_SEQ under d's lock, before it moves d's queue, so a change that came between
  // the look above and this lock is seen here (before stop 48 the message was then published
  // in the activator after its queue had moved: left behind, out of order; CI's race test saw
  // it in 1 of 80 trials). The bus lock taken now, out of order, only by a try: contended, both
  // given back and the command run again, which follows the name
  if (it != 0 && !follow && nameSeq() != ld32(blk + A.BLOCK_PUB_PREV)) {
    if (!lockTry(H + A.BUS_LOCK)) {
      unlock(d + A.CONN_LOCK);
      return A.WOULDBLOCK;
    }
    follow = true;
    bus = true;
  }
  const to = follow ? nameFollowTo(d, ld32(d + A.CONN_GEN) == ld32(t + A.THREAD_OP_GEN), it) : 0;
  if (to != 0 && !lockTry(to + A.CONN_LOCK)) {
    unlock(d + A.CONN_LOCK);
    unlock(H + A.BUS_LOCK);
    return A.WOULDBLOCK;
  }
  const target = to != 0 ? to : d;
  // the monitors' locks before the slice is published (a broadcast's staging slice has none:
  // its delivery made its copies)
  if (mons && !monitorsLock(target)) {
    if (to != 0) unlock(to + A.CONN_LOCK);
    unlock(d + A.CONN_LOCK);
    if (bus) unlock(H + A.BUS_LOCK);
    return A.WOULDBLOCK;
  }
  // (a name's owner without room for it: the message stays where it was reserved, if that
  // receiver is open and no activator, else it is dropped; name-follow.ts)
  let b: u32 = 0, into = d;
  if (to != 0) {
    const same = ld32(d + A.CONN_GEN) == ld32(t + A.THREAD_OP_GEN);
    b = nameMoveReserved(t, d, to, same);
    if (b != 0) into = to;
    else if (staysOnNoRoom(d, same)) b = sendFinish(t, true);
  } else {
    if (staged) unfreedFree(d); // (earlier staging slices of its sender left to free)
    b = sendFinish(t, publish);
  }
  logCommit();
  // the monitors' copies of a host-vector SEND, or of a cancelled reply's REPLY_DEAD (monitor.ts)
  if (b != 0) monitorsCopy(into, b, mons, mons);
  else if (mons) monitorsUnlock(target);
  if (to != 0) unlock(to + A.CONN_LOCK);
  unlock(d + A.CONN_LOCK);
  if (bus) unlock(H + A.BUS_LOCK);
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
