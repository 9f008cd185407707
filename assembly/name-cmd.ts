// name-cmd: NAME_ACQUIRE and NAME_RELEASE (struct kdbus_cmd_name with one NAME item), checked
// in kdbus's order: the command header, its items, the name's validity, the per-connection
// limit (E2BIG), then the registry (registry.ts) under the bus lock: the bus-wide table (ENFILE),
// the name taken (EEXIST). The registry's change record becomes a notification (name-change.ts).
import * as A from "../js/shared/abi";
import { ld32, st64, THREAD } from "./mem";
import { logCommit } from "./journal";
import { lockTry, unlock } from "./lock";
import { connGet, connLive, cmdCheck } from "./conn";
import { itemSize, itemType, itemString, align8 } from "./items";
import { nameValid } from "./names";
import { nameAcquire as registryAcquire, nameLookup, nameOwnerOf, nameOwnerDrop, namePrimary, ownerConn, ownerIsActivator, nameEntry } from "./registry";
import { activatorMove } from "./activator";
import { nameNotify } from "./name-change";
import { notifyQueue, notifyEnd, notifyResuming } from "./notify";
import { threadCmd } from "./thread";
import { busShutdown } from "./bus";
import { fail, failArg } from "./reason";

const H: u32 = A.BUS_BASE;
const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;

// the NAME item of the command (scratch results of nameItem)
let itemName: u32 = 0;
let itemLen: u32 = 0;

/** Validate the command and find its one NAME item: 0 or -errno. */
function nameItem(cmd: u32, allowed: u32): i32 {
  const r = cmdCheck(cmd, A.NAME_CMD_SIZE, allowed);
  if (r < 0) return r;
  const end = cmd + ld32(cmd + A.CMD_SIZE);
  itemName = 0;
  itemLen = 0;
  for (let p = cmd + A.NAME_CMD_SIZE; p < end;) {
    const size = itemSize(p, end);
    if (size == 0) return fail(A.EINVAL, A.R_ITEM_MALFORMED);
    const type = itemType(p);
    if (type != A.ITEM_NAME) return failArg(A.EINVAL, A.R_ITEM_UNKNOWN, type);
    if (itemName != 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, type);
    const len = itemString(p, size);
    if (len < 0) return failArg(A.EINVAL, A.R_ITEM_STRING, type);
    itemName = p + A.ITEM_HDR;
    itemLen = u32(len);
    p += align8(size);
  }
  if (itemName == 0) return fail(A.EINVAL, A.R_NAME_MISSING);
  return 0;
}

/**
 * The start NAME_ACQUIRE and NAME_RELEASE share: the handle's connection (EBADF,
 * ECONNRESET), no send of this thread waiting for its commit (EINPROGRESS), a caller that may
 * own names (monitors and activators may not: EOPNOTSUPP, before the command is read, as
 * kdbus), then the command and its NAME item (nameItem, flags within `allowed`). Returns the
 * connection's address, or -errno.
 */
function nameCmdStart(slot: u32, gen: u32, allowed: u32): i32 {
  const c = connGet(slot, gen);
  if (c < 0) return c;
  if (ld32(THREAD + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  if ((ld32(u32(c) + A.CONN_FLAGS) & KINDS) != 0) return fail(A.EOPNOTSUPP, A.R_NAME_CALLER_KIND);
  const r = nameItem(threadCmd(), allowed);
  return r < 0 ? r : c;
}

/** NAME_ACQUIRE: 0 (return_flags: IN_QUEUE, PRIMARY, ACQUIRED) or -errno. */
export function nameAcquireCmd(slot: u32, gen: u32): i32 {
  if (notifyResuming()) return nameCmdNotify(true, 0);
  const ci = nameCmdStart(slot, gen, A.NAME_REPLACE_EXISTING | A.NAME_ALLOW_REPLACEMENT | A.NAME_QUEUE);
  if (ci < 0) return ci;
  // after bus.shutdown() nothing new is taken (what is held can still be given back)
  if (busShutdown()) return fail(A.ESHUTDOWN, A.R_BUS_SHUTDOWN);
  const c = u32(ci);
  const cmd = threadCmd();
  if (!nameValid(itemName, itemLen)) return fail(A.EINVAL, A.R_NAME_INVALID);
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
  // a name held by its activator alone: its queued messages move to the caller, so both
  // connection locks are taken first (tried: nothing is changed before they are held)
  const e = nameLookup(itemName, itemLen);
  const act = e != 0 && ownerIsActivator(namePrimary(e)) ? ownerConn(namePrimary(e)) : 0;
  if (act != 0 && !lockPair(c, act)) {
    unlock(H + A.BUS_LOCK);
    return A.WOULDBLOCK;
  }
  let r: i32 = 0;
  if (!connLive(c, gen)) r = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  else if (ld32(c + A.CONN_N_NAMES) >= u32(A.MAX_NAMES_PER_CONN)) r = failArg(A.E2BIG, A.R_NAME_CONN_LIMIT, A.MAX_NAMES_PER_CONN);
  else {
    const f = registryAcquire(c, itemName, itemLen, ld32(cmd + A.CMD_FLAGS));
    if (f == -1) r = fail(A.EEXIST, A.R_NAME_TAKEN);
    else if (f == -2) r = failArg(A.ENFILE, A.R_NAME_TABLE_FULL, ld32(H + A.BUS_N_NAMES));
    else {
      st64(cmd + A.CMD_RETURN_FLAGS, u32(f), 0);
      r = 0;
    }
  }
  return nameCmdEnd(r, act, c, act, c, e); // the activator's messages come to c
}

/**
 * The end of NAME_ACQUIRE / NAME_RELEASE, with the result `r` (bus lock held; with activator
 * `act`, its lock and c's too): the registry's change is committed, then the messages for the
 * name (registry entry `e`) move from `from` to `to` and the connection locks are released; a
 * failure ends here; a change's notification is queued and sent, waiting for a contended
 * receiver (nameCmdNotify).
 *
 * The notification queue (NOTIFY_Q_OFF) overlaps the command's NAME item (from byte 216 of a
 * name on), so the move compares the registry's copy of the name: with an activator, the
 * entry lives on (the activator still holds the name). It compared the item before stop 65,
 * and the messages for a name of 217-255 bytes stayed where they were (an outside reading).
 */
function nameCmdEnd(r: i32, act: u32, c: u32, from: u32, to: u32, e: u32): i32 {
  // the change's notification queued first, committed with it (recover.ts sends it if this
  // thread dies before it has), sent after the messages moved
  if (r == 0) nameNotify(0, notifyQueue(true));
  logCommit();
  // with an activator (its lock and c's held): the messages for the name move, committed
  // message by message, before the notification
  if (act != 0) {
    if (r == 0) activatorMove(from, to, e + A.NAME_STR, ld32(e + A.NAME_LEN));
    unlock(act + A.CONN_LOCK);
    unlock(c + A.CONN_LOCK);
  }
  if (r != 0) {
    unlock(H + A.BUS_LOCK);
    return r;
  }
  return nameCmdNotify(false, 0);
}

/** Send the queued notification (notifyEnd; `resume`: the command run again after a wait, OP_NOTIFY). */
function nameCmdNotify(resume: bool, r: i32): i32 {
  const n = notifyEnd(resume, r);
  if (n == A.WOULDBLOCK) return n; // stopped: the bus lock stays held
  unlock(H + A.BUS_LOCK);
  return n;
}

/** Both connection locks (tried), or neither (the contended word recorded for the host). */
function lockPair(a: u32, b: u32): bool {
  if (!lockTry(a + A.CONN_LOCK)) return false;
  if (lockTry(b + A.CONN_LOCK)) return true;
  unlock(a + A.CONN_LOCK);
  return false;
}

/** NAME_RELEASE: 0, or -ESRCH (nobody owns the name), -EADDRINUSE (the caller neither owns nor queues). */
export function nameReleaseCmd(slot: u32, gen: u32): i32 {
  if (notifyResuming()) return nameCmdNotify(true, 0);
  const ci = nameCmdStart(slot, gen, 0);
  if (ci < 0) return ci;
  const c = u32(ci);
  const cmd = threadCmd();
  st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  if (!lockTry(H + A.BUS_LOCK)) return A.WOULDBLOCK;
  // kdbus does not check the name's syntax here: an invalid name is one nobody owns
  const e = nameLookup(itemName, itemLen);
  const o = e == 0 ? 0 : nameOwnerOf(e, c);
  // the primary owner gives the name back to its activator: the messages sent to the name
  // and still queued in the caller move back to it, so both locks are taken first
  let act: u32 = 0;
  if (o != 0 && namePrimary(e) == o) {
    const next = nameEntry(ld32(o + A.NAME_O_QNEXT));
    if (next != 0 && ownerIsActivator(next)) act = ownerConn(next);
  }
  if (act != 0 && !lockPair(c, act)) {
    unlock(H + A.BUS_LOCK);
    return A.WOULDBLOCK;
  }
  let r: i32 = 0;
  if (!connLive(c, gen)) r = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  else if (e == 0) r = fail(A.ESRCH, A.R_NAME_UNKNOWN);
  else if (o == 0) r = fail(A.EADDRINUSE, A.R_NAME_NOT_OWNER);
  else {
    nameOwnerDrop(e, o, true);
    r = 0;
  }
  return nameCmdEnd(r, act, c, c, act, e); // c's messages for the name go back
}
