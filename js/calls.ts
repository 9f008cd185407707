// calls: the host side of calls and replies (conn.call, conn.callSync, conn.reply). The core
// keeps the reply table (assembly/reply.ts); the host only has to get each reply, or the
// REPLY_TIMEOUT / REPLY_DEAD that ends a call, to the call() that waits for it, whoever
// receives it: the user's recv/recvAsync/recvWait/for-await loop, or the call's own wait.
//
// The demultiplexing rule (docs/API.md, "Calls"): every receive of a connection with calls
// pending looks at the header of what it received, before a Message is made: a message
// without EXPECT_REPLY whose cookie_reply (msg.timeout_ns) is the cookie of one of this
// connection's pending calls is that call's reply (the core only delivers a reply that
// matched this caller's record), or, from the bus (src 0, payload type 0), its REPLY_TIMEOUT
// or REPLY_DEAD. It goes to the call and the receive goes on with the next message; recv()
// never hands it out. A connection with no call pending pays one null check per receive.
//
// A call() waits itself (the adaptive spin, then Atomics.waitAsync until its deadline, when
// the core expires the record: its wait runs a RECV, and the RECV's tick queues
// REPLY_TIMEOUT). Its own receives take only its reply (RECV_REPLY: found wherever it is in
// the queue): every other message stays queued, accounted to its sender's quota, for the
// user's receives. (They used to take whatever was queued and keep it aside for the user,
// which released the senders' quota: another user could then fill the caller's pool until
// the reply found no room. Found by an outside audit.)
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import { get64 } from './wire.ts';
import { Message } from './message.ts';
import { CookieTable } from './cookie-table.ts';
import type { Linked } from './linked-set.ts';
import type { Connection } from './connection.ts';

/** One pending call of a connection (Linked: the reply pump's waiting calls, reply-pump.ts). */
export interface PendingCall extends Linked {
  readonly cookie: number;
  /** insertion order in Calls.pending (cookie-table.ts) */
  order: number;
  /** the reply, once it came */
  reply: Message | null;
  /** ETIMEDOUT, EPIPE, ECONNRESET, ECANCELED: how it ended without a reply */
  error: BusError | null;
  /** the wait for it failed (the receives: EDEADLK, ESHUTDOWN, ...): call() rejects with it, and the call, still pending in the core, is abandoned */
  waitError: Error | null;
  /** the caller gave up (abort): a late reply, REPLY_TIMEOUT or REPLY_DEAD is freed on arrival */
  abandoned: boolean;
  /** ends the call's current wait (it re-checks) */
  wake: (() => void) | null;
  /**
   * its end was taken by a listener's batch behind messages of that batch not handed over
   * yet: the call does not settle until the batch wakes it (connection.ts, wakeTaken)
   */
  held: boolean;
  /** its deadline passed while its end waits in the queue behind messages the listener takes first (the pump leaves it: reply-pump.ts) */
  behind: boolean;
  readonly op: string;
  /** the deadline sent with the call: the provider's monotonic clock, ns */
  readonly deadlineNs: number;
  /**
   * when its own RECV_REPLY last found no end while the core said one may still come (a
   * message in flight into the pool), on that clock; 0: never. Once that was past the
   * deadline, its waits (callSync, the pump) wait for the word to move, or for
   * `settleByNs`, not the deadline again (a poll every 50 µs before: an outside reading, stop 63)
   */
  askedNs: number;
}

/** The last moment call `p` may wait for an end in flight (its deadline, or LOCK_WAIT_MS past it once asked past it: takeReply). */
export const settleByNs = (p: PendingCall): number => p.askedNs >= p.deadlineNs ? p.deadlineNs + A.LOCK_WAIT_MS * 1e6 : p.deadlineNs;

export interface CallOptions {
  /** ms until the call ends with ETIMEDOUT (default 25000, as D-Bus) */
  timeout?: number | undefined;
  /** abort: the call rejects with ECANCELED (a late reply is freed when it arrives) */
  signal?: AbortSignal | undefined;
  /** keep the thread alive while waiting (default: true, or false after conn.unref()) */
  keepAlive?: boolean | undefined;
}

export interface CallSyncOptions {
  /** ms until the call ends with ETIMEDOUT (default 25000) */
  timeout?: number | undefined;
}

export const DEFAULT_CALL_TIMEOUT = 25000;

/** Calls.claimQuiet: the message was a call's end, and there is nobody to wake */
export const NO_WAKE: PendingCall = Object.freeze({
  linkPrev: null, linkNext: null, linkIn: null, cookie: 0, order: 0, reply: null, error: null, waitError: null, abandoned: true, wake: null, held: false, behind: false, op: 'call', deadlineNs: 0, askedNs: 0,
}) as PendingCall;

/** The calls of one connection, made on its first call(). */
export class Calls {
  /** by cookie (a table of our own, not a Map: cookie-table.ts says why) */
  readonly pending = new CookieTable<PendingCall>();
  /** the count of pending (and abandoned) calls; 0: receives skip the look-up */
  live = 0;
  /** no pending call's deadline is earlier than this (ns; it may be stale-early: expire() recomputes it) */
  private nextDue = Infinity;
  /** no pending call's deadline is earlier than this (ns; it may be earlier than the earliest) */
  get dueFrom(): number { return this.nextDue; }

  constructor(private readonly conn: Connection) {}

  add(cookie: number, op: string, deadlineNs: number): PendingCall {
    const p: PendingCall = { linkPrev: null, linkNext: null, linkIn: null, cookie, order: 0, reply: null, error: null, waitError: null, abandoned: false, wake: null, held: false, behind: false, op, deadlineNs, askedNs: 0 };
    this.pending.set(p);
    this.live++;
    if (deadlineNs < this.nextDue) this.nextDue = deadlineNs;
    return p;
  }

  /**
   * a receive of the user's reported messages the bus dropped (DROPPED_MSGS) while calls were
   * pending: one of them may have been a call's end (its REPLY_DEAD); the pump's next look asks
   * every waiting call (reply-pump.ts: the user's receive reset the counter it watches)
   */
  dropSeen = false;

  /** how many calls have ended (remove): a call() that the core refused tries again after one (slot-line.ts) */
  ended = 0;

  remove(p: PendingCall): void {
    if (this.pending.get(p.cookie) === p) {
      this.pending.delete(p.cookie);
      this.live--;
      this.ended++;
      this.conn.slotPass(); // a call() waiting for a pending-call slot may go
    }
  }

  /**
   * `p`, just added, was never sent (the core refused it): it goes, and nothing else changed.
   * No slot came free, so no waiter is woken: a refused call that woke the first waiter woke
   * one that was refused too, whose own refusal woke the next... (stop 20: two calls refused
   * by a full reply table woke each other in microtasks for the 20 s of their timeout, and
   * the thread's timers never ran).
   */
  unsent(p: PendingCall): void {
    if (this.pending.get(p.cookie) === p) {
      this.pending.delete(p.cookie);
      this.live--;
    }
  }

  /** Is the message whose header is at `base` what a pending call awaits? */
  isClaimable(base: number): boolean {
    const u32 = this.conn.engine.u32;
    if ((u32[(base + A.MSG_FLAGS) >>> 2] & A.MSG_EXPECT_REPLY) !== 0) return false;
    const cr = get64(u32, base + A.MSG_TIMEOUT);
    return cr !== 0 && this.pending.has(cr);
  }

  /**
   * The message just received at pool offset `off` (header at `base`): is it the reply (or
   * the REPLY_TIMEOUT / REPLY_DEAD) of a pending call? Then it was handed to that call (or
   * freed, for an abandoned one) and the caller receives the next message. No allocation
   * unless it is one.
   */
  claim(base: number, off: number, size: number): boolean {
    const p = this.claimQuiet(base, off, size);
    if (p === null) return false;
    if (p !== NO_WAKE) p.wake?.();
    return true;
  }

  /**
   * claim() without the wake: null when the message is no end of a pending call; NO_WAKE
   * when it was one and nobody is to be woken (an abandoned call's, freed); else the call,
   * its reply or error set, for the caller to wake (`p.wake?.()`) when its turn comes: a
   * listener's batch wakes it once the messages before it were handed over (connection.ts,
   * batchTakeOut).
   */
  claimQuiet(base: number, off: number, size: number): PendingCall | null {
    const u32 = this.conn.engine.u32;
    if ((u32[(base + A.MSG_FLAGS) >>> 2] & A.MSG_EXPECT_REPLY) !== 0) return null;
    const cr = get64(u32, base + A.MSG_TIMEOUT);
    if (cr === 0) return null;
    const p = this.pending.get(cr);
    if (p === undefined) return null;
    const m = new Message(this.conn, off, size);
    this.remove(p);
    const kernel = get64(u32, base + A.MSG_SRC_ID) === 0 && u32[(base + A.MSG_PAYLOAD_TYPE) >>> 2] === 0 && u32[(base + A.MSG_PAYLOAD_TYPE + 4) >>> 2] === 0;
    // (the slices freed here go as a receiver's do, freeSoon: a lock held by a sender defers
    // the free instead of throwing EDEADLK out of a batch's hand-out, which lost the rest of
    // the batch, its messages taken off the queue and never handed over: stop 63)
    if (kernel) {
      const item = u32[(base + A.MSG_HDR + A.ITEM_TYPE) >>> 2];
      this.conn.freeSoon(m.detach());
      if (p.abandoned) return NO_WAKE;
      p.error = item === A.ITEM_REPLY_DEAD
        ? new BusError(A.EPIPE, p.op, 'the replier closed, or dropped the call, before it replied (REPLY_DEAD)')
        : new BusError(A.ETIMEDOUT, p.op, 'no reply before the call\'s deadline (REPLY_TIMEOUT)');
    } else if (p.abandoned) {
      this.conn.freeSoon(m.detach()); // a late reply to an aborted call: nobody wants it
      return NO_WAKE;
    } else p.reply = m;
    return p;
  }

  /**
   * A RECV that started at `t0` (the provider's monotonic clock, ns, read before it) found
   * the queue empty, with no priority filter: every call whose deadline is <= t0 has ended in
   * the core (that RECV's tick expired it), unless a reply to it was in flight (a reply's
   * reservation takes its call's record before its commit queues it), and its REPLY_TIMEOUT,
   * had it been queued, would have been received and claimed. Each such call asks the core
   * (its own RECV_REPLY, conn.takeReply): an end that came meanwhile goes to it; none, with no
   * record and nothing in flight (RECV_RETURN_NO_CALL), means the bus dropped its
   * REPLY_TIMEOUT because this connection's pool had no room (kdbus drops it too, and its
   * clients keep their own timers): it ends with ETIMEDOUT all the same (an abandoned one is
   * forgotten); else it stays pending and the next empty receive asks again. Without this a
   * call could wait forever, and `pendingCalls` never reach 0. (Before stop 63 every such call
   * ended here without asking, and a reply in flight at its deadline reached the user's
   * receive as an ordinary message: an outside reading.) Allocates only when a call is due.
   */
  expire(t0: number, op: string): void {
    if (t0 < this.nextDue) return;
    let next = Infinity;
    const due: PendingCall[] = [];
    for (const p of this.pending.values()) {
      if (p.deadlineNs > t0) {
        if (p.deadlineNs < next) next = p.deadlineNs;
        continue;
      }
      due.push(p);
    }
    // (the looks wait for a lock taken as an event-loop receive does, and one still taken
    // leaves the rest to the next empty receive, or the pump: a listener's batch, an
    // iterator's, must neither block the loop for LOCK_WAIT_MS nor fail for it)
    // With a listener running each asks with RECV_REPLY_FIRST: an end committed since the empty
    // look, behind a message committed in between, is the listener's to take in queue order (a
    // plain RECV_REPLY took it from behind that message: the window the pump's look closed in
    // stop 68, left here until a review of it; the pump's next run does not wait for it either)
    const e = this.conn.engine, was = e.lockWaitMs, first = this.conn.listening !== null;
    e.lockWaitMs = Math.min(was, e.asyncLockWaitMs);
    try {
      for (const p of due) {
        if (this.pending.get(p.cookie) !== p) continue;
        try {
          this.conn.takeReply(p, op, false, first);
        } catch (err) {
          if (err instanceof BusError && err.errno === A.EDEADLK) break;
          throw err;
        }
      }
    } finally {
      e.lockWaitMs = was;
      // (the calls still pending past their deadlines: the next empty receive asks again)
      for (const p of due) if (this.pending.get(p.cookie) === p && p.deadlineNs < next) next = p.deadlineNs;
      this.nextDue = next;
    }
  }

  /** Call `p` is past its deadline, which the core has seen, and its REPLY_TIMEOUT was dropped: it ends (an abandoned one is forgotten). */
  lost(p: PendingCall): void {
    this.remove(p);
    if (p.abandoned || p.error || p.reply) return;
    p.error = new BusError(A.ETIMEDOUT, p.op, 'no reply before the call\'s deadline (its REPLY_TIMEOUT, or a REPLY_DEAD before it, was dropped: this connection\'s pool had no room for it)');
    p.wake?.();
  }

  /**
   * The core has no record of call `p` and no end of it queued (RECV_REPLY's
   * RECV_RETURN_NO_CALL, read at monotonic `t1`, after that RECV): its end was dropped because
   * this connection's pool had no room for it. Past its deadline that was its REPLY_TIMEOUT
   * (ETIMEDOUT, as lost); before, its REPLY_DEAD: the replier closed or dropped the call
   * (EPIPE), now, not at the deadline (before stop 47 it waited the whole deadline and said
   * ETIMEDOUT: an outside audit).
   */
  endLost(p: PendingCall, t1: number): void {
    if (t1 >= p.deadlineNs) { this.lost(p); return; }
    this.remove(p);
    if (p.abandoned || p.error || p.reply) return;
    p.error = new BusError(A.EPIPE, p.op, 'the replier closed, or dropped the call, before it replied (its REPLY_DEAD was dropped: this connection\'s pool had no room for it)');
    p.wake?.();
  }

  /** The connection closed: every pending call fails with `why(op)` (ECONNRESET, or ESHUTDOWN). */
  closed(why: (op: string) => BusError): void {
    for (const p of this.pending.values()) {
      if (p.error || p.reply) continue;
      p.error = why(p.op);
      p.wake?.();
    }
    this.pending.clear();
    this.live = 0;
    this.nextDue = Infinity;
  }
}
