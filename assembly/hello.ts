// hello: HELLO, a new connection in a free slot of the table (conn.ts), announced by ID_ADD.
import * as A from "../js/shared/abi";
import { ld32, st32, st64, copy, fill, THREAD } from "./mem";
import { wr32, wr64, logCommit } from "./journal";
import { lockTry, unlock } from "./lock";
import { metaCollectProcess, metaItemSize } from "./meta";
import { busPoolMax, busThreads, busShutdown, busNConns } from "./bus";
import { itemSize, itemType, itemString, align8 } from "./items";
import { descValid, nameValid } from "./names";
import { fail, failArg } from "./reason";
import { poolInit, poolAlloc, poolPublish, poolOffset } from "./pool";
import { threadCmd } from "./thread";
import { idInsert, idFindLocked } from "./idtable";
import { replyTick } from "./reply";
import { notifyIdAdd, notifyQueue, notifyEnd, notifyResuming } from "./notify";
import { nameNotify } from "./name-change";
import { nameActivateCheck, nameActivate } from "./registry";
import { connAddr, attachMask, cmdCheck } from "./conn";

const H: u32 = A.BUS_BASE;
const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;
const NOBODY: u32 = 65534; // uid when the host cannot tell (the kernel's overflow uid)

/** HELLO: returns the new connection's slot index, or -errno. */
export function hello(): i32 {
  if (THREAD == 0) return fail(A.EBADF, A.R_NOT_JOINED);
  // run again after its notifications stopped at a contended receiver: they go on (bus lock held)
  if (notifyResuming()) return helloNotify(true, 0);
  if (ld32(THREAD + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  if (busShutdown()) return fail(A.ESHUTDOWN, A.R_BUS_SHUTDOWN);
  let r = replyTick();
  if (r < 0) return r;
  const cmd = threadCmd();
  r = cmdCheck(cmd, A.HELLO_CMD_SIZE, A.HELLO_ACCEPT_FD | KINDS);
  if (r < 0) return r;
  const flags = ld32(cmd + A.CMD_FLAGS);
  const kinds = flags & KINDS;
  if ((kinds & (kinds - 1)) != 0) return fail(A.EINVAL, A.R_HELLO_KINDS);
  const send = attachMask(cmd + A.HELLO_ATTACH_SEND);
  const recv = attachMask(cmd + A.HELLO_ATTACH_RECV);
  if (send < 0) return fail(A.EINVAL, A.R_HELLO_ATTACH_SEND);
  if (recv < 0) return fail(A.EINVAL, A.R_HELLO_ATTACH_RECV);
  const poolSize = ld32(cmd + A.HELLO_POOL_SIZE);
  if (ld32(cmd + A.HELLO_POOL_SIZE + 4) != 0 || poolSize == 0 || (poolSize & (A.POOL_SIZE_ALIGN - 1)) != 0) return failArg(A.EINVAL, A.R_HELLO_POOL_SIZE, A.POOL_SIZE_ALIGN);

  // items: CONN_DESCRIPTION and NAME, each at most once
  const end = cmd + ld32(cmd + A.CMD_SIZE);
  let desc: u32 = 0, descLen: i32 = 0, name: u32 = 0, nameLen: i32 = 0;
  for (let p = cmd + A.HELLO_CMD_SIZE; p < end;) {
    const size = itemSize(p, end);
    if (size == 0) return fail(A.EINVAL, A.R_ITEM_MALFORMED);
    const type = itemType(p);
    if (type == A.ITEM_CONN_DESCRIPTION) {
      if (desc != 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, type);
      descLen = itemString(p, size);
      if (descLen < 0) return failArg(A.EINVAL, A.R_ITEM_STRING, type);
      desc = p + A.ITEM_HDR;
    } else if (type == A.ITEM_NAME) {
      if (name != 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, type);
      nameLen = itemString(p, size);
      if (nameLen < 0) return failArg(A.EINVAL, A.R_ITEM_STRING, type);
      name = p + A.ITEM_HDR;
    } else return failArg(A.EINVAL, A.R_ITEM_UNKNOWN, type);
    p += align8(size);
  }
  if (desc != 0) {
    r = descValid(desc, descLen);
    if (r < 0) return r;
  }
  if ((name != 0) != ((flags & A.HELLO_ACTIVATOR) != 0)) return fail(A.EINVAL, A.R_HELLO_NAME_ACTIVATOR);
  if (name != 0 && !nameValid(name, u32(nameLen))) return fail(A.EINVAL, A.R_HELLO_ACTIVATOR_NAME);
  // policy holders (policies) are not built
  if ((kinds & A.HELLO_POLICY_HOLDER) != 0) return fail(A.EOPNOTSUPP, A.R_HELLO_KIND_UNSUPPORTED);
  if (poolSize > busPoolMax()) return failArg(A.ENOMEM, A.R_HELLO_POOL_MAX, busPoolMax());

  // the connection-time snapshot (every process item, through the thread's cache) and the
  // quota key (the caller's uid), asked from the host before any lock is taken
  const tm = THREAD + A.THREAD_META;
  metaCollectProcess(tm, A.ATTACH_PROCESS, THREAD + A.THREAD_META_ARGV);
  const uid = metaItemSize(tm, A.ATTACH_CREDS) != 0 ? ld32(tm + A.META_ITEMS + A.META_SLOT_CREDS + A.ITEM_HDR) : NOBODY;

  if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
  const n = busNConns();
  let slot = -1;
  for (let i: u32 = 0; i < n; i++) {
    if (ld32(connAddr(i) + A.CONN_STATE) == A.CONN_FREE_SLOT) { slot = i32(i); break; }
  }
  if (slot < 0) {
    unlock(H + A.BUS_LOCK);
    return failArg(A.ENFILE, A.R_HELLO_CONNS_FULL, n);
  }
  // an activator's name: one activator per name, an owner record free (registry.ts)
  const act = name != 0 ? nameActivateCheck(name, u32(nameLen)) : 0;
  if (act < 0) {
    unlock(H + A.BUS_LOCK);
    return act == -1 ? fail(A.EEXIST, A.R_HELLO_ACTIVATOR_TAKEN) : failArg(A.ENFILE, A.R_HELLO_ACTIVATOR_TABLE, ld32(H + A.BUS_N_NAMES));
  }
  const c = connAddr(slot);
  if (!lockTry(c + A.CONN_LOCK)) {
    unlock(H + A.BUS_LOCK);
    return A.WOULDBLOCK;
  }
  helloInit(c, u32(slot), flags, u32(send), u32(recv), poolSize, uid, desc, descLen);
  if (name != 0) nameActivate(c, name, u32(nameLen));
  if ((flags & A.HELLO_MONITOR) != 0) wr32(H + A.BUS_N_MONITORS, ld32(H + A.BUS_N_MONITORS) + 1);
  // its notifications queued (over the command's items, read by now): ID_ADD, then NAME_ADD
  // when the activator took a free name; sent once the connection is committed
  const q = notifyQueue(true);
  notifyIdAdd(c, q);
  if (name != 0) nameNotify(0, q);
  logCommit(); // the connection, whole
  unlock(c + A.CONN_LOCK);
  return helloNotify(false, slot); // bus lock still held: the new id is announced before anyone can close it
}

/** HELLO's end (the connection committed, the bus lock held): its notifications, waiting for a contended receiver (notifyEnd). */
function helloNotify(resume: bool, slot: i32): i32 {
  const r = notifyEnd(resume, slot);
  if (r == A.WOULDBLOCK) return r; // stopped: the bus lock stays held
  unlock(H + A.BUS_LOCK);
  return r;
}

/**
 * Lay out a free slot as a new connection and publish its HELLO slice. The slot's own
 * fields are don't-care while it is free, so only what makes it live is logged.
 */
function helloInit(c: u32, slot: u32, flags: u32, send: u32, recv: u32,
  poolSize: u32, uid: u32, desc: u32, descLen: i32): void {
  const cmd = threadCmd();
  // clear everything but state, gen, the wake word, the lock word and the three sleeper
  // counts (other threads may be using those: a lock word must never read 0 while held, and a
  // thread still parked on the old connection's words is taken off its count by the notify
  // that wakes it, or takes itself off at its timeout: zeroing a count under it drove it
  // negative, and the core then skipped the notify of the next connection's waiter; found by
  // an outside audit)
  fill(c + A.CONN_ID, 0, A.CONN_WAKE - A.CONN_ID);
  fill(c + A.CONN_WAKE + 4, 0, A.CONN_LOCK - A.CONN_WAKE - 4);
  fill(c + A.CONN_LOCK + 4, 0, A.CONN_SLEEPERS - A.CONN_LOCK - 4);
  fill(c + A.CONN_SLEEPERS + 4, 0, A.CONN_SPACE_SLEEPERS - A.CONN_SLEEPERS - 4);
  fill(c + A.CONN_SPACE_SLEEPERS + 4, 0, A.CONN_TURN_SLEEPERS - A.CONN_SPACE_SLEEPERS - 4);
  fill(c + A.CONN_STAGED, 0, A.CONN_SIZE - A.CONN_STAGED); // (aside.ts's words; the close left them 0)
  wr32(c + A.CONN_GEN, u32(ld32(c + A.CONN_GEN) + 1));
  // the next id in sequence, except 0 (a destination by name) and ~0 (broadcast), and, once
  // the 64-bit counter has wrapped, ids still in use (at most n_conns are skipped)
  let idLo = ld32(H + A.BUS_NEXT_ID), idHi = ld32(H + A.BUS_NEXT_ID + 4);
  while ((idLo == 0 && idHi == 0) || (idLo == 0xffffffff && idHi == 0xffffffff) || idFindLocked(idLo, idHi) != 0) {
    if (idLo == 0xffffffff) { idLo = 0; idHi = u32(idHi + 1); } else idLo = idLo + 1;
  }
  st64(c + A.CONN_ID, idLo, idHi);
  if (idLo == 0xffffffff) wr64(H + A.BUS_NEXT_ID, 0, u32(idHi + 1));
  else wr64(H + A.BUS_NEXT_ID, idLo + 1, idHi);
  st64(c + A.CONN_FLAGS, flags, 0);
  st64(c + A.CONN_ATTACH_SEND, send, 0);
  st64(c + A.CONN_ATTACH_RECV, recv, 0);
  const pool = ld32(H + A.BUS_POOLS) + slot * busPoolMax();
  st32(c + A.CONN_POOL_SIZE, poolSize);
  st32(c + A.CONN_POOL, pool);
  st32(c + A.CONN_UID, uid);
  st32(c + A.CONN_OWNER, u32((THREAD - busThreads()) / A.THREAD_SIZE));
  st32(c + A.CONN_PUBMAP, ld32(H + A.BUS_PUBMAPS) + slot * (busPoolMax() >>> A.PUBMAP_SHIFT));
  if (desc != 0) copy(c + A.CONN_DESC, desc, descLen + 1);
  st32(c + A.CONN_DESC_LEN, descLen);
  // the HELLO-time snapshot (a free slot's is a don't-care: not logged)
  copy(ld32(H + A.BUS_METAS) + slot * A.META_SIZE, THREAD + A.THREAD_META, A.META_SIZE);
  poolInit(c, pool, poolSize);

  // the HELLO slice: one BLOOM_PARAMETER item (a fresh pool of >= 4096 bytes has room)
  const b = poolAlloc(c, A.BLOCK_HDR + A.BLOOM_PARAMETER_ITEM_SIZE);
  const s = b + A.BLOCK_HDR;
  st64(s + A.ITEM_SIZE, A.BLOOM_PARAMETER_ITEM_SIZE, 0);
  st64(s + A.ITEM_TYPE, A.ITEM_BLOOM_PARAMETER, 0);
  copy(s + A.ITEM_HDR, H + A.BUS_BLOOM_SIZE, 16);
  poolPublish(c, b);

  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  copy(cmd + A.HELLO_BUS_FLAGS, H + A.BUS_FLAGS, 8);
  st64(cmd + A.HELLO_ID, idLo, idHi);
  st64(cmd + A.HELLO_OFFSET, poolOffset(c, b), 0);
  st64(cmd + A.HELLO_ITEMS_SIZE, A.BLOOM_PARAMETER_ITEM_SIZE, 0);
  copy(cmd + A.HELLO_ID128, H + A.BUS_ID128, 16);
  wr32(H + A.BUS_CONNS_LIVE, ld32(H + A.BUS_CONNS_LIVE) + 1);
  wr32(c + A.CONN_STATE, A.CONN_ACTIVE);
  idInsert(slot, idLo);
}
