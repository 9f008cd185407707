// fair: the thread's event loop gets its turns while the bus's waits resolve one another.
//
// A wait parked in Atomics.waitAsync resolves when its word is notified. Across threads
// that resolution is a task of the event loop, and timers and I/O run between such tasks.
// On Node (20), a wait notified by its own thread (a caller and its service on one thread, a
// ping-pong of two connections) resolves in the platform's task queue, which Node drains
// without going back to its timers: a same-thread ping-pong of call()s or recvAsync()s ran
// for as long as it lasted (200 000 round trips, 9 s) while a 10 ms timer waited (outside
// audit, stop 20; Deno and the browsers resolve each in a task of their own).
//
// So every resolution of a parked wait is counted here (waitResolved). Resolutions that come
// less than FAIR_MS / 2 apart are a chain; once a chain has lasted FAIR_MS / 2, one
// macrotask is armed (a probe: setImmediate where there is one); when the loop runs it,
// the chain starts over. A probe still not run FAIR_MS after it was armed means the loop is
// held: the waits that resolve from then on yield a macrotask (yieldTurn) before they go on,
// which lets the loop reach its timers. A thread whose waits resolve slowly (100 messages
// per second: 10 ms apart) never arms a probe; a fast stream between threads arms one every
// FAIR_MS / 2 at most, which runs at once.
const now = (): number => performance.now();

/** how long (ms) a thread's own wake-ups may keep its event loop from its timers, about */
export const FAIR_MS = 10;

/** the last resolution of a parked wait, and when its chain began (ms, now()) */
let lastAt = -Infinity;
let chainAt = -Infinity;
/** when the probe now pending was armed, or -1 */
let probeAt = -1;

const probed = (): void => {
  probeAt = -1;
  chainAt = now();
};

/**
 * A parked wait resolved at `t`: should it yield a macrotask before it goes on (the loop
 * held past FAIR_MS by such resolutions)? Allocation-free but for the probe it may arm.
 *
 * `step`: not a wait's resolution but a receive that went on in the same task (a message
 * found queued, a reply the spin caught, replies the reply pump took): a gap since the last
 * one says nothing of the loop then, so it does not start a new chain. (It did until stop 58:
 * a page keeping 100 call()s in flight to a worker ran microtask chains of 50–390 ms, each of
 * its steps 5–6 ms after the last one, young collections of 13–20 ms among them: every gap
 * started the chain over and no probe was ever armed.) A step after a quiet spell arms the
 * probe at once: one macrotask per step at most, for steps more than FAIR_MS / 2 apart.
 */
export function waitResolved(t: number, step = false): boolean {
  if (!step && t - lastAt > FAIR_MS / 2) chainAt = t;
  lastAt = t;
  if (probeAt >= 0) return t - probeAt >= FAIR_MS;
  if (t - chainAt >= FAIR_MS / 2) {
    probeAt = t;
    void yieldTurn().then(probed);
  }
  return false;
}

/**
 * Receives that resolved at once with a queued message (recvAsync, a `for await` step): no
 * wait parked, so nothing above saw them, and a loop of them under a sustained flood never
 * went back to the event loop (a microtask each): with a handler of 20 µs a message, a
 * `for await` or `recvAsync()` loop on a page's main thread held its timers for the whole
 * 2 s flood (an outside audit, stop 30; `conn.listen` yields every DRAIN_MS on its own). They
 * join the chain of waitResolved: the clock is read every STEP_EVERY of them while they come
 * fast (every one when they are slow), so a loop that holds the event loop past FAIR_MS makes
 * its receives yield a macrotask (yieldTurn) until the loop has run. Allocation-free.
 */
let steps = 0;
let stepEvery = 1;
let stepAt = -Infinity;
/** immediate receives between clock reads while STEP_EVERY of them take under STEP_SLOW_MS (ms) */
const STEP_EVERY = 16;
const STEP_SLOW_MS = 0.25;

/** An immediate receive was handed over: should the receiver yield a macrotask (now, or before its next step)? */
export function stepResolved(): boolean {
  if (++steps < stepEvery) return false;
  steps = 0;
  const t = now();
  stepEvery = t - stepAt > STEP_SLOW_MS ? 1 : STEP_EVERY;
  stepAt = t;
  return waitResolved(t, true);
}

/**
 * One macrotask: setImmediate (Node, Deno); in a browser, which has none, a message to
 * ourselves through a MessageChannel (a browser clamps a chain of setTimeout(0) to 4 ms from
 * its fifth link, which under a flood left a 2 ms turn waiting 4 ms: a listener with a 3 µs
 * handler got a fifth of its rate, docs/BENCHMARKS.md); setTimeout 0 elsewhere. The channel is
 * made on first use, one per thread; its port resolves the oldest yield first. (Not where
 * setImmediate exists: in Deno, port messages starve timers, and an open port keeps the
 * process alive.)
 *
 * The message makes two hops: Chromium queues a timer that fell due during a long task
 * only when it picks the next task, behind the tasks posted during that task, such as this
 * yield; a yield of one hop then ran the bus's next turn before the timer, which waited for
 * the turn after (a page keeping 100 calls in flight: its 4 ms interval late by about twice
 * the chain, 30–40 ms; stop 58). The first hop's task only posts the second, which the timer,
 * queued by then, goes before.
 */
export const yieldTurn: () => Promise<void> = typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
  ? immediateYield((globalThis as unknown as { setImmediate: (f: () => void) => void }).setImmediate)
  : typeof MessageChannel === 'function' ? channelYield() : () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * Two immediates, one after the other: Node runs the immediates queued during its poll phase
 * (where the wake-ups of Atomics.waitAsync arrive) in the check phase of that same turn, before
 * its timers phase, so a chain that ran in the poll phase and yielded one immediate went on
 * for a second chain before the timers ran (100 calls in flight: a 1 ms interval's longest
 * gaps 26-40 ms all along, two chains; stop 58). An immediate queued by an immediate waits for
 * the next turn, timers first.
 */
function immediateYield(setImmediate: (f: () => void) => void): () => Promise<void> {
  return () => new Promise<void>((r) => setImmediate(() => setImmediate(r)));
}

function channelYield(): () => Promise<void> {
  let port: { postMessage(v: number): void } | null = null;
  const first: (() => void)[] = [];
  const second: (() => void)[] = [];
  return () => new Promise<void>((r) => {
    if (port === null) {
      const ch = new MessageChannel();
      const p2 = ch.port2;
      (ch.port1 as unknown as { onmessage: (e: { data: number }) => void }).onmessage = (e) => {
        if (e.data === 1) { second.push(first.shift()!); p2.postMessage(2); }
        else second.shift()!();
      };
      port = p2;
    }
    first.push(r);
    port.postMessage(1);
  });
}
