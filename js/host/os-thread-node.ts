// os-thread-node: Node's reads for os-thread.ts (node:fs; the browser build swaps in
// os-thread-none.ts, scripts/host-swap.mjs). The worker id is worker-id-node.ts's.
import { existsSync, readlinkSync } from 'node:fs';
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
