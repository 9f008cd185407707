// owed: the export through which the host starts, pays and ends a batch's deferred wakes
// (bus.batch; abi.ts, THREAD_DEFER). The core records them (lock.ts, wakeConn) and pays them
// (lock.ts, payOwed); the host only says when (js/host/owed.ts).
import * as A from "../js/shared/abi";
import { THREAD } from "./mem";
import { payOwed } from "./lock";
import { threadOurs } from "./thread";
import { fail } from "./reason";

/**
 * owed_pay(defer): notify what this thread owes now, and set its defer word to `defer` (1: a
 * batch begins, or goes on after a wait inside it paid; 0: it ends). No lock: the words are
 * the thread's own, and a notify needs none. 0, -EBADF when the thread has not joined, or
 * -ESRCH when its slot is no longer its own (recovered).
 */
export function owedPay(defer: u32): i32 {
  if (THREAD == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  // a slot recovered (maybe joined again with the same token: its join generation tells) is
  // not this thread's: its defer word and owed wakes are the joiner's (stop 65)
  if (!threadOurs(THREAD)) return fail(A.ESRCH, A.R_THREAD_RECOVERED);
  payOwed(THREAD, defer != 0 ? 1 : 0);
  return 0;
}
