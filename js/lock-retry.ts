// lock-retry: an event-loop operation made of synchronous commands (bus.waitForName's HELLO,
// matches and look-ups, conn.waitForName's look-ups, emitAsync's first try of a broadcast before
// it delivered anything: bcast-async.ts) that meets a lock another thread holds. A
// synchronous command waits for it up to LOCK_WAIT_MS (1 s), blocking its thread: from an
// event loop, every such call stalled it a second while a stuck or dead thread held the lock,
// and a dead one was not recovered meanwhile (Node's 'exit' waits for the loop), before stop
// 66 (an outside audit). Here the first try waits ASYNC_LOCK_WAIT_MS at most (the next ones only
// look, 0), and a try that meets the lock (EDEADLK, having
// changed nothing) is made again on a timer, letting the event loop run, until the lock has
// stayed taken for LOCK_WAIT_MS in all (EDEADLK: lock-look.ts), the caller's deadline (its own
// error) or its signal (ECANCELED), as sendAsync's tries do. Only for commands whose EDEADLK
// changed nothing: a broadcast that stops part way has delivered to some subscribers, and a
// short wait would pass busy ones over (emitAsync's broadcast is set aside instead:
// bcast-async.ts).

import * as A from './shared/abi.ts';
import { BusError, canceled } from './errno.ts';
import { now } from './host/wait.ts';
import { unref as unrefTimer } from './host/deadlines.ts';
import { abortHooks } from './abort-hooks.ts';
import { LockLook } from './lock-look.ts';
import type { Engine } from './engine.ts';

export interface LockRetry {
  /** names the wait in ECANCELED */
  readonly op: string;
  /** when the caller's time is up (now()'s clock, ms; Infinity: none) */
  readonly deadline: number;
  /** the caller's error at its deadline */
  readonly timedOut: (lockErr: BusError) => Error;
  readonly signal?: AbortSignal | undefined;
  /** its retry timer keeps the thread alive */
  readonly keepAlive: boolean;
}

/** `fn()` (synchronous commands of engine `e`), tried again while a lock is in its way; what it returns, or what it throws but EDEADLK until the lock is stuck. */
export async function lockRetry<T>(e: Engine, fn: () => T, w: LockRetry): Promise<T> {
  let look: LockLook | null = null;
  for (;;) {
    e.lockWaitMs = look !== null ? 0 : e.asyncLockWaitMs; // (once found taken, the tries only look)
    let lockErr: BusError;
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof BusError && err.errno === A.EDEADLK)) throw err;
      (look ??= new LockLook()).seen(e);
      if (look.stuck(e)) throw err;
      lockErr = err;
    } finally {
      e.lockWaitMs = e.syncLockWaitMs;
    }
    const left = w.deadline - now();
    if (left <= 0) throw w.timedOut(lockErr);
    await pause(Math.min(left, A.ASYNC_LOCK_RETRY_MS), w);
  }
}

/** A timer of `ms`, ended early by the signal (ECANCELED of `w.op`); it keeps the thread alive when `w.keepAlive` says so (conn.waitForName's polls use it too). */
export function pause(ms: number, w: { readonly op: string; readonly signal?: AbortSignal | undefined; readonly keepAlive: boolean }): Promise<void> {
  const signal = w.signal;
  if (signal?.aborted) return Promise.reject(canceled(w.op, signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = { handleEvent: () => { clearTimeout(t); reject(canceled(w.op, signal)); } };
    const t = setTimeout(() => { if (signal !== undefined) abortHooks.unwatch(signal, onAbort); resolve(); }, ms);
    if (!w.keepAlive) unrefTimer(t);
    if (signal !== undefined) abortHooks.watch(signal, onAbort, w.op);
  });
}
