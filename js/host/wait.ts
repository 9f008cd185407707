// wait: the host side of wake-ups. A receiver sleeps on its connection's wake word (the core
// adds 1 and notifies after it publishes a message into the queue). Event-loop threads wait
// with Atomics.waitAsync, threads that may block with Atomics.wait; the core itself never
// waits (docs/RUNTIMES.md, "Waiting": Node 20's Liftoff and wasm wait32).
//
// Keep-alive: a pending Atomics.waitAsync does not keep a Node or Deno thread alive (checked on
// Node 20 and Deno 2.9, main thread and worker_threads). While at least one wait that wants it
// is pending, this thread holds one ref'd interval timer; with none pending it holds nothing.

let holds = 0;
let timer: ReturnType<typeof setInterval> | undefined;
const noop = () => {};

/** Take one keep-alive hold (the first one starts the timer). */
export function hold(): void {
  if (holds++ === 0) timer = setInterval(noop, 0x3fffffff); // ~12 days; never fires in practice
}

/** Give one keep-alive hold back (the last one stops the timer). */
export function release(): void {
  if (holds <= 0) return;
  if (--holds === 0) {
    clearInterval(timer);
    timer = undefined;
  }
}

/** Keep-alive holds of this thread (for tests and diagnostics). */
export function keepAliveHolds(): number {
  return holds;
}

export function now(): number {
  return performance.now();
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsyncFn = (a: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
const waitAsyncFn: WaitAsyncFn | undefined = (Atomics as unknown as { waitAsync?: WaitAsyncFn }).waitAsync;

/** Poll interval (ms) of the fallback for runtimes without Atomics.waitAsync. */
const POLL_MS = 4;

/**
 * Resolve when i32[index] is no longer `expected` (or may not be: spurious wake-ups are
 * allowed, the caller re-checks), or after `timeout` ms. Never rejects.
 */
export function waitWord(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): Promise<void> {
  if (waitAsyncFn) {
    // counted as a sleeper from before the wait until after it: publishers notify only then
    Atomics.add(i32, sleepers, 1);
    const r = waitAsyncFn(i32, index, expected, timeout === Infinity ? undefined : Math.max(0, timeout));
    if (!r.async) {
      Atomics.sub(i32, sleepers, 1);
      return Promise.resolve();
    }
    return r.value.then(() => { Atomics.sub(i32, sleepers, 1); });
  }
  // no Atomics.waitAsync (older Firefox): poll the word with timers
  return new Promise((resolve) => {
    const end = now() + timeout;
    const tick = () => {
      if (Atomics.load(i32, index) !== expected || now() >= end) resolve();
      else setTimeout(tick, Math.min(POLL_MS, Math.max(0, end - now())));
    };
    tick();
  });
}

/**
 * Block until i32[index] is no longer `expected`, or `timeout` ms. Returns false when this
 * thread may not block (a browser main thread refuses Atomics.wait).
 */
export function waitWordBlocking(i32: Int32Array, index: number, expected: number, timeout: number, sleepers: number): boolean {
  Atomics.add(i32, sleepers, 1);
  try {
    Atomics.wait(i32, index, expected, timeout === Infinity ? undefined : Math.max(0, timeout));
    return true;
  } catch (err) {
    if (err instanceof TypeError) return false;
    throw err;
  } finally {
    Atomics.sub(i32, sleepers, 1);
  }
}

/** Wake every waiter on i32[index] after changing it (they re-check and wait again). */
export function bump(i32: Int32Array, index: number): void {
  Atomics.add(i32, index, 1);
  Atomics.notify(i32, index);
}
