// broadcast: a signal to the broadcast id (~0), delivered to every ordinary open
// connection but the sender whose match entries accept it (match.ts), and to every monitor,
// one receiver at a time under that receiver's lock. Its metadata is collected once, before
// any lock, for every receiver (each gets the items of its own attach_recv); the sender's owned
// names, when a receiver asks for them, under the bus lock, held for the whole delivery. Delivery is per
// receiver, as in kdbus: a receiver whose quota or pool is full does not get it (its
// CONN_DROPPED goes up, reported by its next RECV), and the sender is never told. A receiver
// whose lock is held is waited for: the broadcast stops there and goes on when run again
// (broadcast() below; docs/ARCHITECTURE.md, "Broadcasts that wait for a contended receiver").
//
// The payload lies in shared memory (the command area, the user region, or the staging slice
// in the sender's pool that a broadcast with host vecs is copied to first: stage.ts): the
// core copies it into each receiver's slice. While the bus has NAME rules the whole walk
// holds the bus lock (taken first: the lock order), which keeps the name registry still
// (match.ts).
import * as A from "../js/shared/abi";
import { ld32, st32, st64, aAdd, THREAD } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTry, unlock } from "./lock";
import { fail } from "./reason";
import { busConns, busNConns } from "./bus";
import { monitorsAny, walkFirst, walkVisits } from "./monitor";
import { align8 } from "./items";
import { matchSignal, matchNamesLocked } from "./match";
import { metaMask, metaCollect, metaNames, metaGot } from "./meta";
import { ownedMayHave } from "./owned";
import { sliceMsgSize, sliceReserve, sliceBlock, sliceWrite, slicePublish } from "./slice";

const H: u32 = A.BUS_BASE;

/**
 * Deliver the validated signal at `msg` (to ~0, with `nVecs` VECs of `stored` bytes in
 * shared memory and the BLOOM_FILTER item at `bloom`) from connection `c` to every receiver,
 * from the position in the thread's op_from on (0 at first). A position is pass × n + slot
 * (monitors are served in pass 0). `staged`: the message is a staged broadcast's (stage.ts),
 * op_from is logged with each receiver's delivery, so that a send_commit run again after a
 * trap goes on where it stopped; else (an in-memory SEND) a stop makes the thread's op
 * OP_BCAST_MEM, and SEND run again goes on (broadcastResume).
 *
 * Lossless under contention: a receiver whose lock is contended is not passed over (unless its
 * entries, read under the bus lock, refuse the signal: refusesUnlocked). Its
 * position goes to op_from (with BCAST_MET: the metadata is collected once, the first time)
 * and the command returns WOULDBLOCK with THREAD_BCAST_SKIP = BCAST_WAITING; the host waits
 * on the lock word and runs it again. When the host gives up (the holder is not LIVE, or
 * LOCK_WAIT_MS passed), it runs it again with BCAST_SKIP: that receiver loses the message
 * (CONN_KMSG_LOST, counted without its rules: they may only be read under its lock) and the
 * others get it. No lock is held while the host waits (the bus lock is given back and taken
 * again). 0, WOULDBLOCK, or -EDEADLK (R_BCAST_BUS_LOCK).
 * O(n_conns): a connection without entries is passed without its lock.
 */
export function broadcast(c: u32, msg: u32, msgEnd: u32, nVecs: u32, stored: u32, bloom: u32, staged: bool): i32 {
  const t = THREAD;
  const progress = t + A.THREAD_OP_FROM;
  const at = ld32(progress);
  const first = (at & A.BCAST_MET) == 0;
  const from = u32(at & ~A.BCAST_MET);
  // the host's request to pass the receiver at `from` over (it gave its wait up); any other
  // value of the word is stale
  const skipAt = ld32(t + A.THREAD_BCAST_SKIP) == A.BCAST_SKIP ? from : 0xffffffff;
  st32(t + A.THREAD_BCAST_SKIP, 0);
  // the metadata collected once, before any delivery: what the sender's send mask allows and
  // some possible receiver asks for (kdbus collected per receiver, only what it needed; before
  // stop 44 the whole send mask was asked of the provider, so a provider failing on an item no
  // receiver wanted failed every broadcast: an outside audit). Each receiver gets its own
  // mask's share of it (metaGot)
  const want = first ? (ld32(c + A.CONN_ATTACH_SEND) & A.ATTACH_IMPLEMENTED & wantedBy(c)) : 0;
  // OWNED_NAME: read from the registry under the bus lock, held through the delivery
  // (before any receiver's lock: the lock order), only when the sender may own a name and a
  // possible receiver asks for names; WOULDBLOCK here is before anything was delivered.
  // NAME rules in match entries (match.ts) need the registry still too: the same hold. A
  // broadcast that goes on after a wait takes the lock again for its NAME rules only: its
  // owned names were read the first time
  const owned = first && (want & A.ATTACH_NAMES) != 0 && ownedMayHave(c);
  const names = matchNamesLocked();
  if (first) metaCollect(t, want);
  if (owned || names) {
    if (!lockTry(H + A.BUS_LOCK)) {
      if (first) return A.WOULDBLOCK; // nothing delivered: the command runs again from the start
      if (skipAt != 0xffffffff) return busLockLost(t, staged);
      return stop(t, c, from, staged);
    }
    if (owned) metaNames(t, c);
  }
  if (first) st32(progress, A.BCAST_MET); // not logged: the metadata stays collected
  // a receiver's full quota is not the SEND's failure: keep the thread's reason words
  const reason = ld32(t + A.THREAD_REASON), arg = ld32(t + A.THREAD_REASON_ARG);
  const uid = ld32(c + A.CONN_UID);
  const n = busNConns();
  // the walk (monitor.ts): monitors first, every one; then the connections whose entries match
  for (let pos = walkFirst(from, n, monitorsAny()); pos < n + n; pos++) {
    const pass: u32 = pos < n ? 0 : 1;
    const d = busConns() + (pos - pass * n) * A.CONN_SIZE;
    if (!walkVisits(d, c, pass)) continue;
    const mon = pass == 0;
    if (!lockTry(d + A.CONN_LOCK)) {
      if (pos != skipAt) {
        // a receiver whose entries refuse the signal is passed over, not waited for (before
        // stop 50 it was waited for whatever its rules: a terminated, unrecovered worker's
        // connection with one unrelated rule cost each broadcast LOCK_WAIT_MS)
        if (!mon && refusesUnlocked(d, c, bloom, owned || names)) {
          st32(progress, u32((pos + 1) | A.BCAST_MET)); // the log is empty here (each delivery commits)
          continue;
        }
        // wait for it (the host), then go on here; the word to wait on is recorded
        if (owned || names) unlock(H + A.BUS_LOCK);
        st32(t + A.THREAD_REASON, reason);
        st32(t + A.THREAD_REASON_ARG, arg);
        return stop(t, c, pos, staged);
      }
      // the host gave its wait up: lost to this receiver alone, if it would have got it
      if (mon || matchUnlocked(d, c, bloom, owned || names, names)) aAdd(d + A.CONN_KMSG_LOST, 1);
      st32(progress, u32((pos + 1) | A.BCAST_MET)); // the log is empty here (each delivery commits)
      continue;
    }
    const next = u32((pos + 1) | A.BCAST_MET);
    if (staged) wr32(progress, next); // undone with this receiver's delivery
    else st32(progress, next); // a trap ends an in-memory broadcast (unwind)
    if (ld32(d + A.CONN_STATE) == A.CONN_ACTIVE && (mon || matchSignal(d, c, 0xffffffff, 0xffffffff, bloom, names))) {
      const mask = metaMask(c, d) & metaGot(t);
      const msgSize = sliceMsgSize(nVecs, 0, t, c, mask);
      if (sliceReserve(d, uid, A.BLOCK_HDR + align8(msgSize) + stored) < 0) {
        wr32(d + A.CONN_DROPPED, ld32(d + A.CONN_DROPPED) + 1);
      } else {
        sliceWrite(sliceBlock, msg, msgEnd, msgSize, d, c, 0, 0, t, mask);
        st64(sliceBlock + A.BLOCK_HDR + A.MSG_DST_ID, 0xffffffff, 0xffffffff); // kdbus: dst_id stays ~0
        slicePublish(d, sliceBlock);
      }
    }
    logCommit();
    unlock(d + A.CONN_LOCK);
  }
  if (owned || names) unlock(H + A.BUS_LOCK);
  if (!staged) st32(t + A.THREAD_OP, A.OP_NONE);
  st32(t + A.THREAD_REASON, reason);
  st32(t + A.THREAD_REASON_ARG, arg);
  return 0;
}

/**
 * Would receiver `d`'s entries accept the signal (bloom `bloom` from `c`), read without d's
 * lock? Its entries change only under the bus lock (MATCH_ADD, MATCH_REMOVE, close), so they
 * are read under that lock (`held`: the broadcast holds it; else it is tried). When the bus
 * lock is contended too: true (the loss is counted without the check).
 */
function matchUnlocked(d: u32, c: u32, bloom: u32, held: bool, names: bool): bool {
  if (held) return matchSignal(d, c, 0xffffffff, 0xffffffff, bloom, names);
  if (!lockTry(H + A.BUS_LOCK)) return true;
  const r = ld32(d + A.CONN_STATE) == A.CONN_ACTIVE && matchSignal(d, c, 0xffffffff, 0xffffffff, bloom, true);
  unlock(H + A.BUS_LOCK);
  return r;
}

/**
 * Do receiver `d`'s entries (or its state) refuse the signal (bloom `bloom` from `c`), read
 * without d's lock, which another thread holds? They change only under the bus lock, so they
 * are read under it (`held`: the broadcast holds it; else it is tried). When the bus lock is
 * contended too: false (the receiver is waited for), and the word recorded for the host to
 * wait on stays d's lock.
 */
function refusesUnlocked(d: u32, c: u32, bloom: u32, held: bool): bool {
  if (held) return ld32(d + A.CONN_STATE) != A.CONN_ACTIVE || !matchSignal(d, c, 0xffffffff, 0xffffffff, bloom, true);
  const t = THREAD, addr = ld32(t + A.THREAD_WAIT_ADDR), val = ld32(t + A.THREAD_WAIT_VAL);
  if (!lockTry(H + A.BUS_LOCK)) {
    st32(t + A.THREAD_WAIT_ADDR, addr);
    st32(t + A.THREAD_WAIT_VAL, val);
    return false;
  }
  const r = ld32(d + A.CONN_STATE) != A.CONN_ACTIVE || !matchSignal(d, c, 0xffffffff, 0xffffffff, bloom, true);
  unlock(H + A.BUS_LOCK);
  return r;
}

/** Stop at position `pos` (a contended lock, recorded by lockTry) for the host to wait and run the command again. */
function stop(t: u32, c: u32, pos: u32, staged: bool): i32 {
  st32(t + A.THREAD_OP_FROM, u32(pos | A.BCAST_MET));
  st32(t + A.THREAD_BCAST_SKIP, A.BCAST_WAITING);
  if (!staged) {
    st32(t + A.THREAD_OP_CONN, u32((c - busConns()) / A.CONN_SIZE));
    st32(t + A.THREAD_OP_GEN, ld32(c + A.CONN_GEN));
    st32(t + A.THREAD_OP, A.OP_BCAST_MEM);
  }
  return A.WOULDBLOCK;
}

/** A broadcast that went on after a wait gave up on the bus lock: the rest do not get it (a staged one keeps its reservation). */
function busLockLost(t: u32, staged: bool): i32 {
  if (!staged) st32(t + A.THREAD_OP, A.OP_NONE);
  return fail(A.EDEADLK, A.R_BCAST_BUS_LOCK);
}

/**
 * Deliver the broadcast message at `m` .. `end` (its VECs pointing at their bytes in shared
 * memory) from connection `c`, going on from the thread's op_from (broadcast): its VECs and
 * BLOOM_FILTER are found again in the message, which was validated by SEND.
 */
export function broadcastFrom(c: u32, m: u32, end: u32, staged: bool): i32 {
  let nVecs: u32 = 0, stored: u32 = 0, bloom: u32 = 0;
  for (let p = m + A.MSG_HDR; p < end; p += align8(ld32(p + A.ITEM_SIZE))) {
    const type = ld32(p + A.ITEM_TYPE);
    if (type == A.ITEM_BLOOM_FILTER) bloom = p;
    if (type != A.ITEM_PAYLOAD_VEC) continue;
    nVecs++;
    if (ld32(p + A.VEC_ADDRESS) != 0 || ld32(p + A.VEC_ADDRESS + 4) != 0) stored += align8(ld32(p + A.VEC_SIZE));
  }
  return broadcast(c, m, end, nVecs, stored, bloom, staged);
}

/**
 * SEND run again for the in-memory broadcast the thread stopped (OP_BCAST_MEM): goes on
 * where it stopped, with the message still in the command area. A sender closed meanwhile
 * sends nothing more.
 */
export function broadcastResume(t: u32, cmd: u32): i32 {
  const c = busConns() + ld32(t + A.THREAD_OP_CONN) * A.CONN_SIZE;
  if (ld32(c + A.CONN_STATE) != A.CONN_ACTIVE || ld32(c + A.CONN_GEN) != ld32(t + A.THREAD_OP_GEN)) {
    st32(t + A.THREAD_OP, A.OP_NONE);
    st32(t + A.THREAD_BCAST_SKIP, 0);
    return 0;
  }
  const msg = ld32(cmd + A.SEND_MSG_ADDRESS);
  return broadcastFrom(c, msg, msg + ld32(msg + A.MSG_SIZE), false);
}

/**
 * Will a broadcast from `c` need the bus lock for its delivery (NAME rules in match entries, or
 * the sender's owned names, asked for by some possible receiver: broadcast() above)? Unlocked
 * reads, as broadcast()'s before it takes the lock. stage.ts waits for that lock before it
 * reserves and copies anything.
 */
export function broadcastNeedsBusLock(c: u32): bool {
  if (matchNamesLocked()) return true;
  return (ld32(c + A.CONN_ATTACH_SEND) & A.ATTACH_IMPLEMENTED & A.ATTACH_NAMES) != 0 && ownedMayHave(c) && (wantedBy(c) & A.ATTACH_NAMES) != 0;
}

/**
 * The attach bits some possible receiver of a broadcast from `c` asks for: the union of the
 * receive masks of the connections either pass of the walk visits (monitor.ts). Unlocked reads,
 * as metaMask's: a mask changed meanwhile applies from the next message on; a receiver that
 * asks for an item no receiver asked for when the metadata was collected gets none of it in
 * this message. Stops once every bit of the sender's send mask is asked for.
 */
function wantedBy(c: u32): u32 {
  const all = ld32(c + A.CONN_ATTACH_SEND) & A.ATTACH_IMPLEMENTED;
  const n = busNConns();
  let m: u32 = 0;
  for (let s: u32 = 0; s < n && (m & all) != all; s++) {
    const d = busConns() + s * A.CONN_SIZE;
    if (walkVisits(d, c, 0) || walkVisits(d, c, 1)) m |= ld32(d + A.CONN_ATTACH_RECV);
  }
  return m;
}
