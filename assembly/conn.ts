// conn: the connection table: HELLO, BYEBYE and the (slot, gen) handle check.
import * as A from "../js/shared/abi";
import { ld32, st32, st64, copy, fill, THREAD } from "./mem";
import { wr32, wr64, logCommit } from "./journal";
import { lockTry, unlock, wake, lockBusAndConn } from "./lock";
import { metaCollectProcess, metaItemSize } from "./meta";
import { busConns, busNConns, busPoolMax, busThreads, busShutdown } from "./bus";
import { itemSize, itemType, itemString, align8 } from "./items";
import { descValid, nameValid } from "./names";
import { fail, failArg } from "./reason";
import { poolInit, poolAlloc, poolPublish, poolOffset } from "./pool";
import { threadCmd } from "./thread";
import { idInsert, idRemove, idFindLocked, idFind } from "./idtable";
import { replyTick, replyConnClosed, replySweepNow } from "./reply";
import { notifyIdAdd, notifyIdRemove, notifyQueue, notifyEnd, notifyResuming } from "./notify";
import { namesDropAll, namesHandBack, nameNotify } from "./name-change";
import { nameActivateCheck, nameActivate } from "./registry";

const H: u32 = A.BUS_BASE;
const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;
const NOBODY: u32 = 65534; // uid when the host cannot tell (the kernel's overflow uid)

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

/**
 * The start RECV, FREE and BYEBYE share (commands on one connection that take no items), in
 * KDBUS.md's check order: the handle's slot (EBADF), no send of this thread waiting for its
 * commit (EINPROGRESS), the reply deadlines ticked, then the command struct: cmdCheck
 * against `size` and `flags`, and exactly `size` bytes (EINVAL R_CMD_ITEMS: no items).
 * Returns the connection's address, or -errno. Its liveness (ECONNRESET) is the caller's to
 * check, under its lock.
 */
export function itemlessCmdStart(slot: u32, size: u32, flags: u32): i32 {
  const c = connSlot(slot);
  if (c < 0) return c;
  if (ld32(THREAD + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  const r = replyTick();
  if (r < 0) return r;
  const cmd = threadCmd();
  const k = cmdCheck(cmd, size, flags);
  if (k < 0) return k;
  if (ld32(cmd + A.CMD_SIZE) != size) return failArg(A.EINVAL, A.R_CMD_ITEMS, size); // no items
  return c;
}

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
  const q = notifyQueue();
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
  // clear everything but state, gen, the wake and sleepers words and the lock word (other
  // threads may be using those: a lock word must never read 0 while held)
  fill(c + A.CONN_ID, 0, A.CONN_WAKE - A.CONN_ID);
  fill(c + A.CONN_WAKE + 4, 0, A.CONN_LOCK - A.CONN_WAKE - 4);
  fill(c + A.CONN_LOCK + 4, 0, A.CONN_SLEEPERS - A.CONN_LOCK - 4);
  fill(c + A.CONN_SLEEPERS + 4, 0, A.CONN_SIZE - A.CONN_SLEEPERS - 4);
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

/** BYEBYE: only with an empty queue (-EBUSY); a closed handle gives -ECONNRESET. */
export function byebye(slot: u32, gen: u32): i32 {
  // run again after its notifications stopped at a contended receiver: they go on (bus lock held)
  if (notifyResuming()) return byebyeNotify(true);
  const ci = itemlessCmdStart(slot, A.BYEBYE_CMD_SIZE, 0);
  if (ci < 0) return ci;
  const c = u32(ci);
  const cmd = threadCmd();
  if (!lockBusAndConn(c)) return A.WOULDBLOCK;
  const q = notifyQueue();
  let ret = 0;
  if (!connLive(c, gen)) ret = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  else if (ld32(c + A.CONN_N_QUEUED) != 0) ret = failArg(A.EBUSY, A.R_BYEBYE_QUEUED, ld32(c + A.CONN_N_QUEUED));
  else if (ld32(c + A.CONN_N_RESV) != 0) ret = failArg(A.EBUSY, A.R_BYEBYE_RESERVED, ld32(c + A.CONN_N_RESV));
  else {
    st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
    connClose(c, q);
  }
  logCommit(); // the close, whole
  unlock(c + A.CONN_LOCK);
  if (ret != 0) {
    unlock(H + A.BUS_LOCK);
    return ret;
  }
  return byebyeNotify(false);
}

/**
 * BYEBYE's end (the close committed, the bus lock held): its notifications, each committed
 * on its own, waiting for a contended receiver (notifyFlushWait: WOULDBLOCK with the bus lock
 * held, OP_NOTIFY; `resume`: BYEBYE run again, going on where they stopped); then the calls
 * made to it end: REPLY_DEAD to their callers (what a taken lock defers stays owed, for the
 * next command: replyTick).
 */
function byebyeNotify(resume: bool): i32 {
  const r = notifyEnd(resume, 0);
  if (r < 0) return r; // stopped: the bus lock stays held
  replySweepNow();
  unlock(H + A.BUS_LOCK);
  return 0;
}

/**
 * Close a connection (bus and connection locks held): its pool and queue go with it, and its
 * id leaves the id table, its calls are forgotten and the calls made to it owe REPLY_DEAD
 * (reply.ts; the closer delivers them once it has released this lock: replySweepNow), its
 * names pass to the next in their queues
 * (BYEBYE, and recovery for the connections of a dead thread). A slot
 * that still has sends reserved into it stays CLOSING until the last one is committed or
 * cancelled; then it is free. Its notifications (NAME_* of the names passed on, ID_REMOVE) are
 * queued at `q` (notifyQueue): the caller commits the close, then sends them (notifyFlush).
 */
export function connClose(c: u32, q: u32): void {
  namesHandBack(c); // a queue (recovery only) gives its name's messages back to the activator
  replyConnClosed(c);
  namesDropAll(c, q); // each name it owns passes to the next in its queue (or back to its activator)
  if ((ld32(c + A.CONN_FLAGS) & A.HELLO_MONITOR) != 0) wr32(H + A.BUS_N_MONITORS, ld32(H + A.BUS_N_MONITORS) - 1);
  idRemove(u32((c - busConns()) / A.CONN_SIZE), ld32(c + A.CONN_ID));
  wr32(c + A.CONN_STATE, ld32(c + A.CONN_N_RESV) != 0 ? A.CONN_CLOSING : A.CONN_FREE_SLOT);
  wr32(c + A.CONN_GEN, u32(ld32(c + A.CONN_GEN) + 1));
  wr32(H + A.BUS_CONNS_LIVE, ld32(H + A.BUS_CONNS_LIVE) - 1);
  wake(c + A.CONN_WAKE, c + A.CONN_SLEEPERS); // sleepers re-check and find it closed
  wake(c + A.CONN_SPACE, c + A.CONN_SPACE_SLEEPERS); // senders waiting for room re-check and find it closed
  notifyIdRemove(c, q); // its own lock held: c is no longer ACTIVE, never a receiver of this
}
