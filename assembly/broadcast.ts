// broadcast: a signal to the broadcast id (~0), delivered to every ordinary open
// connection but the sender whose match entries accept it (match.ts), and to every monitor,
// one receiver at a time under that receiver's lock. Its metadata is collected once, before
// any lock, for every receiver (each gets the items of its own attach_recv); the sender's owned
// names, when a receiver asks for them, under the bus lock, held for the whole delivery. Delivery is per
// receiver, as in kdbus: a receiver whose quota or pool is full does not get it (its
// CONN_DROPPED goes up, reported by its next RECV), and the sender is never told.
//
// The payload lies in shared memory (the command area, the user region, or the staging slice
// in the sender's pool that a broadcast with host vecs is copied to first: stage.ts): the
// core copies it into each receiver's slice. While the bus has NAME rules the whole walk
// holds the bus lock (taken first: the lock order), which keeps the name registry still
// (match.ts).
import * as A from "../js/shared/abi";
import { ld32, st32, st64, aAdd, THREAD } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTry, lockTryBounded, unlock } from "./lock";
import { busConns, busNConns } from "./bus";
import { monitorsAny, isMonitor } from "./monitor";
import { align8 } from "./items";
import { matchSignal, matchNamesLocked } from "./match";
import { metaMask, metaCollect, metaNames } from "./meta";
import { ownedMayHave } from "./owned";
import { sliceMsgSize, sliceReserve, sliceBlock, sliceWrite, slicePublish } from "./slice";

const H: u32 = A.BUS_BASE;
const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;

/**
 * Deliver the validated signal at `msg` (to ~0, with `nVecs` VECs of `stored` bytes in
 * shared memory and the BLOOM_FILTER item at `bloom`) from connection `c` to the connection
 * slots from `from` on. With `progress` (a word of the thread slot: a staged broadcast's
 * op_from), the next slot to try is logged there with each receiver's delivery, so that a
 * send_commit run again after a trap goes on where it stopped (each receiver gets it once).
 * 0, or WOULDBLOCK (the bus lock, for NAME rules, is contended: nothing was delivered).
 * O(n_conns): a connection without entries is passed without its lock.
 */
export function broadcast(c: u32, msg: u32, msgEnd: u32, nVecs: u32, stored: u32, bloom: u32, from: u32, progress: u32): i32 {
  const t = THREAD;
  const sendMask = ld32(c + A.CONN_ATTACH_SEND) & A.ATTACH_IMPLEMENTED;
  // OWNED_NAME: read from the registry under the bus lock, held through the whole delivery
  // (before any receiver's lock: the lock order), only when the sender may own a name and a
  // possible receiver asks for names; WOULDBLOCK here is before anything was delivered
  // NAME rules in match entries (match.ts) need the registry still too: the same hold
  const owned = (sendMask & A.ATTACH_NAMES) != 0 && ownedMayHave(c) && namesWanted(c);
  const names = matchNamesLocked();
  metaCollect(t, sendMask);
  if (owned || names) {
    if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
    if (owned) metaNames(t, c);
  }
  // a receiver's full quota is not the SEND's failure: keep the thread's reason words
  const reason = ld32(t + A.THREAD_REASON), arg = ld32(t + A.THREAD_REASON_ARG);
  const uid = ld32(c + A.CONN_UID);
  const n = busNConns();
  // monitors first (kdbus, KDBUS.md: a receiver must not react before a monitor has the
  // message), then the others; without monitors, one pass. A position is pass × n + slot;
  // `from` and `progress` count positions
  const mons = monitorsAny();
  let pass0: u32 = from >= n ? 1 : 0, s0: u32 = from >= n ? from - n : from;
  if (!mons && pass0 == 0) { pass0 = 1; s0 = 0; }
  for (let pass = pass0; pass < 2; pass++) for (let s: u32 = pass == pass0 ? s0 : 0; s < n; s++) {
    const d = busConns() + s * A.CONN_SIZE;
    if (d == c || ld32(d + A.CONN_STATE) != A.CONN_ACTIVE) continue;
    // a monitor gets every broadcast, without matches; other kinds none (without monitors on
    // the bus, the connections without match entries are passed as before: no more loads)
    const mon = mons && isMonitor(d);
    if (mon != (pass == 0)) continue;
    if (!mon && (ld32(d + A.CONN_N_MATCHES) == 0 || (ld32(d + A.CONN_FLAGS) & KINDS) != 0)) continue;
    if (!lockTryBounded(d + A.CONN_LOCK)) {
      aAdd(d + A.CONN_KMSG_LOST, 1); // lost to a lock that stayed contended
      if (progress != 0) st32(progress, pass * n + s + 1);
      continue;
    }
    if (progress != 0) wr32(progress, pass * n + s + 1); // undone with this receiver's delivery
    if (ld32(d + A.CONN_STATE) == A.CONN_ACTIVE && (mon || matchSignal(d, c, 0xffffffff, 0xffffffff, bloom, names))) {
      const mask = metaMask(c, d);
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
  st32(t + A.THREAD_REASON, reason);
  st32(t + A.THREAD_REASON_ARG, arg);
  return 0;
}

/**
 * Does a possible receiver of a broadcast from `c` ask for OWNED_NAME? (unlocked reads of the
 * receive masks, as metaMask's: a mask changed meanwhile applies from the next message on;
 * a receiver that asks for names the sender did not read gets none in this message)
 */
function namesWanted(c: u32): bool {
  const n = busNConns();
  for (let s: u32 = 0; s < n; s++) {
    const d = busConns() + s * A.CONN_SIZE;
    if (d == c || ld32(d + A.CONN_STATE) != A.CONN_ACTIVE) continue;
    // a monitor (no match entries) gets every broadcast; other kinds none
    if (!isMonitor(d) && (ld32(d + A.CONN_N_MATCHES) == 0 || (ld32(d + A.CONN_FLAGS) & KINDS) != 0)) continue;
    if ((ld32(d + A.CONN_ATTACH_RECV) & A.ATTACH_NAMES) != 0) return true;
  }
  return false;
}
