// conn: the connection table: a (slot, gen) handle's connection, lookup by id, and the checks
// every command's header goes through. HELLO is hello.ts's, BYEBYE and closing byebye.ts's.
import * as A from "../js/shared/abi";
import { ld32, THREAD } from "./mem";
import { busConns, busNConns } from "./bus";
import { fail, failArg } from "./reason";
import { idFind } from "./idtable";

export function connAddr(slot: u32): u32 {
  return busConns() + slot * A.CONN_SIZE;
}

/** The connection slot behind a handle, or -EBADF (not joined, or out of range). */
export function connSlot(slot: u32): i32 {
  if (THREAD == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  if (slot >= busNConns()) return failArg(A.EBADF, A.R_BAD_HANDLE, busNConns());
  return i32(connAddr(slot)); // the connection table lies below 2 GiB (BUS_MAKE's bounds)
}

/** Is the handle's connection still open? (check it again once its lock is held) */
export function connLive(c: u32, gen: u32): bool {
  return ld32(c + A.CONN_STATE) == A.CONN_ACTIVE && ld32(c + A.CONN_GEN) == gen;
}

/** The connection behind a (slot, gen) handle, or -EBADF / -ECONNRESET (unlocked look). */
export function connGet(slot: u32, gen: u32): i32 {
  const c = connSlot(slot);
  if (c < 0) return c;
  return connLive(u32(c), gen) ? c : fail(A.ECONNRESET, A.R_CONN_CLOSED);
}

/**
 * Find an active connection by its 64-bit id; 0 if none. O(1) through the id table, with no
 * lock held: check its state and id again under its lock.
 */
export function connById(lo: u32, hi: u32): u32 {
  return idFind(lo, hi);
}

/** attach mask: ~0 means ALL; bits outside ALL are invalid (-1). */
export function attachMask(p: u32): i32 {
  const lo = ld32(p), hi = ld32(p + 4);
  if (lo == 0xffffffff && hi == 0xffffffff) return A.ATTACH_ALL;
  if (hi != 0 || (lo & ~A.ATTACH_ALL) != 0) return -1;
  return i32(lo);
}

/** Validate a command header: 0, or -EMSGSIZE / -EINVAL. */
export function cmdCheck(cmd: u32, minSize: u32, allowedFlags: u32): i32 {
  const lo = ld32(cmd + A.CMD_SIZE);
  if (ld32(cmd + A.CMD_SIZE + 4) != 0 || lo > u32(A.CMD_MAX)) return failArg(A.EMSGSIZE, A.R_CMD_TOO_LARGE, A.CMD_MAX);
  if (lo < minSize) return failArg(A.EINVAL, A.R_CMD_TOO_SMALL, minSize);
  if (ld32(cmd + A.CMD_FLAGS + 4) != 0 || (ld32(cmd + A.CMD_FLAGS) & ~allowedFlags) != 0) return failArg(A.EINVAL, A.R_CMD_FLAGS, allowedFlags);
  return 0;
}
