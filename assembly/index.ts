// wasmbus core: the module's exports, snake_case, each one core function (the twin's
// js/twin/index.ts exports the same functions under their camelCase names). No logic here.
export { busMake as bus_make } from "./bus";
export { threadJoin as thread_join, threadLeave as thread_leave } from "./thread";
export { hello, byebye } from "./conn";
export { send, sendCommit as send_commit, sendCancel as send_cancel } from "./send";
export { recv, free } from "./recv";
import { busLayout } from "./bus";
import * as A from "../js/shared/abi";

/** The layout this core was compiled for (the host checks it against its own). */
export function abi_fingerprint(): i32 {
  return A.ABI_FINGERPRINT;
}

/** End of the bus state for these limits, or 0 when it does not fit in 4 GiB. */
export function bus_layout(nThreads: u32, nConns: u32, poolMax: u32, nNames: u32,
  nMatches: u32, nReplies: u32, bloomSize: u32): u64 {
  return busLayout(nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloomSize, false);
}
export { recover, unwind } from "./recover";
