// monitor: copies of the bus's unicast messages for its monitors (HELLO_MONITOR). A unicast
// is copied from the receiver's slice, byte for byte (its metadata is what the receiver got),
// once it is queued there and committed: so a command that returned WOULDBLOCK before has
// copied nothing, and one that commits copies once. A host-vector SEND is copied at
// send_commit, when its bytes are in the slice; the bus's REPLY_TIMEOUT / REPLY_DEAD to a
// caller once it is queued (reply.ts's sweep, a cancelled reply: send.ts, recover.ts). Broadcasts and bus notifications are written
// to each monitor like to any receiver, with the monitor's own receive mask (broadcast.ts,
// notify.ts).
//
// Locks: the receiver's lock is held (its slice must not be freed while it is read); each
// monitor's lock is only tried (lockTryBounded), so a command never waits holding a lock. A
// monitor that cannot take the copy (its lock stays contended, its quota or pool is full) loses
// it alone, counted in its dropped count, reported by its next RECV as DROPPED_MSGS.
import * as A from "../js/shared/abi";
import { ld32, st32, copy, aAdd, aLoad, THREAD } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTryBounded, unlock } from "./lock";
import { busConns, busNConns } from "./bus";
import { sliceReserve, sliceBlock, slicePublish } from "./slice";

const H: u32 = A.BUS_BASE;

/** Any monitor on the bus? (one atomic load: the path without monitors costs nothing else) */
export function monitorsAny(): bool {
  return aLoad(H + A.BUS_N_MONITORS) != 0;
}

/** Is connection `d` a monitor? */
export function isMonitor(d: u32): bool {
  return (ld32(d + A.CONN_FLAGS) & A.HELLO_MONITOR) != 0;
}

const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;

// The delivery walk of a broadcast or a bus notification: monitors first (kdbus, KDBUS.md: a
// receiver must not react before a monitor has the message), then the others. It visits
// positions p = pass × n + slot (pass 0: the monitors; n: the connection slots), from
// walkFirst(…) to 2n − 1, and delivers to the connections walkVisits accepts; a walk that
// stops at a contended receiver goes on at that position.

/** The first position of a walk that goes on at `from`: without monitors, pass 0 is passed. */
export function walkFirst(from: u32, n: u32, mons: bool): u32 {
  return !mons && from < n ? n : from;
}

/**
 * Does a walk that leaves out `skip` deliver to connection `d` in pass `pass`? An open monitor
 * in pass 0 (without matches); an open ordinary connection with match entries in pass 1 (the
 * others, connections without entries included, are passed without a lock).
 */
export function walkVisits(d: u32, skip: u32, pass: u32): bool {
  if (d == skip || ld32(d + A.CONN_STATE) != A.CONN_ACTIVE) return false;
  if (pass == 0) return isMonitor(d);
  return ld32(d + A.CONN_N_MATCHES) != 0 && (ld32(d + A.CONN_FLAGS) & KINDS) == 0;
}

/**
 * Copy the queued slice of block `b` in receiver `d` (its lock held, the delivery committed)
 * into every open monitor's pool, charged to the sending user (the block's quota entry).
 */
export function monitorsCopy(d: u32, b: u32): void {
  if (!monitorsAny()) return;
  const t = THREAD;
  const reason = ld32(t + A.THREAD_REASON), arg = ld32(t + A.THREAD_REASON_ARG);
  const acct = ld32(b + A.BLOCK_ACCT);
  const uid = ld32(d + A.CONN_QUOTA + ld32(b + A.BLOCK_QUSER) * A.QUOTA_SIZE + A.QUOTA_UID);
  const n = busNConns();
  for (let s: u32 = 0; s < n; s++) {
    const m = busConns() + s * A.CONN_SIZE;
    if (m == d || ld32(m + A.CONN_STATE) != A.CONN_ACTIVE || !isMonitor(m)) continue;
    if (!lockTryBounded(m + A.CONN_LOCK)) {
      aAdd(m + A.CONN_KMSG_LOST, 1);
      continue;
    }
    if (ld32(m + A.CONN_STATE) == A.CONN_ACTIVE) {
      if (sliceReserve(m, uid, acct) < 0) wr32(m + A.CONN_DROPPED, ld32(m + A.CONN_DROPPED) + 1);
      else {
        copy(sliceBlock + A.BLOCK_HDR, b + A.BLOCK_HDR, acct - A.BLOCK_HDR);
        slicePublish(m, sliceBlock);
      }
    }
    logCommit();
    unlock(m + A.CONN_LOCK);
  }
  st32(t + A.THREAD_REASON, reason);
  st32(t + A.THREAD_REASON_ARG, arg);
}
