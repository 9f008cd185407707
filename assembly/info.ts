// info: CONN_INFO and BUS_CREATOR_INFO (struct kdbus_cmd_info): a connection's
// connection-time metadata (its HELLO snapshot) with its current owned names and
// description, or the bus creator's snapshot (taken at BUS_MAKE), written as a struct
// kdbus_info slice into the caller's pool, which the caller FREEs. The items are limited to
// the target's send mask ∩ the attach flags the caller asks for.
import * as A from "../js/shared/abi";
import * as L from "../js/shared/meta-limits";
import { ld32, st64, THREAD } from "./mem";
import { logCommit } from "./journal";
import { lockTry, unlock, lockBusAndConn } from "./lock";
import { connSlot, connLive, cmdCheck, attachMask } from "./conn";
import { busConns, busNConns } from "./bus";
import { itemSize, itemType, itemString, align8 } from "./items";
import { nameValid } from "./names";
import { nameLookup, namePrimary, ownerConn } from "./registry";
import { idFindLocked } from "./idtable";
import { poolAlloc, poolPublish, poolOffset } from "./pool";
import { metaBlockSize, metaDescSize, metaTruncSize, metaItemsWrite } from "./meta";
import { namesOwnedBy, ownedCut } from "./owned";
import { threadCmd } from "./thread";
import { fail, failArg } from "./reason";

const H: u32 = A.BUS_BASE;
/** what CONN_INFO can return: the snapshot's process items, owned names, description */
const INFO_ITEMS: u32 = A.ATTACH_PROCESS | A.ATTACH_NAMES | A.ATTACH_CONN_DESCRIPTION;

/** The caller's connection and checked command, or -errno; the outputs cleared. */
function infoBegin(slot: u32): i32 {
  const ci = connSlot(slot);
  if (ci < 0) return ci;
  const c = u32(ci);
  if (ld32(THREAD + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  const cmd = threadCmd();
  const r = cmdCheck(cmd, A.INFO_CMD_SIZE, 0);
  if (r < 0) return r;
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  st64(cmd + A.INFO_OFFSET, ld32(c + A.CONN_POOL_SIZE), 0);
  st64(cmd + A.INFO_INFO_SIZE, 0, 0);
  return ci;
}

/**
 * Allocate and publish the answer in caller `c`'s pool (its lock held): a kdbus_info of id
 * (lo, hi) and `flags`, with the items of `mask` from meta block `b`, `namesLen` bytes of
 * owned-name items at THREAD_META_NAMES (`namesCut`: ATTACH_NAMES when the list was cut), and
 * connection `d`'s description (0: none).
 */
function infoWrite(c: u32, b: u32, mask: u32, namesLen: u32, namesCut: u32, d: u32, lo: u32, hi: u32, flags: u32): i32 {
  const cmd = threadCmd();
  // (the description counted only where metaDescWrite writes it: the mask has it; counted
  // whenever `d` had one before stop 65, and the answer's last bytes were then the caller's
  // pool as it was, read as items: an outside reading)
  const desc: u32 = d != 0 && (mask & A.ATTACH_CONN_DESCRIPTION) != 0 ? align8(metaDescSize(d)) : 0;
  const size: u32 = A.KINFO_HDR + metaBlockSize(b, mask) + namesLen + desc + metaTruncSize(b, mask, namesCut);
  let need: u32 = A.BLOCK_HDR + align8(size);
  if (need < u32(A.BLOCK_MIN)) need = A.BLOCK_MIN;
  const blk = poolAlloc(c, need);
  if (blk == 0) return failArg(A.EXFULL, A.R_INFO_POOL_FULL, need);
  const s = blk + A.BLOCK_HDR;
  st64(s + A.KINFO_SIZE, size, 0);
  st64(s + A.KINFO_ID, lo, hi);
  st64(s + A.KINFO_FLAGS, flags, 0);
  // (without a connection `d`, mask holds no CONN_DESCRIPTION: c is never read for it)
  metaItemsWrite(s + A.KINFO_HDR, b, mask, THREAD + A.THREAD_META_NAMES, namesLen, namesCut, d != 0 ? d : c);
  poolPublish(c, blk);
  st64(cmd + A.INFO_OFFSET, poolOffset(c, blk), 0);
  st64(cmd + A.INFO_INFO_SIZE, size, 0);
  return 0;
}

/** CONN_INFO by id: 0 with the answer's offset and size in the command, or -errno. */
export function connInfo(slot: u32, gen: u32): i32 {
  const ci = infoBegin(slot);
  if (ci < 0) return ci;
  const c = u32(ci), cmd = threadCmd();
  const end = cmd + ld32(cmd + A.CMD_SIZE);
  // at most one NAME item: the target is then the name's primary owner (the id must be 0)
  let name: u32 = 0, nameLen: u32 = 0;
  for (let p = cmd + A.INFO_CMD_SIZE; p < end;) {
    const size = itemSize(p, end);
    if (size == 0) return fail(A.EINVAL, A.R_ITEM_MALFORMED);
    if (itemType(p) != A.ITEM_NAME) return failArg(A.EINVAL, A.R_ITEM_UNKNOWN, itemType(p));
    if (name != 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, A.ITEM_NAME);
    const len = itemString(p, size);
    if (len < 0) return failArg(A.EINVAL, A.R_ITEM_STRING, A.ITEM_NAME);
    name = p + A.ITEM_HDR;
    nameLen = u32(len);
    p += align8(size);
  }
  const req = attachMask(cmd + A.INFO_ATTACH_FLAGS);
  if (req < 0) return fail(A.EINVAL, A.R_INFO_ATTACH);
  let lo = ld32(cmd + A.INFO_ID), hi = ld32(cmd + A.INFO_ID + 4);
  if (name != 0 && (lo != 0 || hi != 0)) return fail(A.EINVAL, A.R_INFO_ID_AND_NAME);
  if (name != 0 && !nameValid(name, nameLen)) return fail(A.EINVAL, A.R_NAME_INVALID);
  if (name == 0 && lo == 0 && hi == 0) return fail(A.EINVAL, A.R_INFO_NO_ID);
  // the bus lock keeps the target (and its snapshot, written by HELLO under it) in place
  if (!lockBusAndConn(c)) return A.WOULDBLOCK;
  let ret = 0;
  // by name: the primary owner, looked up under the bus lock (the registry's lock)
  const e = name != 0 ? nameLookup(name, nameLen) : 0;
  if (e != 0) {
    const owner = ownerConn(namePrimary(e));
    lo = ld32(owner + A.CONN_ID);
    hi = ld32(owner + A.CONN_ID + 4);
  }
  const d = name != 0 && e == 0 ? 0 : idFindLocked(lo, hi);
  if (!connLive(c, gen)) ret = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  else if (name != 0 && e == 0) ret = fail(A.ESRCH, A.R_INFO_NAME_NO_OWNER);
  else if (d == 0) ret = fail(A.ENXIO, A.R_INFO_NO_CONN);
  else {
    const mask = ld32(d + A.CONN_ATTACH_SEND) & u32(req) & INFO_ITEMS;
    // its owned names now, under the bus lock (the registry's)
    const namesLen = (mask & A.ATTACH_NAMES) != 0 ? namesOwnedBy(d, THREAD + A.THREAD_META_NAMES, L.META_NAMES_MAX) : 0;
    const namesCut = (mask & A.ATTACH_NAMES) != 0 && ownedCut ? A.ATTACH_NAMES : 0;
    const snap = ld32(H + A.BUS_METAS) + u32((d - busConns()) / A.CONN_SIZE) * A.META_SIZE;
    ret = infoWrite(c, snap, mask, namesLen, namesCut, d, lo, hi, ld32(d + A.CONN_FLAGS));
  }
  logCommit();
  unlock(c + A.CONN_LOCK);
  unlock(H + A.BUS_LOCK);
  return ret;
}

/**
 * BUS_CREATOR_INFO: the bus creator's metadata as it was at BUS_MAKE (process items only: the
 * creator had no connection then), limited to the requested attach flags; id 0, the bus's
 * flags. The creator's snapshot never changes after BUS_MAKE: only the caller's lock is taken.
 */
export function busCreatorInfo(slot: u32, gen: u32): i32 {
  const ci = infoBegin(slot);
  if (ci < 0) return ci;
  const c = u32(ci), cmd = threadCmd();
  if (ld32(cmd + A.CMD_SIZE) != A.INFO_CMD_SIZE) return failArg(A.EINVAL, A.R_CMD_ITEMS, A.INFO_CMD_SIZE);
  const req = attachMask(cmd + A.INFO_ATTACH_FLAGS);
  if (req < 0) return fail(A.EINVAL, A.R_INFO_ATTACH);
  if (!lockTry(c + A.CONN_LOCK)) return A.WOULDBLOCK;
  let ret = 0;
  if (!connLive(c, gen)) ret = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  else {
    const snap = ld32(H + A.BUS_METAS) + busNConns() * A.META_SIZE;
    ret = infoWrite(c, snap, u32(req) & A.ATTACH_PROCESS, 0, 0, 0, 0, 0, ld32(H + A.BUS_FLAGS));
  }
  logCommit();
  unlock(c + A.CONN_LOCK);
  return ret;
}
