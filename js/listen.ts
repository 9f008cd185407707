// listen: a connection's messages handed to a function as they come (conn.listen), the bus's
// counterpart of `port.onmessage`. Messages already queued are handed over synchronously, one
// after the other, with no promise between them (taken RECV_BATCH_MAX at a time by one
// RECV_BATCH, which also frees the slices of those handed over since the one before: one
// hold of the lock per batch, not two per message; conn.takeBatched); only an empty queue is
// waited for: the adaptive spin, done synchronously (a message it catches goes by in the same
// turn), then a park on the wake word (Atomics.waitAsync, with the listener's one waiter:
// conn.parkListen), after which the next RECV_BATCH takes what came. So a receiver fed in bursts
// pays a share of a batch's cost per message, not recvAsync's (docs/BENCHMARKS.md, stops 13
// and 18).
//
// One turn of handing over runs for about DRAIN_MS of the event loop (the clock is read every
// CLOCK_EVERY messages, after every message while they take long), waits caught by the spin
// included; a queue that a sender keeps full then yields one macrotask (setImmediate where the
// runtime has it, a MessageChannel message in a browser: yieldTurn) before the next turn, so that timers and I/O of this
// thread still run under a flood. A handler that takes longer than DRAIN_MS blocks for as
// long as one call takes, then yields.
//
// A handler that returns a promise (an async function) is not awaited, as an onmessage
// handler is not: the next messages are handed over meanwhile, and its message is freed once
// the promise settles. A throw or a rejection stops the listener; done rejects with the first.
import * as A from './shared/abi.ts';
import { BusError, shutdownError } from './errno.ts';
import type { Connection, RecvOptions, WaitStop } from './connection.ts';
import { closedFree, type Message } from './message.ts';
import { options, optBoolean, kindOf, isAbortSignal, relabel } from './args.ts';
import { now, parks, RESOLVED, PARK_PARKED, PARK_MOVED } from './host/wait.ts';
import { CallbackMember } from './host/wait-group.ts';
import { yieldTurn } from './host/fair.ts';
import { abortHooks } from './abort-hooks.ts';
import type { Waiter } from './waiter.ts';

/** conn.listen() options. */
export interface ListenOptions {
  /** aborting it stops the listener, as stop() does */
  signal?: AbortSignal | undefined;
  /** false: a parked wait does not keep the thread's event loop alive (as recvAsync's keepAlive) */
  keepAlive?: boolean | undefined;
}

/** What conn.listen() returns. */
export interface Listener {
  /** No more messages for the handler (one it is handling finishes; a message the wait had already taken is still handed over first). */
  stop(): void;
  /**
   * Resolves once the listener has stopped (stop(), the signal, the connection closed) and
   * every promise its handler returned has settled; rejects with what ended it otherwise (the
   * handler's throw or rejection, the first one; ESHUTDOWN; ECONNRESET of a recovered thread;
   * EDEADLK).
   */
  readonly done: Promise<void>;
  /** messages handed to the handler so far */
  readonly received: number;
  /** still listening (false from stop() on, and from the moment its connection is closed or the bus shut down) */
  readonly active: boolean;
}

/** the longest one turn of handing over queued messages blocks the event loop (ms) */
export const DRAIN_MS = 2;
/** messages handed over between clock reads */
const CLOCK_EVERY = 8;
const LISTEN_KEYS = ['signal', 'keepAlive'] as const;
/**
 * What stop() ends a listener's own wait with (never handed to the user: end() tells it by
 * identity). One for every listener: made per listen() call, its stack trace cost each call
 * about 5 µs (stop 45, a CPU profile of listeners made and stopped per batch).
 */
const ENDED = new BusError(A.ECANCELED, 'listen', 'the listener was stopped');

/**
 * @internal The hooks listen() needs from its connection (internal methods of Connection): the next
 * queued message without waiting (takeBatched), a handled message's slice left to the next
 * batch (releaseBatched), the batch's end when the listener stops (batchEnd), the wait of
 * recvAsync, and the one-listener slot.
 */
export interface Listenable {
  readonly closed: boolean;
  listening: object | null;
  readonly busShutDown: boolean;
  takeBatched(op: string): Message | null;
  releaseBatched(m: Message): void;
  /** a handled message's slice freed from the event loop (deferred while a lock stays taken) */
  freeSoon(offset: number): void;
  batchEnd(): void;
  wakeSeen(): number;
  /** messages taken by the last batch and not handed over yet (the next take needs no RECV) */
  readonly batchPending: boolean;
  spinWake(seen: number): boolean;
  parkListen(w: Waiter, seen: number, m: CallbackMember): number;
  parkWoke(): boolean;
  unparkListen(w: Waiter, m: CallbackMember): void;
  readonly spinner: { woke(t: number): void };
  recvChecked(o: RecvOptions, timeout: number, signal: AbortSignal | undefined, keepAlive: boolean | undefined, stop: WaitStop | null, spun: boolean, looked?: number): Message | Promise<Message>;
  standingHold(keep: boolean | undefined): Waiter;
  dropHold(w: Waiter): void;
}

/** @internal conn.listen (Connection.listen calls it) */
export function listen(conn: Connection & Listenable, handler: (msg: Message) => unknown, opts?: ListenOptions): Listener {
  if (typeof handler !== 'function') throw new BusError(A.EINVAL, 'listen', `handler must be a function, got ${kindOf(handler)}`);
  const o = options<ListenOptions>('listen', opts, LISTEN_KEYS, '{ signal, keepAlive: false }');
  const signal = o.signal;
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw new BusError(A.EINVAL, 'listen', `signal must be an AbortSignal, got ${kindOf(signal)}`);
  }
  const keepAlive = optBoolean('listen', 'keepAlive', o.keepAlive);
  if (conn.closed) throw new BusError(A.ECONNRESET, 'listen', 'the connection is closed');
  conn.engine.checkAlive(); // (a thread declared dead: throws its ECONNRESET at once, as every other method does)
  if (conn.listening !== null) throw new BusError(A.EBUSY, 'listen', 'this connection already has a listener (stop it first)');
  // the signal's aborted read once, before anything is taken: a duck-typed signal whose getter
  // throws fails listen() with nothing started (before stop 42 that read came after the
  // listener place and the keep-alive hold were taken, and kept them for good: an outside audit)
  const abortedAtStart = signal !== undefined && signal.aborted;
  /** this listener's hold on the connection's one listener slot */
  const token = {};
  conn.listening = token;

  /** parked now: its onWake or a cancelPark ends the park, whichever comes first */
  let parked = false;
  /**
   * the listener's one waiter for its parks (no keep-alive of its own: `keeper` holds); its
   * cancel (close(), and stop() through `stop`) ends the park directly, the hand-over going on
   * in a microtask (to find the listener stopped or the connection closed): a notify of this
   * thread's own wait does not keep a Deno thread alive until it resolves (API.md,
   * "Keep-alive"), so a stop() awaited with nothing else pending ended the program there
   */
  const cancelPark = () => {
    if (parked) {
      parked = false;
      conn.unparkListen(parkWaiter, parkMember);
      void RESOLVED.then(pump);
    }
    // (the batch's messages not handed over wake the thread's other waits at the hand-over's
    // end: conn.batchEnd, whatever ended it)
  };
  const parkWaiter: Waiter = { linkPrev: null, linkNext: null, linkIn: null, keep: false, held: false, error: null, cancel: cancelPark };
  const NONE: RecvOptions = {};
  const stop: WaitStop = { cancel: null };
  let stopped = false, received = 0, active = true;
  /** handlers' promises not settled yet, the first failure (a throw, a rejection), and done's resolver once the loop is over */
  let pending = 0, failed = false, failure: unknown = undefined;
  let finish: (() => void) | null = null;
  const halt = () => {
    if (stopped) return;
    stopped = true;
    active = false;
    // (its park ends first: clearing `listening` asks the reply pump whether an aborted call's
    // end is owed to no receive now, and the parked waiter still counted as one taking ends;
    // in the other order nothing asked again, and such a call stayed pending until the user's
    // next receive: an outside reading, stop 65)
    stop.cancel?.(ENDED);
    if (conn.listening === token) conn.listening = null; // (another listener may start at once)
  };
  const fail = (err: unknown) => {
    if (!failed) { failed = true; failure = err; }
    halt();
  };
  const release = (m: Message) => {
    if (m.kept || m.freedAlready) return;
    if (conn.closed) closedFree(m); // (read as freed, ENXIO, as iterate.ts's: since stop 48)
    else conn.freeSoon(m.detach());
  };
  const settled = (m: Message) => {
    // (done settles whatever the free does: a free that threw here left it pending for good,
    // an outside audit, stop 22)
    try { release(m); } catch (err) { fail(err); }
    if (--pending === 0 && finish) finish();
  };
  const deliver = (m: Message) => {
    received++;
    let r: unknown;
    try {
      r = handler(m);
    } catch (err) {
      release(m);
      throw err;
    }
    // an async handler: its message is freed once its promise settles (the next messages are
    // handed over meanwhile, as onmessage does not wait for its handler either). `then` is
    // read once, as await reads it; a getter that throws is a failure like a throw of the
    // handler, its message freed now (it stayed in the pool before stop 25: an outside audit)
    let then: unknown;
    if (r !== null && (typeof r === 'object' || typeof r === 'function')) {
      try {
        then = (r as { then?: unknown }).then;
      } catch (err) {
        release(m);
        throw err;
      }
    }
    if (typeof then === 'function') {
      pending++;
      // once: a thenable may call its callbacks more than once (a promise ignores all but the first)
      let over = false;
      try {
        (then as PromiseLike<unknown>['then']).call(r, () => { if (!over) { over = true; settled(m); } }, (err: unknown) => { if (!over) { over = true; fail(err); settled(m); } });
      } catch (err) {
        // (a thenable whose then() throws: a failure, its message freed now; ignored once it
        // has settled, as a promise ignores it)
        if (!over) { over = true; settled(m); throw err; }
      }
    } else if (!m.kept && !m.freedAlready) {
      if (conn.closed) closedFree(m);
      else conn.releaseBatched(m); // (its slice freed with the next batch)
    }
  };
  /**
   * A failure of the listener's own receives (its RECV_BATCH, its waits), told as op listen:
   * ESHUTDOWN, EDEADLK, and the ECONNRESET of a thread another thread declared dead, which
   * the engine throws as op engine (done rejected with "engine: ECONNRESET" before stop 28:
   * an outside audit). A handler's throw is never relabelled: it does not pass through here.
   */
  const own = (err: unknown): unknown =>
    err instanceof BusError && (err.message.startsWith('recvAsync: ') || err.message.startsWith('engine: ')) ? relabel('listen', err) : err;
  /** the next message of the batch (or a RECV_BATCH), its failures the listener's */
  const take = (): Message | null => {
    try { return conn.takeBatched('listen'); } catch (err) { throw own(err); }
  };
  // The hand-over, pump(): a turn hands over messages for at most DRAIN_MS of this thread's
  // time, then yields a macrotask: across waits caught by the spin too (a steady stream never
  // parks, and a spin never lets the event loop in). The clock is read after each of the first
  // messages of a turn while they are slow (a handler of milliseconds), else every CLOCK_EVERY
  // messages. pump() runs until the queue is empty and no spin catches a message, then parks
  // and returns: the park's callback (onWake, made once here) runs the next turn. No promise
  // and no async frame per parked message (before stop 40, an async loop awaited a promise of
  // its own on waitWord's: four promises and as many microtasks per park; docs/BENCHMARKS.md).
  let t0 = 0, last = 0, n = 0, every = 1;
  /** after a message: has this turn had its DRAIN_MS? (no promise: messages go by synchronously) */
  const due = (): boolean => {
    if (++n % every !== 0) return false;
    const t = now();
    every = t - last > DRAIN_MS / CLOCK_EVERY ? 1 : CLOCK_EVERY;
    last = t;
    return t - t0 >= DRAIN_MS;
  };
  const fresh = () => { t0 = last = now(); n = 0; every = 1; };
  /** the wake word, read before each look at the queue (a message published since has moved it) */
  let seen = 0;
  /** the look after a park: a message it finds ends a wait that caught one (the spinner's score) */
  let woke = false;
  const freshPump = (): void => { fresh(); pump(); };
  /** Hands over what is queued, then spins or parks (see above); ends the listener (end) when stopped or closed, or on what fails. */
  const pump = (): void => {
    try {
      for (;;) {
        for (;;) {
          if (stopped || conn.closed) return end(undefined, false);
          // (only before a take that will RECV: the word's line is the one every publish
          // writes, so a read per handed-over message took it from the sender each time; a
          // value read before an earlier RECV is older still, which can only make a wait look
          // again, never sleep through a message)
          if (!conn.batchPending) seen = conn.wakeSeen();
          const m = take();
          if (m === null) { woke = false; break; }
          if (woke) { woke = false; conn.spinner.woke(now()); }
          deliver(m);
          if (due()) { void yieldTurn().then(freshPump); return; }
        }
        if (stopped || conn.closed) return end(undefined, false);
        // the queue was empty at the look after `seen`: the adaptive spin on the word,
        // synchronously (a message it catches goes by with no promise, in this turn), then the
        // park, with no look in between (before stop 22, two more looks per parked message)
        let m: Message | null;
        if (conn.spinWake(seen)) {
          m = take();
          if (m === null) continue; // (another waiter's, or not a message)
          conn.spinner.woke(now());
        } else {
          // no spin due, or it ran out: park on the wake word; onWake looks again from the top
          // (the RECV_BATCH takes what came, and ends what went wrong: ESHUTDOWN, a recovery's
          // ECONNRESET)
          const p = conn.parkListen(parkWaiter, seen, parkMember);
          if (p === PARK_PARKED) {
            parked = true;
            stop.cancel = cancelPark;
            return;
          }
          if (p === PARK_MOVED) { woke = true; continue; }
          // a lock found stuck (lockBusy): recvAsync's wait, which looks again on its timer;
          // its failures (ESHUTDOWN, ECONNRESET, EDEADLK) are the listener's: op listen
          const p0 = parks();
          let r: Message | Promise<Message>;
          try { r = conn.recvChecked(NONE, Infinity, undefined, keepAlive, stop, true, seen); } catch (err) { throw own(err); }
          if (r instanceof Promise) {
            r.then((got) => { if (parks() !== p0) fresh(); handOver(got); }, (err: unknown) => end(own(err), true));
            return;
          }
          m = r;
        }
        deliver(m);
        if (due()) { void yieldTurn().then(freshPump); return; }
      }
    } catch (err) {
      end(err, true);
    }
  };
  /** the park's callback: a wake-up that the event loop resolved lets timers and I/O run, so the next turn starts afresh */
  const onWake = (): void => {
    const yieldFirst = conn.parkWoke();
    if (!parked) return; // (ended by cancelPark already: close(), stop())
    parked = false;
    conn.unparkListen(parkWaiter, parkMember);
    woke = true;
    if (yieldFirst) void yieldTurn().then(freshPump);
    else freshPump();
  };
  /** the listener's member of its connection's group of waits (host/wait-group.ts), made once: its parks */
  const parkMember = new CallbackMember(onWake);
  /** the message recvChecked's wait brought, then the hand-over again */
  const handOver = (m: Message): void => {
    try {
      deliver(m);
      if (due()) { void yieldTurn().then(freshPump); return; }
    } catch (err) {
      end(err, true);
      return;
    }
    pump();
  };
  // the thread's keep-alive, held from here to the hand-over's end (as keepAlive and ref() /
  // unref() say), so that the parks in between do not each ref and unref its timer
  const keeper = conn.standingHold(keepAlive);
  let resolveDone!: () => void, rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => { resolveDone = res; rejectDone = rej; });
  const settle = (): void => { if (failed) rejectDone(failure); else resolveDone(); };
  let over = false;
  /** The hand-over is over: stopped or closed (threw false), or `err` ended it. */
  const end = (err: unknown, threw: boolean): void => {
    if (over) return;
    over = true;
    // closed by bus.shutdown() (the creator's connections): that is a failure, as it is to a wait
    if (!threw && !stopped && conn.closed && conn.busShutDown) { err = shutdownError('listen'); threw = true; }
    // stop() and close() end it; anything else is what done rejects with
    if (threw && !(err === ENDED || (conn.closed && !conn.busShutDown && err instanceof BusError && err.errno === A.ECONNRESET))) fail(err);
    conn.dropHold(keeper);
    active = false;
    if (conn.listening === token) conn.listening = null;
    // the batch's messages not handed over stay for the next receives; the slices of those
    // handed over are freed now
    try { conn.batchEnd(); } catch (e) { if (!failed) { failed = true; failure = e; } }
    if (signal !== undefined) abortHooks.unwatch(signal, haltHook);
    // done once the handlers' promises have settled too, whatever ended the hand-over
    if (pending > 0) finish = settle;
    else settle();
  };
  // an aborted signal is stop(): not active, and the connection's listener place free at once
  // (one listener per signal for all of this thread's waits: abort-hooks.ts)
  const haltHook = { handleEvent: halt };
  if (abortedAtStart) halt();
  else if (signal !== undefined) {
    try {
      abortHooks.watch(signal, haltHook, 'listen');
    } catch (err) {
      // a signal that refuses its listener (EINVAL): nothing started, nothing kept (the
      // connection's listener place and the keep-alive hold were kept for good before stop 40:
      // an outside audit)
      over = true;
      halt();
      conn.dropHold(keeper);
      throw err;
    }
  }
  // (the first turn starts in a microtask: listen() itself never calls the handler)
  void RESOLVED.then(freshPump);
  return {
    stop: halt,
    done,
    get received() { return received; },
    // (false at once when the connection closes or the bus shuts down, not a microtask later, when the hand-over ends: an outside audit, stop 40)
    get active() { return active && !conn.closed && !conn.busShutDown; },
  };
}
