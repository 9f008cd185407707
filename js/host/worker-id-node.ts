// worker-id-node: this thread's node:worker_threads id (LIVENESS_WORKER), Node's and Deno's,
// in a module of its own: under Deno, os-thread-node.ts's node:fs import blocked a thread's
// first Bus.create / Bus.join about 30 ms (Deno's Node layer evaluating node:fs; Deno reads
// its OS thread ids with its own API), node:worker_threads alone 2-9 ms (stop 54). The
// browser build swaps in os-thread-none.ts (scripts/host-swap.mjs).
import { isMainThread, threadId } from 'node:worker_threads';
import { LIVENESS_WORKER_NONE } from '../shared/abi.ts';

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
