// bcast-async: emitAsync's broadcast, which does not block its thread at a subscriber whose
// lock another thread holds.
//
// emit() waits for such a lock blocking, up to LOCK_WAIT_MS (1 s) at each subscriber whose
// lock stays taken, then passes it over (its loss counted): from an event loop that stalled
// the loop a second per stuck subscriber, on every call, and a dead holder was not recovered
// meanwhile (Node's 'exit' waits for the loop). emitAsync's broadcast (since stop 67) waits
// for such a lock at most ASYNC_LOCK_WAIT_MS blocking (SPIN_LOCK_WAIT_MS spinning on a page's
// main thread), then is set aside where it stopped (js/bcast-park.ts) and goes on from a
// timer every ASYNC_LOCK_RETRY_MS, from that subscriber on, never from the start (a
// subscriber before it gets the signal once). A subscriber whose lock stays taken by one
// holder for LOCK_WAIT_MS (and then still for LOCK_STILL_MS: lock-look.ts) is passed over,
// its loss counted, as emit()'s; the bus lock (a bus with NAME match rules) likewise ends
// the broadcast with EDEADLK, the rest not getting it, as emit()'s.
//
// Order: a connection's awaitable broadcasts go in call order: one made while an earlier one
// is set aside waits for it to end (bounded by its own timeout and signal: then nothing of it
// is sent). Synchronous sends go at once, ahead of a broadcast set aside (API.md, "Order").
import * as A from './shared/abi.ts';
import { BusError, canceled, shutdownError } from './errno.ts';
import { isShutdown, type Engine } from './engine.ts';
import { now } from './host/wait.ts';
import { unref as unrefTimer } from './host/deadlines.ts';
import { abortHooks } from './abort-hooks.ts';
import { LockLook } from './lock-look.ts';
import { pause } from './lock-retry.ts';
import { SEND, commandError } from './cmd/index.ts';
import type { ParkedBroadcast } from './bcast-park.ts';
import type { Connection } from './connection.ts';

/** The wait's bounds, before the broadcast's first try (emitAsync's options). */
export interface BroadcastWait {
  readonly op: string;
  /** ms (Infinity: none) */
  readonly timeout: number;
  readonly signal?: AbortSignal | undefined;
  /** its timers keep the thread alive (undefined: as the connection's ref() / unref() say at each) */
  readonly keepAlive: boolean | undefined;
}

/** The end of each connection's last awaitable broadcast still going on (its order). */
const tails = new WeakMap<Connection, Promise<void>>();

/**
 * Broadcast with `send` (a SEND of the signal, by sendSignal: it returns once the broadcast
 * went, or was set aside in the engine's `parked`), from connection `c`; resolves when every
 * subscriber got it, was passed over or had no room. `send` runs at once when the connection
 * has no earlier broadcast going on (what it throws is thrown), else once that one ended.
 * `sent()` is told once something may have been delivered (the cookie is the signal's);
 * `later()`, at once, when `send` will run later: what it sends must then be its own (the
 * codec's scratch is the next encoding's).
 */
export function broadcastAsync(c: Connection, send: () => void, w: BroadcastWait, sent: () => void, later: () => void): Promise<void> {
  const before = tails.get(c);
  let done: Promise<void>;
  if (before !== undefined) later();
  if (before === undefined) {
    const p = first(c.engine, send);
    if (p === null) return Promise.resolve();
    sent();
    done = goOn(c, p, w);
  } else {
    done = turn(c, before, w).then(() => {
      const p = first(c.engine, send);
      if (p === null) return;
      sent();
      return goOn(c, p, w);
    });
  }
  // (the next one waits for every earlier one: this one may end before the one it waited for,
  // at its timeout or signal)
  const settled = done.then(noop, noop);
  const end: Promise<void> = (before === undefined ? settled : Promise.all([before, settled])).then(() => {
    if (tails.get(c) === end) tails.delete(c);
  });
  tails.set(c, end);
  return done;
}

function noop(): void {}

/** The first try: the SEND with a short lock wait; the broadcast set aside, or null when it went. */
function first(e: Engine, send: () => void): ParkedBroadcast | null {
  e.parked = null;
  e.parkBroadcast = true;
  e.lockWaitMs = e.asyncLockWaitMs;
  try {
    send();
  } finally {
    e.parkBroadcast = false;
    e.lockWaitMs = e.syncLockWaitMs;
  }
  const p = e.parked;
  e.parked = null;
  return p;
}

/** Go on with broadcast `p` from timers until it has gone to every subscriber. */
async function goOn(c: Connection, p: ParkedBroadcast, w: BroadcastWait): Promise<void> {
  const e = c.engine, op = w.op;
  const look = new LockLook();
  for (;;) {
    look.seen(e); // (the lock it stopped at: engine.park set stuckIndex / stuckValue)
    const skip = look.stuck(e);
    if (!skip) await pause(A.ASYNC_LOCK_RETRY_MS, { op, keepAlive: w.keepAlive ?? c.keepsAlive });
    // (the shutdown first: on the creator's thread it closes the connections too, and a wait
    // that was pending says ESHUTDOWN: API.md, ESHUTDOWN)
    if (isShutdown(e.u32)) throw shutdownError(op, 'the bus was shut down while the broadcast waited for a subscriber\'s lock: the subscribers before that one got the signal, the rest did not');
    if (c.closed) throw new BusError(A.ECONNRESET, op, 'the connection closed while its broadcast waited for a subscriber\'s lock: the subscribers before that one got the signal, the rest did not');
    e.parked = null;
    e.parkBroadcast = true;
    e.lockWaitMs = 0; // (from here on it only looks: the thread blocked once, at the first try)
    let r: number;
    try {
      r = e.resumeBroadcast(p, skip);
    } finally {
      e.parkBroadcast = false;
      e.lockWaitMs = e.syncLockWaitMs;
    }
    const again = e.parked;
    e.parked = null;
    if (r === A.WOULDBLOCK && again !== null) {
      p = again;
      continue;
    }
    if (r < 0) throw commandError(e.u32, e.cmd, r, op, SEND.NAME, { dst: 'broadcast' });
    return;
  }
}

/** Wait for `before` (the connection's earlier broadcast) to end, within `w`'s timeout and signal (ETIMEDOUT, ECANCELED). */
function turn(c: Connection, before: Promise<void>, w: BroadcastWait): Promise<void> {
  const { op, signal, timeout } = w;
  if (signal?.aborted) return Promise.reject(canceled(op, signal));
  return new Promise<void>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = { handleEvent: () => { end(); reject(canceled(op, signal)); } };
    const end = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== undefined) abortHooks.unwatch(signal, onAbort);
    };
    if (timeout !== Infinity) {
      const start = now();
      timer = setTimeout(() => {
        end();
        reject(new BusError(A.ETIMEDOUT, op, `the connection's earlier broadcast still waited for a subscriber's lock after ${Math.round(now() - start)} ms (timeout ${timeout} ms): this one was not sent`));
      }, timeout);
      if (!(w.keepAlive ?? c.keepsAlive)) unrefTimer(timer);
    }
    if (signal !== undefined) abortHooks.watch(signal, onAbort, op);
    void before.then(() => { end(); resolve(); });
  });
}
