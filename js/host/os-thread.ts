// os-thread: has that thread of this process stopped? For a recovery whose death signal may
// come before the dying thread stops (Deno's node:worker_threads emits 'exit' about 0.4 ms
// after terminate(), and a terminated Deno worker runs on until its next event-loop turn).
//
// A thread that joins a bus writes its OS thread id (Linux: the tid of /proc/thread-self) into
// its slot's entry of the liveness table (abi.ts, LIVENESS_OS_THREAD). A recovery that finds
// the dying thread inside a command (a lock held, a send window open) asks whether
// /proc/self/task/<tid> still exists: while it does, the thread runs (or is runnable: the OS
// has not given it a core back yet) and will leave that command, so the recovery waits for it
// (up to RECOVER_RUNNING_MS); once it does not, the thread has stopped, and the recovery needs
// no wait at all. Where /proc cannot be read (not Linux, a browser, Deno without -A) nothing
// is known, and recovery keeps its RECOVER_BUSY_MS wait (engine.ts, force).
//
// Measured here (stop 31, Linux, Node 20.20.2, Deno 2.9.6): a Node worker's tid is gone with its
// 'exit' (6 ms after terminate()); a Deno node:worker_threads worker busy for 300 ms when
// terminated emits 'exit' at 0.6 ms, finishes its busy JavaScript, and its tid goes at 285 ms.

import { denoGranted } from './deno-granted.ts';

/** A runtime's reads of /proc for this module (js/host/os-thread-node.ts; Deno's below). */
export interface OsThreads {
  /** the calling thread's OS thread id; 0 when it cannot be read */
  self(): number;
  /** does thread `tid` of this process still exist? null: cannot tell */
  exists(tid: number): boolean | null;
}

let impl: OsThreads | null | undefined;

/** Has a runtime's reader been chosen (useOsThreads)? */
export function osThreadsChosen(): boolean { return impl !== undefined; }

/** Use `x` (null: this runtime has none) from now on, for every bus of this thread. */
export function useOsThreads(x: OsThreads | null): void { impl = x; }

/** this thread's node:worker_threads threadId + 1 (0: not known; -1: not read yet), set once (useWorkerThread) */
let worker = -1;

/** This thread's node:worker_threads threadId + 1 (1: a main thread; 0: not known, as in a browser). */
export function useWorkerThread(id: number): void { worker = id; }

/** What useWorkerThread set: this thread's worker_threads id + 1, 0 (not known), or -1 (not read yet). */
export function workerThread(): number { return worker; }

/** this thread's own id, once read (a module instance is one thread's: a realm) */
let own = -1;

/** The calling thread's OS thread id (0: not known). */
export function osThreadId(): number {
  if (own < 0 && impl !== undefined) {
    try { own = impl?.self() ?? 0; } catch { own = 0; }
  }
  return own < 0 ? 0 : own;
}

/**
 * Does OS thread `tid` (0: unknown) of this process still exist? null: cannot tell, and for
 * the calling thread itself (a second Bus.join on one thread: that "thread" runs nothing while
 * this one runs a recovery, so its existence says nothing about it).
 */
export function osThreadExists(tid: number): boolean | null {
  if (tid === 0 || !impl || tid === osThreadId()) return null;
  try { return impl.exists(tid); } catch { return null; }
}

/** The tid in readlink('/proc/thread-self') ("<pid>/task/<tid>"), or 0. */
export function tidOfLink(link: string | null): number {
  const m = link === null ? null : /\/task\/(\d+)$/.exec(link);
  const n = m ? Number(m[1]) : 0;
  return Number.isInteger(n) && n > 0 && n <= 0xffffffff ? n : 0;
}

declare const Deno: {
  readLinkSync(path: string): string;
  statSync(path: string): unknown;
};

/** Deno's permissions; all of them granted is -A */
const ALL = ['read', 'write', 'net', 'env', 'sys', 'run', 'ffi'];
let allAccess: boolean | undefined;

/**
 * Does this Deno process have all access (-A)? Deno 2.9 opens /proc only then ("Requires all
 * access"), and a read it does not allow asks the terminal, when there is one, rather than
 * failing: the permissions are queried first (deno-granted.ts), so that a read of
 * /proc is made only where it can succeed (an outside audit, stop 31: Bus.create without -A
 * in a terminal stopped at 13 permission prompts).
 */
export function denoAllAccess(): boolean {
  if (allAccess === undefined) allAccess = ALL.every((name) => denoGranted({ name }));
  return allAccess;
}

/** Deno's reads (its global API; refused without -A: then nothing is known). */
export function denoOsThreads(): OsThreads | null {
  if (!denoAllAccess()) return null;
  let tasks = false;
  try { Deno.statSync('/proc/self/task'); tasks = true; } catch { /* no /proc, or no permission */ }
  if (!tasks) return null;
  return {
    self: () => { try { return tidOfLink(Deno.readLinkSync('/proc/thread-self')); } catch { return 0; } },
    exists: (tid) => {
      try { Deno.statSync(`/proc/self/task/${tid}`); return true; } catch (err) {
        return (err as { name?: string })?.name === 'NotFound' ? false : null;
      }
    },
  };
}
