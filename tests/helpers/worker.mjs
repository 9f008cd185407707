// Bootstrap of a Node worker_threads test worker whose entry is TypeScript: Node 20 cannot
// load .ts in a Worker, not even under `node --import tsx` (TOOLCHAIN.md §7), so register
// tsx's ESM hooks in the worker itself, then import the entry (workerData.entry).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
