// update: UPDATE (kdbus KDBUS_CMD_UPDATE) for an ordinary connection: change either attach
// mask. Items ATTACH_FLAGS_SEND / ATTACH_FLAGS_RECV ({ hdr; u64 flags }), each at most once;
// a mask not given is kept. The masks are read by SEND without a lock, so a change applies
// from the next message on (a message being sent keeps the masks it read).
import * as A from "../js/shared/abi";
import { ld32, st64, THREAD } from "./mem";
import { wr64, logCommit } from "./journal";
import { lockTry, unlock } from "./lock";
import { connSlot, connLive, cmdCheck, attachMask } from "./conn";
import { itemSize, itemType, align8 } from "./items";
import { threadCmd } from "./thread";
import { fail, failArg } from "./reason";

/** UPDATE: 0, or -errno with nothing changed. */
export function update(slot: u32, gen: u32): i32 {
  const ci = connSlot(slot);
  if (ci < 0) return ci;
  const c = u32(ci);
  if (ld32(THREAD + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  const cmd = threadCmd();
  const r = cmdCheck(cmd, A.UPDATE_CMD_SIZE, 0);
  if (r < 0) return r;
  const end = cmd + ld32(cmd + A.CMD_SIZE);
  let send: i32 = -1, recv: i32 = -1;
  for (let p = cmd + A.UPDATE_CMD_SIZE; p < end;) {
    const size = itemSize(p, end);
    if (size == 0) return fail(A.EINVAL, A.R_ITEM_MALFORMED);
    const type = itemType(p);
    if (type == A.ITEM_ATTACH_FLAGS_SEND || type == A.ITEM_ATTACH_FLAGS_RECV) {
      if (size != u32(A.ATTACH_ITEM_SIZE)) return failArg(A.EINVAL, A.R_UPDATE_ATTACH_ITEM, type);
      const m = attachMask(p + A.ITEM_HDR);
      if (type == A.ITEM_ATTACH_FLAGS_SEND) {
        if (send >= 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, type);
        // an activator sends nothing, so it has no send mask to change (kdbus)
        if ((ld32(c + A.CONN_FLAGS) & A.HELLO_ACTIVATOR) != 0) return fail(A.EOPNOTSUPP, A.R_UPDATE_ACTIVATOR_SEND);
        if (m < 0) return fail(A.EINVAL, A.R_UPDATE_ATTACH_SEND);
        send = m;
      } else {
        if (recv >= 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, type);
        if (m < 0) return fail(A.EINVAL, A.R_UPDATE_ATTACH_RECV);
        recv = m;
      }
    } else if (type == A.ITEM_NAME) {
      return failArg(A.EOPNOTSUPP, A.R_UPDATE_POLICY, type);
    } else return failArg(A.EINVAL, A.R_ITEM_UNKNOWN, type);
    p += align8(size);
  }
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  if (!lockTry(c + A.CONN_LOCK)) return A.WOULDBLOCK;
  let ret = 0;
  if (!connLive(c, gen)) ret = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  else {
    if (send >= 0) wr64(c + A.CONN_ATTACH_SEND, u32(send), 0);
    if (recv >= 0) wr64(c + A.CONN_ATTACH_RECV, u32(recv), 0);
  }
  logCommit();
  unlock(c + A.CONN_LOCK);
  return ret;
}
