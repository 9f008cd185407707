// The TS twin engine's entry points: the same exports as assembly/index.ts, each binding
// the engine's memory and thread before running the core. No logic lives here.
export { busMake, busLayout } from './bus.ts';
export { threadJoin, threadLeave } from './thread.ts';
export { hello, byebye } from './conn.ts';
export { send, sendCommit, sendCancel } from './send.ts';
export { recv, free } from './recv.ts';
export { bind } from './mem.ts';
export type { HostImports } from './mem.ts';
export { recover, unwind } from './recover.ts';
