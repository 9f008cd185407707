// keepalive: what keeps this thread alive while a receive (or a call, a sendAsync) that wants
// it is pending. A pending Atomics.waitAsync does not keep a Node or Deno thread alive
// (checked on Node 20 and Deno 2.9, main thread and worker_threads), so while at least one
// such wait is pending, this thread holds one ref'd interval timer; with none pending it
// holds nothing (a worker with nothing else to do exits by itself).
//
// The timer is made once and then only ref'd and unref'd (Node's and Deno's Timeout objects
// have ref()/unref(): a flag and a libuv handle ref, no allocation and no timer-list work).
// Creating and clearing an interval for every wait, as before, cost a Timeout object and the
// timer lists' insert and remove on each parked receive: a measurable part of the CPU per
// message at 100 messages/s. Where timers have no ref()/unref() (browsers, whose threads do
// not exit by themselves anyway), the interval is created on the first hold and cleared on
// the last release.

/** The interval of the keep-alive timer (~12 days): it never fires in practice, and does nothing when it does. */
const PERIOD_MS = 0x3fffffff;
const noop = () => {};

interface Refable { ref(): unknown; unref(): unknown }
const refable = (t: unknown): t is Refable =>
  typeof t === 'object' && t !== null && typeof (t as Refable).ref === 'function' && typeof (t as Refable).unref === 'function';

let holds = 0;
/** times the first hold took the timer (ref'd it, or made it), for tests and diagnostics */
let takes = 0;
/** the interval while held (or, with ref()/unref(), made once and kept, unref'd when not held) */
let timer: ReturnType<typeof setInterval> | undefined;

/** Take one keep-alive hold (the first one refs the timer). */
export function hold(): void {
  if (holds++ !== 0) return;
  takes++;
  if (timer === undefined) timer = setInterval(noop, PERIOD_MS);
  else if (refable(timer)) timer.ref();
}

/** Give one keep-alive hold back (the last one unrefs the timer). */
export function release(): void {
  if (holds <= 0) return;
  if (--holds !== 0) return;
  if (refable(timer)) timer.unref();
  else {
    clearInterval(timer);
    timer = undefined;
  }
}

/** Keep-alive holds of this thread (for tests and diagnostics). */
export function keepAliveHolds(): number {
  return holds;
}

/** Times this thread's keep-alive timer was taken (ref'd or made) by a first hold (for tests and diagnostics). */
export function keepAliveTakes(): number {
  return takes;
}
