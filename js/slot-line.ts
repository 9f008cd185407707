// slot-line: the call()s of one connection waiting for a pending-call slot (MAX_PENDING_REPLIES
// calls pending), in the order they came; one timer and one microtask for all of them.
//
// The line is a doubly linked list: the first, an append and a removal from anywhere (a
// timeout, an abort) are O(1), for 10 000 waiting calls as for 2. A waiter (SlotCall) looks
// (may it go? is its time up?) when it joins and each time it is woken: by the end of a call
// (Caller.slotPass, call-run.ts, wakes the first), its abort, the connection's close, or its time: its
// deadline, or the poll of a first waiter that the core refused (EMLINK, a full reply table).
// Looks run in a microtask, never inside the waker's code, and all the looks due run in one
// microtask of the line's (flush).
//
// The times are kept by one timer per line, armed for the earliest one and re-armed lazily,
// as host/deadlines.ts does for word waits: a waiter whose time is later than the armed one
// (the usual case: the same timeout again and again) touches no timer, one that leaves early
// only leaves the line, and a firing wakes every waiter that is due and re-arms for the
// earliest time left. The timer is unref'd: a waiting call keeps its thread alive through its
// keep-alive hold (host/keepalive.ts), not through this timer.
//
// Why a class and not an async function with a timer each: a burst of 10 000 calls keeps
// ~9 900 of them waiting at once. As two suspended async functions (call()'s and its slot
// wait's: generators, register files, closures, contexts, promises) and a setTimeout each,
// a waiting call kept about 2.2 KB alive, which the collector copied from one young
// generation to the next while the burst lasted; a SlotCall is one object and the promise
// call() returned (docs/BENCHMARKS.md, stop 16), with the call's arguments in it rather than
// in objects of their own, and a small payload's copy in a shared slab (own-copy.ts): about
// 0.45 KB per waiting call (stop 32).
import type { Linked } from './linked-set.ts';
import * as A from './shared/abi.ts';
import { BusError, canceled } from './errno.ts';
import { now } from './host/wait.ts';
import { timerDelay } from './host/deadlines.ts';
import type { AbortHooks } from './abort-hooks.ts';

/** What a connection does for the waiters of its line (Connection implements it; internal). */
export interface SlotOwner {
  /** Is a slot free: fewer than MAX_PENDING_REPLIES calls of the connection pending? */
  slotFree(): boolean;
  /** The calls of the connection pending now (for ETIMEDOUT's message). */
  slotPending(): number;
  /** Throws what ends every wait now (the bus shut down: ESHUTDOWN; the connection closed: ECONNRESET). */
  slotCheck(): void;
  /** `q` joins the waiters of the connection (its keep-alive hold, close()'s list). */
  slotJoin(q: SlotCall): void;
  /** `q` leaves them. */
  slotLeave(q: SlotCall): void;
  /** `q` may go (a slot is its): the call goes on. */
  slotGo(q: SlotCall): void;
  /** `q` failed: what it held for its call goes (its place in the order to its destination). */
  slotDrop(q: SlotCall): void;
  /** A waiter that failed: the first one looks again, the slot may be free. */
  slotPass(): void;
  /** how many calls of the connection have ended so far (a count that only grows) */
  slotEnds(): number;
  /**
   * Would the core still refuse a call for `core`'s reason, by what shared memory shows now
   * ('bus': every reply record in use; 'mine': MAX_PENDING_REPLIES records of the connection)?
   * A look, not a lock: a waiter whose poll time came tries only when it may succeed.
   */
  slotStillRefused(core: 'mine' | 'bus'): boolean;
  /**
   * A waiter sleeps while calls hold the slots: something must take their ends (an aborted
   * call's end too, or its REPLY_TIMEOUT at its deadline), or no slot is ever freed on a
   * connection that only makes calls. (The connection's reply pump: it runs while this line
   * has waiters and calls are pending.)
   */
  slotHeld(): void;
  /** the connection's abort listeners, one per signal (abort-hooks.ts) */
  readonly aborts: AbortHooks;
}

/**
 * how often (ms) a first waiter that the core refused (EMLINK, calls made through the raw ABI with
 * EXPECT_REPLY holding the slots; or the bus's reply table full, held by other connections'
 * calls) tries again, when no call of its own connection ended meanwhile: no end of those
 * records is announced
 */
export const SLOT_POLL_MS = 10;
const RESOLVED = Promise.resolve();

/**
 * One call() waiting for a pending-call slot. It is also the call's Waiter (close() fails
 * it, conn.ref()/unref() move its hold); the caller's subclass (call-run.ts, CallWait)
 * carries what the call needs once it goes, in the same object.
 */
export class SlotCall {
  // the line
  prev: SlotCall | null = null;
  next: SlotCall | null = null;
  /** when its current sleep ends by itself (performance.now() ms; Infinity: not sleeping) */
  due = Infinity;
  /** a look is scheduled (flush) */
  scheduled = false;
  /** it left the line (went or failed): looks and wakes do nothing */
  over = false;
  /**
   * A call the core refused (core set) tries again once it is first and either SLOT_POLL_MS
   * have passed since the refusal (pollAt, performance.now() ms) or a call of its connection
   * has ended since (endsAt: SlotOwner.slotEnds() then). Only time and ends open the gate, not
   * wake-ups: before, any wake-up of a waiter that had slept as first let it go, and two
   * refused calls, each waking the other as it failed, went back and forth in microtasks
   * until their timeout (stop 20).
   */
  private pollAt: number;
  private endsAt: number;
  // the Waiter (Connection's close(), ref(), unref())
  readonly op = 'call';
  /** Linked (a connection's waiters: linked-set.ts) */
  linkPrev: Linked | null = null;
  linkNext: Linked | null = null;
  linkIn: object | null = null;
  held = false;
  error: BusError | null = null;
  /** what the wait ends with: slotGo's (the call's reply), reject(err) */
  resolve: (v: never) => void = noop;
  reject: (err: unknown) => void = noop;

  constructor(
    private readonly line: SlotLine,
    private readonly owner: SlotOwner,
    /** the call's timeout (ms) and when the waits before its send end (performance.now() ms) */
    readonly timeout: number,
    readonly sendBy: number,
    readonly signal: AbortSignal | undefined,
    /** keep the thread alive while waiting (undefined: the connection's ref()) */
    readonly keep: boolean | undefined,
    /** null: a call() over its connection's slots; 'mine' / 'bus': the core said EMLINK / the bus's reply table is full */
    public core: 'mine' | 'bus' | null,
    /**
     * the call's place: the order of its call() on the connection. A call that went and
     * must wait again (the core said EMLINK, or the reply table was full) comes back to its
     * place, ahead of the calls made after it (first come, first served).
     */
    readonly seq: number,
  ) {
    this.pollAt = core === null ? -Infinity : now() + SLOT_POLL_MS;
    this.endsAt = core === null ? 0 : owner.slotEnds();
  }

  /**
   * The call went and the core refused it (`core`): back to its place in the line at once,
   * with the same promise (no other waiter went meanwhile: the try ran in this waiter's go).
   */
  again(core: 'mine' | 'bus' | null): void {
    this.core = core;
    this.pollAt = core === null ? -Infinity : now() + SLOT_POLL_MS;
    this.endsAt = core === null ? 0 : this.owner.slotEnds();
    this.over = false;
    this.join();
  }

  /** Join the line, look once now; `resolve` / `reject` end the wait. */
  start(resolve: (v: never) => void, reject: (err: unknown) => void): void {
    this.resolve = resolve;
    this.reject = reject;
    this.join();
  }

  private join(): void {
    if (this.signal !== undefined) this.owner.aborts.watch(this.signal, this, this.op); // (first: a signal that throws leaves nothing behind)
    if (this.core !== null) this.line.refused = this.core;
    this.line.push(this);
    this.owner.slotJoin(this);
    this.look();
  }

  /** close()'s and the abort's wake: look again (it finds `error`) */
  cancel(): void {
    this.line.wake(this);
  }

  /** the abort listener (an EventListener object: no closure per waiter) */
  handleEvent(): void {
    if (this.error) return;
    this.error = canceled('call', this.signal);
    this.cancel();
  }

  /** Go, fail, or sleep until woken or due. */
  look(): void {
    this.scheduled = false;
    if (this.over) return;
    this.due = Infinity;
    try {
      // (an abort whose event came before this waiter's hook: a call that comes back to the
      // line after its signal aborted, say)
      if (this.error === null && this.signal?.aborted === true) this.error = canceled('call', this.signal);
      if (this.error) throw this.error;
      this.owner.slotCheck();
      // its time first: a call whose wait ran out is not sent, even if a slot came with it
      // (before, a burst's calls left the line at its head after their time, and were sent late)
      const left = this.sendBy - now();
      if (left <= 0) {
        // (a call behind refused ones waits for what they wait for, even once they have left)
        const core = this.core ?? this.line.refused;
        throw new BusError(A.ETIMEDOUT, 'call', core === 'bus'
          ? `no reply record of the bus free within ${this.timeout} ms (every one of its limits.replies records is in use by a pending call)`
          : `no pending-call slot free within ${this.timeout} ms (${this.owner.slotPending()} calls of this connection pending${core ? ', and calls it made through the raw ABI with EXPECT_REPLY' : ''}; at most ${A.MAX_PENDING_REPLIES})`);
      }
      const first = this.line.head === this && this.owner.slotFree();
      let wait = this.core === null || this.owner.slotEnds() !== this.endsAt ? 0 : this.pollAt - now();
      // a poll that finds the records still taken polls again without a try (a refused SEND
      // and its error cost a waiter some 40 ms of CPU per second, polling: outside audit, stop 20)
      if (first && wait <= 0 && this.core !== null && this.owner.slotStillRefused(this.core)) {
        this.pollAt = now() + SLOT_POLL_MS;
        this.endsAt = this.owner.slotEnds();
        wait = SLOT_POLL_MS;
      }
      if (first && wait <= 0) {
        this.leave();
        this.owner.slotGo(this); // (one that goes passes after its send: call())
        return;
      }
      this.line.sleep(this, now() + (first ? Math.min(left, wait) : left));
      if (!first) this.owner.slotHeld();
    } catch (err) {
      this.leave();
      this.owner.slotDrop(this);
      this.owner.slotPass();
      this.reject(err);
    }
  }

  private leave(): void {
    this.over = true;
    this.line.remove(this);
    if (this.signal !== undefined) this.owner.aborts.unwatch(this.signal, this);
    this.owner.slotLeave(this);
  }
}

function noop(): void {}

export class SlotLine {
  head: SlotCall | null = null;
  /**
   * what the core said to the last call of the line it refused ('mine': EMLINK, 'bus': the
   * reply table full), until a call of the connection is sent: what the calls behind it wait
   * for, and what their ETIMEDOUT says
   */
  refused: 'mine' | 'bus' | null = null;
  /** the waiters in the line */
  length = 0;
  private tail: SlotCall | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** the time the timer is armed for (Infinity: not armed) */
  private armedAt = Infinity;
  /** waiters woken and not yet looked again, in the order woken; a flush is scheduled while not empty */
  private woken: SlotCall[] = [];

  /** `q` joins the line at its place (by seq: at the end, unless it comes back to wait again). */
  push(q: SlotCall): void {
    this.length++;
    if (this.tail === null || this.tail.seq < q.seq) {
      q.prev = this.tail;
      q.next = null;
      if (this.tail) this.tail.next = q; else this.head = q;
      this.tail = q;
      return;
    }
    // a call that comes back: before the first one made after it (near the head: a short walk)
    let before = this.head!;
    while (before.seq < q.seq) before = before.next!;
    q.next = before;
    q.prev = before.prev;
    if (before.prev) before.prev.next = q; else this.head = q;
    before.prev = q;
  }

  /** Every waiter looks again (the bus shut down, the pump failed: they find out why). */
  wakeAll(): void {
    for (let q = this.head; q !== null; q = q.next) this.wake(q);
  }

  /** `q` leaves the line (wherever it is). */
  remove(q: SlotCall): void {
    this.length--;
    if (q.prev) q.prev.next = q.next; else if (this.head === q) this.head = q.next;
    if (q.next) q.next.prev = q.prev; else if (this.tail === q) this.tail = q.prev;
    q.prev = q.next = null;
  }

  /** `q` sleeps until woken or until `due` (performance.now() ms). */
  sleep(q: SlotCall, due: number): void {
    q.due = due;
    if (due < this.armedAt) this.arm(due);
  }

  /** `q` looks again, in the line's next flush (a microtask). */
  wake(q: SlotCall): void {
    if (q.scheduled || q.over) return;
    q.scheduled = true;
    if (this.woken.push(q) === 1) void RESOLVED.then(this.flush);
  }

  /** Every woken waiter looks again, in the order woken (one that a look wakes too, in this same flush). */
  private readonly flush = (): void => {
    const w = this.woken;
    for (let i = 0; i < w.length; i++) {
      try {
        w[i].look();
      } catch (err) {
        // (a look catches what it meets; anything else must not strand the waiters after it)
        queueMicrotask(() => { throw err; });
      }
    }
    w.length = 0;
  };

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedAt = at;
    // timers count whole ms and may run a little early by performance.now(): fire() re-arms then
    const t = setTimeout(this.fire, timerDelay(at)); // (a time past 2^31 - 1 ms is reached in steps)
    (t as { unref?: () => void }).unref?.();
    this.timer = t;
  }

  /** The timer: every sleeping waiter whose time has come is woken; the timer re-armed for the earliest time left. */
  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedAt = Infinity;
    const t = now();
    let next = Infinity;
    for (let q = this.head; q !== null; q = q.next) {
      if (q.due <= t) this.wake(q);
      else if (q.due < next) next = q.due;
    }
    if (next !== Infinity) this.arm(next);
  };
}
