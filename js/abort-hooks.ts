// abort-hooks: one 'abort' listener per AbortSignal for all the waits of this thread that
// share it (abortHooks: calls, receives, iterators, listeners, sendAsync, waitForName, of every
// connection). A burst of call()s on one signal added a listener per call: from the eleventh
// on, Node prints "MaxListenersExceededWarning: Possible EventTarget memory leak detected" (an
// outside audit, stop 16); so did 11 recvAsyncs, or listeners of 11 connections, sharing an
// app-wide shutdown signal (stop 17), and every abort walked the signal's whole listener list.
// Here the signal gets one listener, which runs the hooks of the waits registered at that moment.

import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';

/** A wait to tell of its signal's abort (an EventListener object: handleEvent). */
export interface AbortHook { handleEvent(): void }

interface Entry { readonly fire: () => void; readonly hooks: Set<AbortHook> }

export class AbortHooks {
  /**
   * (a WeakMap, not a Map: with a signal of its own per call, an entry joins and leaves per
   * call, and a Map's replaced tables kept the calls alive through young collections,
   * linked-set.ts says how: 100 calls in flight each with a new AbortController's signal, 8-9 ms
   * young collections and 49-58 k calls/s; a WeakMap's table keeps no link to its successor)
   */
  private readonly bySignal = new WeakMap<AbortSignal, Entry>();

  /**
   * Tell `h` when `signal` aborts (once), until unwatch(). A signal whose addEventListener
   * throws (one that passed isAbortSignal's duck test) is a BusError EINVAL of `op`, its
   * error the cause, with nothing registered (it was a plain Error before stop 40: an
   * outside audit).
   */
  watch(signal: AbortSignal, h: AbortHook, op: string): void {
    const had = this.bySignal.get(signal);
    if (had !== undefined) {
      had.hooks.add(h);
      return;
    }
    const hooks = new Set<AbortHook>([h]);
    const fire = (): void => {
      if (this.bySignal.get(signal) === e) this.bySignal.delete(signal);
      for (const x of hooks) {
        try { x.handleEvent(); } catch (err) { queueMicrotask(() => { throw err; }); } // (one hook's failure does not keep the others waiting)
      }
      hooks.clear();
    };
    const e: Entry = { fire, hooks };
    // registered (and `h` in it) before the listener: a signal that aborts while its listener
    // is added (one that calls it at once) runs `h` then
    this.bySignal.set(signal, e);
    try {
      signal.addEventListener('abort', fire, { once: true });
    } catch (err) {
      if (this.bySignal.get(signal) === e) this.bySignal.delete(signal);
      throw new BusError(A.EINVAL, op, `signal must be an AbortSignal that takes an 'abort' listener: its addEventListener threw (${err instanceof Error ? err.message : String(err)})`, 0, { cause: err });
    }
  }

  /** `h` no longer waits: the last hook of a signal removes its listener. */
  unwatch(signal: AbortSignal, h: AbortHook): void {
    const e = this.bySignal.get(signal);
    if (e === undefined || !e.hooks.delete(h) || e.hooks.size !== 0) return;
    this.bySignal.delete(signal);
    // a duck-typed signal whose removeEventListener throws must not fail the wait that is
    // handing over what it took (before stop 42 the error escaped there: recvAsync rejected
    // with it and its message was lost, a listener's done never settled; an outside audit).
    // Its listener may stay registered: once the entry is gone, its fire finds no hooks.
    try { signal.removeEventListener('abort', e.fire); } catch { /* the signal's own failure: nothing of ours is left to undo */ }
  }
}

/** This thread's hooks (a module instance per thread): every wait of the library registers here. */
export const abortHooks = new AbortHooks();
