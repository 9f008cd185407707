// reply-pump: the receives of every call() of one connection, one loop for all of them.
//
// Before, each pending call woke on every message and searched the queue for its own reply:
// 128 wake-ups and searches per reply with 128 calls pending. The pump's turn takes every
// queued end of a call (RECV_REPLY with cookie 0; with `rawCalls`, RECV_REPLY with each
// waiting call's cookie) and hands it to its call (Calls.claim), then waits: the adaptive
// spin, then Atomics.waitAsync on the wake word until the earliest deadline of a waiting
// call, when the next RECV's tick queues its REPLY_TIMEOUT (or, dropped for lack of room,
// Calls.expire ends it). An end the bus drops for lack of room (a REPLY_DEAD) wakes the pump,
// and a call's own RECV_REPLY then says its record is gone (RECV_RETURN_NO_CALL): it ends
// then. It runs while calls wait for their ends, while calls wait in the slot line for slots
// that pending calls hold, and while an aborted call's end is owed and no receive of the user
// waits on the connection (endsOwed). A failure of its receives (a lock
// that stayed taken: EDEADLK; ESHUTDOWN; ECONNRESET) ends the waiting calls with it.
//
// The pump takes only ends of calls (messages without EXPECT_REPLY whose cookie_reply is a
// pending call's cookie): every other message stays queued, accounted to its sender's quota,
// for the user's receives (calls.ts says why).
//
// Order with a listener: while a listener runs on the connection (conn.listen), the pump
// takes an end only when it is first in the queue (and no message its batch took waits to be
// handed over); one with messages before it is left to
// the listener, which takes every message in queue order and hands the end to its call as it
// meets it (Calls.claim), so that a call settles after the listener's handler was handed
// every message queued before its end (sd-bus runs an asynchronous call's callback in queue
// order too). A listener never waits for its handler, so it always gets there. The end of the
// listener (stop, a failure, close) nudges the pump, which then takes what is left wherever
// it is. An iterator or a recvAsync gets no such order: a loop's body may await a call whose
// end would then wait behind messages nobody takes (docs/API.md, "Calls").
import * as A from './shared/abi.ts';
import { BusError, shutdownError } from './errno.ts';
import { isShutdown, type Engine } from './engine.ts';
import { get64 } from './wire.ts';
import { RECV, checkCmd } from './cmd/index.ts';
import { now } from './host/wait.ts';
import { waitIn, dropWait, type GroupWait, type WaitGroup } from './host/wait-group.ts';
import { waitResolved, yieldTurn } from './host/fair.ts';
import { timerDelay, unref } from './host/deadlines.ts';
import { relabel } from './args.ts';
import { LinkedSet } from './linked-set.ts';
import type { Spinner } from './host/spin.ts';
import { settleByNs, type Calls, type PendingCall } from './calls.ts';
import type { SlotLine } from './slot-line.ts';

/** Is the message whose header is at `m` the bus's REPLY_TIMEOUT (src 0, payload type 0, its first item)? */
export function isTimeout(u32: Uint32Array, m: number): boolean {
  return get64(u32, m + A.MSG_SRC_ID) === 0 && u32[(m + A.MSG_PAYLOAD_TYPE) >>> 2] === 0 && u32[(m + A.MSG_PAYLOAD_TYPE + 4) >>> 2] === 0 &&
    u32[(m + A.MSG_HDR + A.ITEM_TYPE) >>> 2] === A.ITEM_REPLY_TIMEOUT;
}

/** What the pump needs of its connection (Connection implements it; internal). */
export interface PumpOwner {
  readonly engine: Engine;
  readonly slot: number;
  readonly poolBase: number;
  readonly spinner: Spinner;
  /** the connection's wake word and sleepers count (indexes in engine.i32) */
  readonly wakeIndex: number;
  readonly sleepersIndex: number;
  /** this thread's waits on the wake word, the pump's among them (host/wait-group.ts) */
  readonly waitGroup: WaitGroup;
  /** the pending calls (null: no call made yet) */
  readonly calls: Calls | null;
  /** the EDEADLK of the last receive that found a lock taken and gave up waiting for it (null: none) */
  readonly lockBusy: BusError | null;
  /** lockBusy, once the lock has stayed taken for LOCK_WAIT_MS in all (else null: try again) */
  lockStuck(): BusError | null;
  /** the engine, or throws what ends every command of this connection now (closed: ECONNRESET; a dead thread) */
  live(op: string): Engine;
  /** RECV_REPLY for `cookie` (0: the first end of any call), yielding to the event loop on a lock found taken (null then) */
  recvReply(cookie: number, op: string, yielding: boolean, first?: boolean): number | null;
  /** `p`'s own RECV_REPLY: its end, if queued, handed over (Calls.claim) */
  takeReply(p: PendingCall, op: string, yielding: boolean, first?: boolean): void;
  freeOffset(offset: number): void;
  /** receives of the user that take every call's end they meet (a running listener; an iterator's step or a recvAsync without a `priority` filter) */
  readonly takingReceives: number;
  /** the listener that runs on the connection (conn.listen), or null: it takes every message in queue order, the calls' ends among them */
  readonly listening: object | null;
  /** messages a listener's RECV_BATCH took and has not handed over yet (the connection's next messages) */
  readonly batchPending: boolean;
}

/** The reply pump of one connection. */
export class ReplyPump {
  /** call()s waiting for their end (their receives are the pump's; a LinkedSet, not a Set: linked-set.ts says why) */
  readonly waiting = new LinkedSet<PendingCall>();
  /** the pump runs */
  private running = false;
  /** an end of a call the host does not know (made through the raw ABI: the user's) was seen queued: the pump takes only its own calls' ends, by cookie */
  private rawCalls = false;
  /** the last look left an end to the listener (messages were queued before it) */
  private deferred = false;
  /** the thread's chain of wake-ups asked for a macrotask when this pump last took ends (host/fair.ts): before its next wait, or its next run */
  private yieldOwed = false;
  /** the deadline (ns) the current wait ends at, and how to end that wait early */
  private dueNs = Infinity;
  private wake: (() => void) | null = null;

  constructor(
    private readonly conn: PumpOwner,
    /** the connection's call()s waiting for a pending-call slot (slot-line.ts) */
    private readonly line: SlotLine,
  ) {}

  /**
   * `p` waits for its end: the pump runs, and waits until `p`'s deadline at most. (A call
   * that is already waiting may call it again after each wake-up.)
   */
  want(p: PendingCall): void {
    if (!this.running) void this.run();
    else if (p.deadlineNs < this.dueNs) this.wake?.(); // it looks again, and waits until this deadline at most
  }

  /**
   * The listener ended (conn.listening set to null): a wait that left ends to it looks again,
   * and a pump that stopped with ends left to it (calls past their deadlines whose ends wait
   * behind messages: `behind`) runs again to take them.
   */
  nudge(): void {
    if (this.running) { if (this.deferred) this.wake?.(); }
    else if (this.waiting.size > 0) {
      for (let p = this.waiting.first; p !== null; p = p.linkNext as PendingCall | null) if (!(p.reply || p.error || p.waitError)) { void this.run(); return; }
    }
    this.owed(); // (an aborted call's late end, left to the listener: the pump's now)
  }

  /**
   * A receive of this connection (a listener's batch, most often) was told of dropped
   * messages while calls are pending: a pump that left ends to the listener, and so waits on
   * its timer and not on the wake word (which the drop moved), looks now: a call's end may
   * be among them (endMissing).
   */
  dropped(): void {
    if (this.running && this.deferred) this.wake?.();
  }

  /**
   * Ends are owed that no call() waits for (endsOwed): calls wait in the slot line for slots
   * that pending calls hold, or a call was aborted. The pump takes them.
   */
  owed(): void {
    if (!this.running && this.endsOwed()) void this.run();
  }

  /**
   * Ends the pump must take though no call() waits for them: while calls wait in the slot
   * line, every pending call's (an end frees a slot; a connection that only makes calls
   * receives nothing else: an outside audit, stop 16); and an aborted call's, so that its late
   * end is freed as it comes and its record forgotten at its deadline, not left in the pool
   * (and in `queued`, `pendingCalls`, the replier's quota) until the user's next receive
   * (an outside audit, stop 24). Not while receives of the user that take any end wait on the
   * connection (a running listener; an iterator step or recvAsync without a `priority`
   * filter): they take such ends as they come (Calls.claim), and the pump would be a second
   * wake-up per message (a one-thread flood into a listener with an aborted call pending:
   * 1.07-1.11× the time per message). A receive with a `priority` filter may never take it
   * (one below the end's), and a receive that ends waiting asks again (owed): before stop 64
   * the end stayed queued until the user's next receive in both cases.
   */
  private endsOwed(): boolean {
    const calls = this.conn.calls;
    if (calls === null || calls.live === 0) return false;
    if (this.line.head !== null) return true;
    if (this.conn.takingReceives > 0) return false;
    for (const p of calls.pending.unordered) if (p !== null && p.abandoned) return true;
    return false;
  }

  /**
   * How many call()s have ended (their end taken by any receive, or a failure) and have not
   * resumed yet: their promises settle a microtask later. (An aborted one still pending in the
   * core is counted by Calls.live, not here.)
   */
  get settling(): number {
    const pending = this.conn.calls?.pending;
    let n = 0;
    for (let p = this.waiting.first; p !== null; p = p.linkNext as PendingCall | null) if ((p.reply || p.error || p.waitError) && pending?.get(p.cookie) !== p) n++;
    return n;
  }

  private async run(): Promise<void> {
    this.running = true;
    const conn = this.conn, e = conn.engine, i32 = e.i32, idx = conn.wakeIndex;
    let spinDecided = false;
    try {
      if (this.yieldOwed) { this.yieldOwed = false; await yieldTurn(); }
      // while calls wait for their ends, and while ends are owed that no call() waits for
      // (endsOwed: the calls' while others wait for a slot, an aborted call's)
      while (this.waiting.size > 0 || this.endsOwed()) {
        // (bus.shutdown() bumps every wake word: the pump may have nothing to receive that would tell it)
        if (isShutdown(e.u32)) throw shutdownError('call');
        // (so does a recovery that declared this thread dead, and a look that finds no end of
        // a call runs no command that would say so: ask, or the calls wait for their deadlines)
        e.checkAlive();
        const seen = Atomics.load(i32, idx);
        if (this.take() > 0) {
          spinDecided = false;
          // ends taken in this same task count in the thread's chain (host/fair.ts), as a caught
          // one does (below): a pump that finds ends queued whenever it looks (a worker that
          // answers faster than this thread calls) never parked, and a page keeping 100 calls
          // in flight held its timers for 50–390 ms (stop 58). The macrotask it owes then comes
          // before its next wait, or first in its next run (the calls it just ended settle now)
          if (waitResolved(now(), true)) this.yieldOwed = true;
        }
        // until the earliest deadline of a call still waiting for its end (and never less than
        // a little while once it passed, so a clock that lags does not spin); none: done. (A
        // call whose end was just handed over stays in `waiting` until its call() resumes:
        // counting it kept the pump spinning and parking after every same-thread call, which
        // cost a spin or a waitAsync round trip per call)
        let due = Infinity, open = false;
        for (let p = this.waiting.first; p !== null; p = p.linkNext as PendingCall | null) {
          if (p.reply || p.error || p.waitError) continue;
          // (its end is queued behind messages the listener takes first: no deadline to wait for)
          if (p.behind) { p.behind = false; continue; }
          open = true;
          // (one asked past its deadline with an end in flight: the word moves when that ends)
          const d = settleByNs(p);
          if (d < due) due = d;
        }
        // (calls waiting for a slot: every pending call's deadline; else an aborted one's)
        if (conn.calls !== null) {
          const all = this.line.head !== null;
          for (const p of conn.calls.pending.unordered) {
            if (p === null || (!all && !p.abandoned)) continue;
            open = true;
            const d = settleByNs(p);
            if (d < due) due = d;
          }
        }
        if (!open) break;
        if (this.yieldOwed) { this.yieldOwed = false; await yieldTurn(); continue; }
        const stuck = conn.lockStuck();
        if (stuck) throw relabel('call', stuck); // (the shared error says the op of the receive that met it: an outside audit, stop 22)
        let left = Math.max((due - e.monotonicNs()) / 1e6, 0.05);
        if (conn.lockBusy !== null) left = Math.min(left, A.ASYNC_LOCK_RETRY_MS);
        // (an end left to the listener: no spin, which would only keep the listener, on this
        // same thread, from taking it)
        else if (!spinDecided && !this.deferred) {
          spinDecided = true;
          if (conn.spinner.shouldSpin() && conn.spinner.spin(i32, idx, seen, left)) {
            // a caught end resolves its call in a microtask, no wait parked: it counts in the
            // thread's chain of wake-ups as an immediate receive does, so that a loop of awaited
            // calls whose ends the spin catches lets the loop reach its timers (host/fair.ts;
            // uncounted, such a loop held a 1 ms interval up to 47 ms: stop 57)
            if (waitResolved(now(), true)) await yieldTurn();
            continue;
          }
        }
        this.dueNs = due;
        if (this.deferred) {
          // ends left to the listener: it takes every message that comes, so the pump waits
          // only for the earliest deadline (an unref'd timer), a call with an earlier one, or
          // the listener's end (nudge), not for every message published meanwhile
          if (conn.listening === null) continue;
          let timer: ReturnType<typeof setTimeout> | undefined;
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            timer = setTimeout(resolve, timerDelay(now() + left));
            unref(timer);
          });
          clearTimeout(timer);
        } else {
          let park: GroupWait | null = null;
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            park = waitIn(conn.waitGroup, seen, left, resolve, true); // (woken at every move of the word: a dropped end moves it, queuing nothing)
          });
          // (woken by this.wake: a call with an earlier deadline, a listener's end; its wait,
          // still parked, leaves the connection's group alone now rather than staying a
          // member until its deadline; nothing when it ended by itself)
          if (park !== null) dropWait(park);
        }
        this.wake = null;
        this.dueNs = Infinity;
      }
    } catch (err) {
      for (const p of this.waiting.toArray()) {
        if (p.reply || p.error || p.waitError) continue;
        p.waitError = err as Error;
        p.wake?.();
      }
      this.line.wakeAll(); // (they look again: a shutdown, a closed connection, is theirs too)
    } finally {
      this.running = false;
      this.deferred = false;
      this.wake = null;
      this.dueNs = Infinity;
    }
  }

  /**
   * One look: every queued end of a call taken and handed over (Calls.claim); how many. The
   * first end in the queue is found in place (as drop() reads the head: only this thread
   * takes messages off this queue, and senders only append), and taken with RECV_REPLY 0,
   * which takes that same first end. One that is not the end of a call the host knows (a
   * call made through the raw ABI: its end is the user's) switches the pump to a RECV_REPLY
   * per waiting call's cookie for good (rawCalls). With no end queued, a call past its
   * deadline makes its own RECV_REPLY, whose tick expires it (REPLY_TIMEOUT, or lost).
   */
  private take(): number {
    const conn = this.conn, calls = conn.calls!;
    let n = 0;
    this.deferred = false;
    for (;;) {
      if (this.rawCalls) return n + this.takeEach(false);
      const cr = this.firstEnd();
      // messages before it and a listener running: the listener takes it in order (above),
      // unless it is a REPLY_TIMEOUT (a call that times out settles at once); the calls past
      // their deadlines still look (takeEach: their REPLY_TIMEOUTs come now)
      if (cr !== 0 && !this.firstTimeout && (this.firstAt > 0 || conn.batchPending) && conn.listening !== null) {
        this.deferred = true;
        // (and every call, when an end may have been dropped: the dropped one's RECV_REPLY
        // says so, the others' ends queued behind messages stay the listener's. Before stop 64
        // only the due calls looked: a call whose REPLY_DEAD was dropped while the listener
        // worked through a backlog ended about a second later, or ETIMEDOUT at its deadline)
        return n + this.takeEach(!this.endMissingBehind());
      }
      // no end queued: the calls past their deadlines look (their REPLY_TIMEOUTs come, or were
      // dropped); and every call does when an end may have been dropped for lack of room (a
      // REPLY_DEAD's most often): the core has fewer records of this connection's calls than
      // the host has pending, or the bus dropped messages for it since the last look. Each
      // call's own RECV_REPLY then says whether its record is gone (RECV_RETURN_NO_CALL).
      if (cr === 0) return n + this.takeEach(!this.endMissing());
      if (!calls.pending.has(cr)) { this.rawCalls = true; continue; }
      const r = conn.recvReply(0, 'call', true);
      if (r === null) return n; // a lock still taken: the pump looks again soon
      if (r === -A.EAGAIN) return n; // (cannot happen: the end seen is first, and only this thread takes it)
      const u32 = conn.engine.u32, cmd = conn.engine.cmd;
      checkCmd(u32, cmd, r, 'call', RECV.NAME);
      const off = RECV.offset(u32, cmd);
      if (!calls.claim(conn.poolBase + off, off, RECV.size(u32, cmd))) {
        conn.freeOffset(off);
        throw new BusError(A.EFAULT, 'call', `internal: RECV_REPLY 0 returned an end other than the first one seen (call ${cr})`);
      }
      n++;
    }
  }

  /**
   * RECV_REPLY for each waiting call (`dueOnly`: each one past its deadline), and for each
   * aborted call still pending (its end is freed, or, past its deadline with none queued, it
   * is forgotten: a slot freed); how many ended.
   */
  private takeEach(dueOnly: boolean): number {
    const conn = this.conn;
    const t = dueOnly ? conn.engine.monotonicNs() : Infinity;
    // (every waiting call is pending until its end is taken: none is due before the earliest
    // deadline of the pending ones, the usual case of a look that found no end queued)
    if (conn.calls !== null && t < conn.calls.dueFrom) return 0;
    const listening = conn.listening !== null;
    let n = 0;
    for (const p of this.waiting.toArray()) {
      if (p.reply || p.error || p.waitError || p.deadlineNs > t) continue;
      // with a listener running, a reply or REPLY_DEAD queued behind messages is left to it
      // (above): its own RECV_REPLY would take it out of order (also past the call's deadline:
      // the reply came in time; and with raw-ABI calls beside, where every end is taken by its
      // cookie). A REPLY_TIMEOUT is taken wherever it is: the call settles at once.
      let first = false;
      if (listening) {
        const at = this.endAt(p.cookie);
        if (at >= 0 && !this.atTimeout && (at > 0 || conn.batchPending)) { p.behind = true; this.deferred = true; continue; }
        if (at < 0) {
          // not seen queued: asked with RECV_REPLY_FIRST, which leaves an end behind messages
          // where it is. The end of a send into this connection under way (its call's record
          // freed, which made the end look missing, endMissing; not queued yet when the walk
          // above looked) is queued by the time the command has the lock, maybe behind messages
          // the listener is still to take: a plain RECV_REPLY took it out of order (a threads
          // test saw a call settle with 149 of the 300 events before its reply handed over,
          // stop 68). One first in the queue while the listener's batch has messages still to
          // hand over is taken, its call woken once they are (takeReply).
          first = true;
        }
      }
      conn.takeReply(p, 'call', true, first);
      if (p.behind) {
        // left to the listener (RECV_RETURN_BEHIND), unless it is a REPLY_TIMEOUT, which this very
        // receive's tick may have queued: taken wherever it is, the call settles at once (a
        // review of stop 68: a call timing out waited for the listener's backlog)
        if (this.endAt(p.cookie) >= 0 && this.atTimeout) { p.behind = false; conn.takeReply(p, 'call', true); }
        else { this.deferred = true; continue; }
      }
      if (conn.lockBusy !== null) break;
      if (p.reply || p.error) n++;
    }
    const calls = conn.calls;
    if (calls !== null && conn.lockBusy === null) {
      for (const p of calls.pending.values()) {
        if (!p.abandoned || p.deadlineNs > t) continue;
        conn.takeReply(p, 'call', true);
        if (conn.lockBusy !== null) break;
        if (!calls.pending.has(p.cookie)) n++;
      }
    }
    return n;
  }

  /** a look found more records of this connection's calls in the core than the host has: calls made through the raw ABI beside call()'s */
  private rawSeen = false;

  /**
   * With no end queued, may a call's end have been dropped for lack of room (then every
   * waiting call looks, one RECV_REPLY each, which decides under the lock)? When the core has
   * fewer records of this connection's calls (CONN_N_CALLS, read in place: a hint) than the
   * host has calls pending; or, with raw-ABI calls beside them (whose records hide a missing
   * one from that count: an outside audit), when the bus dropped messages for the connection
   * since the last look. Not on every drop: a subscriber whose broadcasts are dropped while it
   * has 128 calls pending made 117 RECV_REPLYs per message received (a third look).
   */
  private endMissing(): boolean {
    const conn = this.conn, calls = conn.calls, e = conn.engine;
    const drops = this.dropsSince();
    if (calls === null || calls.pending.size === 0) return false;
    const core = Atomics.load(e.u32, (e.connAddr(conn.slot) + A.CONN_N_CALLS) >>> 2), host = calls.pending.size;
    if (core > host) this.rawSeen = true;
    return core < host || (this.rawSeen && drops);
  }

  /**
   * endMissing() for a look that found ends queued behind a listener's messages: the core
   * frees a call's record when its end is queued, so its count falls short of the host's
   * pending calls by the ends queued, whether or not one was dropped (counting them as
   * missing made every such look ask every call: one RECV_REPLY and one queue walk each, an
   * outside review of this stop). Only after drops since the last look, and only when the
   * core's records and the pending calls' ends queued fall short of the calls pending.
   */
  private endMissingBehind(): boolean {
    if (!this.dropsSince()) return false;
    const conn = this.conn, calls = conn.calls, e = conn.engine, u32 = e.u32;
    if (calls === null || calls.pending.size === 0) return false;
    const c = e.connAddr(conn.slot);
    let have = Atomics.load(u32, (c + A.CONN_N_CALLS) >>> 2);
    // (raw-ABI calls beside: their records hide a missing one from the count; after drops,
    // every call asks then, as endMissing does)
    if (have > calls.pending.size) this.rawSeen = true;
    if (this.rawSeen) return true;
    let b = Atomics.load(u32, (c + A.CONN_Q_HEAD) >>> 2);
    for (let n = 0; b !== 0 && n < 1 << 20; n++) {
      const m = b + A.BLOCK_HDR;
      if ((u32[(m + A.MSG_FLAGS) >>> 2] & A.MSG_EXPECT_REPLY) === 0) {
        const cr = get64(u32, m + A.MSG_TIMEOUT);
        if (cr !== 0 && calls.pending.has(cr)) have++;
      }
      b = Atomics.load(u32, (b + A.BLOCK_NEXT) >>> 2);
    }
    return have < calls.pending.size;
  }

  /** the connection's dropped counter (CONN_DROPPED) at the last look */
  private droppedWord = 0;

  /**
   * Did the bus drop messages for this connection since the last look (its dropped counter
   * moved, or a receive of the user's, which resets it, reported some)? Both: any message, a
   * call's end among them or not (a raw-ABI call pending beside the call()s hides a missing
   * record from recordsGone's count: an outside audit).
   */
  private dropsSince(): boolean {
    const conn = this.conn, calls = conn.calls, e = conn.engine;
    const w = Atomics.load(e.u32, (e.connAddr(conn.slot) + A.CONN_DROPPED) >>> 2);
    const seen = w !== this.droppedWord || (calls !== null && calls.dropSeen);
    this.droppedWord = w;
    if (calls !== null) calls.dropSeen = false;
    return seen;
  }

  /** the end endAt() found is the bus's REPLY_TIMEOUT */
  private atTimeout = false;

  /** Where an end of the call `cookie` is in the connection's queue (read in place): how many messages are before it, or -1 (none queued); atTimeout says whether it is a REPLY_TIMEOUT. */
  private endAt(cookie: number): number {
    const conn = this.conn, e = conn.live('call'), u32 = e.u32;
    let b = Atomics.load(u32, (e.connAddr(conn.slot) + A.CONN_Q_HEAD) >>> 2);
    for (let n = 0; b !== 0 && n < 1 << 20; n++) {
      const m = b + A.BLOCK_HDR;
      if ((u32[(m + A.MSG_FLAGS) >>> 2] & A.MSG_EXPECT_REPLY) === 0 && get64(u32, m + A.MSG_TIMEOUT) === cookie) {
        this.atTimeout = isTimeout(u32, m);
        return n;
      }
      b = Atomics.load(u32, (b + A.BLOCK_NEXT) >>> 2);
    }
    return -1;
  }

  /** how many messages were queued before the end firstEnd() found, and whether it is a REPLY_TIMEOUT */
  private firstAt = 0;
  private firstTimeout = false;

  /** The cookie_reply of the first end of a call in the connection's queue (read in place), or 0; firstAt and firstTimeout say where and what. */
  private firstEnd(): number {
    const conn = this.conn, e = conn.live('call'), u32 = e.u32;
    let b = Atomics.load(u32, (e.connAddr(conn.slot) + A.CONN_Q_HEAD) >>> 2);
    for (let n = 0; b !== 0 && n < 1 << 20; n++) {
      const m = b + A.BLOCK_HDR;
      if ((u32[(m + A.MSG_FLAGS) >>> 2] & A.MSG_EXPECT_REPLY) === 0) {
        const cr = get64(u32, m + A.MSG_TIMEOUT);
        if (cr !== 0) { this.firstAt = n; this.firstTimeout = isTimeout(u32, m); return cr; }
      }
      b = Atomics.load(u32, (b + A.BLOCK_NEXT) >>> 2);
    }
    return 0;
  }
}
