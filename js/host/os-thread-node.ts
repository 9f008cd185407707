// os-thread-node: Node's reads for os-thread.ts (node:fs; the browser build swaps in
// os-thread-none.ts, scripts/host-swap.mjs).
import { existsSync, readlinkSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import { tidOfLink, type OsThreads } from './os-thread.ts';
import { LIVENESS_WORKER_NONE } from '../shared/abi.ts';

export function nodeOsThreads(): OsThreads | null {
  // (Node's permission model throws on a read it does not allow, existsSync too: then nothing
  // is known, as without /proc; it made Bus.create fail with ERR_ACCESS_DENIED: an outside audit)
  try {
    if (!existsSync('/proc/self/task')) return null;
  } catch {
    return null;
  }
  return {
    self: () => { try { return tidOfLink(readlinkSync('/proc/thread-self')); } catch { return 0; } },
    exists: (tid) => existsSync(`/proc/self/task/${tid}`),
  };
}

/** This thread's node:worker_threads threadId + 1 (1: the main thread), Node's and Deno's; LIVENESS_WORKER_NONE in a Deno web Worker; 0 when not known. */
export function workerThreadId(): number {
  // (a Deno web Worker reads node:worker_threads' isMainThread true and threadId 0, as its
  // main thread does: it is no worker_threads thread, LIVENESS_WORKER_NONE, which no Worker's
  // threadId + 1 equals: a watch of a Worker never takes its slot for that Worker's. Recorded as "not
  // known" (0), its slot was recovered, the web Worker alive: an outside audit, stop 50)
  const g = globalThis as { WorkerGlobalScope?: unknown };
  if (isMainThread && typeof g.WorkerGlobalScope === 'function' && globalThis instanceof (g.WorkerGlobalScope as new () => object)) return LIVENESS_WORKER_NONE;
  return typeof threadId === 'number' && Number.isInteger(threadId) && threadId >= 0 && threadId < 0xffffffff ? threadId + 1 : 0;
}
