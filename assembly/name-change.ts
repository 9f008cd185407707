// name-change: the registry's change records passed on as notifications (notify.ts), and a
// closing connection's names released (BYEBYE and recovery, through connClose), each
// passed on to the next in its queue.
import * as A from "../js/shared/abi";
import { ld32, aAdd } from "./mem";
import { notifyNameChange, notifyHasRoom, notifyRecSize, notifyFlushMid } from "./notify";
import { chgName, chgLen, chgOld, chgNew, chgOldFlags, chgNewFlags, nameOwnerDrop, ownerName, ownerNextOfConn, connFirstOwner,
  namePrimary, nameEntry, ownerConn, ownerIsActivator } from "./registry";
import { lockTryBounded, unlock, wake, wakeWaiters } from "./lock";
import { wr32, logDue, logCommit } from "./journal";
import { activatorMove, activatorCount } from "./activator";

/**
 * Send the notification of the registry's last change record, if any (bus lock held), to
 * every matching connection but `skip` (a closing connection, whose lock the caller holds; 0: none);
 * queued at `q` (a close's queue, notify.ts; 0: sent now).
 */
export function nameNotify(skip: u32, q: u32): void {
  const e = chgName;
  if (e == 0) return;
  const o = chgOld, n = chgNew;
  if (o != 0 && o != n) nameLeft(o);
  notifyNameChange(e + A.NAME_STR, chgLen,
    o == 0 ? 0 : ld32(o + A.CONN_ID), o == 0 ? 0 : ld32(o + A.CONN_ID + 4),
    n == 0 ? 0 : ld32(n + A.CONN_ID), n == 0 ? 0 : ld32(n + A.CONN_ID + 4),
    chgOldFlags, chgNewFlags, skip, q);
}

/**
 * A well-known name left connection `c`, its primary owner (bus lock held): senders by name
 * waiting for room in `c` (sendAsync) look again: BUS_NAME_SEQ moves, `c`'s space word is
 * bumped, and its line of waiting senders (CONN_TURN_SERVING, the hosts' ticket line) is woken
 * without a change. Not journaled: a bump whose change is undone only makes them look again.
 */
function nameLeft(c: u32): void {
  aAdd(A.BUS_BASE + A.BUS_NAME_SEQ, 1);
  wake(c + A.CONN_SPACE, c + A.CONN_SPACE_SLEEPERS);
  wakeWaiters(c + A.CONN_TURN_SERVING, c + A.CONN_TURN_SLEEPERS);
}

/**
 * Connection `c` is closing (bus and connection locks held): drop each of its owner records,
 * passing each name it owns to the next in its queue, its notifications queued at `q`. Its own list is walked, not changed
 * (the slot's fields are don't-care once it is free), but where the close commits in the
 * middle: there its list's head and count are set to what is left (whole), so that what is
 * committed is as if made by commands of their own (the connection still open, owning the
 * rest). It commits in the middle when its log is due (logDue: a close too long for one log),
 * and when the queue has no room for the next notification (notifyFlushMid: what is queued is
 * sent first, in order; the ID_REMOVE that ends the close gets its room here too). Since stop
 * 49 (an outside audit). At most MAX_NAMES_PER_CONN steps.
 */
export function namesDropAll(c: u32, q: u32): void {
  let left = ld32(c + A.CONN_N_NAMES);
  let cur = ld32(c + A.CONN_NAMES);
  for (let o = connFirstOwner(c); o != 0;) {
    const e = ownerName(o);
    if (q != 0 && !notifyHasRoom(q, notifyRecSize(ld32(e + A.NAME_LEN)))) {
      listWhole(c, cur, left);
      notifyFlushMid(q);
    }
    const nextIndex = ld32(o + A.NAME_O_CNEXT);
    const next = ownerNextOfConn(o);
    nameOwnerDrop(e, o, false);
    nameNotify(c, q); // queued (sent once the close is committed); not to c itself: it is closing, and its lock is held (taking it again traps)
    left--;
    cur = nextIndex;
    if (logDue()) {
      listWhole(c, cur, left);
      logCommit();
    }
    o = next;
  }
  if (q != 0 && !notifyHasRoom(q, notifyRecSize(0xffffffff))) {
    listWhole(c, 0, 0);
    notifyFlushMid(q);
  }
}

/** Connection `c`'s list of owner records: from record index `head` on, `left` of them (namesDropAll's commits in the middle). */
function listWhole(c: u32, head: u32, left: u32): void {
  wr32(c + A.CONN_NAMES, head);
  wr32(c + A.CONN_N_NAMES, left);
}

/**
 * Connection `c` is closing (bus and connection locks held, nothing changed yet): the
 * messages still queued in it that were sent to a name it owns whose activator takes the name
 * back move to that activator first (kdbus). Only a recovery and BYEBYE_DROP close a
 * connection with a queue (a plain BYEBYE needs it empty). An activator whose lock stays contended does not get them back:
 * they go with `c`, counted in the activator's dropped count. Each move is committed on its own.
 */
export function namesHandBack(c: u32): void {
  if (ld32(c + A.CONN_N_QUEUED) == 0) return;
  for (let o = connFirstOwner(c); o != 0; o = ownerNextOfConn(o)) {
    const e = ownerName(o);
    if (namePrimary(e) != o) continue;
    const next = nameEntry(ld32(o + A.NAME_O_QNEXT));
    if (next == 0 || !ownerIsActivator(next)) continue;
    const act = ownerConn(next);
    if (!lockTryBounded(act + A.CONN_LOCK)) {
      aAdd(act + A.CONN_KMSG_LOST, activatorCount(c, e + A.NAME_STR, ld32(e + A.NAME_LEN)));
      continue;
    }
    activatorMove(c, act, e + A.NAME_STR, ld32(e + A.NAME_LEN));
    unlock(act + A.CONN_LOCK);
  }
}
