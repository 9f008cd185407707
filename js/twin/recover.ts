// recover: what survivors do about a thread that died (a terminated worker) or trapped.
//
//   recover(slot, force)  another thread is dead: undo its half-made command from its undo log,
//                  release the locks it held, end its reserved SEND, close the connections
//                  it opened (as BYEBYE would, queue or not), and free its thread slot.
//   unwind()       the calling thread trapped inside the core: undo and unlock only.
// Re-entrant: a recovery that returns WOULDBLOCK is simply called again.
// Mirrors assembly/recover.ts.
import * as A from '../shared/abi.ts';
import { I32, ld32, st32, THREAD } from './mem.ts';
import { logUndo, logCommit } from './journal.ts';
import { lockTry, unlock, unlockAllOf, lockHeldBy } from './lock.ts';
import { busNThreads, busNConns } from './bus.ts';
import { threadAddr } from './thread.ts';
import { connAddr, connClose } from './conn.ts';
import { sendFinish, sendPendingConn } from './send.ts';

const H = A.BUS_BASE;

export function recover(slot: number, force: number): number {
  const me = THREAD;
  if (me == 0) return -A.EBADF;
  if (slot >>> 0 >= busNThreads()) return -A.EINVAL;
  const t = threadAddr(slot);
  if (t == me) return -A.EINVAL;
  const st = Atomics.compareExchange(I32, (t + A.THREAD_STATE) >>> 2, A.THREAD_LIVE, A.THREAD_DEAD);
  if (st != A.THREAD_LIVE && st != A.THREAD_DEAD) return -A.ESRCH;
  // 0. a thread declared dead may still be running (Deno runs a terminated worker until its
  //    next turn): while it holds a lock, let it finish; once it takes another, it stops.
  //    `force` (the host waited RECOVER_BUSY_MS, or knows the thread stopped) skips this.
  if (force == 0 && lockHeldBy(slot + 1) != 0) return A.WOULDBLOCK;
  //    ... nor while its host is copying into a slice it reserved (THREAD_BUSY)
  if (force == 0 && ld32(t + A.THREAD_BUSY) != 0) {
    st32(me + A.THREAD_WAIT_ADDR, t + A.THREAD_BUSY);
    st32(me + A.THREAD_WAIT_VAL, 1);
    return A.WOULDBLOCK;
  }
  // 1. the command it was in: undone; its locks: released (nobody else takes them)
  logUndo(t);
  unlockAllOf(slot + 1);
  // 2. its reserved SEND: cancelled under the receiver's lock
  const d = sendPendingConn(t);
  if (d >= 0) {
    if (!lockTry(d + A.CONN_LOCK)) return A.WOULDBLOCK;
    sendFinish(t, false);
    logCommit();
    unlock(d + A.CONN_LOCK);
  }
  // 3. its connections: closed
  const n = busNConns();
  for (let i = 0; i < n; i++) {
    const c = connAddr(i);
    if (ld32(c + A.CONN_STATE) != A.CONN_ACTIVE || ld32(c + A.CONN_OWNER) != slot) continue;
    if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
    if (!lockTry(c + A.CONN_LOCK)) {
      unlock(H + A.BUS_LOCK);
      return A.WOULDBLOCK;
    }
    if (ld32(c + A.CONN_STATE) == A.CONN_ACTIVE && ld32(c + A.CONN_OWNER) == slot) connClose(c);
    logCommit();
    unlock(c + A.CONN_LOCK);
    unlock(H + A.BUS_LOCK);
  }
  // 4. its slot
  st32(t + A.THREAD_TOKEN, 0);
  st32(t + A.THREAD_BUSY, 0);
  Atomics.store(I32, (t + A.THREAD_STATE) >>> 2, A.THREAD_FREE);
  return 0;
}

export function unwind(): number {
  const t = THREAD;
  if (t == 0) return -A.EBADF;
  logUndo(t);
  unlockAllOf(ld32(t + A.THREAD_ID));
  st32(t + A.THREAD_FAULT, 0);
  return 0;
}
