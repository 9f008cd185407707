// room-wait: one send waiting for room in its receiver (sendAsync, replyAsync, dispatch's
// replies, call()'s send): its place in the receiver's ticket line (host/turns.ts), its
// tries, its waits, and what ends them (a timeout, an abort, a close, bus.shutdown()).
//
// Why a class and not an async function with closures: a burst of 10 000 sendAsync()s keeps
// all but the receiver's share waiting at once. As sendAsync()'s and the wait's suspended
// async functions, six closures with their contexts, an abort-listener object and a promise
// pair per wait, each kept about 3.5 KB alive, which the collector copied from one young
// generation to the next while the burst lasted (docs/BENCHMARKS.md, stop 21). A RoomWait is
// one object, the promise run() returns and one closure that resumes it: no async frame and
// no promise per pause (the loop is step(), a plain method, whose locals die with each step;
// a wake-up queues a microtask that runs the next step, as an await's continuation would).
// Stop 21's async run() and a promise per pause kept 1.4 KB per wait alive (allocation
// sampling, 10 000 waiting sendAsync()s: 473 B of them the async frame, 127 B the pause's
// promise); stop 33 made them this.
//
// One place per connection and destination: a connection's waits to one destination (a
// RoomGroup, keyed by the receiver's id or the well-known name) form a list in the order they
// were made. Only its head is in the receiver's ticket line (host/turns.ts) and tries; the
// others wait in the list, touching no shared memory (their deadlines on the group's one
// timer), and each one's end makes the next the head, which takes a new ticket at the line's
// end (or tries, with no line). So a connection's sends to one destination go in call order
// whatever happens while they wait, and senders take turns a message each. Before stop 22
// every waiting send held a ticket: the order held only while all of them did (a first send
// by a name that met the receiver's lock taken retried without one and later sends went
// ahead; a skipped holder kept trying next to the one after it: an outside audit's name
// moves, about 1 run in 5 out of call order at one owner), one sender's burst of 10 000 made
// every later sender wait for all of it, and a terminated worker left a dead ticket per
// waiting send.
//
// The order of the head's checks is the design (each was an outside audit's finding):
// shutdown, this thread declared dead, a name that moved (before the receiver's close), the
// receiver closed, behind the turn (sleep, in its thread's group: turns.ts), a line it is
// not in (to its end), then a try; a try that finds a lock taken takes a ticket where the
// receiver is known, lets the event loop run and only looks from then on; one that finds no
// room takes a ticket in that receiver's line, and the holder of the turn sleeps on the
// receiver's space word.
import type { Linked } from './linked-set.ts';
import * as A from './shared/abi.ts';
import { BusError, canceled, shutdownError } from './errno.ts';
import { now, RESOLVED } from './host/wait.ts';
import { waitWord } from './host/wait-group.ts';
import { notifyWord } from './host/sleepers.ts';
import { unref, timerDelay } from './host/deadlines.ts';
import { ownCopy } from './own-copy.ts';
import { LockLook } from './lock-look.ts';
import * as T from './host/turns.ts';
import type { Engine } from './engine.ts';
import type { Spinner } from './host/spin.ts';
import type { AbortHooks } from './abort-hooks.ts';

type Payload = ArrayBufferView | ArrayBuffer | SharedArrayBuffer | null | undefined;

/**
 * The longest a wait for room sleeps before it looks whether this thread was declared dead
 * meanwhile (bus.recoverThread on a thread that still runs): it sleeps on the receiver's
 * words, which that recovery does not move.
 */
const ALIVE_CHECK_MS = 1000;

/** BUS_NAME_SEQ's index: moves whenever a name changes owner */
const SEQ_IDX = (A.BUS_BASE + A.BUS_NAME_SEQ) >>> 2;

/** A wait's probe (RoomWait.probe): the bus would drop this message whatever the room (a unicast signal its receiver has no rule for): try it now. */
export const PROBE_DROPPED = -1;

/** follow()'s outcomes: in the line of the name's owner now; a lock taken; the bus would drop the message there */
const FOLLOWED = 0, FOLLOW_LOCKED = 1, FOLLOW_DROPPED = 2;

/** A send's failure that room can help: no room now (ENOBUFS / EXFULL), but not a message that can never fit. */
export function roomHelps(err: unknown): err is BusError {
  return err instanceof BusError && (err.errno === A.ENOBUFS || err.errno === A.EXFULL) && err.reason !== A.R_SEND_NEVER_FITS;
}

/** Throws what ends every wait for room before a try: the bus shut down (ESHUTDOWN), this thread declared dead. */
export function checkUsable(conn: RoomOwner, op: string): void {
  if (conn.busIsShutDown()) throw shutdownError(op); // (bus.shutdown() wakes every waiter)
  conn.engine.checkAlive(); // this thread declared dead meanwhile (its parks end every ALIVE_CHECK_MS to see it)
}

/**
 * A connection's waits for room to one destination, in call order: a list through
 * RoomWait.prev / next. Only its head is in the receiver's line; the others wait for their
 * turn in the list, with one timer for all their deadlines (armed for the earliest, re-armed
 * lazily, as host/deadlines.ts does).
 */
export interface RoomGroup {
  head: Member | null;
  tail: Member | null;
  timer: ReturnType<typeof setTimeout> | null;
  armedAt: number;
  /** how many of its members are SlotHolds (0, the usual case: a reply goes at the end without a walk) */
  slots: number;
}

/**
 * A place in a group: a wait for room (RoomWait), or the place a call() holds while it waits
 * for a pending-call slot (SlotHold).
 */
export interface Member {
  prev: Member | null;
  next: Member | null;
  /** when its time is up (performance.now() ms; the group's timer ends a wait behind the head then) */
  readonly deadline: number;
  /** it is now the head, or its time came: look again */
  cancel(): void;
  /** a SlotHold (replies go ahead of it: SlotHold says why) */
  readonly slot: boolean;
  /** a reply's wait (replyAsync, dispatch's answer): it goes ahead of every SlotHold */
  readonly reply: boolean;
}

/** `m` joins `g` at its end; a reply (`reply`), before its first SlotHold. */
function append(g: RoomGroup, m: Member, reply: boolean): void {
  let at: Member | null = null; // (the member to go before: none, the end)
  if (reply && g.slots > 0) for (let x = g.head; x !== null; x = x.next) if (x.slot) { at = x; break; }
  if (at === null) {
    if (g.tail === null) g.head = m;
    else { g.tail.next = m; m.prev = g.tail; }
    g.tail = m;
    return;
  }
  m.next = at; m.prev = at.prev;
  if (at.prev === null) g.head = m; else at.prev.next = m;
  at.prev = m;
}

/** `m` takes the place of `old` in `g` (nobody is woken: the head stays the head). */
function replace(g: RoomGroup, old: Member, m: Member): void {
  m.prev = old.prev; m.next = old.next;
  if (old.prev === null) g.head = m; else old.prev.next = m;
  if (old.next === null) g.tail = m; else old.next.prev = m;
  old.prev = old.next = null;
}

/**
 * The replies behind `hold`, a SlotHold that just took the place of a call's wait (refused a
 * slot or a record, it goes back to wait for one), go before the group's first SlotHold, in
 * their order; one that becomes the head looks at once. They had joined behind that wait for
 * room, in call order; held behind a call waiting for a record they waited until a call
 * ended somewhere, which their own answers may be what ends (before stop 64 a reply stayed
 * there until its caller's deadline, and a later reply, finding a SlotHold at the head,
 * went first: an outside reading).
 */
function repliesAhead(g: RoomGroup, hold: Member): void {
  let first: Member | null = null;
  for (let x = g.head; x !== null; x = x.next) if (x.slot) { first = x; break; }
  if (first === null) return;
  const head = g.head;
  for (let x = hold.next; x !== null;) {
    const n: Member | null = x.next;
    if (x.reply) {
      // (behind hold: never the head)
      x.prev!.next = n;
      if (n === null) g.tail = x.prev; else n.prev = x.prev;
      x.next = first; x.prev = first.prev;
      if (first.prev === null) g.head = x; else first.prev.next = x;
      first.prev = x;
    }
    x = n;
  }
  if (g.head !== head && g.head !== null) g.head.cancel(); // (a new head, a reply: it looks now)
}

/** `m` leaves `g` of `dst`: a new head looks at once; an empty group goes. */
function unlink(conn: RoomOwner, dst: unknown, g: RoomGroup, m: Member): void {
  const p = m.prev, n = m.next;
  if (p === null) g.head = n; else p.next = n;
  if (n === null) g.tail = p; else n.prev = p;
  m.prev = m.next = null;
  if (g.head === null) {
    if (g.timer !== null) { clearTimeout(g.timer); g.timer = null; g.armedAt = Infinity; }
    conn.roomGroupDone(dst, g);
  } else if (p === null) n!.cancel();
}

/**
 * The place of a call() in its connection's order to its destination while it waits for a
 * pending-call slot (MAX_PENDING_REPLIES calls pending: slot-line.ts), so that the sends and
 * calls made after it to that destination wait behind it (before, they went first: an outside
 * audit, stop 22). When the call gets its slot, its RoomWait takes this place (replace); when
 * it fails, the place goes (release). A reply (replyAsync, dispatch's) is not held behind it:
 * a slot frees only when calls end, that is when the destination answers, and a service
 * whose answers waited behind its own calls to a peer that calls it back would deadlock with
 * that peer until the calls timed out.
 */
export class SlotHold implements Member {
  prev: Member | null = null;
  next: Member | null = null;
  /** (its call's own time is kept by the slot line) */
  readonly deadline = Infinity;
  readonly slot = true;
  readonly reply = false;
  private group: RoomGroup | null;

  /** At the end of the connection's group of `dst`; or in the place of `instead` (a call refused a slot, going back to wait for one: the replies behind it go ahead). */
  constructor(private readonly conn: RoomOwner, private readonly dst: unknown, instead: Member | null = null) {
    const g = this.group = conn.roomGroup(dst);
    if (instead === null) append(g, this, false); else replace(g, instead, this);
    g.slots++;
    if (instead !== null) repliesAhead(g, this);
  }

  /** first in its group: the call may try at once (no earlier send of the connection to `dst` still waits) */
  get first(): boolean { return this.group !== null && this.prev === null; }

  /** (the head that waits for a slot waits for the slot line, not for this) */
  cancel(): void {}

  /** The call failed: its place goes (the next one looks, if it was the head). */
  release(): void {
    const g = this.group;
    if (g === null) return;
    this.group = null;
    g.slots--;
    unlink(this.conn, this.dst, g, this);
  }

  /** The call's RoomWait `w` takes this place (false: it was released). */
  handTo(w: Member): RoomGroup | null {
    const g = this.group;
    if (g === null) return null;
    this.group = null;
    g.slots--;
    replace(g, this, w);
    return g;
  }
}

/** An empty group. */
export function roomGroup(): RoomGroup {
  return { head: null, tail: null, timer: null, armedAt: Infinity, slots: 0 };
}

/** The least time between firings of a group's timer (ms): a firing walks the group. */
const HOLD_TIMER_MS = 10;

/** A wait behind the head of `g` ends at `at` at the latest: the group's timer is armed for it, if it is the earliest. */
function holdUntil(g: RoomGroup, at: number): void {
  if (at >= g.armedAt || at === Infinity) return;
  if (g.timer !== null) clearTimeout(g.timer);
  g.armedAt = at;
  g.timer = setTimeout(holdFire, timerDelay(at), g);
  unref(g.timer); // (what keeps the thread alive is each wait's own hold: keepalive.ts)
}

/** The group's timer fired: the waits behind its head whose time is up look again (and end). */
function holdFire(g: RoomGroup): void {
  g.timer = null;
  g.armedAt = Infinity;
  const t = now();
  let next = Infinity;
  for (let w = g.head === null ? null : g.head.next; w !== null; w = w.next) {
    if (w.deadline <= t + 1) w.cancel();
    else if (w.deadline < next) next = w.deadline;
  }
  if (next !== Infinity) holdUntil(g, Math.max(next, t + HOLD_TIMER_MS));
}

/** What a connection does for its waits for room (Connection implements it; internal). */
export interface RoomOwner {
  readonly engine: Engine;
  /** the connection's user (its HELLO uid: the quota key of what it sends) */
  readonly uid: number;
  /** the abort listeners of this thread's waits, one per signal */
  readonly aborts: AbortHooks;
  /** the adaptive spin of the holder's wait for room */
  readonly spaceSpinner: Spinner;
  /** send()'s checks without the sending (SEND_PROBE): throws what send() would but for room; the receiver's slot address */
  roomProbe(dst: unknown, payload: Payload, opts: object, op: string): number;
  /** send() of `payload` to `dst` with `opts`, its errors op `op`'s (sendAsync); returns the cookie */
  roomSend(op: string, dst: unknown, payload: Payload, opts: object): number;
  /** the lock wait of an event-loop send's try (engine.asyncLockWaitMs, or 0 while a lock found taken lets no send through) */
  sendLockWait(): number;
  /** a try met a lock taken (true), or went through (false) */
  sendLockSeen(taken: boolean): void;
  sendWent(skips0: number): void;
  /** the receiver `dst` names (a hint), else 0 */
  knownReceiver(dst: unknown): number;
  rememberReceiver(dst: unknown, rx: number, gen: number): void;
  /** the connection's waits for room to destination `dst`, in call order (created empty: roomGroup()) */
  roomGroup(dst: unknown): RoomGroup;
  /** `group` of `dst` has no waits left */
  roomGroupDone(dst: unknown, group: RoomGroup): void;
  /** a wait to `dst` left its ticket in receiver `p.rx`'s line, with passer `p` (kept for the next wait to `dst` there to take back) */
  roomTicketLeft(dst: unknown, p: T.Passer): void;
  /** the passer of a ticket this connection left for `dst` in receiver `rx`'s line (0: in any), taken out of its keeping (null: none) */
  roomTicketTake(dst: unknown, rx: number): T.Passer | null;
  /** `w` starts waiting (its keep-alive hold, close()'s list) / stops */
  roomJoin(w: RoomWait<unknown>): void;
  roomLeave(w: RoomWait<unknown>): void;
  /** the bus was shut down (bus.shutdown()) */
  busIsShutDown(): boolean;
}

/**
 * What a wait sends when its turn comes: a send of `payload` to `dst` with `sendOpts`
 * (null: conn.send itself), or the call's or the reply's own send.
 */
export type Attempt<R> = ((payload: Payload) => R) | null;

export class RoomWait<R = number> implements T.Sleeper, Member {
  // (Waiter: what close() and unref() / ref() see)
  /** the waiting call, named in the error of a close */
  readonly op: string;
  readonly keep: boolean | undefined;
  /** Linked (a connection's waiters: linked-set.ts) */
  linkPrev: Linked | null = null;
  linkNext: Linked | null = null;
  linkIn: object | null = null;
  held = false;
  error: BusError | null = null;

  // (RoomLine: where it stands, also for the connection's other waits for the same name)
  /** the receiver's slot address (0: none yet) and its generation when lined up */
  rx = 0;
  gen = 0;
  /** its ticket in rx's line (T.Sleeper's `t`) */
  t = 0;
  /** holds `t` in rx's line */
  inLine = false;
  /** BUS_NAME_SEQ when it lined up (a name destination: its owner may change) */
  seqAt = 0;
  /** the word its current wait sleeps on (-1: none, or the shared wait behind the turn) */
  waitIdx = -1;
  /** T.Sleeper: when its sleep behind the turn ends at the latest */
  due = 0;
  /** the waits of its group made before and after it (RoomGroup; prev null: it is the head, the one that tries) */
  prev: Member | null = null;
  next: Member | null = null;
  readonly slot = false;
  /**
   * A call(): the place it held while it waited for a pending-call slot, which it takes
   * (SlotHold.handTo); and, set when its try was refused a slot or record (the core's EMLINK,
   * a full reply table), the place it leaves in its stead as it goes back to wait for one.
   */
  place: SlotHold | null = null;
  keepPlace: ((err: unknown) => boolean) | null = null;

  /** when its time is up (performance.now() ms) */
  readonly deadline: number;
  /** a wait is in progress (a wake-up queues `wakeFn`) */
  private waiting = false;
  /** the next step, run as a microtask by a wake-up (made at the first wait) */
  private wakeFn: (() => void) | null = null;
  /** the promise run() returned, once a wait made it pending */
  private resolveFn: ((r: unknown) => void) | null = null;
  private rejectFn: ((err: unknown) => void) | null = null;
  /** joined the connection's waiters (on its first wait) */
  private joined = false;
  private watch: T.Watch | null = null;
  private group: RoomGroup | null = null;
  /** a well-known name destination: its owner may change while this waits */
  private readonly byName: boolean;
  /** what the send returned (step() returned false) */
  private result: R | undefined = undefined;
  /** the receiver whose line it sleeps behind now (0: none), and the timer of a retry after a lock found taken */
  private sleepingIn = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  /** the holder's first wait for room may spin (once per wait for room) */
  private spinDecided = false;
  /** how long a lock in its way has stayed taken (lock-look.ts) */
  private readonly lockLook: LockLook;
  /** why it waits, for ETIMEDOUT's message */
  private lastErr = 'senders ahead in its line';

  constructor(
    private readonly conn: RoomOwner,
    op: string,
    private readonly dst: unknown,
    private payload: Payload,
    private readonly sendOpts: object,
    /** the time it may wait (ms) */
    timeout: number,
    private readonly signal: AbortSignal | undefined,
    keepAlive: boolean | undefined,
    private readonly attempt: Attempt<R>,
    /** the timeout its ETIMEDOUT names (call(): the call's own, of which `timeout` is what is left) */
    private readonly shown: number,
    /** the caller's own first try found a lock taken (call(), sendAsync()): its look (lock-look.ts), and the tries here only look, they do not block again */
    stuck: LockLook | null,
    /** the payload is the wait's own already (no copy at the first wait) */
    private owned: boolean,
    /** a reply's send (replyAsync, dispatch's answer): it goes before the group's first SlotHold (append) */
    readonly reply = false,
  ) {
    this.op = op;
    this.lockLook = stuck ?? new LockLook();
    this.keep = keepAlive;
    this.deadline = now() + timeout;
    this.byName = typeof dst === 'string' && !dst.startsWith(':1.');
  }

  /** Waiter: ends the current wait early (close, abort, a wake-up); nothing when not waiting. */
  cancel(): void {
    if (!this.waiting) return;
    this.waiting = false;
    // ended by close() or an abort (its error set first): its waitAsync on the receiver's space
    // word is ended too, and so taken off the word's sleepers count now (a close left it parked
    // and counted until the receiver's next release: an outside audit, stop 40); the word's
    // other waiters re-check. (A shared wait behind the turn has waitIdx -1: nobody notified.)
    if (this.error !== null && this.waitIdx >= 0) notifyWord(this.conn.engine.i32, this.waitIdx, (this.rx + A.CONN_SPACE_SLEEPERS) >>> 2);
    void RESOLVED.then(this.wakeFn!);
  }

  /** T.Sleeper: the turn moved near its ticket, or its time to look again came. */
  wake(): void {
    this.cancel();
  }

  /** AbortHook: its signal aborted. */
  handleEvent(): void {
    if (!this.joined || this.error) return;
    this.error = canceled(this.op, this.signal);
    this.cancel(); // (which ends the waitAsync)
  }

  /** A wait starts (the next wake-up, or cancel, runs the next step); the first wait copies the payload and joins. */
  private pause(): void {
    if (!this.owned) { this.payload = ownCopy(this.payload); this.owned = true; } // (the call's own bytes, before the first await)
    if (!this.joined) {
      this.joined = true;
      this.conn.roomJoin(this);
      // (one listener per signal for all of this thread's waits: abort-hooks.ts)
      if (this.signal !== undefined) {
        this.conn.aborts.watch(this.signal, this, this.op);
        if (this.signal.aborted) this.handleEvent(); // (aborted before the hook: its event is past)
      }
    }
    if (this.error) throw this.error;
    this.wakeFn ??= () => { this.wake1(); };
    this.waiting = true;
  }

  /** After a wait: what ended it, if it was the end of the whole wait (abort, close). */
  private resumed(): void {
    if (this.error) throw this.error;
  }

  private timedOut(why: string): BusError {
    return new BusError(A.ETIMEDOUT, this.op, `no room in the receiver within ${this.shown} ms (${why})`);
  }

  /**
   * The wait's probe, when SEND_PROBE of the bytes cannot tell (emitAsync's, of the signal
   * itself): the receiver's slot address, PROBE_DROPPED, or it throws as locate() says.
   */
  probe: (() => number) | null = null;

  /** The receiver now, checked with this message (SEND_PROBE): what no room helps is thrown; 0 for a lock still taken (its EDEADLK in lockErr); PROBE_DROPPED (a probe of its own) for a message the bus would drop. */
  private locate(): number {
    try {
      return this.probe !== null ? this.probe() : this.conn.roomProbe(this.dst, this.payload, this.sendOpts, this.op);
    } catch (x) {
      if (!(x instanceof BusError && x.errno === A.EDEADLK)) throw x;
      this.lockErr = x;
      return 0;
    }
  }
  /** the EDEADLK of locate()'s last probe that met a lock taken */
  private lockErr: BusError | null = null;

  /**
   * Into the line of receiver `rx` (generation `gen`), as of name sequence `seq`: at the place
   * this connection left there for the destination, if its passer still keeps it (a name that
   * moves away and back: before stop 30 each return took a new ticket, and each one left
   * behind stayed a dead ticket once the thread was gone; an outside audit), else at its end.
   */
  private lineUp(rx: number, gen: number, seq: number): void {
    // (asleep behind another line's turn: out of that group first, under the ticket it has
    // there; a mover of follow() left under its old ticket stayed in the old owner's group
    // for good, and that group skipped "holders" of an empty line: an outside audit, stop 21)
    if (this.sleepingIn !== 0) { T.unsleep(this.conn.engine.i32, this.sleepingIn, this); this.sleepingIn = 0; }
    const i32 = this.conn.engine.i32, p = this.conn.roomTicketTake(this.dst, rx);
    if (p !== null && p.gen === gen && T.take(i32, p)) { this.takeTicket(rx, gen, p.t, seq); return; }
    this.rx = rx; this.gen = gen; this.seqAt = seq;
    this.t = T.takeTicket(i32, rx);
    this.inLine = true;
  }

  /** Out of the line it is in: its turn passed now if it holds it, else its ticket left to a passer that the connection's next wait to the destination there takes back. */
  private leaveLine(): void {
    const p = T.giveUp(this.conn.engine.i32, this.rx, this.gen, this.t, this.seqAt);
    if (p !== null) this.conn.roomTicketLeft(this.dst, p);
    this.inLine = false;
  }

  /** The ticket of an earlier wait of this connection to the same destination, as its own (its place in the line). */
  takeTicket(rx: number, gen: number, t: number, seqAt: number): void {
    this.rx = rx; this.gen = gen; this.t = t; this.seqAt = seqAt;
    this.inLine = true;
  }

  /** The head, in no line: the ticket an earlier wait of this connection to the destination left to a passer, taken back (true). */
  private takeLeft(): boolean {
    const p = this.conn.roomTicketTake(this.dst, this.conn.knownReceiver(this.dst));
    if (p === null || !T.take(this.conn.engine.i32, p)) return false;
    this.takeTicket(p.rx, p.gen, p.t, p.seqAt);
    return true;
  }

  /**
   * Before a first wait behind earlier sends of this connection to the same destination: the
   * checks of the message (SEND_PROBE), so that what no room can help (a message that never
   * fits, a bad argument, no receiver, no owner of a name) is thrown at once, not once it is
   * the first (without them a bad send joined the line and timed out: an outside audit, stop
   * 21; a lock still taken: the tries check).
   */
  private enter(): void {
    if (this.prev !== null) this.locate();
  }

  /**
   * The first of the connection's waits to the destination, in no line, before a try: others
   * waiting for room in the receiver already (a line) → to its end (true), after the checks
   * of the message (SEND_PROBE; for a name, the line of its owner now). No line known: false
   * (try).
   */
  private joinLine(): boolean {
    const i32 = this.conn.engine.i32;
    let rx = this.conn.knownReceiver(this.dst);
    if (rx === 0 || T.lineLength(i32, rx) === 0) return false;
    const seq = Atomics.load(i32, SEQ_IDX);
    // (a lock still taken: line up where we were going, unchecked: the tries check)
    const to = this.locate();
    if (to === PROBE_DROPPED) return false; // (try now: the bus drops it, no room needed)
    rx = to || rx;
    if (T.lineLength(i32, rx) === 0) return false;
    // a line held by one sender alone, waiting for its own user's message count, and this
    // sender is of another user: try first (it cannot take that room; a failed try lines up
    // as any does)
    if (T.blockedOnOtherUser(i32, rx, this.conn.uid)) return false;
    const gen = T.receiverGen(i32, rx);
    this.conn.rememberReceiver(this.dst, rx, gen);
    this.lineUp(rx, gen, seq);
    return true;
  }

  /** Wait for room and send: resolves to what the attempt returns. */
  run(): Promise<R> {
    const conn = this.conn;
    // aborted already (a call's signal, aborted while the call waited for a slot): nothing sent.
    // (A duck-typed signal whose aborted getter throws: a rejection with its error, not a
    // synchronous throw out of sendAsync, before stop 42: an outside audit.)
    try {
      if (this.signal?.aborted) return Promise.reject(canceled(this.op, this.signal));
    } catch (err) {
      return Promise.reject(err);
    }
    // in the connection's list of waits to this destination, in call order, while the wait
    // lasts (a well-known name: its owner may change while we wait; BUS_NAME_SEQ moves, and
    // seqAt is its value when we lined up)
    try {
      const held = this.place?.handTo(this) ?? null;
      this.place = null;
      const group = this.group = held ?? conn.roomGroup(this.dst);
      if (held === null) append(group, this, this.reply);
    } catch (err) {
      return Promise.reject(err);
    }
    let failed = false, err: unknown;
    try {
      this.enter();
      if (this.step()) return new Promise<R>((resolve, reject) => { this.resolveFn = resolve as (r: unknown) => void; this.rejectFn = reject; });
    } catch (x) {
      failed = true; err = x;
    }
    // (no wait was made: settled before run() returns, as the async function it was did)
    return this.ended(failed, err) ? Promise.reject(this.endErr) : Promise.resolve(this.result as R);
  }

  /** A wake-up's microtask: the wait's next step; the end settles run()'s promise. Never throws. */
  private wake1(): void {
    let failed = false, err: unknown;
    try {
      this.waited();
      this.resumed();
      if (this.step()) return; // waiting again
    } catch (x) {
      failed = true; err = x;
    }
    if (this.ended(failed, err)) this.rejectFn!(this.endErr); else this.resolveFn!(this.result);
  }

  /** the error the wait ends with (ended() returned true) */
  private endErr: unknown = undefined;

  /**
   * The wait is over, sent (`failed` false) or failed with `err`: a call refused a slot keeps
   * a place in its stead, then the wait leaves its line, its group and its connection's
   * waiters. True when it ends in failure (its error in endErr: `err`, or what the leaving
   * threw), false when sent.
   */
  private ended(failed: boolean, err: unknown): boolean {
    const conn = this.conn;
    try {
      // refused a slot: a place held in its stead, as it goes back to the slot line
      if (failed && this.keepPlace?.(err) === true) {
        this.place = new SlotHold(conn, this.dst, this);
        this.group = null;
      }
    } catch (x) {
      err = x;
    }
    try {
      if (this.inLine) {
        // the connection keeps its place in the line: the next of its waits to the destination
        // takes this ticket (it becomes the head below); with none, the ticket is left to a
        // passer that the connection's next wait to it takes back (turns.ts, Passer)
        const n = this.group !== null && this.prev === null ? this.next : null;
        if (n instanceof RoomWait && !n.inLine) { n.takeTicket(this.rx, this.gen, this.t, this.seqAt); this.inLine = false; } else this.leaveLine();
      }
      if (this.group !== null) this.leaveGroup();
      if (this.joined) {
        if (this.signal !== undefined) conn.aborts.unwatch(this.signal, this);
        conn.roomLeave(this);
      }
    } catch (x) {
      failed = true; err = x;
    }
    this.endErr = err;
    return failed;
  }

  /** Out of its group; the head's successor becomes the head and looks at once (it takes its place in the line, or tries). */
  private leaveGroup(): void {
    unlink(this.conn, this.dst, this.group!, this);
    this.group = null;
  }

  /** What the wait that just ended leaves behind: its place among the sleepers, its retry timer. */
  private waited(): void {
    if (this.sleepingIn !== 0) { T.unsleep(this.conn.engine.i32, this.sleepingIn, this); this.sleepingIn = 0; }
    if (this.retry !== null) { clearTimeout(this.retry); this.retry = null; }
  }

  /**
   * The loop, up to its next wait: true when a wait started (a wake-up runs the next step),
   * false when the send is made (its value in `result`). Throws what ends the whole wait.
   */
  private step(): boolean {
    const conn = this.conn, e = conn.engine, i32 = e.i32, byName = this.byName;
    for (;;) {
      checkUsable(conn, this.op);
      // not the first of the connection's waits to this destination: behind the first, in no
      // line (its end wakes this one; a timeout of its own: the group's timer)
      if (this.prev !== null) {
        if (this.deadline - now() <= 0) throw this.timedOut('earlier sends of this connection to the same destination still wait');
        this.waitIdx = -1;
        this.pause();
        holdUntil(this.group!, this.deadline);
        return true;
      }
      // (a name that moved, its owner closed or not, first: then the receiver's close)
      let tryNow = false;
      if (this.inLine && byName && Atomics.load(i32, SEQ_IDX) !== this.seqAt) {
        const f = this.follow();
        if (f === FOLLOWED) continue;
        // (the bus would drop it at the name's owner now: out of every line, it tries now)
        if (f === FOLLOW_DROPPED) tryNow = true;
        else {
          // the name's owner now could not be looked up (a lock taken): as a try that meets a
          // lock, let the event loop run (a dead holder is recovered there) and follow again
          // on a timer, EDEADLK once the lock has been taken for LOCK_WAIT_MS in all. (It
          // looked for a line at once instead, took back the place follow() had just left,
          // with its old name sequence, and followed again: a synchronous loop for as long as
          // the lock stayed taken, for good with a dead holder: an outside reading, stop 64)
          const err = this.lockErr!;
          conn.sendLockSeen(true);
          this.lockLook.seen(e);
          if (this.lockLook.stuck(e)) throw err;
          const left = this.deadline - now();
          if (left <= 0) throw this.timedOut(`a lock stayed taken while the name's owner was looked up: ${err.message}`);
          this.pause();
          this.retry = setTimeout(() => { this.cancel(); }, Math.min(left, A.ASYNC_LOCK_RETRY_MS));
          return true;
        }
      }
      if (this.inLine && T.receiverGen(i32, this.rx) !== this.gen) this.inLine = false; // the receiver closed: its line is void
      // a signal's wait behind the holder (emitAsync: its own probe) looks at each wake-up (the
      // turn moved, or its ALIVE_CHECK_MS look) whether the receiver still takes it: a rule
      // removed meanwhile makes the bus drop it there, and it leaves the line and sends now
      // (it was seen only once the line reached it: behind a sender that waited for good, the
      // emitAsync waited its whole timeout; stop 66, an outside audit). A lock taken: not known
      // (0), it stays; what no room helps is thrown, as its try would.
      if (this.inLine && this.probe !== null && T.behind(i32, this.rx, this.t) > 0 && this.locate() === PROBE_DROPPED) {
        this.leaveLine();
        tryNow = true;
      }
      if (this.inLine && T.behind(i32, this.rx, this.t) > 0) {
        // behind the holder of the turn: sleep until the turn moves (checking on the holder)
        const left = this.deadline - now();
        if (left <= 0) throw this.timedOut(this.lastErr);
        const ms = (this.watch ??= new T.Watch()).check(i32, this.rx, this.t);
        if (ms > 0) {
          // (a shared wait: an abort ends this one alone, through its cancel, notifying nobody)
          this.waitIdx = -1;
          this.pause();
          T.sleepBehind(i32, this.rx, this, Math.min(ms, left, ALIVE_CHECK_MS));
          this.sleepingIn = this.rx;
          return true;
        }
        continue;
      }
      // in no line: the place an earlier wait of this connection to the destination left, or,
      // when others wait in the receiver's line, its end
      if (!this.inLine && !tryNow && (this.takeLeft() || this.joinLine())) continue;
      // our turn (or no line): try (a contended lock waited for briefly: ASYNC_LOCK_WAIT_MS)
      let err: unknown;
      const seqTry = Atomics.load(i32, SEQ_IDX);
      // (a lock already found stuck: tries only look, they do not block the thread again; with
      // every waiter of a thread blocking ASYNC_LOCK_WAIT_MS per retry, Node's event loop never
      // left its timers phase, and the 'exit' that recovers the dead holder waited a second)
      e.lockWaitMs = this.lockLook.taken ? 0 : conn.sendLockWait();
      const skips0 = e.skips;
      try {
        this.result = this.attempt === null
          ? conn.roomSend(this.op, this.dst, this.payload, this.sendOpts) as R
          : this.attempt(this.payload);
        if (this.inLine) { this.inLine = false; T.pass(i32, this.rx, this.t); }
        conn.sendWent(skips0);
        return false;
      } catch (x) {
        err = x;
      } finally {
        e.lockWaitMs = e.syncLockWaitMs;
      }
      if (err instanceof BusError && err.errno === A.EDEADLK) {
        // a lock still taken: let the event loop run (a dead holder is recovered there) and
        // try again; EDEADLK once it has been taken for LOCK_WAIT_MS in all
        conn.sendLockSeen(true);
        this.lockLook.seen(e);
        const left = this.deadline - now();
        if (this.lockLook.stuck(e)) throw err;
        // the caller's own timeout first: ETIMEDOUT, as recvAsync says (EDEADLK is for a lock
        // taken for LOCK_WAIT_MS in all; an outside audit found EDEADLK at a 400 ms timeout)
        if (left <= 0) throw this.timedOut(`a lock of the receiver stayed taken: ${err.message}`);
        // into the receiver's line meanwhile, where it is known: the next sends of this
        // connection (which find the lock free, or room) then wait behind it instead of going
        // first (an outside audit, stop 21: with a lock held 25 ms, sends 0-2 of 200 arrived last)
        if (!this.inLine) {
          const rx = conn.knownReceiver(this.dst);
          if (rx !== 0) {
            this.lineUp(rx, T.receiverGen(i32, rx), seqTry);
            // others ahead: wait behind them (the lock's time counts again from its turn)
            if (T.behind(i32, this.rx, this.t) > 0) { this.lockLook.clear(); continue; }
          }
        }
        this.pause();
        this.retry = setTimeout(() => { this.cancel(); }, Math.min(left, A.ASYNC_LOCK_RETRY_MS));
        return true;
      }
      this.lockLook.clear();
      if (!roomHelps(err)) throw err;
      this.lastErr = err.message;
      // a name that left the receiver since the try was routed: try again, where it is now
      // (a later move bumps the receiver's space word: the wait below ends)
      if (byName && Atomics.load(i32, SEQ_IDX) !== seqTry) continue;
      // no room: the core left the receiver's space word and its value (read under the
      // receiver's lock) in this thread's slot: any release since then has changed it
      const th = e.cmd - A.THREAD_CMD;
      const addr = e.u32[(th + A.THREAD_WAIT_ADDR) >>> 2], seen = e.i32[(th + A.THREAD_WAIT_VAL) >>> 2];
      const r = addr - A.CONN_SPACE;
      if (!this.inLine || r !== this.rx) {
        // into the line of the receiver that had no room (a name may have a new owner)
        if (this.inLine) this.leaveLine();
        const gen = T.receiverGen(i32, r);
        conn.rememberReceiver(this.dst, r, gen);
        this.lineUp(r, gen, seqTry);
        if (T.behind(i32, this.rx, this.t) > 0) continue; // others ahead
      }
      // the turn is ours: wait for room (woken by the receiver through its space word); a
      // holder whose turn was skipped does not speak for the one served now
      if (T.behind(i32, this.rx, this.t) === 0) {
        const why = err instanceof BusError ? err.reason : 0;
        T.noRoom(i32, this.rx, this.t, seen, why === A.R_SEND_QUOTA_MSGS ? conn.uid : -1);
      }
      const left = this.deadline - now();
      if (left <= 0) throw this.timedOut(err.message);
      this.waitIdx = addr >>> 2;
      if (!this.spinDecided) {
        this.spinDecided = true;
        if (conn.spaceSpinner.shouldSpin() && conn.spaceSpinner.spin(i32, this.waitIdx, seen, left)) continue;
      }
      this.pause();
      void waitWord(i32, addr >>> 2, seen, Math.min(left, ALIVE_CHECK_MS), (this.rx + A.CONN_SPACE_SLEEPERS) >>> 2).then(() => { this.cancel(); });
      return true;
    }
  }

  /**
   * A name left its owner since this wait lined up there: line up where the name is now (the
   * connection's later sends to the name wait behind this one, in no line: they follow it).
   * FOLLOW_LOCKED when its owner now could not be looked up (a lock taken), FOLLOW_DROPPED
   * when the bus would drop the message there (its probe: PROBE_DROPPED): out of every line then.
   */
  private follow(): number {
    const i32 = this.conn.engine.i32;
    this.leaveLine();
    const seq = Atomics.load(i32, SEQ_IDX);
    const to = this.locate(); // the name's owner now (0: a lock still taken: the tries look)
    if (to === 0) return FOLLOW_LOCKED;
    if (to === PROBE_DROPPED) return FOLLOW_DROPPED;
    const gen = T.receiverGen(i32, to);
    this.conn.rememberReceiver(this.dst, to, gen);
    this.lineUp(to, gen, seq);
    return FOLLOWED;
  }
}
