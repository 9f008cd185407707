// os-thread-node: Node's reads for os-thread.ts (node:fs; the browser build swaps in
// os-thread-none.ts, scripts/host-swap.mjs).
import { existsSync, readlinkSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import { tidOfLink, type OsThreads } from './os-thread.ts';

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

/** This thread's node:worker_threads threadId + 1 (1: the main thread), Node's and Deno's; 0 when there is none. */
export function workerThreadId(): number {
  // (a Deno web Worker reads node:worker_threads' isMainThread true and threadId 0, as its
  // main thread does: not known there)
  const g = globalThis as { WorkerGlobalScope?: unknown };
  if (isMainThread && typeof g.WorkerGlobalScope === 'function' && globalThis instanceof (g.WorkerGlobalScope as new () => object)) return 0;
  return typeof threadId === 'number' && Number.isInteger(threadId) && threadId >= 0 && threadId < 0xffffffff ? threadId + 1 : 0;
}
