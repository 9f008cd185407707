// list: LIST (struct kdbus_cmd_list): the bus's connections and names, as kdbus_info records
// in a slice of the caller's pool (js/shared/abi.ts, "struct kdbus_info"), in connection
// slot order. Flags: UNIQUE (every connection, a bare record when nothing else lists it),
// NAMES (one record per primary name, with an OWNED_NAME item), QUEUED (one per queued
// owner record), ACTIVATORS (one per activator's owner record: its name). Monitors are never
// listed; an activator whose name is not listed is a bare UNIQUE record, as any connection. Sized in a first
// pass, written in a second, under the bus lock (the tables) and the caller's lock (its pool).
import * as A from "../js/shared/abi";
import { ld32, st64, copy, fill, THREAD } from "./mem";
import { logCommit } from "./journal";
import { lockTry, unlock, lockBusAndConn } from "./lock";
import { busNConns } from "./bus";
import { connAddr, connGet, connLive, cmdCheck } from "./conn";
import { align8 } from "./items";
import { poolAlloc, poolPublish, poolOffset } from "./pool";
import { namePrimary, ownerName, ownerNextOfConn, connFirstOwner, ownerIsActivator } from "./registry";
import { threadCmd } from "./thread";
import { fail, failArg } from "./reason";

const H: u32 = A.BUS_BASE;
const ALL: u32 = A.LIST_UNIQUE | A.LIST_NAMES | A.LIST_ACTIVATORS | A.LIST_QUEUED;
const SKIP: u32 = A.HELLO_MONITOR | A.HELLO_POLICY_HOLDER; // never listed (policy holders cannot say HELLO)

/** Is owner record `o` listed under `flags`? */
function listed(o: u32, flags: u32): bool {
  if (ownerIsActivator(o)) return (flags & A.LIST_ACTIVATORS) != 0;
  const primary = namePrimary(ownerName(o)) == o;
  return (flags & (primary ? A.LIST_NAMES : A.LIST_QUEUED)) != 0;
}

function recordSize(o: u32): u32 {
  if (o == 0) return A.KINFO_HDR;
  return A.KINFO_HDR + align8(A.OWNED_NAME_STR + ld32(ownerName(o) + A.NAME_LEN) + 1);
}

/** Write the record of connection `d` (with owner record `o`, or bare) at `p`; returns the next place. */
function recordWrite(p: u32, d: u32, o: u32): u32 {
  const size = recordSize(o);
  st64(p + A.KINFO_SIZE, size, 0);
  copy(p + A.KINFO_ID, d + A.CONN_ID, 8);
  copy(p + A.KINFO_FLAGS, d + A.CONN_FLAGS, 8);
  if (o != 0) {
    const e = ownerName(o), len = ld32(e + A.NAME_LEN);
    const it = p + A.KINFO_HDR;
    st64(it + A.ITEM_SIZE, A.OWNED_NAME_STR + len + 1, 0);
    st64(it + A.ITEM_TYPE, A.ITEM_OWNED_NAME, 0);
    // (an activator's: ACTIVATOR, with PRIMARY while no real owner holds the name, else IN_QUEUE)
    const f = ld32(o + A.NAME_O_FLAGS) | (namePrimary(e) == o ? A.NAME_PRIMARY : A.NAME_IN_QUEUE);
    st64(it + A.OWNED_NAME_FLAGS, u32(f), 0);
    copy(it + A.OWNED_NAME_STR, e + A.NAME_STR, len + 1);
    const used = A.KINFO_HDR + A.OWNED_NAME_STR + len + 1;
    fill(p + used, 0, size - used); // the padding up to the record's end
  }
  return p + size;
}

/** Walk the records of `flags`: their total size, or (at != 0) write them from `at`. */
function listWalk(flags: u32, at: u32): u32 {
  let size: u32 = 0;
  const n = busNConns();
  for (let i: u32 = 0; i < n; i++) {
    const d = connAddr(i);
    if (ld32(d + A.CONN_STATE) != A.CONN_ACTIVE || (ld32(d + A.CONN_FLAGS) & SKIP) != 0) continue;
    let added = false;
    if ((flags & (A.LIST_NAMES | A.LIST_QUEUED | A.LIST_ACTIVATORS)) != 0) {
      for (let o = connFirstOwner(d); o != 0; o = ownerNextOfConn(o)) {
        if (!listed(o, flags)) continue;
        if (at != 0) recordWrite(at + size, d, o);
        size += recordSize(o);
        added = true;
      }
    }
    if (!added && (flags & A.LIST_UNIQUE) != 0) {
      if (at != 0) recordWrite(at + size, d, 0);
      size += A.KINFO_HDR;
    }
  }
  return size;
}

/** LIST: 0 (offset and list_size written back; the slice must be freed) or -errno. */
export function list(slot: u32, gen: u32): i32 {
  const ci = connGet(slot, gen);
  if (ci < 0) return ci;
  const c = u32(ci);
  if (ld32(THREAD + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  const cmd = threadCmd();
  const r = cmdCheck(cmd, A.LIST_CMD_SIZE, ALL);
  if (r < 0) return r;
  if (ld32(cmd + A.CMD_SIZE) != A.LIST_CMD_SIZE) return failArg(A.EINVAL, A.R_CMD_ITEMS, A.LIST_CMD_SIZE); // no items
  const flags = ld32(cmd + A.CMD_FLAGS);
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  if (!lockBusAndConn(c)) return A.WOULDBLOCK;
  let ret = 0;
  if (!connLive(c, gen)) ret = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  else {
    const size = listWalk(flags, 0);
    if (size == 0) {
      st64(cmd + A.LIST_OFFSET, ld32(c + A.CONN_POOL_SIZE), 0); // the empty slice
      st64(cmd + A.LIST_SIZE, 0, 0);
    } else {
      const need = u32(A.BLOCK_HDR + size);
      const b = need > ld32(c + A.CONN_POOL_SIZE) ? 0 : poolAlloc(c, need);
      if (b == 0) ret = failArg(A.EXFULL, A.R_LIST_POOL_FULL, need);
      else {
        listWalk(flags, b + A.BLOCK_HDR);
        poolPublish(c, b);
        st64(cmd + A.LIST_OFFSET, poolOffset(c, b), 0);
        st64(cmd + A.LIST_SIZE, size, 0);
      }
    }
  }
  logCommit();
  unlock(c + A.CONN_LOCK);
  unlock(H + A.BUS_LOCK);
  return ret;
}
