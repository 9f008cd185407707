// monitor: copies of the bus's unicast messages for its monitors (HELLO_MONITOR). A unicast
// is copied from the receiver's slice, byte for byte (its metadata is what the receiver got),
// once it is queued there and committed: so a command that returned WOULDBLOCK before has
// copied nothing, and one that commits copies once. A host-vector SEND is copied at
// send_commit, when its bytes are in the slice; the bus's REPLY_TIMEOUT / REPLY_DEAD to a
// caller once it is queued (reply.ts's sweep, a cancelled reply: send.ts, recover.ts). Broadcasts and bus notifications are written
// to each monitor like to any receiver, with the monitor's own receive mask (broadcast.ts,
// notify.ts).
//
// Locks. A SEND, SEND_BATCH or send_commit takes its monitors' locks before it delivers, with
// the receiver's lock held (monitorsLock): each is tried (lockTry), and one that stays
// contended makes the command return WOULDBLOCK having changed nothing, so that its host waits
// on that monitor's lock word and runs it again, as it waits for a contended receiver. The
// host gives such a wait up as it gives a broadcast's up (the holder is not LIVE, or
// LOCK_WAIT_MS passed) and says BCAST_SKIP: run again, the command passes over the monitors
// still contended up to that one, which lose the copy. (Before stop 26 the copies were made
// after the delivery, each monitor's lock only tried, and a monitor whose lock was contended
// for a few microseconds lost its copy: DIFFERENCES.md, G7.) No lock is waited for while one
// is held: the waiting is the host's, after the command gave every lock back. The bus's own
// copies (the reply sweep, a recovery's REPLY_DEAD) still only try each monitor's lock
// (lockTryBounded): they cannot back out. A monitor that cannot take a copy (passed over, or
// its quota or pool full) loses it alone, counted in its dropped count and reported by its
// next RECV as DROPPED_MSGS.
import * as A from "../js/shared/abi";
import { ld32, st32, copy, aAdd, aLoad, THREAD } from "./mem";
import { wr32, logCommit } from "./journal";
import { lockTry, lockTryBounded, unlock } from "./lock";
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

/** Does this thread hold lock word `p`? */
function mine(p: u32): bool {
  return (aLoad(p) & A.LOCK_ID_MASK) == ld32(THREAD + A.THREAD_ID);
}

/**
 * Lock every open monitor but `d` before a unicast is delivered into `d` (its lock held).
 * true: each is locked by this thread, but for those passed over (contended, at a slot below
 * the one the host gave its wait up at: monitorsCopy tries each once more, and counts its
 * loss when it stays contended). false:
 * one stays contended; the locks taken are given back, its word is recorded for the host to
 * wait on (THREAD_WAIT_ADDR), THREAD_MON_SKIP holds its slot + 1 and THREAD_BCAST_SKIP says
 * BCAST_WAITING: the caller gives its own locks back and returns WOULDBLOCK.
 */
export function monitorsLock(d: u32): bool {
  const t = THREAD;
  // (the host gave its wait up: the monitors still contended below this slot are passed over)
  const skip = ld32(t + A.THREAD_BCAST_SKIP) == A.BCAST_SKIP ? ld32(t + A.THREAD_MON_SKIP) : 0;
  st32(t + A.THREAD_BCAST_SKIP, 0);
  if (!monitorsAny()) return true;
  const n = busNConns();
  for (let s: u32 = 0; s < n; s++) {
    const m = busConns() + s * A.CONN_SIZE;
    if (m == d || ld32(m + A.CONN_STATE) != A.CONN_ACTIVE || !isMonitor(m)) continue;
    if (lockTry(m + A.CONN_LOCK) || s < skip) continue;
    monitorsUnlock(d);
    st32(t + A.THREAD_MON_SKIP, s + 1);
    st32(t + A.THREAD_BCAST_SKIP, A.BCAST_WAITING);
    return false;
  }
  return true;
}

/**
 * A unicast command (SEND, send_commit) starts: a BCAST_WAITING left by its last run means
 * that run stopped at a monitor and the host has waited and not given up, so it is cleared:
 * if this run stops at another lock (the bus lock, the receiver's) before monitorsLock, the
 * host's wait for that one must not read as a monitor's (a BCAST_SKIP, the host's word to pass
 * contended monitors over, stays for monitorsLock).
 */
export function monitorsWaitEnd(t: u32): void {
  if (ld32(t + A.THREAD_BCAST_SKIP) == A.BCAST_WAITING) st32(t + A.THREAD_BCAST_SKIP, 0);
}

/** Give back the monitors' locks monitorsLock took (the receiver `d`'s lock still held). */
export function monitorsUnlock(d: u32): void {
  if (monitorsAny()) {
    const n = busNConns();
    for (let s: u32 = 0; s < n; s++) {
      const m = busConns() + s * A.CONN_SIZE;
      // (monitors only: a command may hold other connections' locks beside the receiver's, as
      // send_commit does when its message follows its name: name-follow.ts)
      if (m != d && isMonitor(m) && mine(m + A.CONN_LOCK)) unlock(m + A.CONN_LOCK);
    }
  }
}

/**
 * Copy the queued slice of block `b` in receiver `d` (its lock held, the delivery committed)
 * into every open monitor's pool, charged to the sending user (the block's quota entry).
 * `locked`: the caller ran monitorsLock (the monitors' locks are held, or they were passed
 * over); else each monitor's lock is tried here and given back. `release`: this is the last
 * copy under monitorsLock, so each held lock is given back after its copy, in the same walk
 * (no monitorsUnlock after it: one walk of the connections less per send).
 */
export function monitorsCopy(d: u32, b: u32, locked: bool, release: bool): void {
  if (!monitorsAny()) return;
  const t = THREAD;
  const reason = ld32(t + A.THREAD_REASON), arg = ld32(t + A.THREAD_REASON_ARG);
  const acct = ld32(b + A.BLOCK_ACCT);
  const uid = ld32(d + A.CONN_QUOTA + ld32(b + A.BLOCK_QUSER) * A.QUOTA_SIZE + A.QUOTA_UID);
  const n = busNConns();
  for (let s: u32 = 0; s < n; s++) {
    const m = busConns() + s * A.CONN_SIZE;
    if (m == d || ld32(m + A.CONN_STATE) != A.CONN_ACTIVE || !isMonitor(m)) continue;
    // a monitor locked by monitorsLock stays locked (monitorsUnlock); one it passed over gets
    // a last try (LOCK_SPIN compare-exchanges: it was waited for already), as does one that
    // became a monitor since; for a caller that locked none, each is tried DELIVER_LOCK_TRIES
    // times (before, a passed-over monitor got those 64 tries too: 0.5 ms per send on the twin
    // while its lock stayed stuck, an outside audit's burst of 200 sendAsync()s)
    const held = locked && mine(m + A.CONN_LOCK);
    if (!held && !(locked ? lockTry(m + A.CONN_LOCK) : lockTryBounded(m + A.CONN_LOCK))) {
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
    if (!held || release) unlock(m + A.CONN_LOCK);
  }
  st32(t + A.THREAD_REASON, reason);
  st32(t + A.THREAD_REASON_ARG, arg);
}
