// turns: fair backpressure. Senders waiting for room in one receiver (sendAsync) take turns
// in the order they started waiting: a ticket line in the receiver's connection slot
// (abi.ts, CONN_TURN_*), kept by the senders' hosts with atomics alone; the core never reads
// it. A sender that finds no room takes a ticket (turn_next, an atomic add). The holder of
// the ticket now served (turn_serving) is the only one that tries to send: it sleeps on the
// receiver's space word until room is released, tries again, and passes the turn on
// (turn_serving + 1) once its message is in. Those behind sleep on turn_serving. A fresh
// sendAsync that finds a line takes a ticket instead of trying, so it cannot overtake. A
// connection holds one ticket per destination at a time (its first waiting send's; the
// others wait behind it in the connection: room-wait.ts), so senders take turns a message each.
//
// Nobody may hold the line forever:
// - a waiter that gives up (abort, timeout, close, another error) passes its turn at once if
//   it holds it, and else leaves a passer behind (giveUp) that passes it when it comes (and
//   watches the holder ahead of it as a waiter does);
// - a holder that owes a try (its turn is new, or room was released since its last failed
//   try, which it records in turn_waiting) for TURN_MS loses the turn to whoever behind it
//   notices first (a CAS on turn_serving, counted in BUS_TURN_SKIPS). That is how the
//   ticket of a terminated or crashed worker is skipped: it is never declared dead for it,
//   it only loses its place. A skipped holder that is alive finds its ticket behind
//   turn_serving and keeps trying as a holder (the order is then loosened, not lost).
// Tickets compare with wrapped 32-bit differences. HELLO zeroes the words (an empty line);
// waiters of a receiver whose generation changed drop their tickets without passing them.
import * as A from '../shared/abi.ts';
import { now, waitWordTimed, waitWordHow } from './wait.ts';
import { notifyWord } from './sleepers.ts';
import { unref, timerDelay } from './deadlines.ts';

/**
 * How long the holder of the turn may owe a try before the next in line takes the turn, in
 * ms. A live holder owes a try only between a wake-up and its next event-loop turn (well
 * under a millisecond on an idle thread, tens of ms on a loaded machine); a terminated
 * worker owes it forever. Each dead ticket in a line costs those behind it this much once
 * room is released.
 */
export const TURN_MS = 200;
/** Holders skipped in a row that shorten the next one's time: down to TURN_MS / 32 (6.25 ms). */
const RUN_MAX = 5;
/** A waiter far back in the line checks on the holder every TURN_MS × its distance, at most this often apart (ms). */
const CHECK_MAX_MS = 8 * TURN_MS;
/** A passer left behind by giveUp re-checks this often (ms), and stops after GIVE_UP_MAX_MS. */
const GIVE_UP_CHECK_MS = 1000;
const GIVE_UP_MAX_MS = 60000;

const idx = (rx: number, off: number) => (rx + off) >>> 2;

/** How far ticket `t` is behind the ticket being served (> 0: waiting; <= 0: its turn, or skipped). */
export function behind(i32: Int32Array, rx: number, t: number): number {
  return (t - Atomics.load(i32, idx(rx, A.CONN_TURN_SERVING))) | 0;
}

/** Senders in the line of receiver `rx` (tickets taken and not yet served). */
export function lineLength(i32: Int32Array, rx: number): number {
  return (Atomics.load(i32, idx(rx, A.CONN_TURN_NEXT)) - Atomics.load(i32, idx(rx, A.CONN_TURN_SERVING))) | 0;
}

/** Take the next ticket in the line of receiver `rx`. */
export function takeTicket(i32: Int32Array, rx: number): number {
  return Atomics.add(i32, idx(rx, A.CONN_TURN_NEXT), 1) | 0;
}

/**
 * The holder of ticket `t` tried and found no room: it waits for the space word to leave
 * `space`. `ownShareOf`: the uid whose message count at the receiver is used up (its own
 * user's: R_SEND_QUOTA_MSGS), or -1 (bytes, the pool, the quota rows: room other senders' sends take).
 */
export function noRoom(i32: Int32Array, rx: number, t: number, space: number, ownShareOf = -1): void {
  if (ownShareOf >= 0) Atomics.store(i32, idx(rx, A.CONN_TURN_BLOCKED_UID), ownShareOf | 0);
  Atomics.store(i32, idx(rx, A.CONN_TURN_BLOCKED), ((t & 0xffff) << 16) | (ownShareOf >= 0 ? 1 : 0));
  Atomics.store(i32, idx(rx, A.CONN_TURN_WAITING), ((t & 0xffff) << 16) | (space & 0xffff));
}

/**
 * May a send of user `uid` try before it lines up at receiver `rx`? Only when the holder of
 * the turn is alone in the line and waits for its own user's message count there
 * (R_SEND_QUOTA_MSGS), a user other than `uid`: that send cannot take what the holder waits
 * for (abi.ts, turn_blocked), nor overtake a waiter of its own user (there is none). Not for
 * a holder short of bytes: every user's bytes shrink the others' byte shares (a third of the
 * unreserved half still free), so such sends starved the holder (a second look, stop 44).
 */
export function blockedOnOtherUser(i32: Int32Array, rx: number, uid: number): boolean {
  if (lineLength(i32, rx) !== 1) return false;
  const b = Atomics.load(i32, idx(rx, A.CONN_TURN_BLOCKED));
  if ((b & 0xffff) !== 1) return false;
  if ((b >>> 16) !== (Atomics.load(i32, idx(rx, A.CONN_TURN_SERVING)) & 0xffff)) return false; // another turn's
  return Atomics.load(i32, idx(rx, A.CONN_TURN_BLOCKED_UID)) !== (uid | 0);
}

/** Serve the ticket after `t`, if `t` is served now (else it was passed or skipped already). */
export function pass(i32: Int32Array, rx: number, t: number): void {
  const s = idx(rx, A.CONN_TURN_SERVING);
  if (Atomics.compareExchange(i32, s, t, (t + 1) | 0) !== t) return;
  if (Atomics.load(i32, idx(rx, A.CONN_TURN_SLEEPERS)) !== 0) notifyWord(i32, s, idx(rx, A.CONN_TURN_SLEEPERS));
}

/** Does the holder of the turn `s` owe a try (a new turn, or room released since its last failed try)? */
function owes(i32: Int32Array, rx: number, s: number): boolean {
  const w = Atomics.load(i32, idx(rx, A.CONN_TURN_WAITING));
  return (w >>> 16) !== (s & 0xffff) || (w & 0xffff) !== (Atomics.load(i32, idx(rx, A.CONN_SPACE)) & 0xffff);
}

/** The receiver's generation, to notice that it was closed (its line is then void). */
export function receiverGen(i32: Int32Array, rx: number): number {
  return Atomics.load(i32, idx(rx, A.CONN_GEN));
}

/**
 * A waiter's view of the holder ahead of it: `served` and `since` (when it started to owe a
 * try, 0: it does not). One per waiting sendAsync; allocation-free after that.
 */
export class Watch {
  served = 0;
  since = 0;
  /** turns this waiter gave away (the holder owed a try for its whole time) */
  skips = 0;

  /**
   * Look at the line once, for ticket `t` waiting behind the turn. Skips the holder's turn
   * if it has owed a try for its time: TURN_MS, halved for each holder skipped just before it
   * (by any watcher of the line, on any thread: the run is the receiver's turn_run word),
   * down to TURN_MS >> RUN_MAX (the tickets a dead worker left in a line come one after the
   * other: 50 of them cost 10 s at TURN_MS each, found by an outside audit, stop 19; about
   * 0.7 s now; a live holder skipped meanwhile keeps trying as a holder: the order is
   * loosened, not lost). Returns how long to sleep before looking again (ms).
   */
  check(i32: Int32Array, rx: number, t: number): number {
    const s = Atomics.load(i32, idx(rx, A.CONN_TURN_SERVING));
    if (s !== this.served) {
      this.served = s;
      this.since = 0;
    }
    if (!owes(i32, rx, s)) { this.since = 0; return Math.min(TURN_MS * Math.max(1, (t - s) | 0), CHECK_MAX_MS); }
    // (each watcher kept a run of its own before stop 30: the last dead ticket ahead of a
    // waiter that had skipped none cost it a whole TURN_MS again; an outside audit)
    const run = runOf(i32, rx, s);
    const turn = TURN_MS / (1 << Math.min(run, RUN_MAX));
    const tm = now();
    if (this.since === 0) { this.since = tm; return turn; }
    if (tm - this.since < turn) return turn - (tm - this.since);
    // the holder owed a try for its time: its turn goes to the next ticket
    if (Atomics.compareExchange(i32, idx(rx, A.CONN_TURN_SERVING), s, (s + 1) | 0) === s) {
      this.skips++;
      Atomics.store(i32, idx(rx, A.CONN_TURN_RUN), (((s + 1) & 0xffff) << 16) | Math.min(run + 1, 0xffff));
      Atomics.add(i32, (A.BUS_BASE + A.BUS_TURN_SKIPS) >>> 2, 1);
      if (Atomics.load(i32, idx(rx, A.CONN_TURN_SLEEPERS)) !== 0) notifyWord(i32, idx(rx, A.CONN_TURN_SERVING), idx(rx, A.CONN_TURN_SLEEPERS));
    }
    this.since = 0;
    return 0;
  }
}

/** Holders skipped in a row just before turn `s` of receiver `rx` (0: its holder got the turn by a pass). */
function runOf(i32: Int32Array, rx: number, s: number): number {
  const w = Atomics.load(i32, idx(rx, A.CONN_TURN_RUN));
  return (w >>> 16) === (s & 0xffff) ? w & 0xffff : 0;
}

/**
 * `s` sleeps, as ticket `s.t` waiting behind the holder of receiver `rx`'s turn, until the
 * turn comes within one ticket of it (its turn, or it is next: then it watches the holder),
 * the line is shaken (a close, a shutdown, a name that moved: a notify that moves no
 * ticket), or `ms` pass: then `s.wake()` is called, once (unsleep() ends the sleep without it).
 *
 * The waiters of one thread in one line share one Atomics.waitAsync on turn_serving (a
 * Sleepers group): each pass wakes the group once, and the group wakes only the waiters it
 * concerns, found by ticket. (One waitAsync per waiter woke every waiter of the line at every
 * pass, each of them parking again: a burst of 8000 sendAsync to one receiver made some 90 000
 * waitAsync calls and kept a page's timers from running for up to 1.8 s; an outside audit,
 * stop 19.) Each waiter's `ms` is its due time in the group, whose one timer is armed for the
 * earliest and re-armed lazily, as host/deadlines.ts does (a timer per waiter, set and
 * cleared at each of its sleeps, made some 30 000 timers for a page's burst of 16 000
 * sendAsync, and Chromium then ran the page's own timers up to 1.6 s late while it drained:
 * an outside audit, stop 21).
 */
export function sleepBehind(i32: Int32Array, rx: number, s: Sleeper, ms: number): void {
  if (leftBus.has(i32)) { s.wake(); return; } // (this thread left the bus: it looks once more, and stops)
  let lines = groups.get(i32);
  if (lines === undefined) groups.set(i32, lines = new Map());
  let g = lines.get(rx);
  if (g === undefined) lines.set(rx, g = { i32, rx, gen: receiverGen(i32, rx), byTicket: new Map(), parked: false, timer: null, armedAt: Infinity });
  else g.gen = receiverGen(i32, rx); // (its waiter checked the receiver's generation just before: those of an older one leave on their own)
  const group = g;
  const old = group.byTicket.get(s.t);
  if (old !== undefined && old !== s) wakeOne(group, old); // (a ticket given up, now passed on by its passer: the old wait has ended)
  group.byTicket.set(s.t, s);
  s.due = now() + Math.max(0, ms);
  if (s.due < group.armedAt) armGroup(group, s.due);
  if (!group.parked) void park(group);
}

/**
 * The group's timer, armed for `at` (performance.now() ms). Unref'd: what keeps the thread
 * alive while a send waits is the wait's own hold (keepalive.ts; a ref'd timer here kept a
 * keepAlive: false wait's thread, and a passer's for up to 60 s: an outside audit, stop 19).
 */
function armGroup(g: Sleepers, at: number): void {
  if (g.timer !== null) clearTimeout(g.timer);
  g.armedAt = at;
  g.timer = setTimeout(fireGroup, timerDelay(at), g);
  unref(g.timer);
}

/**
 * The group's timer fired: wake the waiters due within GROUP_TIMER_MS (a waiter woken a
 * little early looks and sleeps again for the rest), re-arm for the earliest left, at least
 * GROUP_TIMER_MS on: a firing walks all the group's waiters, so firings are spaced (16 000
 * waiters whose times were a few µs apart would otherwise fire it every ms).
 */
function fireGroup(g: Sleepers): void {
  g.timer = null;
  g.armedAt = Infinity;
  const t = now(), soon = t + GROUP_TIMER_MS;
  let next = Infinity;
  // (wakeOne deletes the entry just visited, which a Map's iteration allows; wake() only
  // resolves a promise: nothing is added meanwhile)
  for (const e of g.byTicket.values()) {
    if (e.due <= soon) wakeOne(g, e);
    else if (e.due < next) next = e.due;
  }
  if (next !== Infinity) armGroup(g, Math.max(next, soon));
}

/** How far ahead of its time the group's timer wakes a waiter, and the least time between its firings (ms). */
const GROUP_TIMER_MS = 10;

/** `s` no longer sleeps behind rx's turn (its wait ended some other way: an abort, a close): out of its group. */
export function unsleep(i32: Int32Array, rx: number, s: Sleeper): void {
  const g = groups.get(i32)?.get(rx);
  if (g !== undefined && g.byTicket.get(s.t) === s) g.byTicket.delete(s.t);
}

/**
 * This thread leaves the bus (Bus.close): the groups' waits still parked are notified away,
 * their counts off the lines' sleepers words now. A group's wait stays parked after its last
 * waiter left until its look ends (up to TURN_MS), and a thread that exits meanwhile drops it
 * with its +1 on the receiver's `sleepers.turn` for good (every later pass then notifies: an
 * outside audit, stop 62, saw 1-3 left on a receiver after 3 workers' bursts of sendAsync
 * ended and the workers left and exited). The notify also wakes the other threads' groups on
 * those lines: their waiters look once more (a close's shake of the line, as a receiver's is).
 */
export function endTurnParks(i32: Int32Array): void {
  // (and nothing of this thread parks there again: its passers stop, their tickets left to
  // the line's skip after TURN_MS, as an exited worker's are; a passer woken by the notify
  // below parked again and left its count all the same)
  leftBus.add(i32);
  const lines = groups.get(i32);
  if (lines === undefined) return;
  for (const g of lines.values()) if (g.parked) notifyWord(i32, idx(g.rx, A.CONN_TURN_SERVING), idx(g.rx, A.CONN_TURN_SLEEPERS));
}

/** sleepBehind as a promise, for a waiter with no object of its own (a passer). */
function sleepBehindP(i32: Int32Array, rx: number, t: number, ms: number): Promise<void> {
  return new Promise<void>((resolve) => { sleepBehind(i32, rx, { t, due: 0, wake: resolve }, ms); });
}

/**
 * One waiter of a Sleepers group (a RoomWait, or a passer's): its ticket, its due time (the
 * group's timer serves it), its wake-up. Its ticket is its key in the group: it must not
 * change while it sleeps (unsleep first).
 */
export interface Sleeper {
  readonly t: number;
  /** when its sleep ends at the latest (performance.now() ms; set by sleepBehind) */
  due: number;
  wake(): void;
}

/** The waiters of this thread behind the turn of one receiver (sleepBehind). */
interface Sleepers {
  i32: Int32Array;
  rx: number;
  /** the receiver's generation its waiters lined up in (the group watches that line's holder only) */
  gen: number;
  byTicket: Map<number, Sleeper>;
  /** its waitAsync is pending */
  parked: boolean;
  /** its timer, armed for the earliest due time of its waiters (armedAt; Infinity: not armed) */
  timer: ReturnType<typeof setTimeout> | null;
  armedAt: number;
}

/** per bus memory, per receiver slot address: this thread's groups */
const groups = new WeakMap<Int32Array, Map<number, Sleepers>>();
/** the bus memories (this thread's views of them) this thread has left (Bus.close): endTurnParks */
const leftBus = new WeakSet<Int32Array>();

function wakeOne(g: Sleepers, e: Sleeper): void {
  if (g.byTicket.get(e.t) === e) g.byTicket.delete(e.t);
  e.wake();
}

function wakeAll(g: Sleepers): void {
  for (const e of [...g.byTicket.values()]) wakeOne(g, e);
}

/** A group's one wait on turn_serving, while it has waiters. */
async function park(g: Sleepers): Promise<void> {
  const { i32, rx } = g;
  const key = idx(rx, A.CONN_TURN_SERVING), sleepers = idx(rx, A.CONN_TURN_SLEEPERS);
  g.parked = true;
  // the group watches the holder for all its waiters: a waiter far behind checks on it only
  // every TURN_MS × its distance (at most CHECK_MAX_MS apart), so a line whose live waiters
  // were all behind a dead worker's tickets noticed the first of them only after up to 1.6 s
  // (an outside audit, stop 21: 10 dead tickets took 1.37 s to skip, 50 1.67 s)
  const watch = new Watch();
  let look = TURN_MS;
  const seqIdx = (A.BUS_BASE + A.BUS_NAME_SEQ) >>> 2, downIdx = (A.BUS_BASE + A.BUS_SHUTDOWN) >>> 2;
  try {
    let s = Atomics.load(i32, key), seq = Atomics.load(i32, seqIdx);
    // the turn may have come to a waiter between its look and this park (the waits below see
    // only moves from s on): those it concerns look now (an outside audit, stop 22: with two
    // threads' senders taking turns, a holder slept on until a skip, TURN_MS, 8 times in 1000)
    for (const e of [...g.byTicket.values()]) if (((e.t - s) | 0) <= 0) wakeOne(g, e);
    while (g.byTicket.size > 0 && !leftBus.has(i32)) {
      const how = waitWordHow(i32, key, s, look, sleepers);
      if (how === null) {
        // no Atomics.waitAsync: each waiter polls as before, on its own
        await waitWordTimed(i32, key, s, GROUP_LOOK_MS, sleepers);
        wakeAll(g);
        continue;
      }
      const r = await how;
      const s2 = Atomics.load(i32, key), seq2 = Atomics.load(i32, seqIdx);
      // the receiver closed, the bus shut down, or a name moved (each shakes the line: a
      // notify that moves no ticket): every waiter looks again, also when a pass came with
      // it (the wake-up then showed a moved turn, and the waiters behind the new one slept on
      // until their own timers, up to a second: an outside audit, stop 21)
      if (receiverGen(i32, rx) !== g.gen || Atomics.load(i32, downIdx) !== 0 || (seq2 !== seq && r === 'ok')) {
        wakeAll(g);
        s = s2; seq = seq2;
        continue;
      }
      seq = seq2;
      if (s2 === s) {
        // a notify that moved no ticket shakes the line (a close, bus.shutdown(), a name
        // that moved): every waiter looks again
        if (r === 'ok') wakeAll(g);
        // its time: a look at the holder, as the waiter right behind it would (it skips a
        // holder that owed a try for its time: then the turn has moved, and the waiters near
        // it are woken below, on the next round)
        // (a line with no ticket out has no holder: skipping "it" served a ticket not yet
        // taken, and the line's length went negative; an outside audit, stop 21)
        else if (r === 'timed-out' && lineLength(i32, rx) > 0) look = Math.max(1, watch.check(i32, rx, (s + 1) | 0));
        else look = TURN_MS;
        continue;
      }
      // the turn moved (passes, skips): the waiters from the old turn to one past the new one
      for (let k = s; ((k - s2) | 0) <= 1; k = (k + 1) | 0) {
        const e = g.byTicket.get(k);
        if (e !== undefined) wakeOne(g, e);
      }
      s = s2;
    }
  } catch {
    wakeAll(g); // (the wait failed: every waiter looks on its own, and sleeps again here)
  } finally {
    g.parked = false;
    if (g.timer !== null) { clearTimeout(g.timer); g.timer = null; g.armedAt = Infinity; }
    const lines = groups.get(i32);
    if (lines?.get(rx) === g) lines.delete(rx);
  }
}

/** How often a group's wait looks again with no wake-up where there is no Atomics.waitAsync (ms). */
const GROUP_LOOK_MS = 1000;

/**
 * A ticket given up behind the turn, and its passer: until the passer ends, the connection
 * that gave it up may take it back for its next wait to the same destination (take), so that
 * a connection holds one place per destination however many of its waits gave up (each
 * timed-out head left a passer and its successor took a new ticket at the line's end: a worker
 * that then exited left one dead ticket per timed-out send, 500 of them cost the next sender
 * 2.4–4 s; an outside audit, stop 29).
 */
export interface Passer {
  readonly rx: number;
  readonly gen: number;
  readonly t: number;
  /** BUS_NAME_SEQ when its wait lined up (a name destination) */
  readonly seqAt: number;
  /** taken back by a wait of its connection: the passer stops, passing nothing */
  taken: boolean;
  /** the passer ended (passed the turn, the line went void, or it gave up waiting) */
  ended: boolean;
}

/**
 * Ticket `t` of receiver `rx` (generation `gen`) leaves the line: its turn is passed now if
 * it holds it, else when it comes (a passer on this thread that keeps nothing alive; should
 * this thread stop turning its event loop, the others skip the turn after TURN_MS). Returns
 * the passer left behind (null: none was needed), which its connection may take back.
 */
export function giveUp(i32: Int32Array, rx: number, gen: number, t: number, seqAt = 0): Passer | null {
  if (receiverGen(i32, rx) !== gen) return null;
  const d = behind(i32, rx, t);
  if (d < 0) return null;
  if (d === 0) { pass(i32, rx, t); return null; }
  const p: Passer = { rx, gen, t, seqAt, taken: false, ended: false };
  void passLater(i32, p);
  return p;
}

/** Take back the ticket of passer `p` (its line still valid, the turn not past it): true, and the passer passes nothing. */
export function take(i32: Int32Array, p: Passer): boolean {
  if (p.taken || p.ended || receiverGen(i32, p.rx) !== p.gen || behind(i32, p.rx, p.t) < 0) return false;
  p.taken = true;
  return true;
}

async function passLater(i32: Int32Array, p: Passer): Promise<void> {
  const { rx, gen, t } = p;
  const end = now() + GIVE_UP_MAX_MS;
  // a passer watches the holder as a waiter does: it skips a holder that owes a try for
  // TURN_MS (a dead worker's ticket). Without it, a line whose live waiters had all left
  // (a name that moved on faster than TURN_MS) kept its dead tickets, and with them every
  // passer and every sender that came back to it (found by an outside audit)
  const watch = new Watch();
  try {
    while (!p.taken && now() < end && receiverGen(i32, rx) === gen && Atomics.load(i32, (A.BUS_BASE + A.BUS_SHUTDOWN) >>> 2) === 0 && !leftBus.has(i32)) {
      const d = behind(i32, rx, t);
      if (d < 0) return;
      if (d === 0) { pass(i32, rx, t); return; }
      const ms = watch.check(i32, rx, t);
      // (a wait that takes the ticket back sleeps under it in this group: that wakes this one)
      if (ms > 0) await sleepBehindP(i32, rx, t, Math.min(ms, GIVE_UP_CHECK_MS));
    }
  } finally {
    p.ended = true;
  }
}

/**
 * The connection slot address of the open connection with id `id`, or 0: a hint read from
 * the id table without a lock (assembly/idtable.ts; SEND itself decides). sendAsync uses it
 * to find the receiver's line before its first try; a stale answer only puts it in the
 * wrong line until that try.
 */
export function receiverById(u32: Uint32Array, id: number): number {
  const H = A.BUS_BASE;
  // (plain loads: a hint needs no ordering, and each Atomics.load costs Node 20 some 12 ns, a
  // builtin call: eight of them were 8 of the 11 a sendAsync with room made)
  const ld = (p: number) => u32[p >>> 2];
  const lo = id >>> 0, hi = Math.floor(id / 2 ** 32) >>> 0;
  const ids = ld(H + A.BUS_IDS), mask = ld(H + A.BUS_ID_MASK), n = ld(H + A.BUS_N_CONNS), conns = ld(H + A.BUS_CONNS);
  let s = ld(ids + ((lo & mask) >>> 0) * 4);
  for (let k = 0; k < n && s !== 0 && s <= n; k++) {
    const c = conns + (s - 1) * A.CONN_SIZE;
    if (ld(c + A.CONN_ID) === lo && ld(c + A.CONN_ID + 4) === hi && ld(c + A.CONN_STATE) === A.CONN_ACTIVE) return c;
    s = ld(ids + (mask + 1 + s - 1) * 4);
  }
  return 0;
}
