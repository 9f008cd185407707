// os-thread-node: Node's reads for os-thread.ts (node:fs; the browser build swaps in
// os-thread-none.ts, scripts/host-swap.mjs).
import { existsSync, readlinkSync } from 'node:fs';
import { tidOfLink, type OsThreads } from './os-thread.ts';

export function nodeOsThreads(): OsThreads | null {
  if (!existsSync('/proc/self/task')) return null;
  return {
    self: () => { try { return tidOfLink(readlinkSync('/proc/thread-self')); } catch { return 0; } },
    exists: (tid) => existsSync(`/proc/self/task/${tid}`),
  };
}
