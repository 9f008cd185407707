// notify: bus notifications (KDBUS.md: ID_ADD, ID_REMOVE, NAME_ADD, NAME_REMOVE,
// NAME_CHANGE), kernel messages (kmsg.ts) to every connection whose match entries accept
// them (match.ts), and to every monitor. Called with the bus lock held and any of the caller's changes already
// final: each delivery takes its receiver's lock, commits the journal and unlocks, one
// receiver at a time. BYEBYE, HELLO, NAME_ACQUIRE, NAME_RELEASE and a recovery's close queue
// theirs and send them after their commit, waiting for a contended receiver (notifyEnd:
// WOULDBLOCK with the bus lock held, OP_NOTIFY, the command run again goes on). A notification
// that does not fit in the queue, or a recoverer's close while it has a send of its own
// pending, is sent with the receiver's lock only tried (lockTryBounded: a bounded spin, never a
// wait): a receiver whose lock stays contended loses the notification, counted in its
// CONN_KMSG_LOST (atomic) and reported by its next RECV as DROPPED_MSGS, like a full pool,
// when its match entries accept it (read under the bus lock alone: MATCH_ADD, MATCH_REMOVE
// and close change them under it too). docs/DIFFERENCES.md G7.
import * as A from "../js/shared/abi";
import { ld32, st32, st64, copy, fill, aAdd, THREAD } from "./mem";
import { logCommit, wrQuiet } from "./journal";
import { lockTry, lockTryBounded, unlock } from "./lock";
import { busConns, busNConns } from "./bus";
import { monitorsAny, walkFirst, walkVisits } from "./monitor";
import { matchNotify } from "./match";
import { kmsgSend } from "./kmsg";
import { metaStampInto } from "./meta";


/** Where the payload is built: the tail of the caller's command area (NOTIFY_BUF). */
function notifyBuf(): u32 {
  return THREAD + A.THREAD_CMD + A.CMD_MAX - A.NOTIFY_BUF;
}

// A notification's TIMESTAMP, taken once for all its receivers (kdbus staged a notification
// once: one seqnum, one clock reading), when the walk reaches the first receiver that asks for
// TIMESTAMP (none asking: no number taken, as before). Kept in a stamp of STAMP_SIZE bytes:
//
//   0 u32 taken (0: not yet) │ 4 pad │ 8 u64 seqnum │ 16 u64 monotonic ns │ 24 u64 realtime ns
//
// A queued notification's stamp is in its record (REC_HDR below), so that a walk run again
// after a contended receiver (notifyEnd), or taken over by the recoverer of a thread that died
// in it (notifyTakeOver), gives the rest of its receivers the same one; a notification sent at
// once has its stamp in the last STAMP_SIZE bytes of NOTIFY_BUF, past any payload (the largest
// is a name's: NOTIFY_NAME_HDR + MAX_NAME_LEN + 1 + 7 padding = 295 bytes of 512).
const STAMP_SIZE: u32 = 32;

/** The stamp of a notification sent at once (not queued), cleared (not taken). */
function directStamp(): u32 {
  const st = THREAD + A.THREAD_CMD + A.CMD_MAX - STAMP_SIZE;
  st32(st, 0);
  return st;
}

/**
 * Deliver the payload at `buf` (`size` bytes) as an item of `kind` to every ordinary open
 * connection but `skip` whose entries accept it (ids as for matchNotify). O(n_conns); the
 * connections without entries are passed without a lock.
 */
function notifyAll(kind: u32, buf: u32, size: u32, skip: u32, lo: u32, hi: u32, lo2: u32, hi2: u32, name: u32, nameLen: u32): void {
  notifyFrom(kind, buf, size, skip, lo, hi, lo2, hi2, name, nameLen, 0, 0xffffffff, false, 0, directStamp());
}

/**
 * notifyAll from position `from` (pass × n + slot, monitors being pass 0). With `wait`, a
 * receiver whose lock is contended stops the walk: its position is returned (the contended
 * word recorded by lockTry), unless it is `skipAt` (the host gave its wait up: passed over,
 * the loss counted); without, a bounded spin, then the loss. 0xffffffff: every receiver done.
 * `prog` (a thread slot, 0: none): its THREAD_OP_LEN follows the walk, the position after
 * each receiver journaled in that receiver's commit (a delivery and its progress are one).
 * `stamp`: the notification's TIMESTAMP stamp (above), taken at the first receiver that asks.
 */
function notifyFrom(kind: u32, buf: u32, size: u32, skip: u32, lo: u32, hi: u32, lo2: u32, hi2: u32, name: u32, nameLen: u32,
  from: u32, skipAt: u32, wait: bool, prog: u32, stamp: u32): u32 {
  const n = busNConns();
  // the walk (monitor.ts): monitors first, every one; then the connections whose entries match
  for (let pos = walkFirst(from, n, monitorsAny()); pos < n + n; pos++) {
    const pass: u32 = pos < n ? 0 : 1;
    const d = busConns() + (pos - pass * n) * A.CONN_SIZE;
    if (!walkVisits(d, skip, pass)) continue;
    const mon = pass == 0;
    // a connection whose entries refuse it is passed over before its lock is tried: they and
    // its state change only under the bus lock, held here. Before stop 49 it was locked first,
    // so that one whose thread was terminated and not yet recovered, holding its own lock, cost
    // every connect, name command and close LOCK_WAIT_MS whatever its rules (an outside audit)
    if (!mon && (ld32(d + A.CONN_STATE) != A.CONN_ACTIVE || !matchNotify(d, kind, lo, hi, lo2, hi2, name, nameLen))) continue;
    if (wait ? !lockTry(d + A.CONN_LOCK) : !lockTryBounded(d + A.CONN_LOCK)) {
      if (wait && pos != skipAt) return pos;
      // lost only to a receiver that would have got it: its entries (and state) change only
      // under the bus lock too, which is held here, so they can be read without its own lock
      if (mon || matchNotify(d, kind, lo, hi, lo2, hi2, name, nameLen)) aAdd(d + A.CONN_KMSG_LOST, 1);
      if (prog != 0) {
        wrQuiet(prog + A.THREAD_OP_LEN, pos + 1);
        logCommit();
      }
      continue;
    }
    if (ld32(d + A.CONN_STATE) == A.CONN_ACTIVE && (mon || matchNotify(d, kind, lo, hi, lo2, hi2, name, nameLen))) {
      if ((ld32(d + A.CONN_ATTACH_RECV) & A.ATTACH_TIMESTAMP) != 0 && ld32(stamp) == 0) {
        metaStampInto(THREAD, stamp + 8);
        st32(stamp, 1);
      }
      kmsgSend(d, kind, buf, size, 0, 0, stamp + 8);
    }
    if (prog != 0) wrQuiet(prog + A.THREAD_OP_LEN, pos + 1);
    logCommit();
    unlock(d + A.CONN_LOCK);
  }
  return 0xffffffff;
}

// A closing connection's notifications (connClose: each name it passes on, then ID_REMOVE)
// are queued, not sent, while the close changes the registry and the connection (and HELLO's,
// NAME_ACQUIRE's, NAME_RELEASE's after their change, over their command's items): each
// delivery commits the undo log (one receiver at a time), and a commit in the middle of the
// close would make a trap there leave the close half done. The close commits whole, then
// notifyFlush sends them in order. The queue lies in the closer's command area, after
// NOTIFY_Q_OFF and before NOTIFY_BUF (BYEBYE's command is 24 bytes; RECOVER has none): a
// header word (the bytes queued), then records of REC_HDR bytes (size, kind, payload size,
// skip, ids, the TIMESTAMP stamp) and the payload, 8-aligned. A close whose queue would
// overflow (256 names of 24 bytes are enough) sends what is queued first, at a point where what
// it changed is whole (notifyFlushMid, from namesDropAll: since stop 49); before, the
// notification that did not fit was sent at once, ahead of the queued ones. Elsewhere (a
// command's few records always fit) one that does not fit is still sent at once.
const REC_HDR: u32 = 32 + STAMP_SIZE; // size, kind, payload size, skip, lo, hi, lo2, hi2; the stamp

/**
 * A fresh queue in the calling thread's command area: its address (for connClose, then
 * notifyEnd or notifyFlush). `track` (sent with notifyEnd): the thread's op says OP_NOTIFY
 * from the start of its records, journaled, so the change that queues them commits it too: a
 * thread that dies after that commit, with some of them unsent, is recovered with them
 * (notifyTakeOver). Not with a send of the caller's pending (its op words are taken).
 */
export function notifyQueue(track: bool): u32 {
  const t = THREAD;
  const q = t + A.THREAD_CMD + A.NOTIFY_Q_OFF;
  st32(q, 0);
  if (track) {
    wrQuiet(t + A.THREAD_OP, A.OP_NOTIFY);
    wrQuiet(t + A.THREAD_OP_FROM, 0);
    wrQuiet(t + A.THREAD_OP_LEN, 0);
  }
  return q;
}

/** The size of a queued record of a name's notification (NAME_*) for a name of `nameLen` bytes, or of an ID_* one (nameLen 0xffffffff). */
export function notifyRecSize(nameLen: u32): u32 {
  return REC_HDR + (nameLen == 0xffffffff ? u32(A.NOTIFY_ID_SIZE) : u32((A.NOTIFY_NAME_HDR + nameLen + 1 + 7) & ~7));
}

/** Does the queue at `q` have room for a record of `recSize` bytes? */
export function notifyHasRoom(q: u32, recSize: u32): bool {
  return q + 4 + ld32(q) + recSize <= notifyBuf();
}

/**
 * A close's queue is full (notifyHasRoom false) and the caller has made what it changed whole
 * (as a checkpoint does: namesDropAll): commit, send what is queued, in order, and empty the
 * queue, so that the close's next notifications queue behind them. Before stop 49 a
 * notification that did not fit was sent at once, ahead of those queued (out of order: 256
 * names of 24 bytes were enough, the ID_REMOVE before NAME_REMOVEs), and its deliveries
 * committed the close half done with its connection's list of names stale: a death there left
 * a recovery walking freed records for good (an outside audit). Each delivery commits; while
 * the close's op says OP_NOTIFY (tracked), with its progress, which a recoverer goes on from;
 * the emptied queue and the progress words are journaled back to 0, so that a death before the
 * close's next commit leaves its recoverer nothing of this queue to send again.
 */
export function notifyFlushMid(q: u32): void {
  const t = THREAD;
  const tracked = ld32(t + A.THREAD_OP) == A.OP_NOTIFY;
  logCommit();
  notifyFlushFrom(q, tracked ? ld32(t + A.THREAD_OP_FROM) : 0, tracked ? ld32(t + A.THREAD_OP_LEN) : 0, 0xffffffff, false, tracked ? t : 0);
  logCommit(); // (the last delivery's, untracked)
  wrQuiet(q, 0);
  if (tracked) {
    wrQuiet(t + A.THREAD_OP_FROM, 0);
    wrQuiet(t + A.THREAD_OP_LEN, 0);
  }
}

/** Queue (at `q`, 0: send now) or send the notification. */
function notifyOrQueue(q: u32, kind: u32, buf: u32, size: u32, skip: u32, lo: u32, hi: u32, lo2: u32, hi2: u32, name: u32, nameLen: u32): void {
  if (q != 0) {
    const at = q + 4 + ld32(q), recSize = REC_HDR + u32((size + 7) & ~7);
    if (at + recSize <= notifyBuf()) {
      st32(at, recSize);
      st32(at + 4, kind);
      st32(at + 8, size);
      st32(at + 12, skip);
      st32(at + 16, lo);
      st32(at + 20, hi);
      st32(at + 24, lo2);
      st32(at + 28, hi2);
      st32(at + 32, 0); // its stamp, not taken yet
      copy(at + REC_HDR, buf, size);
      // (journaled: a close that commits in the middle, logCheckpoint, and then dies leaves
      // only the notifications of what it committed for its recoverer to send)
      wrQuiet(q, ld32(q) + recSize);
      return;
    }
  }
  notifyAll(kind, buf, size, skip, lo, hi, lo2, hi2, name, nameLen);
}

/**
 * Send the notifications queued at `q`, in order (bus lock held, the close committed, no
 * connection lock held): each delivery commits on its own. A trap here leaves the close done
 * and the notifications not yet sent unsent (their receivers are not told).
 */
export function notifyFlush(q: u32): void {
  notifyFlushFrom(q, 0, 0, 0xffffffff, false, 0);
  st32(q, 0);
}

/**
 * Dead thread `t`'s notifications (its op OP_NOTIFY: its change committed, some not sent),
 * sent by its recoverer from `t`'s queue, where `t`'s progress says (its last delivery
 * committed; one it was in the middle of was undone with its log), with the receivers' locks
 * only tried (a bounded spin, else the loss counted, as any recoverer's close with a send of
 * its own pending). The bus lock held (taken over from `t`: nothing changed the registry
 * since). Each delivery commits with `t`'s progress, so a recoverer that dies too leaves it
 * for the next.
 */
export function notifyTakeOver(t: u32): void {
  notifyFlushFrom(t + A.THREAD_CMD + A.NOTIFY_Q_OFF, ld32(t + A.THREAD_OP_FROM), ld32(t + A.THREAD_OP_LEN), 0xffffffff, false, t);
  st32(t + A.THREAD_OP, A.OP_NONE); // (its progress says every one was sent: a death before this store resends none)
}

/**
 * notifyFlush that waits for a contended receiver (notifyEnd): from record offset `rec` and
 * position `pos`. At a contended receiver it records where it stopped (THREAD_OP =
 * OP_NOTIFY, op_from = the record's offset, op_len = the position), sets THREAD_BCAST_SKIP to
 * BCAST_WAITING and returns WOULDBLOCK **with the bus lock still held**: the notifications
 * must reach every receiver in the order of the registry's changes, so nothing may change it
 * meanwhile. The holder of a receiver's lock never waits for the bus lock (the lock order), so
 * this cannot deadlock; the host's wait is bounded as any (then BCAST_SKIP: that receiver is
 * passed over, its loss counted). 0 once every notification is sent.
 */
export function notifyFlushWait(q: u32, rec: u32, pos: u32, skipAt: u32): i32 {
  const r = notifyFlushFrom(q, rec, pos, skipAt, true, THREAD);
  if (r == 0xffffffff) {
    st32(q, 0);
    return 0;
  }
  const t = THREAD;
  st32(t + A.THREAD_OP_FROM, notifyStopRec);
  st32(t + A.THREAD_OP_LEN, r);
  st32(t + A.THREAD_BCAST_SKIP, A.BCAST_WAITING);
  st32(t + A.THREAD_OP, A.OP_NOTIFY);
  return A.WOULDBLOCK;
}

/** Is the calling thread's command one run again to go on with its notifications (OP_NOTIFY)? */
export function notifyResuming(): bool {
  return THREAD != 0 && ld32(THREAD + A.THREAD_OP) == A.OP_NOTIFY;
}

/**
 * The end of a command whose change is committed and whose notifications are queued at the
 * calling thread's NOTIFY_Q_OFF (notifyQueue; bus lock held, no connection lock held): send
 * them, waiting for a contended receiver (notifyFlushWait). `result` (>= 0) is kept in
 * THREAD_OP_CONN while they wait; `resume` (the command run again, notifyResuming): they go
 * on where they stopped and the kept result is returned. The command's result once every
 * notification is sent (the bus lock still held: the caller releases it), or WOULDBLOCK
 * (stopped: the bus lock stays held, OP_NOTIFY).
 */
export function notifyEnd(resume: bool, result: i32): i32 {
  const t = THREAD;
  const q = t + A.THREAD_CMD + A.NOTIFY_Q_OFF;
  // (the op is OP_NOTIFY since notifyQueue(true), and its progress words follow the sending)
  const rec = ld32(t + A.THREAD_OP_FROM), pos = ld32(t + A.THREAD_OP_LEN);
  let skipAt: u32 = 0xffffffff;
  if (resume) {
    if (ld32(t + A.THREAD_BCAST_SKIP) == A.BCAST_SKIP) skipAt = pos;
  } else st32(t + A.THREAD_OP_CONN, u32(result));
  st32(t + A.THREAD_BCAST_SKIP, 0);
  const r = notifyFlushWait(q, rec, pos, skipAt);
  if (r < 0) return r;
  st32(t + A.THREAD_OP, A.OP_NONE); // every one sent (a death before this store: its recoverer finds its progress at the end and sends none)
  return i32(ld32(t + A.THREAD_OP_CONN));
}

/** notifyFlushFrom's stop: the offset of the record it stopped in (a scratch result, set before it is read) */
let notifyStopRec: u32 = 0;

function notifyFlushFrom(q: u32, rec: u32, pos: u32, skipAt: u32, wait: bool, prog: u32): u32 {
  const end = q + 4 + ld32(q);
  const buf = notifyBuf();
  for (let at = q + 4 + rec; at < end; at += ld32(at)) {
    const kind = ld32(at + 4), size = ld32(at + 8);
    copy(buf, at + REC_HDR, size);
    const named = kind != A.ITEM_ID_ADD && kind != A.ITEM_ID_REMOVE;
    const first = at == q + 4 + rec;
    // (a record walked from its first receiver takes its stamp afresh: one that a death or a
    // trap left taken before any receiver's delivery committed has reached nobody)
    if (!first || pos == 0) st32(at + 32, 0);
    const r = notifyFrom(kind, buf, size, ld32(at + 12), ld32(at + 16), ld32(at + 20), ld32(at + 24), ld32(at + 28),
      named ? buf + A.NOTIFY_NAME_HDR : 0, named ? size - A.NOTIFY_NAME_HDR - 1 : 0,
      first ? pos : 0, first ? skipAt : 0xffffffff, wait, prog, at + 32);
    if (r != 0xffffffff) {
      notifyStopRec = at - (q + 4);
      return r;
    }
    if (prog != 0) {
      // the next record, from its first receiver (committed: a resumption starts there)
      wrQuiet(prog + A.THREAD_OP_FROM, at + ld32(at) - (q + 4));
      wrQuiet(prog + A.THREAD_OP_LEN, 0);
      logCommit();
    }
  }
  return 0xffffffff;
}

/** ID_ADD or ID_REMOVE of connection `c`: { u64 id; u64 flags } (queued at `q`, 0: sent now). */
function notifyId(kind: u32, c: u32, q: u32): void {
  if ((ld32(c + A.CONN_FLAGS) & A.HELLO_MONITOR) != 0) return; // monitors are never announced
  const buf = notifyBuf();
  copy(buf, c + A.CONN_ID, 8);
  copy(buf + 8, c + A.CONN_FLAGS, 8);
  notifyOrQueue(q, kind, buf, A.NOTIFY_ID_SIZE, c, ld32(c + A.CONN_ID), ld32(c + A.CONN_ID + 4), 0, 0, 0, 0);
}

/** ID_ADD: connection `c` was made (HELLO, bus lock held); queued at `q` (0: sent now, c's own lock released). */
export function notifyIdAdd(c: u32, q: u32): void {
  notifyId(A.ITEM_ID_ADD, c, q);
}

/** ID_REMOVE: connection `c` is closing (bus lock held; c's own lock may be held); queued at `q` (0: sent now). */
export function notifyIdRemove(c: u32, q: u32): void {
  notifyId(A.ITEM_ID_REMOVE, c, q);
}

/**
 * NAME_ADD (old id 0), NAME_REMOVE (new id 0) or NAME_CHANGE of the name at `nameAddr`
 * (`nameLen` bytes, no NUL): { old { id, flags }; new { id, flags }; name, NUL }. The kind
 * follows from the ids. Bus lock held; no connection lock of the caller's that a receiver
 * could need, or that receiver loses the notification.
 */
export function notifyNameChange(nameAddr: u32, nameLen: u32, oldLo: u32, oldHi: u32, newLo: u32, newHi: u32,
  oldFlags: u32, newFlags: u32, skip: u32, q: u32): void {
  if (nameLen > u32(A.MAX_NAME_LEN)) return;
  const kind = oldLo == 0 && oldHi == 0 ? A.ITEM_NAME_ADD : newLo == 0 && newHi == 0 ? A.ITEM_NAME_REMOVE : A.ITEM_NAME_CHANGE;
  const buf = notifyBuf();
  st64(buf, oldLo, oldHi);
  st64(buf + 8, oldFlags, 0);
  st64(buf + 16, newLo, newHi);
  st64(buf + 24, newFlags, 0);
  copy(buf + A.NOTIFY_NAME_HDR, nameAddr, nameLen);
  fill(buf + A.NOTIFY_NAME_HDR + nameLen, 0, 8); // the NUL and padding (bytes: the end of the name is not 4-aligned)
  notifyOrQueue(q, kind, buf, A.NOTIFY_NAME_HDR + nameLen + 1, skip, oldLo, oldHi, newLo, newHi, buf + A.NOTIFY_NAME_HDR, nameLen);
}
