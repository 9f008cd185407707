// lock: lock words in the shared memory. A word holds its holder's thread id (slot + 1), so
// a survivor can release the locks of a dead thread; LOCK_WAITERS marks a sleeper. The core
// never sleeps: after LOCK_SPIN failed attempts it records the word in the thread slot and
// the command returns WOULDBLOCK, having changed nothing; the host waits and retries.
import * as A from "../js/shared/abi";
import { ld32, st32, trap, aLoad, aCas, aXchg, aAdd, aSub, notifyAll, notifyCount, THREAD, TOKEN, JOIN_GEN } from "./mem";
import { busConns, busNConns } from "./bus";

export function lockTry(p: u32): bool {
  const me = ld32(THREAD + A.THREAD_ID);
  for (let n = 0; n < A.LOCK_SPIN; n++) {
    const v = aCas(p, 0, me);
    if (v == 0) return lockTaken(p);
    if ((v & A.LOCK_ID_MASK) == me) trap(); // taken twice: a core bug
  }
  while (true) {
    const v = aLoad(p);
    if (v == 0) {
      if (aCas(p, 0, me) == 0) return lockTaken(p);
      continue;
    }
    if ((v & A.LOCK_WAITERS) != 0 || aCas(p, v, u32(v | A.LOCK_WAITERS)) == v) {
      st32(THREAD + A.THREAD_WAIT_ADDR, p);
      st32(THREAD + A.THREAD_WAIT_VAL, u32(v | A.LOCK_WAITERS));
      break;
    }
  }
  return false;
}

/**
 * A lock was just taken. A thread that was declared dead meanwhile (a terminated worker
 * that runs on, as Deno's do until their next turn) must not touch anything, nor may it
 * act for the thread that took its slot after recovery (the token tells, and the join
 * generation where that thread joined with the same token): it gives the
 * lock back and stops. Its earlier locks and changes are unwound by its host.
 */
function lockTaken(p: u32): bool {
  if (aLoad(THREAD + A.THREAD_STATE) != A.THREAD_LIVE || ld32(THREAD + A.THREAD_TOKEN) != TOKEN || ld32(THREAD + A.THREAD_JOIN_GEN) != JOIN_GEN) {
    unlockMine(p);
    trap();
  }
  return true;
}

/** Release `p` only if this thread holds it. */
function unlockMine(p: u32): void {
  const me = ld32(THREAD + A.THREAD_ID);
  if (aCas(p, me, 0) == me) return;
  if (aCas(p, u32(me | A.LOCK_WAITERS), 0) == u32(me | A.LOCK_WAITERS)) notifyAll(p);
}

/**
 * The connection whose receivers are woken when this thread releases its lock (0: none).
 * slicePublish queues a message under the receiver's lock; a wake right there sent a
 * spinning receiver straight into the lock its publisher still held: measured, 2 round trips
 * in 5 (64 KiB, worker and main spinning) put the receiver to sleep on the lock word, a
 * futex trip each way. So the wake waits for the unlock. A module global is per thread (each
 * thread has its own instance, the twin its own module). One at a time: a publish into a
 * second connection (a monitor's copy, an activator's move, each under a second lock) wakes
 * the first one at once, so none is ever lost; a lock released for its holder (recovery, a
 * trap's unwind: unlockAllOf) wakes its connection too.
 */
let wakeAfter: u32 = 0;
/**
 * The wakes wakeAfter owes (one per message queued in it, one per other call of wakeOnUnlock):
 * its wake word moves by that many at once (stop 61). So the word counts the messages queued
 * since any value of it (at least), which a thread's wait group reads to wake no more of its
 * waits than the messages some of them have not looked at (js/host/wait-group.ts); before,
 * a batch of N sends into one receiver moved it by 1.
 */
let wakeAfterN: u32 = 0;

/** Wake connection `c`'s receivers once its lock is released (slicePublish, once per message; `c`'s lock held). */
export function wakeOnUnlock(c: u32): void {
  if (wakeAfter == c) {
    wakeAfterN++;
    return;
  }
  if (wakeAfter != 0) wakeConn(wakeAfter, wakeAfterN);
  wakeAfter = c;
  wakeAfterN = 1;
}

/** Forget a wake still waiting for its unlock (a trap's unwind, after unlockAllOf woke every connection it released). */
export function wakeForget(): void {
  wakeAfter = 0;
  wakeAfterN = 0;
}

/**
 * The wake of connection `c` for `n` messages: its wake word moved by `n`, and its parked receivers notified,
 * or, while this thread defers its wakes (bus.batch: THREAD_DEFER), the notify owed (owe).
 */
function wakeConn(c: u32, n: u32): void {
  aAdd(c + A.CONN_WAKE, n);
  wakeNotify(c);
}

/** The notify half of a wake (the word moved already): `c`'s parked receivers notified, or the notify owed in a batch. */
function wakeNotify(c: u32): void {
  if (aLoad(c + A.CONN_SLEEPERS) == 0) return;
  if (THREAD != 0 && ld32(THREAD + A.THREAD_DEFER) != 0) owe(c);
  else wakeWaiters(c + A.CONN_WAKE, c + A.CONN_SLEEPERS);
}

/** Record that this thread owes connection `c` a notify (once; past OWED_MAX, every parked receiver: abi.ts). */
function owe(c: u32): void {
  const n = ld32(THREAD + A.THREAD_OWED_N);
  if (n > u32(A.OWED_MAX)) return;
  for (let k: u32 = 0; k < n; k++) if (ld32(THREAD + A.THREAD_OWED + k * 4) == c) return;
  if (n < u32(A.OWED_MAX)) st32(THREAD + A.THREAD_OWED + n * 4, c);
  st32(THREAD + A.THREAD_OWED_N, n + 1);
}

/**
 * Notify what thread slot `t` owes: the connections it recorded, or every parked receiver
 * once it recorded more than OWED_MAX. Its defer word is set to `defer` and the record
 * cleared first (a message published meanwhile is recorded again). The one payer of a batch:
 * its end and a wait inside it (the owed_pay export, js/host/owed.ts), a leave, a recovery
 * (a thread that died in a batch).
 */
export function payOwed(t: u32, defer: u32 = 0): void {
  const n = ld32(t + A.THREAD_OWED_N);
  st32(t + A.THREAD_DEFER, defer);
  st32(t + A.THREAD_OWED_N, 0);
  if (n == 0) return;
  if (n <= u32(A.OWED_MAX)) {
    for (let k: u32 = 0; k < n; k++) {
      const c = ld32(t + A.THREAD_OWED + k * 4);
      wakeWaiters(c + A.CONN_WAKE, c + A.CONN_SLEEPERS);
    }
    return;
  }
  wakeEveryConn();
}

/**
 * Notify every connection's parked receivers (those counted: wakeWaiters), the word unmoved:
 * they look again. A batch's owed wakes past OWED_MAX, and a recovery: the dead thread may
 * have died between a release that counted its messages in a word and the notify after it.
 */
export function wakeEveryConn(): void {
  const conns = busConns(), m = busNConns();
  for (let s: u32 = 0; s < m; s++) {
    const c = conns + s * A.CONN_SIZE;
    wakeWaiters(c + A.CONN_WAKE, c + A.CONN_SLEEPERS);
  }
}

export function unlock(p: u32): void {
  let c: u32 = 0;
  if (wakeAfter != 0 && p == wakeAfter + A.CONN_LOCK) {
    // the messages counted in the word while the lock is still held, the release next, the
    // notify after it: a thread that dies at its release cannot leave them uncounted (a wait
    // group counts on the word: stop 61's audit); a receiver spinning on the word that sees
    // the move meets the lock for the one exchange below (the add placed where the message is
    // queued met it for the rest of the command: wakeAfter's comment)
    c = wakeAfter;
    aAdd(c + A.CONN_WAKE, wakeAfterN);
    wakeAfter = 0;
    wakeAfterN = 0;
  }
  const old = aXchg(p, 0);
  if ((old & A.LOCK_WAITERS) != 0) notifyAll(p);
  if (c != 0) wakeNotify(c);
}

/**
 * Take lock `p` over from thread id `from` (a dead thread, during its recovery; its waiters
 * mark kept): true when `from` held it and the caller holds it now, false when `from` did not.
 */
export function lockTakeOver(p: u32, from: u32): bool {
  const me = ld32(THREAD + A.THREAD_ID);
  while (true) {
    const v = aLoad(p);
    if ((v & A.LOCK_ID_MASK) != from) return false;
    if (aCas(p, v, u32((v & A.LOCK_WAITERS) | me)) == v) return true;
  }
  return false;
}

/**
 * The first lock word held by thread id `id`, or 0. Marks it LOCK_WAITERS and records it in
 * the calling thread's slot, so that the caller can return WOULDBLOCK and wait for it.
 */
export function lockHeldBy(id: u32): u32 {
  const n = i32(busNConns()), conns = busConns();
  for (let s: i32 = -1; s < n; s++) {
    const p = s < 0 ? A.BUS_BASE + A.BUS_LOCK : conns + u32(s) * A.CONN_SIZE + A.CONN_LOCK;
    const v = aLoad(p);
    if ((v & A.LOCK_ID_MASK) != id) continue;
    if ((v & A.LOCK_WAITERS) == 0 && aCas(p, v, u32(v | A.LOCK_WAITERS)) != v) continue;
    st32(THREAD + A.THREAD_WAIT_ADDR, p);
    st32(THREAD + A.THREAD_WAIT_VAL, u32(v | A.LOCK_WAITERS));
    return p;
  }
  return 0;
}

/**
 * Release every lock held by thread id `id` (recovery, and a trap's unwind). A connection
 * lock released this way also wakes that connection's receivers: its holder may have
 * published (and committed) a message whose wake waited for the unlock (wakeOnUnlock) that
 * never came. A wake with nothing new is harmless: the receivers look and wait again.
 */
export function unlockAllOf(id: u32): void {
  if ((ld32(A.BUS_BASE + A.BUS_LOCK) & A.LOCK_ID_MASK) == id) unlock(A.BUS_BASE + A.BUS_LOCK);
  const n = busNConns(), conns = busConns();
  for (let s: u32 = 0; s < n; s++) {
    const c = conns + s * A.CONN_SIZE;
    if ((ld32(c + A.CONN_LOCK) & A.LOCK_ID_MASK) != id) continue;
    unlock(c + A.CONN_LOCK);
    // (its holder may have queued any number of messages since its last wake: the word moves
    // by WAKE_UNCOUNTED, more than any wait group counts on)
    wakeConn(c, A.WAKE_UNCOUNTED);
  }
}

/** +1 on a futex word, then wakeWaiters. */
export function wake(p: u32, sleepers: u32): void {
  aAdd(p, 1);
  wakeWaiters(p, sleepers);
}

/**
 * Notify the futex word at `p` only when someone sleeps on it (its `sleepers` word is not 0),
 * and take those it woke off that count: a waiter woken by a notify does not take itself off
 * (js/host/wait.ts, the sleepers protocol), so the next publish, before the woken waiters have
 * run, finds 0 and makes no notify of its own.
 */
export function wakeWaiters(p: u32, sleepers: u32): void {
  if (aLoad(sleepers) == 0) return;
  const n = notifyCount(p);
  if (n != 0) aSub(sleepers, n);
}

/**
 * lockTry up to DELIVER_LOCK_TRIES times, for deliveries that cannot back out with
 * WOULDBLOCK once earlier receivers got the message (a broadcast, a bus notification):
 * a bounded spin, never a wait. false: the caller counts the message as lost to that receiver.
 */
export function lockTryBounded(p: u32): bool {
  for (let n = 0; n < A.DELIVER_LOCK_TRIES; n++) if (lockTry(p)) return true;
  return false;
}

/**
 * The bus lock, then connection `c`'s (the lock order): true with both held; false with
 * neither (the one taken is given back), and the contended word recorded for the host to wait on.
 */
export function lockBusAndConn(c: u32): bool {
  if (!lockTry(A.BUS_BASE + A.BUS_LOCK)) return false;
  if (lockTry(c + A.CONN_LOCK)) return true;
  unlock(A.BUS_BASE + A.BUS_LOCK);
  return false;
}
