// call-run: one call() of a connection, from its start to its end. While
// MAX_PENDING_REPLIES calls are pending it waits for a slot in the connection's slot line
// (slot-line.ts), holding its place in the order to its destination (room-wait.ts,
// SlotHold); with a slot, it is sent, waiting for room in the receiver as sendAsync does
// (room-wait.ts); then it waits for its end (CallEnd: no async frame per call), which the
// connection's reply pump receives (reply-pump.ts) and calls.ts hands over. And callSync's
// blocking wait for its end.
//
// The connection keeps the pending calls (calls.ts: every receive path looks for ends of
// calls) and the send of a call (startCall: the command encoding is the connection's); what
// a call needs of it is CallOwner.
import type { Linked } from './linked-set.ts';
import * as A from './shared/abi.ts';
import { BusError, canceled, shutdownError } from './errno.ts';
import { isShutdown } from './engine.ts';
import type { Message } from './message.ts';
import { now, waitWordBlocking, canBlock, RESOLVED } from './host/wait.ts';
import * as T from './host/turns.ts';
import { options, optBoolean, kindOf, isAbortSignal } from './args.ts';
import { ownCopy } from './own-copy.ts';
import { LockLook } from './lock-look.ts';
import { SlotLine, SlotCall, type SlotOwner } from './slot-line.ts';
import { RoomWait, SlotHold, type RoomOwner } from './room-wait.ts';
import type { AbortHooks } from './abort-hooks.ts';
import { ReplyPump, type PumpOwner } from './reply-pump.ts';
import { DEFAULT_CALL_TIMEOUT, settleByNs, type Calls, type PendingCall, type CallOptions, type CallSyncOptions } from './calls.ts';
import type { Waiter } from './waiter.ts';
import type { Destination } from './connection.ts';

type Payload = ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined;

/** What a call needs of its connection (Connection implements it; internal). */
export interface CallOwner extends RoomOwner, PumpOwner {
  readonly closed: boolean;
  /** the pending calls, made on first use */
  callTable(): Calls;
  /** Send the call (EXPECT_REPLY, `deadline`) and record it; a send that throws records nothing. `taken`: a cookie taken for it. */
  startCall(dst: Destination, payload: Payload, deadline: number, sync: boolean, op: string, pt: bigint | undefined, taken: number | undefined): PendingCall;
  /** the connection has waits for room to `dst` (a call goes behind them) */
  hasRoomWaits(dst: Destination): boolean;
  /** a send of the connection met a lock taken, and none has gone through since */
  sendStuck(): boolean;
  /** `w` starts waiting (its keep-alive hold, close()'s list) / stops */
  waitJoin(w: Waiter): void;
  waitLeave(w: Waiter): void;
  /** a cookie taken for a call that was never sent with it goes back */
  untakeCookie(c: number): void;
}

const CALL_KEYS = ['timeout', 'signal', 'keepAlive'] as const;

/**
 * call()'s options read into a plain object (each read once; checked when the call reads the
 * copy, as it would check them): callMethod reads them before it encodes, so that none of the
 * caller's code runs between the encoding into the codec's reused buffer and the call's copy
 * of it. Throws what call() would for an options argument that is not an object or has a key
 * that is not an option.
 */
export function callOptionsCopy(op: string, opts: CallOptions): CallOptions {
  const o = options<CallOptions>(op, opts, CALL_KEYS, '{ timeout: ms }');
  const copy: { timeout?: number; signal?: AbortSignal; keepAlive?: boolean } = {};
  const timeout = o.timeout, signal = o.signal, keepAlive = o.keepAlive;
  if (timeout !== undefined) copy.timeout = timeout;
  if (signal !== undefined) copy.signal = signal;
  if (keepAlive !== undefined) copy.keepAlive = keepAlive;
  return copy;
}

/** call()'s checked options and deadlines (callArgs) */
interface CallArgs {
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  readonly keepAlive: boolean | undefined;
  /** the call's deadline on the provider's clock (ns) */
  readonly deadlineNs: number;
  /** the waits before the send end then (performance.now() ms) */
  readonly sendBy: number;
}

/**
 * A call() waiting for a pending-call slot: its place in the slot line (SlotCall) and what
 * the call needs once it goes, in one object (a burst of 10 000 calls keeps ~9 900 of them
 * waiting at once: every object and boxed number per call is copied by the collector while
 * they wait). It is the call's CallArgs too.
 */
class CallWait extends SlotCall implements CallArgs {
  readonly deadlineNs: number;
  constructor(line: SlotLine, owner: SlotOwner, a: CallArgs, why: 'mine' | 'bus' | null, seq: number,
    readonly dst: Destination,
    readonly payload: Payload,
    readonly pt: bigint | undefined,
    readonly cookie: number | undefined,
    readonly sent: { yes: boolean } | null,
    /** its place in the connection's order to `dst` while it waits (room-wait.ts, SlotHold) */
    public hold: SlotHold | null) {
    super(line, owner, a.timeout, a.sendBy, a.signal, a.keepAlive, why, seq);
    this.deadlineNs = a.deadlineNs;
  }
  get keepAlive(): boolean | undefined { return this.keep; }
}

/** callRun's result when the call, refused again, went back to its waiter in the slot line (whose promise call() returned) */
const BACK_IN_LINE = Symbol('back in line');

/** A call the core refused for want of a pending-call record: EMLINK (the caller's), or the bus's reply table full (ENOSPC). */
function isRefusal(err: unknown): err is BusError {
  return err instanceof BusError && (err.errno === A.EMLINK || err.reason === A.R_SEND_REPLY_TABLE_FULL);
}

/** The calls of one connection on their way: the slot line, the sends, the waits for their ends. */
export class Caller implements SlotOwner {
  /**
   * call()s waiting for a pending-call slot, in the order they came, with one timer for
   * all their waits (slot-line.ts).
   */
  readonly slotLine = new SlotLine();
  /** the receives of every call() of this connection (reply-pump.ts) */
  readonly pump: ReplyPump;
  /** the order of the next call() (SlotCall.seq) */
  private callSeq = 0;
  /** calls that have a slot and are being sent (waiting for room, say): the slots they will take (callRun) */
  private callsSending = 0;

  constructor(private readonly conn: CallOwner) {
    this.pump = new ReplyPump(conn, this.slotLine);
  }

  /** call()s not sent yet, waiting in the slot line for a pending-call slot or a reply record */
  get waiting(): number {
    // (not those a close or an abort has ended, which leave the line in its next flush, a
    // microtask later: at once, as pendingCalls and pendingReceives say; an outside audit, stop 58)
    if (this.conn.closed) return 0;
    let n = 0;
    for (let q = this.slotLine.head; q !== null; q = q.next) if (q.error === null) n++;
    return n;
  }
  /** call()s whose end was taken (by any receive) and that have not resumed yet: they settle a microtask later */
  get settling(): number { return this.pump.settling; }

  /**
   * A call of this connection ended (or may have: Calls.remove, closed): the first
   * call() waiting for a pending-call slot looks again.
   */
  slotPass(): void {
    const h = this.slotLine.head;
    if (h !== null && this.slotFree()) this.slotLine.wake(h);
  }

  /** SlotOwner: the abort listeners of this thread's waits, one per signal (abort-hooks.ts) */
  get aborts(): AbortHooks { return this.conn.aborts; }

  /** SlotOwner: calls wait for slots that pending calls hold: the reply pump takes their ends (reply-pump.ts) */
  slotHeld(): void { this.pump.owed(); }

  /** SlotOwner (slot-line.ts): a slot is free */
  slotFree(): boolean { return this.conn.calls === null || this.conn.calls.live + this.callsSending < A.MAX_PENDING_REPLIES; }
  /** SlotOwner */
  slotPending(): number { return this.conn.calls === null ? 0 : this.conn.calls.live; }
  /** SlotOwner */
  slotEnds(): number { return this.conn.calls === null ? 0 : this.conn.calls.ended; }
  /** SlotOwner: the reply table's count of records in use, or this connection's (CONN_N_CALLS), read as they are */
  slotStillRefused(core: 'mine' | 'bus'): boolean {
    const e = this.conn.engine, u32 = e.u32;
    if (this.conn.closed || isShutdown(u32)) return false; // (the try says why)
    if (core === 'mine') return Atomics.load(u32, (e.connAddr(this.conn.slot) + A.CONN_N_CALLS) >>> 2) >= A.MAX_PENDING_REPLIES;
    const t = u32[(A.BUS_BASE + A.BUS_REPLIES) >>> 2];
    return t !== 0 && Atomics.load(u32, (t + A.REPLY_T_LIVE) >>> 2) >= u32[(A.BUS_BASE + A.BUS_N_REPLIES) >>> 2];
  }
  /** SlotOwner: what ends every wait now */
  slotCheck(): void {
    if (isShutdown(this.conn.engine.u32)) throw shutdownError('call');
    this.conn.live('call');
  }
  /** SlotOwner */
  slotJoin(q: SlotCall): void {
    this.conn.waitJoin(q);
  }
  /** SlotOwner */
  slotLeave(q: SlotCall): void {
    this.conn.waitLeave(q);
  }
  /** SlotOwner: `q` has its slot: the call it carries goes on (callRun), its first try before this returns */
  slotGo(q: SlotCall): void {
    const c = q as CallWait;
    this.callRun(c.dst, c.payload, c, c.pt, false, c.cookie, c.sent, c.seq, c).then((m) => {
      if (m !== BACK_IN_LINE) (q.resolve as (m: Message) => void)(m);
    }, (err: unknown) => {
      this.slotDrop(q);
      this.slotPass(); // (it failed for good: the next one may go)
      q.reject(err);
    });
  }
  /** `q` joins the slot line; one that cannot (its signal refused the abort listener) gives its place back */
  private slotWait(q: SlotCall, resolve: (m: Message) => void, reject: (err: unknown) => void): void {
    try {
      q.start(resolve as (v: never) => void, reject);
    } catch (err) {
      this.slotDrop(q);
      reject(err);
    }
  }
  /** SlotOwner: `q` failed: the place it held in the order to its destination goes */
  slotDrop(q: SlotCall): void {
    const c = q as CallWait;
    c.hold?.release();
    c.hold = null;
  }

  /**
   * The absolute deadline of a call `timeout` ms from now on the provider's CLOCK_MONOTONIC,
   * the clock the core compares it with (ns, >= 1: 0 is no timeout). A timeout of more than
   * 2^53 ns, about 104 days, counts as that: the deadline stays a u64, whatever the clock's origin.
   */
  private callDeadline(timeout: number, op: string): number {
    if (typeof timeout !== 'number' || !(timeout >= 0) || timeout === Infinity) throw new BusError(A.EINVAL, op, `timeout must be a finite number of ms >= 0, got ${typeof timeout === 'number' ? String(timeout) : kindOf(timeout)}`);
    const e = this.conn.live(op), t = e.monotonicNs();
    // a provider with no CLOCK_MONOTONIC (clock(1) said false, or wrote nothing: 0) makes a
    // deadline the core never reaches: the call would wait for good, callSync block its thread
    // (a second look, stop 44); refused at once, nothing sent
    if (t === 0) throw new BusError(A.EOPNOTSUPP, op, 'this thread\'s provider has no CLOCK_MONOTONIC (its clock(1, out) returned false or wrote nothing): a call\'s timeout is a deadline on that clock, which would never come; give the provider a monotonic clock');
    return Math.max(1, t + Math.min(Math.round(timeout * 1e6), Number.MAX_SAFE_INTEGER));
  }

  /** The ms left until the call's deadline by the provider's clock (<= 0: due). */
  private callLeft(deadlineMs: number): number {
    return deadlineMs - this.conn.engine.monotonicNs() / 1e6;
  }

  call(dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts: CallOptions | undefined,
    pt: bigint | undefined, transient: boolean, cookie: number | undefined, sent: { yes: boolean } | null, argOp = 'call'): Promise<Message> {
    let a: CallArgs;
    try {
      // a closed connection first, before the options are read (API.md, "Arguments"; an outside audit, stop 40)
      if (this.conn.closed) throw new BusError(A.ECONNRESET, argOp);
      a = this.callArgs(opts, argOp);
    } catch (err) {
      return Promise.reject(err);
    }
    const calls = this.conn.callTable();
    const seq = this.callSeq++;
    // a pending-call slot: MAX_PENDING_REPLIES calls pending wait in order for one to end
    // (before: EMLINK); a slot free and nobody waiting for one costs no await. The call's
    // own frame (callRun) is made once it has its slot (slot-line.ts says why).
    if (calls.live + this.callsSending >= A.MAX_PENDING_REPLIES || this.slotLine.head !== null) {
      // (the caller's memory may change while this waits; the sends made after it to `dst` wait behind it)
      const q = new CallWait(this.slotLine, this, a, null, seq, dst, transient ? ownCopy(payload) : payload, pt, cookie, sent, new SlotHold(this.conn, dst));
      return new Promise<Message>((resolve, reject) => this.slotWait(q, resolve, reject));
    }
    return this.callRun(dst, payload, a, pt, transient, cookie, sent, seq) as Promise<Message>; // (BACK_IN_LINE only with a waiter)
  }

  /**
   * call()'s options, checked (each read once), and its deadlines: what a throw here rejects
   * call() with. `op`: the method whose options they are (callMethod's said call before stop 39:
   * an outside audit).
   */
  private callArgs(opts: CallOptions | undefined, op: string): CallArgs {
    const o = options<CallOptions>(op, opts, CALL_KEYS, '{ timeout: ms }');
    const oTimeout = o.timeout, signal = o.signal; // (each read once)
    if (oTimeout === null) throw new BusError(A.EINVAL, op, 'timeout must be a finite number of ms >= 0, got null (leave it out for the default)');
    const timeout = oTimeout ?? DEFAULT_CALL_TIMEOUT;
    if (signal !== undefined && !isAbortSignal(signal)) throw new BusError(A.EINVAL, op, `signal must be an AbortSignal, got ${kindOf(signal)}`);
    const keepAlive = optBoolean(op, 'keepAlive', o.keepAlive);
    if (signal?.aborted) throw canceled(op, signal);
    const deadlineNs = this.callDeadline(timeout, op);
    // the waits before the send (a pending-call slot, room) end with the call's timeout, in real time
    return { timeout, signal, keepAlive, deadlineNs, sendBy: now() + timeout };
  }

  /**
   * call() once it may send (a pending-call slot free): the send, waiting for room, then the
   * wait for its end. The first try of the send is made here, at once; a call that it sends
   * (the usual case) goes straight to the wait for its end (CallEnd), with no async frame of
   * its own (before stop 33 this was one async function: 1 165 bytes allocated per call, the
   * most of any step; allocation sampling, bursts of 100 calls to a worker). A call that must
   * wait for room, or was refused a slot, goes on in callRunWait.
   */
  private callRun(dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, a: CallArgs,
    pt: bigint | undefined, transient: boolean, cookie: number | undefined, sent: { yes: boolean } | null, seq: number, q: CallWait | null = null): Promise<Message | typeof BACK_IN_LINE> {
    let p: PendingCall | null = null;
    /** the core refused the call (EMLINK, or the bus's reply table full): it waits in the slot line */
    let refused: BusError | null = null;
    /** the place this call held in its connection's order to `dst` while it waited for a slot (its RoomWait takes it) */
    let hold: SlotHold | null = null;
    /** the first try found a lock taken (EDEADLK): roomWait's tries only look from then on */
    let stuck: LockLook | null = null;
    // a slot is this call's until it is sent or fails: the slot line lets no other call go for
    // it meanwhile (slotFree; before, calls went while earlier ones waited for room, and were
    // refused once those were sent)
    this.callsSending++;
    try {
      // the send, waiting for room in the receiver as sendAsync does (before: ENOBUFS / EXFULL);
      // its first try runs before call() returns its promise when no slot was waited for
      // the first try at once, without the wait's machinery (an async function and a promise
      // per call), when roomWait would try at once too: no line of senders at the receiver.
      // What a wait can help (room, a lock, a slot or record) goes on in callRunWait; the rest throws.
      const e = this.conn.engine, rx0 = this.conn.knownReceiver(dst);
      if (q !== null) hold = q.hold; // (kept there too until taken: a failure before releases it, slotDrop)
      // (a call that waited for a slot and is first in its order to `dst` tries at once too)
      if (!isShutdown(e.u32) && (rx0 === 0 || T.lineLength(e.i32, rx0) === 0) && (hold !== null ? hold.first : !this.conn.hasRoomWaits(dst))) {
        e.lockWaitMs = this.conn.sendLockWait();
        const skips0 = e.skips;
        try {
          p = this.conn.startCall(dst, payload, a.deadlineNs, false, 'call', pt, cookie);
          if (hold !== null) { hold.release(); hold = null; } // (sent: the sends behind it go on)
          this.conn.sendWent(skips0);
        } catch (err) {
          if (isRefusal(err)) refused = err;
          else {
            if (!(err instanceof BusError && (err.errno === A.ENOBUFS || err.errno === A.EXFULL || err.errno === A.EDEADLK) && err.reason !== A.R_SEND_NEVER_FITS)) throw err;
            if (err.errno === A.EDEADLK) { stuck = new LockLook(); stuck.seen(e); this.conn.sendLockSeen(true); }
          }
        } finally {
          e.lockWaitMs = e.syncLockWaitMs;
        }
      }
    } catch (err) {
      this.callsSending--;
      this.slotPass(); // (not sent: the slot it kept is free again)
      return Promise.reject(err);
    }
    if (p === null) return this.callRunWait(dst, payload, a, pt, transient, cookie, sent, seq, q, hold, stuck, refused);
    // the next call waiting for a slot, if one is still free: once this call counts once (in
    // calls.live), not twice (callsSending too): before stop 64 it passed first, and a second
    // slot freed at the same time went unseen, its call waiting for its timeout (an outside reading)
    this.callsSending--;
    this.slotPass();
    return this.callEnd(p, a, sent);
  }

  /** callRun's call that its first try did not send: the waits for room, then a refused call's way back to the slot line, else the wait for its end. */
  private async callRunWait(dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, a: CallArgs,
    pt: bigint | undefined, transient: boolean, cookie: number | undefined, sent: { yes: boolean } | null, seq: number, q: CallWait | null,
    hold: SlotHold | null, stuck: LockLook | null, refused: BusError | null): Promise<Message | typeof BACK_IN_LINE> {
    const { timeout, signal, keepAlive, deadlineNs, sendBy } = a;
    const calls = this.conn.calls!;
    let p: PendingCall | null = null;
    try {
      if (transient) payload = ownCopy(payload); // (the caller's memory may change while this waits)
      while (p === null && refused === null) {
        const w = new RoomWait<PendingCall>(this.conn, 'call', dst, payload, {}, Math.max(0, sendBy - now()), signal, keepAlive,
          (b) => this.conn.startCall(dst, b, deadlineNs, false, 'call', pt, cookie), timeout, stuck, true);
        w.place = hold;
        w.keepPlace = isRefusal; // (refused a slot: back to the slot line, in this place)
        hold = null;
        const tried = w.run();
        stuck = null;
        this.slotPass(); // the next call waiting for a slot, if one is still free
        try {
          p = await tried;
        } catch (err) {
          if (!isRefusal(err)) throw err;
          refused = err;
          hold = w.place;
        }
      }
    } finally {
      this.callsSending--;
      // (not sent: the slot it kept is free again; sent: the next call, if a slot is still
      // free, now that this one counts once, as in callRun)
      this.slotPass();
    }
    if (p === null) {
      // EMLINK although this connection's calls leave a slot (calls it made through the raw
      // ABI with EXPECT_REPLY hold the others), or the bus's reply table is full (ENOSPC: the calls of
      // every connection): back to its place in the slot line, at once (no other call of
      // the line goes meanwhile), to try again once first and a call of this connection has
      // ended or SLOT_POLL_MS have passed (no word announces the other records)
      const err = refused!;
      // a bus made with no reply records at all (limits.replies: 0): no wait can help
      if (err.errno !== A.EMLINK && this.conn.engine.u32[(A.BUS_BASE + A.BUS_N_REPLIES) >>> 2] === 0) {
        throw new BusError(A.ENOSPC, 'call', 'this bus has no reply records (limits.replies: 0): no call can be made on it', A.R_SEND_REPLY_TABLE_FULL);
      }
      // (an EMLINK with MAX_PENDING_REPLIES calls of ours pending: while this call waited for
      // room its slot was taken; it waits in line again, woken as calls end, not polling)
      const why = err.errno !== A.EMLINK ? 'bus' : calls.live >= A.MAX_PENDING_REPLIES ? null : 'mine';
      // (the waiter it went from, again: its promise is call()'s; a call that had not waited
      // makes its waiter now)
      if (q !== null) { q.hold = hold ?? new SlotHold(this.conn, dst); q.again(why); return BACK_IN_LINE; }
      const w = new CallWait(this.slotLine, this, a, why, seq, dst, payload, pt, cookie, sent, hold ?? new SlotHold(this.conn, dst));
      return await new Promise<Message>((resolve, reject) => this.slotWait(w, resolve, reject));
    }
    return await this.callEnd(p, a, sent);
  }

  /** A sent call's wait for its end (CallEnd): its reply, or what ended it. */
  private callEnd(p: PendingCall, a: CallArgs, sent: { yes: boolean } | null): Promise<Message> {
    if (sent !== null) sent.yes = true;
    this.slotLine.refused = null; // (a call went: the calls behind it wait for a slot, no longer for what refused the last)
    const signal = a.signal, keepAlive = a.keepAlive;
    return new Promise<Message>((resolve, reject) => { new CallEnd(this.conn, this, p, signal, keepAlive, resolve, reject).start(); });
  }

  /**
   * callSync(), with a payload type (callMethodSync: PAYLOAD_DBUS) and a cookie taken for it
   * (takeCallCookie, given back when nothing is sent); `op` names it in errors.
   */
  callSync(dst: Destination, payload: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined, opts: CallSyncOptions | undefined, pt: bigint | undefined, cookie: number | undefined,
    op: 'callSync' | 'callMethodSync' = 'callSync'): Message {
    const i32 = this.conn.engine.i32, idx = this.conn.wakeIndex;
    let p: PendingCall, deadlineNs: number;
    try {
      // a closed connection first, before the options are read (API.md, "Arguments"; an outside audit, stop 40)
      if (this.conn.closed) throw new BusError(A.ECONNRESET, op);
      const o = options<CallSyncOptions>(op, opts, ['timeout'] as const, '{ timeout: ms }');
      const oTimeout = o.timeout; // (read once)
      if (oTimeout === null) throw new BusError(A.EINVAL, op, 'timeout must be a finite number of ms >= 0, got null (leave it out for the default)');
      const timeout = oTimeout ?? DEFAULT_CALL_TIMEOUT;
      const instead = op === 'callSync' ? 'call()' : 'callMethod()';
      if (!canBlock(i32, idx)) throw new BusError(A.EOPNOTSUPP, op, `this thread may not block (Atomics.wait is refused here, e.g. on a browser main thread): use ${instead}`);
      deadlineNs = this.callDeadline(timeout, op);
      // call()s waiting for a pending-call slot: one that cannot wait fails, as the core's
      // EMLINK does, and never goes ahead of them (it did whenever the core had a record free:
      // their calls' ends queued and not received yet; an outside audit, stop 24, saw a
      // worker's callSync arrive before 72 of its earlier call()s). Else the core decides.
      // (what they wait for is what the core refused the first of them: a reply record of the
      // bus, ENOSPC, said EMLINK and "a pending-call slot" before stop 71: an outside reading)
      if (this.slotLine.head !== null) {
        if (this.slotLine.refused === 'bus') throw new BusError(A.ENOSPC, op, `${this.slotLine.length} call()s of this connection wait for a reply record (every one of the bus's limits.replies is taken), and ${op}() does not wait (it would go ahead of them): use ${instead}`, A.R_SEND_REPLY_TABLE_FULL);
        throw new BusError(A.EMLINK, op, `${this.slotLine.length} call()s of this connection wait for a pending-call slot, and ${op}() does not wait (it would go ahead of them): use ${instead}`, A.R_SEND_CALLS_MAX);
      }
      p = this.conn.startCall(dst, payload, deadlineNs, true, op, pt, cookie);
    } catch (err) {
      if (cookie !== undefined) this.conn.untakeCookie(cookie);
      throw err;
    }
    let spinDecided = false;
    try {
      for (;;) {
        if (p.reply) return p.reply;
        if (p.error) throw p.error;
        if (this.conn.closed) throw new BusError(A.ECONNRESET, op, 'the connection was closed');
        const seen = Atomics.load(i32, idx);
        this.conn.takeReply(p, op, false);
        if (p.reply || p.error) continue;
        // (until its deadline; once asked past it with an end in flight: until the word moves, or LOCK_WAIT_MS more)
        const left = Math.max(this.callLeft(settleByNs(p) / 1e6), 0.05);
        if (!spinDecided) {
          spinDecided = true;
          if (this.conn.spinner.shouldSpin() && this.conn.spinner.spin(i32, idx, seen, left)) continue;
        }
        waitWordBlocking(i32, idx, seen, left, this.conn.sleepersIndex);
      }
    } finally {
      this.callWaitEnded(p);
      // (abandoned: its end is the reply pump's to take, as for an aborted call(); nothing
      // asked it before stop 65, and the end stayed queued, the call pending, until the
      // user's next receive: an outside reading)
      if (p.abandoned) this.pump.owed();
    }
  }

  /**
   * A call's wait is over. Its end came (a reply, REPLY_TIMEOUT, REPLY_DEAD), the connection
   * closed, or it was aborted: it leaves the pending calls (an aborted one stays until its end
   * comes, which is then freed). Any other failure of the wait itself (EDEADLK: a lock that
   * stayed taken) leaves the call pending in the core: it is abandoned the same way, so its
   * end is freed when it comes and never reaches recv() (an outside audit saw a reply reach
   * the user after its call had failed so).
   */
  /** @internal (CallEnd) */
  callWaitEnded(p: PendingCall): void {
    if (p.abandoned) return;
    if (p.reply === null && p.error === null && !this.conn.closed && !isShutdown(this.conn.engine.u32)) p.abandoned = true;
    else this.conn.calls?.remove(p);
  }
}

/**
 * The wait of a sent call() for its end: a Waiter of its connection (close() ends it), the
 * abort hook of its signal, and the steps of the wait, each run as a microtask (the first
 * lets the code after call() run: a callee on this same thread answers then, and the call
 * finds its reply without a spin or a waitAsync, ~100 µs per call before; each later one
 * when the reply pump, an abort or a close wakes it, as an await's continuation would run).
 * The connection's reply pump makes the receives (reply-pump.ts); from the start until it
 * settles the call counts in pendingCalls, even once its end was taken (by a receive of the
 * user, or the pump) and it has not resumed yet.
 */
class CallEnd implements Waiter {
  readonly op = 'call';
  /** Linked (a connection's waiters: linked-set.ts) */
  linkPrev: Linked | null = null;
  linkNext: Linked | null = null;
  linkIn: object | null = null;
  held = false;
  error: BusError | null = null;
  cancel: (() => void) | null = null;
  /** a wait is in progress: a wake-up queues the next step */
  private waiting = false;
  private readonly wakeFn: () => void;
  private readonly stepFn: () => void;

  constructor(
    private readonly conn: CallOwner,
    private readonly run: Caller,
    private readonly p: PendingCall,
    private readonly signal: AbortSignal | undefined,
    readonly keep: boolean | undefined,
    private readonly resolve: (m: Message) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.wakeFn = () => {
      if (!this.waiting) return;
      this.waiting = false;
      this.p.wake = null;
      this.cancel = null;
      void RESOLVED.then(this.stepFn);
    };
    this.stepFn = () => { this.step(); };
  }

  start(): void {
    const p = this.p;
    try {
      this.conn.waitJoin(this);
      this.run.pump.waiting.add(p);
      if (this.signal !== undefined) {
        try {
          // (one listener per signal for all of this thread's waits: abort-hooks.ts)
          this.run.aborts.watch(this.signal, this, 'call');
        } catch (err) {
          // a signal that refuses its listener: the call, sent already, is abandoned as an
          // aborted one is (its end is freed when it comes), and fails with ECANCELED
          if (!p.error && !p.reply) { p.abandoned = true; p.error = new BusError(A.ECANCELED, 'call', `its signal refused the abort listener (${err instanceof Error ? err.message : String(err)})`); }
        }
        if (this.signal.aborted) this.handleEvent(); // aborted while the send's promise settled
      }
    } catch (err) {
      this.end(true, err);
      return;
    }
    void RESOLVED.then(this.stepFn);
  }

  /** AbortHook: its signal aborted. */
  handleEvent(): void {
    const p = this.p;
    if (p.error || p.reply) return;
    p.abandoned = true; // stays pending: what arrives for it later is freed
    p.error = canceled('call', this.signal);
    p.wake?.();
  }

  /** The wait's loop, up to its next wait or its end. */
  private step(): void {
    const p = this.p;
    try {
      for (;;) {
        // an end that a listener's batch took behind messages it has not handed over yet:
        // the batch wakes the call once they are (connection.ts, wakeTaken; or its close)
        if (p.held) {
          this.waiting = true;
          p.wake = this.wakeFn;
          this.cancel = this.wakeFn;
          return;
        }
        // an end handed over (drop(), recv(), the pump; a reply, or the bus's REPLY_TIMEOUT /
        // REPLY_DEAD) before a close() that came while this call had not resumed: the call ends
        // as the close ended the others (a reply's Message went with the pool). Before stop 41
        // the bus's ends kept their ETIMEDOUT / EPIPE, so that a call closed at its deadline
        // said one or the other by timing (an outside audit)
        if ((p.reply || (p.error && (p.error.errno === A.ETIMEDOUT || p.error.errno === A.EPIPE))) && this.conn.closed) {
          throw isShutdown(this.conn.engine.u32) ? shutdownError('call') : new BusError(A.ECONNRESET, 'call', 'the connection was closed');
        }
        if (p.reply) {
          this.end(false, p.reply);
          return;
        }
        if (p.error) throw p.error;
        if (p.waitError) throw p.waitError;
        if (this.error) throw this.error;
        this.run.pump.want(p);
        if (p.reply || p.error || p.waitError) continue;
        this.waiting = true;
        p.wake = this.wakeFn;
        this.cancel = this.wakeFn;
        return;
      }
    } catch (err) {
      this.end(true, err);
    }
  }

  /** The wait is over: out of the pump's and the connection's waits; the call settles with `value` (its reply, or what failed it). */
  private end(failed: boolean, value: unknown): void {
    const p = this.p;
    try {
      this.run.pump.waiting.delete(p);
      p.wake = null;
      if (this.signal !== undefined) this.run.aborts.unwatch(this.signal, this);
      this.conn.waitLeave(this);
      this.run.callWaitEnded(p);
      // (an aborted call's end is still owed: the pump frees it as it comes)
      if (p.abandoned) this.run.pump.owed();
    } catch (err) {
      failed = true;
      value = err;
    }
    if (failed) this.reject(value); else this.resolve(value as Message);
  }
}
