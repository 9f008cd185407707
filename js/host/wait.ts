// wait: the host side of wake-ups. A receiver sleeps on its connection's wake word (the core
// adds 1 and notifies after it publishes a message into the queue). Event-loop threads wait
// with Atomics.waitAsync, threads that may block with Atomics.wait; the core itself never
// waits (docs/RUNTIMES.md, "Waiting": Node 20's Liftoff and wasm wait32). What keeps a thread
// alive while it waits is keepalive.ts's; the timeouts of event-loop waits are deadlines.ts's.
import { addDeadline, dropDeadline, type Deadline } from './deadlines.ts';
import { stepResolved, waitResolved, yieldTurn } from './fair.ts';
import { offCount, notifyWord } from './sleepers.ts';
import { addPoll, dropPoll, type Poll } from './polls.ts';
import { payAll } from './owed.ts';

export function now(): number {
  return performance.now();
}

/**
 * A settled promise: `RESOLVED.then(f)` runs `f` as a microtask, natively (the steps of
 * RoomWait and CallEnd). Node's queueMicrotask wraps each callback for its async hooks: 240
 * more bytes per call and a slower call() burst (stop 33, allocation sampling and three
 * alternations).
 */
export const RESOLVED: Promise<void> = Promise.resolve();

/** waits of this thread that were resolved by the event loop (a waitAsync that parked, a poll's timer): one that moved on since a moment means the event loop has run since */
let parked = 0;
export function parks(): number {
  return parked;
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsyncFn = (a: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
const waitAsyncFn: WaitAsyncFn | undefined = (Atomics as unknown as { waitAsync?: WaitAsyncFn }).waitAsync;
/** this runtime has Atomics.waitAsync (else event-loop waits poll: pollWord) */
export const HAS_WAIT_ASYNC = waitAsyncFn !== undefined;

/** Poll interval (ms) of the fallback for runtimes without Atomics.waitAsync. */
const POLL_MS = 4;

/**
 * Resolve when i32[index] is no longer `expected` (or may not be: spurious wake-ups are
 * allowed, the caller re-checks), or after `timeout` ms. Never rejects. The wait joins this
 * thread's group of waits on the word (WaitGroup, below: one waitAsync for all of them); its
 * timeout is a deadline on this thread's one deadline timer (deadlines.ts), whose expiry ends
 * this wait alone. For words with no owner here to tell what is queued (a receiver's space
 * word: room-wait.ts): a wake-up of the word wakes every wait of the thread on it.
 */
export function waitWord(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): Promise<void> {
  return new Promise<void>((resolve) => { waitIn(groupOf(i32, index, sleepers), expected, timeout, resolve); });
}

/**
 * A wait of `group`'s word from `expected` for a caller that has a promise of its own to
 * settle: `done` is called once, with what to resolve it with (a macrotask to wait for first,
 * when the thread owes its event loop one: fair.ts; else undefined). No promise of its own per
 * wait. Returns the wait while it is parked, for its owner to end it early (endWait: an abort,
 * an iterator's return(), a wake-up of its own), else null (the word had moved, or no time
 * was left: `done` called already).
 */
export function waitIn(group: WaitGroup, expected: number, timeout: number, done: (v: Promise<void> | undefined) => void, always = false, ticket = group.ticket()): GroupWait | null {
  if (!(timeout > 0)) { done(undefined); return null; }
  const w = new GroupWait(group, done, always, ticket);
  if (!group.join(w, expected)) {
    // (the word had moved: the caller looks again in a microtask, a step of the same task)
    done(stepResolved() ? yieldTurn() : undefined);
    return null;
  }
  if (timeout !== Infinity) { w.at = now() + timeout; addDeadline(w); }
  return w;
}

/** End a wait of waitIn now, its `done` called (its owner ended it: an abort, an iterator's return()); the word's other waits sleep on. */
export function endWait(w: GroupWait): void {
  if (w.gIn === null) return;
  dropDeadline(w);
  w.group.leave(w);
  w.end();
}

/** End a wait of waitIn whose `done` is not to be called (its owner settled what it waits for another way: close(), the reply pump's own wake): out of the group, its deadline dropped. */
export function dropWait(w: GroupWait): void {
  if (w.gIn === null) return;
  dropDeadline(w);
  w.group.leave(w);
  w.forget();
}

/** A member of a WaitGroup: a wait parked on the group's word, in the group's FIFO (its own links: a member may be in deadlines.ts's set too). */
export interface GroupMember {
  /** the word's value read before its owner's last look at what it waits for */
  seen: number;
  /** its place in the group's order (WaitGroup.ticket(): a receive keeps its first one while it parks again) */
  ticket: number;
  gPrev: GroupMember | null;
  gNext: GroupMember | null;
  /** the group it is parked in, or null */
  gIn: WaitGroup | null;
  /** woken whenever the word moves, whatever is queued (the reply pump: a call's end the bus dropped moves the word and queues nothing) */
  readonly always: boolean;
  /** the group woke it (it has left the group): its owner looks again */
  wake(): void;
}

/**
 * One thread's event-loop waits on one futex word (a connection's wake word: its receives,
 * iterator steps, its listener's park, its reply pump), parked on **one** Atomics.waitAsync,
 * counted once in the word's sleepers. Before stop 60 each wait parked its own waitAsync, and a
 * publish woke all of them: N receives parked on one connection cost N wake-ups per message,
 * each re-checking and parking again (an outside audit, stop 59: 1 000 parked receives fed
 * 1 000 messages over 1 s, 189 000–237 000 wake-ups and 676–811 ms of CPU).
 *
 * When the group's waitAsync resolves, the group wakes only the members that have something to
 * look at: up to `more()` of them (the messages queued: its owner's count, the connection's;
 * Infinity when it cannot tell, or the connection is gone), oldest first, among those that
 * have not looked since the word's present value (a member's `seen`). Those left asleep while
 * `more()` still says something is there (a woken receive that found nothing it may take: a
 * reply only the reply pump takes, a priority it does not want) are woken in the next step, a
 * macrotask later, once the woken ones have looked; when nothing is queued, or every member has
 * looked since the word's value, the group parks again from that value. So a message wakes one
 * receive, not all, and no member sleeps through what it has not looked at:
 * - a member joins only from the value it read before its owner's last look (join() refuses a
 *   word that moved since), and is *stale* once the word moves past it;
 * - the group's waitAsync is parked from a value every member has looked at, or none is
 *   parked and a step is due (`stepping`); a word that moves wakes the waitAsync, and a step
 *   either wakes the stale members or finds nothing queued at the word's new value (read
 *   before the count: the core counts a message before it moves the word), which nobody has to
 *   look at;
 * - a wake-up with the word unmoved (a notify of this word without a publish) wakes every
 *   member, as before;
 * - a member woken `always` (the reply pump's wait) is woken at every move of the word: a call's
 *   end the bus drops for lack of room moves it and queues nothing.
 * "Oldest" is the order of the members' tickets: a receive takes one when it first parks and
 * keeps it while it parks again, so one woken for nothing goes back where it was.
 * A member that ends on its own (its deadline, its owner: endWait, a listener's stop) leaves
 * the group alone; the word's last one notifies the group's waitAsync away, so nothing of the
 * thread stays counted on the word once no wait is.
 */
export class WaitGroup {
  private head: GroupMember | null = null;
  private tail: GroupMember | null = null;
  /** members parked */
  size = 0;
  /** of them, woken always (the reply pump's) */
  private alwaysIn = 0;
  /** the group's waitAsync (or poll) is parked, from armedAt */
  private armed = false;
  private armedAt = 0;
  /** a step is due (a microtask or macrotask queued): joins do not park the waitAsync meanwhile */
  private stepping = false;
  /** the group's wake-ups (waitAsync resolutions) and the members they woke: tests, diagnostics */
  wakeUps = 0;
  woken = 0;
  /** waitAsyncs (or polls) of the group notified away (leave) whose resolution is still to come: it is ignored */
  private abandoned = 0;
  private readonly resolved = (how: string): void => {
    if (how !== 'polled') offCount(this.i32, this.sleepers, how);
    // (resolutions come in the order of their notifies: an abandoned one was notified before
    // the group's next waitAsync was parked)
    if (this.abandoned !== 0) { this.abandoned--; return; }
    this.armed = false;
    this.wakeUps++;
    this.step(this.armedAt);
  };
  private readonly later = (): void => {
    this.stepping = false;
    if (!this.armed) this.step(NaN);
  };
  /**
   * `more`: how many messages are there to take now (Infinity: cannot tell, or the owner is
   * gone: every stale member looks); null: a word with nothing to count (every wake-up wakes
   * every member)
   */
  constructor(readonly i32: Int32Array, readonly index: number, readonly sleepers: number, private readonly more: (() => number) | null) {}

  /** A place in the group's order, after every one handed out so far (a receive takes one for all its parks: woken for nothing, it keeps its place). */
  ticket(): number { return ++this.tickets; }
  private tickets = 0;

  /**
   * Park `m` from `seen` (read before its owner's last look), in its ticket's place (usually
   * the end; a receive woken for nothing goes back where it was, the front most often); false
   * when the word has moved since (nothing parked: look again).
   */
  join(m: GroupMember, seen: number): boolean {
    if (Atomics.load(this.i32, this.index) !== seen) return false;
    m.seen = seen;
    m.gIn = this;
    let after = this.tail;
    if (after !== null && after.ticket > m.ticket) {
      // (from the front: the one going back is the oldest, most often)
      let before = this.head!;
      while (before.ticket < m.ticket) before = before.gNext!;
      after = before.gPrev;
    }
    const next = after === null ? this.head : after.gNext;
    m.gPrev = after;
    m.gNext = next;
    if (after !== null) after.gNext = m;
    else this.head = m;
    if (next !== null) next.gPrev = m;
    else this.tail = m;
    this.size++;
    if (m.always) this.alwaysIn++;
    // (parked already: from a value this member has looked at, or from an older one, which the
    // word has left since: its wake-up is on its way)
    if (!this.armed && !this.stepping) this.arm(seen);
    return true;
  }

  /** `m` ended on its own (its deadline, its owner): out of the group; the word's last member notifies the group's waitAsync away */
  leave(m: GroupMember): void {
    if (m.gIn !== this) return;
    this.unlink(m);
    if (this.head === null && this.armed) this.abandon();
  }

  /** no member parked: the group's waitAsync notified away (its count off at once), the next member parks a waitAsync of its own */
  private abandon(): void {
    this.armed = false;
    this.abandoned++;
    notifyWord(this.i32, this.index, this.sleepers);
  }

  /** Wake every member now (they look again): something changed that the word does not tell (a listener left taken messages behind). */
  kick(): void {
    if (this.head === null) return;
    const first = this.detach(Infinity, 0, true);
    this.wakeList(first);
    if (this.head === null) { if (this.armed) this.abandon(); } // (those woken park again from what they see)
    else if (!this.armed && !this.stepping) this.step(NaN);
  }

  private unlink(m: GroupMember): void {
    const prev = m.gPrev, next = m.gNext;
    if (prev !== null) prev.gNext = next;
    else this.head = next;
    if (next !== null) next.gPrev = prev;
    else this.tail = prev;
    m.gIn = null;
    m.gPrev = null;
    m.gNext = null;
    this.size--;
    if (m.always) this.alwaysIn--;
  }

  private arm(v: number): void {
    this.armedAt = v;
    if (!waitAsyncFn) {
      this.armed = true;
      void pollWord(this.i32, this.index, v, Infinity).then(() => { this.resolved('polled'); });
      return;
    }
    // counted as a sleeper from before the wait until after it: publishers notify only then
    Atomics.add(this.i32, this.sleepers, 1);
    const r = waitAsyncFn(this.i32, this.index, v);
    if (!r.async) {
      // the word moved since `v` was read: a step (a microtask: its members look again)
      Atomics.sub(this.i32, this.sleepers, 1);
      this.stepping = true;
      void RESOLVED.then(this.later);
      return;
    }
    this.armed = true;
    void r.value.then(this.resolved);
  }

  /**
   * The members to wake, out of the group, linked by gNext: up to `n` of those that have not
   * looked since `c`, oldest first, and every such one that is woken `always` (all: every member).
   */
  private detach(n: number, c: number, all: boolean): GroupMember | null {
    let first: GroupMember | null = null, last: GroupMember | null = null, k = 0;
    this.staleLeft = 0;
    for (let m = this.head; m !== null;) {
      const next = m.gNext;
      if (all || m.seen !== c) {
        if (m.always || k < n) {
          this.unlink(m);
          if (last !== null) last.gNext = m;
          else first = m;
          last = m;
          if (!m.always) k++;
        } else if (n > 0) {
          this.staleLeft++;
          // (one left is enough to know a step must follow; the rest is walked only for a member woken always)
          if (this.alwaysIn === 0) break;
        }
      }
      m = next;
    }
    return first;
  }
  /** whether detach() left stale members parked (past its `n`): not 0 */
  private staleLeft = 0;

  private wakeList(first: GroupMember | null): void {
    for (let m = first; m !== null;) {
      const next = m.gNext;
      m.gNext = null;
      this.woken++;
      // (a throw must not leave the members after it unwoken: it is reported apart)
      try { m.wake(); } catch (err) { queueMicrotask(() => { throw err; }); }
      m = next;
    }
  }

  /** The word may have moved (`from`: the value the group's waitAsync was parked from; NaN: a step that follows one): wake who has something to look at, or park again. */
  private step(from: number): void {
    if (this.head === null) return;
    const c = Atomics.load(this.i32, this.index);
    const all = c === from; // (woken with the word unmoved: every member looks, as any notify woke every wait before)
    const n = all || this.more === null ? Infinity : this.more();
    // (nothing queued at `c`: nothing to look at but for those woken always)
    const first = this.detach(n > 0 ? n : 0, c, all);
    if (first === null) { this.arm(c); return; } // every member has looked since `c`, or nothing is queued
    this.stepping = true;
    const staleLeft = this.staleLeft;
    this.wakeList(first);
    // others still to look at what is queued once these have looked: the next step, a macrotask later
    if (staleLeft !== 0) { void yieldTurn().then(this.later); return; }
    this.stepping = false;
    // (members that joined again while being woken, a listener's park, looked after `c`)
    if (this.head !== null && !this.armed) this.step(NaN);
  }
}

/** A wait of waitIn: a member of its word's group with the `done` to call, and, timed, a deadline (deadlines.ts). */
export class GroupWait implements GroupMember, Deadline {
  linkPrev: Deadline | null = null;
  linkNext: Deadline | null = null;
  linkIn: object | null = null;
  at = Infinity;
  seen = 0;
  gPrev: GroupMember | null = null;
  gNext: GroupMember | null = null;
  gIn: WaitGroup | null = null;
  constructor(readonly group: WaitGroup, private done: ((v: Promise<void> | undefined) => void) | null, readonly always: boolean, public ticket: number) {}

  /** the group woke it */
  wake(): void {
    parked++;
    if (this.at !== Infinity) dropDeadline(this);
    this.end();
  }

  /** the deadline passed (deadlines.ts has dropped it): this wait alone ends */
  due(): void {
    this.group.leave(this);
    this.end();
  }

  /** its `done` is not to be called */
  forget(): void { this.done = null; }

  /** its owner looks again (once) */
  end(): void {
    const w = this.done;
    if (w === null) return;
    this.done = null;
    w(waitResolved(now()) ? yieldTurn() : undefined);
  }
}

/**
 * The groups of words with no owner object here (a receiver's space word: waitWord), per
 * memory and word, kept once made: one per word this thread has waited on, at most the bus's
 * connection slots (and gone with the memory's Int32Array).
 */
const groups = new WeakMap<Int32Array, Map<number, WaitGroup>>();
function groupOf(i32: Int32Array, index: number, sleepers: number): WaitGroup {
  let byWord = groups.get(i32);
  if (byWord === undefined) { byWord = new Map(); groups.set(i32, byWord); }
  let g = byWord.get(index);
  if (g === undefined) { g = new WaitGroup(i32, index, sleepers, null); byWord.set(index, g); }
  return g;
}

/** what conn.parkListen did: parked (its callback will be called once), nothing (the word had moved: look again), or nothing for a lock found stuck (lockBusy) */
export const PARK_PARKED = 1, PARK_MOVED = 0, PARK_BUSY = -1;

/**
 * A listener's park (conn.listen, stop 40): a member of its connection's group with a
 * callback, made once per listener, no promise of its own: `onWake` is called with 'ok' when
 * the group wakes it (parkWoke counts it).
 */
export class CallbackMember implements GroupMember {
  seen = 0;
  gPrev: GroupMember | null = null;
  gNext: GroupMember | null = null;
  gIn: WaitGroup | null = null;
  readonly always = false;
  /** (a new one at each park: parkListen) */
  ticket = 0;
  constructor(private readonly onWake: (how: string) => void) {}
  wake(): void { this.onWake('ok'); }
}

/**
 * A listener's park woke (its group woke it): counted in parks(); true when the thread should
 * yield a macrotask before it goes on (fair.ts).
 */
export function parkWoke(): boolean {
  parked++;
  return waitResolved(now());
}

/**
 * waitWord with Atomics.waitAsync's own timeout: each wait posts its own timer task to the
 * runtime (an event-loop wake-up and a timer per wait), but its expiry wakes this wait alone.
 * For words that many threads sleep on with timeouts (a receiver's ticket line, turns.ts).
 */
export function waitWordTimed(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): Promise<void> {
  if (!waitAsyncFn) return pollWord(i32, index, expected, timeout);
  Atomics.add(i32, sleepers, 1);
  const r = waitAsyncFn(i32, index, expected, timeout === Infinity ? undefined : Math.max(0, timeout));
  if (!r.async) {
    Atomics.sub(i32, sleepers, 1);
    return Promise.resolve();
  }
  return r.value.then((how) => { parked++; offCount(i32, sleepers, how); return waitResolved(now()) ? yieldTurn() : undefined; });
}

/**
 * waitWordTimed telling how the wait ended: 'ok' (notified: the word may or may not have
 * moved), 'timed-out', or 'not-equal' (it had moved already). null where the runtime has no
 * Atomics.waitAsync (the caller falls back to waitWordTimed's polling).
 */
export function waitWordHow(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): Promise<'ok' | 'timed-out' | 'not-equal'> | null {
  if (!waitAsyncFn) return null;
  Atomics.add(i32, sleepers, 1);
  const r = waitAsyncFn(i32, index, expected, timeout === Infinity ? undefined : Math.max(0, timeout));
  if (!r.async) {
    Atomics.sub(i32, sleepers, 1);
    return Promise.resolve(r.value);
  }
  return r.value.then((how) => { parked++; offCount(i32, sleepers, how); return waitResolved(now()) ? yieldTurn().then(() => how) : how; });
}

/**
 * No Atomics.waitAsync (older Firefox): poll the word with timers. A notify of the word by
 * this thread ends the poll at once (polls.ts), as it would end a waitAsync.
 */
function pollWord(i32: Int32Array, index: number, expected: number, timeout: number): Promise<void> {
  return new Promise((resolve) => {
    const end = now() + timeout;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll: Poll = {
      i32,
      index,
      wake: () => {
        dropPoll(poll);
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      },
    };
    const tick = () => {
      timer = undefined;
      if (Atomics.load(i32, index) !== expected || now() >= end) poll.wake();
      else timer = setTimeout(() => { parked++; tick(); }, Math.min(POLL_MS, Math.max(0, end - now())));
    };
    addPoll(poll);
    tick();
  });
}

/**
 * Block until i32[index] is no longer `expected`, or `timeout` ms. Returns false when this
 * thread may not block (a browser main thread refuses Atomics.wait).
 */
export function waitWordBlocking(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): boolean {
  payAll(); // (a batch's deferred wakes first: the thread may wait for an answer to one of them)
  Atomics.add(i32, sleepers, 1);
  let how = 'not-equal';
  try {
    how = Atomics.wait(i32, index, expected, timeout === Infinity ? undefined : Math.max(0, timeout));
    return true;
  } catch (err) {
    if (err instanceof TypeError) return false;
    throw err;
  } finally {
    offCount(i32, sleepers, how);
  }
}

/** Wake every waiter on i32[index] after changing it (they re-check and wait again); `sleepers`: the word's sleepers count. */
export function bump(i32: Int32Array, index: number, sleepers: number): void {
  Atomics.add(i32, index, 1);
  notifyWord(i32, index, sleepers);
}

/** Can this thread block in Atomics.wait? (A browser main thread throws TypeError, whatever the value.) */
export function canBlock(i32: Int32Array, index: number): boolean {
  try {
    Atomics.wait(i32, index, Atomics.load(i32, index) ^ 1, 0); // not-equal at once where allowed
    return true;
  } catch (err) {
    if (err instanceof TypeError) return false;
    throw err;
  }
}
