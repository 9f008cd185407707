// broadcast: a signal to the broadcast id (~0), delivered to every ordinary open
// connection but the sender whose match entries accept it (match.ts), and to every monitor, one receiver at a
// time under that receiver's lock alone. Its metadata is collected once, before any lock,
// for every receiver (each gets the items of its own attach_recv). Delivery is per
// receiver, as in kdbus: a receiver whose quota or pool is full does not get it (its
// CONN_DROPPED goes up, reported by its next RECV), and the sender is never told.
//
// The payload must lie in shared memory (the command area or the user region): the core
// copies it into each receiver's slice. Host vecs, which the two-phase send copies into one
// reserved slice, are refused for broadcasts (docs/DIFFERENCES.md; the staging slice of
// docs/ARCHITECTURE.md is the way to lift that).
import * as A from "../js/shared/abi";
import { ld32, st32, st64, aAdd, THREAD } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTryBounded, unlock } from "./lock";
import { busConns, busNConns } from "./bus";
import { monitorsAny, isMonitor } from "./monitor";
import { align8 } from "./items";
import { matchSignal } from "./match";
import { metaMask, metaCollect } from "./meta";
import { sliceMsgSize, sliceReserve, sliceBlock, sliceWrite, slicePublish } from "./slice";

const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;

/**
 * Deliver the validated signal at `msg` (to ~0, with `nVecs` VECs of `stored` bytes in
 * shared memory and the BLOOM_FILTER item at `bloom`) from connection `c`. Always 0.
 * O(n_conns): a connection without entries is passed without its lock.
 */
export function broadcast(c: u32, msg: u32, msgEnd: u32, nVecs: u32, stored: u32, bloom: u32): i32 {
  const t = THREAD;
  metaCollect(t, c, ld32(c + A.CONN_ATTACH_SEND) & A.ATTACH_IMPLEMENTED);
  // a receiver's full quota is not the SEND's failure: keep the thread's reason words
  const reason = ld32(t + A.THREAD_REASON), arg = ld32(t + A.THREAD_REASON_ARG);
  const uid = ld32(c + A.CONN_UID);
  const n = busNConns();
  // monitors first (kdbus, KDBUS.md: a receiver must not react before a monitor has the
  // message), then the others; without monitors, one pass
  const mons = monitorsAny();
  for (let pass: u32 = mons ? 0 : 1; pass < 2; pass++) for (let s: u32 = 0; s < n; s++) {
    const d = busConns() + s * A.CONN_SIZE;
    if (d == c || ld32(d + A.CONN_STATE) != A.CONN_ACTIVE) continue;
    // a monitor gets every broadcast, without matches; other kinds none (without monitors on
    // the bus, the connections without match entries are passed as before: no more loads)
    const mon = mons && isMonitor(d);
    if (mon != (pass == 0)) continue;
    if (!mon && (ld32(d + A.CONN_N_MATCHES) == 0 || (ld32(d + A.CONN_FLAGS) & KINDS) != 0)) continue;
    if (!lockTryBounded(d + A.CONN_LOCK)) {
      aAdd(d + A.CONN_KMSG_LOST, 1); // lost to a lock that stayed contended
      continue;
    }
    if (ld32(d + A.CONN_STATE) == A.CONN_ACTIVE && (mon || matchSignal(d, c, 0xffffffff, 0xffffffff, bloom))) {
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
  st32(t + A.THREAD_REASON, reason);
  st32(t + A.THREAD_REASON_ARG, arg);
  return 0;
}
