// wasmbus core: the module's exports, snake_case, each one core function. No logic here.
// The wasm build exports these; the twin's engine layer (js/twin/index.ts) calls the same
// names from the generated JavaScript core, converting its arguments as the wasm boundary does.
export { busMake as bus_make } from "./make";
export { threadJoin as thread_join, threadLeave as thread_leave, threadGen as thread_gen } from "./thread";
export { hello } from "./hello";
export { byebye } from "./byebye";
export { send, sendCommit as send_commit, sendCancel as send_cancel } from "./send";
export { sendAside as send_aside, sendResume as send_resume, sendAbandon as send_abandon } from "./aside";
export { recv, free } from "./recv";
export { recover, unwind } from "./recover";
export { matchAdd as match_add, matchRemove as match_remove } from "./match";
export { nameAcquireCmd as name_acquire, nameReleaseCmd as name_release } from "./name-cmd";
export { list } from "./list";
export { update } from "./update";
export { connInfo as conn_info, busCreatorInfo as bus_creator_info } from "./info";
export { hostCopy as mem_copy } from "./host-copy";
export { owedPay as owed_pay } from "./owed";
export { faultHooks as core_hooks } from "./journal";
import { busLayout } from "./bus";
import { ABI_FINGERPRINT } from "../js/shared/fingerprint";

/** The layout this core was compiled for: a hash of every constant of js/shared/abi.ts. */
export function abi_fingerprint(): u32 {
  return ABI_FINGERPRINT;
}

/** End of the bus state for these limits, or 0 when it does not fit in 4 GiB. */
export function bus_layout(nThreads: u32, nConns: u32, poolMax: u32, nNames: u32,
  nMatches: u32, nReplies: u32, bloomSize: u32): u32 {
  return busLayout(nThreads, nConns, poolMax, nNames, nMatches, nReplies, bloomSize, false);
}
