// wait-group: a thread's event-loop waits on one futex word, parked on one Atomics.waitAsync
// (WaitGroup): a connection's receives, iterator steps, listener's park and reply pump on its
// wake word; the waits for room on a receiver's space word (waitWord). A wake-up wakes as many
// of them as there are messages to take, oldest first; a deadline or an owner ends its wait
// alone. The single waits (blocking, with waitAsync's own timeout), the polling fallback and the
// sleepers counting are wait.ts's and sleepers.ts's.
import { addDeadline, dropDeadline, type Deadline } from './deadlines.ts';
import { stepResolved, waitResolved, yieldTurn } from './fair.ts';
import { offCount, notifyWord } from './sleepers.ts';
import { now, RESOLVED, waitAsync, pollWord, countPark } from './wait.ts';

/** unseen(): a member that has slept through more moves of the word than this is woken (the word's values then compare without ambiguity: within 2^31 of each other) */
const UNSEEN_MAX = 2 ** 30;
/** took(): the distinct earlier values whose takes are kept (more forgets them all: only more wake-ups) */
const TAKES_MAX = 32;

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
 * was left: `done` called already). `looked`: false when the caller's look since `expected`
 * did not happen (a lock was busy): the group counts everything since as unseen by it. `limit`:
 * the priority limit of the caller's looks (Infinity: it takes any priority; NaN, the default:
 * its looks are not a priority limit's, see GroupMember.limit).
 */
export function waitIn(group: WaitGroup, expected: number, timeout: number, done: (v: Promise<void> | undefined) => void, always = false, ticket = group.ticket(), looked = true, limit = NaN): GroupWait | null {
  if (!(timeout > 0)) { done(undefined); return null; }
  const w = new GroupWait(group, done, always, ticket, looked, limit);
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
  /** its owner's last look happened (false: a lock was busy, it saw nothing): what the word counted up to `seen` is not new to it */
  readonly looked: boolean;
  /**
   * the priority limit of its owner's looks (Infinity: it takes any priority; a listener, a
   * plain receive): an empty look of a member of a limit at or above it found nothing this one
   * takes among what was queued then (WaitGroup.refused). NaN: its owner takes or refuses by
   * a rule of its own (none of this: neither excused by another's look nor answering for one)
   */
  readonly limit: number;
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
 *   end the bus drops for lack of room moves it and queues nothing;
 * - on a word that counts what was queued (a connection's, BUS_VERSION 20: `uncounted` given),
 *   no more are woken than the most messages one member has not looked at that are still there
 *   (unseen(): the word's moves since its `seen`, less the takes since of receives that had
 *   looked after it, took()), so messages every member refused wake none of them again (stop
 *   61; stop 60's audit: 12-99 wake-ups per message with 100-250 refused ones queued). Each
 *   miscount errs high: a take forgotten, a move that queued nothing.
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
   * every member). `uncounted`, for a word that moves by at least one per message queued since
   * any value of it (a connection's wake word, BUS_VERSION 20: abi.ts, WAKE_UNCOUNTED): what is
   * there to take that the word does not count (a stopped listener's leftovers); a wake-up then
   * wakes no more members than the most messages one of them has not looked at (unseen()).
   */
  constructor(readonly i32: Int32Array, readonly index: number, readonly sleepers: number, private readonly more: (() => number) | null,
    private readonly uncounted: (() => number) | null = null) {}

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
    else if (m.looked) this.refused(seen, m.limit); // (a NaN limit is no priority limit: ignored there, never excused)
    // (parked already: from a value this member has looked at, or from an older one, which the
    // word has left since: its wake-up is on its way)
    if (!this.armed && !this.stepping) this.arm(seen);
    return true;
  }

  /**
   * A member joined from `seen`, the word now, after an empty look with `limit`: every message
   * queued at `seen` is above `limit` (or a reply, which no receive takes). Kept for the
   * greatest limit that looked at the latest value: a step at that value treats the stale
   * members of a limit at or below it as having looked there (excuse()), without waking them.
   */
  private refused(seen: number, limit: number): void {
    if (limit !== limit) return; // (NaN: a rule of its own)
    if (seen === this.refusedAt) { if (limit > this.refusedLimit) this.refusedLimit = limit; }
    else { this.refusedAt = seen; this.refusedLimit = limit; }
  }
  private refusedAt = NaN;
  private refusedLimit = -Infinity;

  /**
   * The stale members that an empty look at `c` with refusedLimit answers for: a limit at or
   * below it, their own look done (not a lock's busy one): what came before `c` is nothing they
   * take, so they are as having looked at `c` (stop 61's audit: K older receives with
   * `priority: 0` beside a plain receive loop were woken one by one, a macrotask each, for every
   * message only the loop takes).
   */
  private excuse(c: number): void {
    const limit = this.refusedLimit;
    for (let m = this.head; m !== null; m = m.gNext) {
      if (m.seen !== c && !m.always && m.looked && m.limit <= limit) m.seen = c;
    }
  }

  /** `m` ended on its own (its deadline, its owner): out of the group; the word's last member notifies the group's waitAsync away */
  leave(m: GroupMember): void {
    if (m.gIn !== this) return;
    this.unlink(m);
    if (this.head === null) {
      this.nTakes = 0;
      if (this.armed) this.abandon();
    }
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
    if (!waitAsync) {
      this.armed = true;
      void pollWord(this.i32, this.index, v, Infinity).then(() => { this.resolved('polled'); });
      return;
    }
    // counted as a sleeper from before the wait until after it: publishers notify only then
    Atomics.add(this.i32, this.sleepers, 1);
    const r = waitAsync(this.i32, this.index, v);
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
  private detach(n: number, c: number, all: boolean, top = NaN): GroupMember | null {
    let first: GroupMember | null = null, last: GroupMember | null = null, k = 0;
    this.staleLeft = 0;
    for (let m = this.head; m !== null;) {
      const next = m.gNext;
      if (all || m.seen !== c) {
        // (`top`, a number: after a refusal at `c` with that limit, the members that follow,
        // each of a looser limit than all those woken before it, too, up to the first one left
        // parked: the oldest that takes what they refuse is among them, and they look in this order)
        const chained = !(k < n) && n > 0 && m.limit > top;
        if (m.always || k < n || chained) {
          this.unlink(m);
          if (last !== null) last.gNext = m;
          else first = m;
          last = m;
          if (!m.always) {
            if (!chained) k++;
            if (m.limit > top) top = m.limit;
          }
        } else if (n > 0) {
          this.staleLeft++;
          // (the chain ends at the first stale member left parked: those woken are the oldest
          // stale ones, so none younger takes what an older one left asleep would: stop 61's
          // third audit, two messages of priority 7, a receive of limit 9 passed over for a
          // plain one behind it)
          top = NaN;
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

  /**
   * The most messages one member may not have looked at that are still there: for each
   * member that takes messages (not those woken always: the reply pump takes replies only,
   * which the receives refuse), the word's moves since its `seen` (each message queued moves
   * it at least once), less the messages taken since by receives that had looked after it
   * (took()); the greatest of these. Infinity for a member whose look did not happen (a lock
   * was busy) or that has slept through more than UNSEEN_MAX moves. A walk of the members
   * (with something queued: one per message that is not refused by all, as a rule).
   */
  private unseen(c: number): number {
    let most = 0, lastSeen = NaN, lastD = 0, oldest = 0;
    for (let m = this.head; m !== null; m = m.gNext) {
      if (m.always) continue;
      if (!m.looked) return Infinity;
      if (m.seen !== lastSeen) { // (members parked together share their value: once for them)
        lastSeen = m.seen;
        const moves = (c - m.seen) >>> 0; // (the word wraps: its moves since, mod 2^32)
        if (moves > UNSEEN_MAX) return Infinity;
        if (moves > oldest) oldest = moves;
        lastD = moves - this.takesSince(m.seen, c);
      }
      if (lastD > most) most = lastD;
    }
    this.forgetTakes(c, oldest); // (takes before every member's value count for none of them)
    return most;
  }

  /**
   * A receive took a message from the queue (not a peek, not a stopped listener's leftover)
   * after an earlier look of its own from `seen` that found nothing it takes, with the same
   * filter: that message came after `seen`, so it was one of the word's moves since then for
   * every member that looked from `seen` or before, and is no longer there for them (unseen()).
   */
  took(seen: number): void {
    if (this.head === null) { this.nTakes = 0; return; }
    const c = Atomics.load(this.i32, this.index);
    this.forgetTakes(c, UNSEEN_MAX); // (forgetting takes only wakes more: those from too far back)
    this.takesAt = c;
    const at = this.takeSeen, k = this.nTakes;
    for (let i = 0; i < k; i++) if (at[i] === seen) { this.takeCount[i]++; return; }
    if (k === TAKES_MAX) this.nTakes = 0; // (too many values: all forgotten)
    at[this.nTakes] = seen;
    this.takeCount[this.nTakes++] = 1;
  }
  /**
   * took()'s record, no object per take: the `seen` of the takers' earlier looks and how many
   * took since from each, nTakes of them (at most TAKES_MAX, each within UNSEEN_MAX moves of takesAt)
   */
  private readonly takeSeen = new Int32Array(TAKES_MAX);
  private readonly takeCount = new Uint32Array(TAKES_MAX);
  private nTakes = 0;
  /** the word at the last took() */
  private takesAt = 0;

  /** took()'s record without the values more than `back` moves before the word's `c` */
  private forgetTakes(c: number, back: number): void {
    const at = this.takeSeen, count = this.takeCount, k = this.nTakes;
    let j = 0;
    for (let i = 0; i < k; i++) {
      if ((c - at[i]) >>> 0 > back) continue;
      at[j] = at[i];
      count[j++] = count[i];
    }
    this.nTakes = j;
  }

  /** the takes of receives whose earlier look was from `s` or after it (the word at `c` now) */
  private takesSince(s: number, c: number): number {
    const k = this.nTakes;
    if (k === 0) return 0;
    // (not one take for over UNSEEN_MAX moves: the values kept may compare wrongly by now)
    if ((c - this.takesAt) >>> 0 > UNSEEN_MAX) { this.nTakes = 0; return 0; }
    const at = this.takeSeen, back = (c - s) >>> 0;
    let n = 0;
    for (let i = 0; i < k; i++) if ((c - at[i]) >>> 0 <= back) n += this.takeCount[i];
    return n;
  }

  /** The word may have moved (`from`: the value the group's waitAsync was parked from; NaN: a step that follows one): wake who has something to look at, or park again. */
  private step(from: number): void {
    if (this.head === null) return;
    const c = Atomics.load(this.i32, this.index);
    const all = c === from; // (woken with the word unmoved: every member looks, as any notify woke every wait before)
    // (someone refused at `c` already, a step ago: those it answers for are excused; the next
    // woken with every looser limit behind them, in one step, not one a macrotask: stop 61's
    // second audit, receives of 100 limits parked tightest first took 5 ms a message)
    const refusedHere = !all && this.uncounted !== null && this.refusedAt === c;
    if (refusedHere) this.excuse(c);
    let n = all || this.more === null ? Infinity : this.more();
    // (no more than some member has not looked at and is still there; messages that every
    // member looked at and refused, above a priority limit, wake nobody: stop 60's audit saw
    // 12-99 wake-ups per message with 100-250 of them queued)
    if (n >= 1 && n !== Infinity && this.uncounted !== null) n = Math.min(n, this.unseen(c) + this.uncounted());
    // (nothing queued at `c`: nothing to look at but for those woken always)
    const first = this.detach(n > 0 ? n : 0, c, all, refusedHere ? this.refusedLimit : NaN);
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
  constructor(readonly group: WaitGroup, private done: ((v: Promise<void> | undefined) => void) | null, readonly always: boolean, public ticket: number,
    readonly looked = true, readonly limit = NaN) {}

  /** the group woke it */
  wake(): void {
    countPark();
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
  /** (a listener parks only after a look of its own: parkListen refuses while a lock is busy) */
  readonly looked = true;
  /** (a listener takes any priority) */
  readonly limit = Infinity;
  /** (a new one at each park: parkListen) */
  ticket = 0;
  constructor(private readonly onWake: (how: string) => void) {}
  wake(): void { this.onWake('ok'); }
}
