// reason: how the core reports a failure. Every path that returns -errno goes through
// fail(): beside the errno, it writes the R_* reason (js/shared/abi.ts) naming the rule
// that failed, and a number that goes with it, into the caller's thread slot
// (THREAD_REASON, THREAD_REASON_ARG), where the host reads them to build its message.
// The words are the thread's own: plain stores, never logged, never undone.
import * as A from "../js/shared/abi";
import { st32, THREAD } from "./mem";

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
 * A failure of a thread whose slot is no longer its own (declared dead, recovered, maybe joined
 * by another thread): -errno, nothing written there (the host words it: its thread recovered).
 */
export function failGone(errno: i32): i32 {
  return -errno;
}

/**
 * Report for BUS_MAKE, run before any thread has joined: the words of thread slot 0, before
 * the command area its command lies in (A.MAKE_CMD_AREA; make.ts checks that first). Before
 * stop 41 they went at the same distance before any `cmd`, which for a command elsewhere was
 * the module's static data or a table of the bus (an outside audit).
 */
export function failAt(errno: i32, reason: i32, arg: u32): i32 {
  const p: u32 = A.MAKE_CMD_AREA - (A.THREAD_CMD - A.THREAD_REASON);
  st32(p, u32(reason));
  st32(p + 4, arg);
  return -errno;
}
