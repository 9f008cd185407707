// reason: how the core reports a failure. Every path that returns -errno goes through
// fail(): beside the errno, it writes the R_* reason (js/shared/abi.ts) naming the rule
// that failed, and a number that goes with it, into the caller's thread slot
// (THREAD_REASON, THREAD_REASON_ARG), where the host reads them to build its message.
// The words are the thread's own: plain stores, never logged, never undone.
import * as A from "../js/shared/abi";
import { st32, inMemory, THREAD } from "./mem";

/** Report `reason` (with `arg`) for the calling thread and return -errno. */
export function failArg(errno: i32, reason: i32, arg: u32): i32 {
  const t = THREAD;
  if (t != 0) {
    st32(t + A.THREAD_REASON, u32(reason));
    st32(t + A.THREAD_REASON_ARG, arg);
  }
  return -errno;
}

/** Report `reason` for the calling thread and return -errno. */
export function fail(errno: i32, reason: i32): i32 {
  return failArg(errno, reason, 0);
}

/**
 * Report for a command at `cmd` run before any thread has joined (BUS_MAKE): the words at
 * the same distance before its command area, when that lies in the memory above RESERVED_END.
 */
export function failAt(cmd: u32, errno: i32, reason: i32, arg: u32): i32 {
  if (cmd >= u32(A.RESERVED_END + A.THREAD_CMD)) {
    const p = cmd - (A.THREAD_CMD - A.THREAD_REASON);
    if (inMemory(p, 8)) {
      st32(p, u32(reason));
      st32(p + 4, arg);
    }
  }
  return -errno;
}
