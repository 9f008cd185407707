// watch-exit: what bus.watch(worker, handle) does when its worker's 'exit' comes (js/bus.ts
// listens): whose slot holds the handle's token (this worker's, by its node:worker_threads
// threadId in the liveness table, LIVENESS_WORKER; another worker's; none yet), whether its
// OS thread still runs, whether a thread with the token left since the watch began, and then
// recover it, look again, or resolve with nothing recovered. docs/API.md, "bus.watch".
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import type { Engine } from './engine.ts';
import { osThreadOf, workerThreadOf } from './engine.ts';
import { osThreadId, osThreadExists } from './host/os-thread.ts';
import type { WatchResult } from './bus.ts';

/** watch's and watchLock's tries of a recovery, and its looks at the longest: this far apart (ms; js/bus.ts) */
export const WATCH_RETRY_MS = 50;

/**
 * watch() under Node: how long a slot's OS thread may still be seen running after its
 * worker's 'exit' before the slot is taken for another thread's (one handle given to two
 * workers: nothing recovered, EBUSY). Node's 'exit' can come before the exiting thread is
 * gone: 1-10 ms later with three workers terminated at once (an outside audit, stop 43: the
 * watch took the dying worker's own slot for another thread's, 3-10 watches in 90, and its
 * slot, connections and names stayed). 2 s is two hundred times what was seen; the looks
 * come from the event loop, WATCH_EXIT_LOOK_MS apart at first, doubling to WATCH_RETRY_MS.
 */
const WATCH_EXIT_MS = 2000, WATCH_EXIT_LOOK_MS = 1;

/** A node:worker_threads Worker's threadId + 1 (0: not a number there, or unreadable: a stand-in emitter). */
export function workerIdOf(w: object): number {
  try {
    const id = (w as { threadId?: unknown }).threadId;
    return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < 0xffffffff ? id + 1 : 0;
  } catch {
    return 0;
  }
}

/** A Node worker_threads Worker that has exited (Node sets its threadId to -1 then; Deno's keeps it). */
export function nodeWorkerExited(w: object): boolean {
  if ((globalThis as { Deno?: unknown }).Deno) return false;
  try {
    return (w as { threadId?: unknown }).threadId === -1;
  } catch {
    return false;
  }
}

/**
 * Has this Deno node:worker_threads Worker exited? Deno keeps an exited Worker's threadId and
 * emits its 'exit' inside terminate(), so a watch called after that waited for an 'exit' that
 * never came again (documented as a gap until stop 51). Its cpuUsage() tells: it rejects with
 * ERR_WORKER_NOT_RUNNING once the worker has exited (terminated, process.exit, an uncaught
 * error) and resolves while it runs, and from its construction on (Deno 2.9.6, measured).
 * False where the method is missing or answers otherwise (a stand-in emitter; Node, whose
 * threadId says it: nodeWorkerExited).
 */
export async function denoWorkerExited(w: object): Promise<boolean> {
  if (!(globalThis as { Deno?: unknown }).Deno) return false;
  try {
    const usage = (w as { cpuUsage?: unknown }).cpuUsage;
    if (typeof usage !== 'function') return false;
    await (usage as () => unknown).call(w);
    return false;
  } catch (e) {
    return (e as { code?: unknown } | null)?.code === 'ERR_WORKER_NOT_RUNNING';
  }
}

/** What the exit handling needs of its Bus (bus.ts binds them). */
export interface WatchHost {
  engine: Engine;
  /** this Bus left the bus: the result for the worker (null: it has not) */
  afterLeft(token: number, op: string): { slot: -1; error?: BusError } | null;
  /** the thread slot holding `token`, or -1 */
  threadSlotOf(token: number): number;
  /** the left table's count of entries written */
  leftAt(): number;
  /** was `token` written into the left table since its count was `at0` */
  leftSince(token: number, at0: number): boolean;
  /** recoverThread from the event loop (watch's tries: EDEADLK and EALREADY tried again) */
  recoverFromLoop(token: number, stopped: boolean, since: number, retry: () => void, left0: number): { slot: number; error?: unknown } | null;
}

/**
 * The worker watched with `token` exited with `code`: `mine` is its threadId + 1 (0: not
 * known), `leftW` the left table's count when the watch began. Calls `resolve` once.
 */
export function onWorkerExit(host: WatchHost, token: number, mine: number, leftW: number, code: number, resolve: (r: WatchResult) => void): void {
  // Node's 'exit' comes after the thread stopped; Deno's emulation fires it before
  const stopped = !(globalThis as { Deno?: unknown }).Deno;
  const since = performance.now(), left0 = host.leftAt();
  let look = WATCH_EXIT_LOOK_MS;
  // no slot held the token at the exit: one that a thread of another id takes later is
  // a replacement that joined with the handle, never this worker's (Deno's looks, below)
  const slotAtExit = host.threadSlotOf(token) >= 0;
  const again = (): void => {
    setTimeout(attempt, look);
    look = Math.min(look * 2, WATCH_RETRY_MS);
  };
  const attempt = () => {
    const ended = host.afterLeft(token, 'watch');
    if (ended !== null) return resolve({ code, ...ended });
    const u32 = host.engine.u32, slot = host.threadSlotOf(token), waited = performance.now() - since;
    const tid = slot >= 0 ? osThreadOf(u32, slot) : 0, runs = tid !== 0 ? osThreadExists(tid) : null;
    let gone = stopped;
    const theirs = slot >= 0 && mine !== 0 ? workerThreadOf(u32, slot) : 0;
    // a slot that appeared during Deno's looks whose thread id is not written yet (a join
    // writes it right after it takes the slot): looked at again, never recovered on that
    // (an outside audit, stop 50: a look between the two recovered a live replacement,
    // 1 join in 100 to 500 of a pool's)
    if (!slotAtExit && slot >= 0 && mine !== 0 && theirs === 0 && waited < WATCH_EXIT_MS) return again();
    // a thread with this token left since the watch began and the slot is held again, and
    // no threadId says it is this worker's (a stand-in emitter has none): another worker
    // joined with the handle after it left, as far as can be told: nothing recovered
    // (through a stand-in, a live replacement was recovered under Deno, and Node said a
    // false EBUSY: an outside audit, stop 50)
    if (slot >= 0 && mine === 0 && host.leftSince(token, leftW)) return resolve({ code, slot: -1 });
    if (theirs !== 0 && theirs !== mine && !slotAtExit) {
      // under Deno's looks for a worker that had not joined at its exit: the slot that
      // appeared is another worker's, started with the same handle (a replacement):
      // this one never joined (it said EBUSY after 2 s before, an outside audit, stop 50)
      return resolve({ code, slot: -1 });
    }
    if (theirs !== 0 && theirs !== mine) {
      // the slot was joined by another worker_threads thread (LIVENESS_WORKER, since
      // stop 50): not this worker's. This worker left (or was recovered) since the watch
      // began, and another joined with the handle after it: nothing to do. Else it never
      // joined with the handle (one handle given to two workers: the second's Bus.join
      // failed with EBUSY): the slot's thread is recovered only once its OS thread is
      // seen gone (a nested worker that died with this one), never while it may run
      // (under Deno the watch recovered the first worker, alive, before: an outside audit)
      if (host.leftSince(token, leftW)) return resolve({ code, slot: -1 });
      if (runs === true && waited < WATCH_EXIT_MS) return again();
      if (runs !== false) {
        const whose = theirs === A.LIVENESS_WORKER_NONE ? 'not a worker_threads thread (a web Worker, say)' : `worker thread ${theirs - 1}`;
        const seen = runs === true ? `whose OS thread ${tid} still runs ${Math.round(waited)} ms after this worker exited`
          : tid !== 0 && tid === osThreadId() ? 'which is the watching thread' : 'whose OS thread cannot be seen';
        return resolve({ code, slot: -1, error: new BusError(A.EBUSY, 'watch', `thread slot ${slot}, which holds this handle's token, was joined by another thread (${whose}), not by this worker (worker thread ${mine - 1}), ${seen}: this worker never joined with this handle, or had left it before this watch began, or more threads left since than the left table holds (one handle given to two workers?); nothing recovered`) });
      }
      gone = true; // (its OS thread has ended: it is recovered, whoever it was)
    } else if (stopped && runs === true) {
      // Node's 'exit' comes as the worker's thread ends, sometimes a few ms before it is
      // gone (an outside audit, stop 43): a slot with this token whose OS thread is still
      // seen running is looked at again until it is gone, then recovered. One still
      // running WATCH_EXIT_MS after the exit is another thread's when nothing says it is
      // this worker's (no threadId to compare: a stand-in emitter; before stop 42 the
      // running worker was recovered and lost its connections and names): nothing
      // recovered. Once the ids say it is this worker's, it is recovered then, as a thread
      // not known to have stopped.
      if (waited < WATCH_EXIT_MS) return again();
      if (theirs !== mine || mine === 0) {
        return resolve({ code, slot: -1, error: new BusError(A.EBUSY, 'watch', `thread slot ${slot}, which holds this handle's token, is held by a thread still running (OS thread ${tid}) ${Math.round(waited)} ms after this worker exited: this worker never joined with this handle, or had left it before this watch began (one handle given to two workers?); nothing recovered`) });
      }
      gone = false;
    } else if (slot < 0 && !stopped && mine !== 0 && !host.leftSince(token, leftW)) {
      // Deno: no slot holds the token, and it did not leave since the watch began: the
      // worker never joined, or is still inside Bus.join (Deno's 'exit' comes before a
      // terminated worker stops, and it runs on to its next turn: it joined after the
      // watch had said "never joined", and stayed in the bus dead; an outside audit,
      // stop 50): looked at again for WATCH_EXIT_MS before it is taken as never joined.
      // Not for a stand-in emitter (no threadId): a slot that appears meanwhile could be a
      // replacement's, and a live replacement must not be recovered (an outside audit)
      if (waited < WATCH_EXIT_MS) return again();
      return resolve({ code, slot: -1 });
    }
    const r = host.recoverFromLoop(token, gone, since, attempt, left0);
    if (r !== null) resolve(r.error === undefined ? { code, slot: r.slot } : { code, slot: -1, error: r.error });
  };
  attempt();
}
