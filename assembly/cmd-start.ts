// cmd-start: the start that RECV, FREE and BYEBYE share (commands on one connection that take
// no items), in KDBUS.md's check order.
import * as A from "../js/shared/abi";
import { ld32, THREAD } from "./mem";
import { fail, failArg } from "./reason";
import { threadCmd } from "./thread";
import { replyTick } from "./reply";
import { connSlot, cmdCheck } from "./conn";

/**
 * The start RECV, FREE and BYEBYE share (commands on one connection that take no items), in
 * KDBUS.md's check order: the handle's slot (EBADF), no send of this thread waiting for its
 * commit (EINPROGRESS), the reply deadlines ticked, then the command struct: cmdCheck
 * against `size` and `flags`, and exactly `size` bytes (EINVAL R_CMD_ITEMS: no items).
 * Returns the connection's address, or -errno. Its liveness (ECONNRESET) is the caller's to
 * check, under its lock.
 */
export function itemlessCmdStart(slot: u32, size: u32, flags: u32, tailFlag: u32 = 0): i32 {
  const c = connSlot(slot);
  if (c < 0) return c;
  if (ld32(THREAD + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  const r = replyTick();
  if (r < 0) return r;
  const cmd = threadCmd();
  const k = cmdCheck(cmd, size, flags);
  if (k < 0) return k;
  // no items (with `tailFlag` set, a tail that the caller checks: RECV_BATCH's entries)
  if (ld32(cmd + A.CMD_SIZE) != size && (ld32(cmd + A.CMD_FLAGS) & tailFlag) == 0) return failArg(A.EINVAL, A.R_CMD_ITEMS, size);
  return c;
}
