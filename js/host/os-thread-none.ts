// os-thread-none: the browser build's stand-in for os-thread-node.ts (scripts/host-swap.mjs):
// no node: module in the browser graph, and no OS thread to ask about there.
import type { OsThreads } from './os-thread.ts';

export function nodeOsThreads(): OsThreads | null {
  return null;
}

/** No worker_threads in the browser: not known. */
export function workerThreadId(): number {
  return 0;
}
