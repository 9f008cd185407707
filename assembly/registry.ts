// registry: the bus-wide name registry (js/shared/abi.ts, "Name table"): well-known names,
// each with a FIFO queue of owner records whose head is the primary owner. Callers hold the
// bus lock; every store is journaled. A mutation leaves a change record (chg*: the name, the
// old and new primary owner and their flags) that the caller turns into a notification
// (name-change.ts); nothing here notifies. Look-ups hash the name (chains as long as the
// names that share a bucket: buckets >= n_names), so they do not grow with the table.
import * as A from "../js/shared/abi";
import { ld32, ld8 } from "./mem";
import { wr32 } from "./journal";
import { busConns } from "./bus";

const H: u32 = A.BUS_BASE;

// the change record of the last mutation (scratch results: set before they are read, in the
// same command). chgName 0: nothing changed hands.
export let chgName: u32 = 0;
/** the name's length at the change (nameFree zeroes NAME_LEN before the notification is sent) */
export let chgLen: u32 = 0;
/** old and new primary owner: connection addresses, 0 for none */
export let chgOld: u32 = 0;
export let chgNew: u32 = 0;
export let chgOldFlags: u32 = 0;
export let chgNewFlags: u32 = 0;

function table(): u32 { return ld32(H + A.BUS_NAMES); }
function mask(): u32 { return ld32(table() + A.NAMES_MASK); }

/** Entry `i` + 1 (0: none) as an address, 0 for 0. */
export function nameEntry(i1: u32): u32 {
  if (i1 == 0) return 0;
  const t = table();
  return t + A.NAMES_HDR + (ld32(t + A.NAMES_MASK) + 1) * 4 + (i1 - 1) * A.NAME_SIZE;
}

function indexOf(e: u32): u32 {
  const t = table();
  return u32((e - (t + A.NAMES_HDR + (ld32(t + A.NAMES_MASK) + 1) * 4)) / A.NAME_SIZE) + 1;
}

/** The connection address of owner record `o`. */
export function ownerConn(o: u32): u32 {
  return busConns() + (ld32(o + A.NAME_O_CONN) - 1) * A.CONN_SIZE;
}

function connIndex(c: u32): u32 {
  return u32((c - busConns()) / A.CONN_SIZE) + 1;
}

/** djb2 over the name's bytes (wraps at 2^32 alike in both engines) */
function nameHash(s: u32, len: u32): u32 {
  let h: u32 = 5381;
  for (let i: u32 = 0; i < len; i++) h = u32(u32(h << 5) + h + ld8(s + i));
  return h;
}

function sameName(e: u32, s: u32, len: u32): bool {
  if (ld32(e + A.NAME_LEN) != len) return false;
  for (let i: u32 = 0; i < len; i++) if (ld8(e + A.NAME_STR + i) != ld8(s + i)) return false;
  return true;
}

/** The name entry for the name at `s` (`len` bytes), 0 when nobody owns it. */
export function nameLookup(s: u32, len: u32): u32 {
  const h = nameHash(s, len);
  const t = table();
  for (let e = nameEntry(ld32(t + A.NAMES_HDR + u32(h & mask()) * 4)); e != 0; e = nameEntry(ld32(e + A.NAME_CHAIN))) {
    if (ld32(e + A.NAME_HASH) == h && sameName(e, s, len)) return e;
  }
  return 0;
}

/** The primary owner record of name `e`. */
export function namePrimary(e: u32): u32 {
  return nameEntry(ld32(e + A.NAME_HEAD));
}

/** Connection `c`'s owner record in name `e`'s queue, 0 if none (walks the queue: <= n_conns). */
export function nameOwnerOf(e: u32, c: u32): u32 {
  const ci = connIndex(c);
  for (let o = nameEntry(ld32(e + A.NAME_HEAD)); o != 0; o = nameEntry(ld32(o + A.NAME_O_QNEXT))) {
    if (ld32(o + A.NAME_O_CONN) == ci) return o;
  }
  return 0;
}

/** Is there room for one more owner record? */
export function nameTableFull(): bool {
  const t = table();
  return ld32(t + A.NAMES_N_OWNERS) >= ld32(H + A.BUS_N_NAMES);
}

/** Take an entry from a free list (its link at `linkOff`) or above its high-water mark. */
function take(hwmOff: u32, freeOff: u32, linkOff: u32): u32 {
  const t = table();
  const f = ld32(t + freeOff);
  if (f != 0) {
    wr32(t + freeOff, ld32(nameEntry(f) + linkOff));
    return nameEntry(f);
  }
  const n = ld32(t + hwmOff);
  wr32(t + hwmOff, n + 1);
  return nameEntry(n + 1);
}

function give(e: u32, freeOff: u32, linkOff: u32): void {
  const t = table();
  wr32(e + linkOff, ld32(t + freeOff));
  wr32(t + freeOff, indexOf(e));
}

/** A new name entry (the caller checked nameTableFull: names <= owner records). */
function nameNew(s: u32, len: u32): u32 {
  const t = table();
  const e = take(A.NAMES_NAME_HWM, A.NAMES_NAME_FREE, A.NAME_CHAIN);
  const h = nameHash(s, len);
  // the string and its NUL, before the entry is linked (journaled: a trap before the commit
  // leaves the free entry byte for byte as it was)
  nameWrite(e, s, len);
  wr32(e + A.NAME_LEN, len);
  wr32(e + A.NAME_HASH, h);
  wr32(e + A.NAME_HEAD, 0);
  wr32(e + A.NAME_TAIL, 0);
  const b = t + A.NAMES_HDR + u32(h & mask()) * 4;
  wr32(e + A.NAME_CHAIN, ld32(b));
  wr32(b, indexOf(e));
  wr32(t + A.NAMES_N_LIVE, ld32(t + A.NAMES_N_LIVE) + 1);
  return e;
}

/** The name's bytes and a NUL into entry `e`, a journaled word at a time (<= 64 stores). */
function nameWrite(e: u32, s: u32, len: u32): void {
  for (let i: u32 = 0; i <= len; i += 4) {
    let w: u32 = 0;
    for (let k: u32 = 0; k < 4; k++) if (i + k < len) w = u32(w | u32(ld8(s + i + k) << (k * 8)));
    wr32(e + A.NAME_STR + i, w);
  }
}

function nameFree(e: u32): void {
  const t = table();
  const b = t + A.NAMES_HDR + u32(ld32(e + A.NAME_HASH) & mask()) * 4;
  const i = indexOf(e);
  if (ld32(b) == i) wr32(b, ld32(e + A.NAME_CHAIN));
  else {
    let p = nameEntry(ld32(b));
    while (ld32(p + A.NAME_CHAIN) != i) p = nameEntry(ld32(p + A.NAME_CHAIN));
    wr32(p + A.NAME_CHAIN, ld32(e + A.NAME_CHAIN));
  }
  wr32(e + A.NAME_LEN, 0);
  give(e, A.NAMES_NAME_FREE, A.NAME_CHAIN);
  wr32(t + A.NAMES_N_LIVE, ld32(t + A.NAMES_N_LIVE) - 1);
}

/** A new owner record of connection `c` for name `e` (not yet in the queue). */
function ownerNew(e: u32, c: u32, flags: u32): u32 {
  const t = table();
  const o = take(A.NAMES_OWN_HWM, A.NAMES_OWN_FREE, A.NAME_O_QNEXT);
  wr32(o + A.NAME_O_CONN, connIndex(c));
  wr32(o + A.NAME_O_FLAGS, flags);
  wr32(o + A.NAME_O_NAME, indexOf(e));
  wr32(o + A.NAME_O_QNEXT, 0);
  wr32(o + A.NAME_O_CNEXT, ld32(c + A.CONN_NAMES));
  wr32(c + A.CONN_NAMES, indexOf(o));
  wr32(c + A.CONN_N_NAMES, ld32(c + A.CONN_N_NAMES) + 1);
  wr32(t + A.NAMES_N_OWNERS, ld32(t + A.NAMES_N_OWNERS) + 1);
  return o;
}

/**
 * Free owner record `o` (already out of its name's queue). `unlinkConn`: remove it from its
 * connection's list too; a connection being closed leaves its list alone (its slot's fields
 * are don't-care once it is free), which keeps a close's undo log short.
 */
function ownerFree(o: u32, unlinkConn: bool): void {
  const t = table();
  if (unlinkConn) {
    const c = ownerConn(o);
    const i = indexOf(o);
    if (ld32(c + A.CONN_NAMES) == i) wr32(c + A.CONN_NAMES, ld32(o + A.NAME_O_CNEXT));
    else {
      let p = nameEntry(ld32(c + A.CONN_NAMES));
      while (ld32(p + A.NAME_O_CNEXT) != i) p = nameEntry(ld32(p + A.NAME_O_CNEXT));
      wr32(p + A.NAME_O_CNEXT, ld32(o + A.NAME_O_CNEXT));
    }
    wr32(c + A.CONN_N_NAMES, ld32(c + A.CONN_N_NAMES) - 1);
  }
  wr32(o + A.NAME_O_CONN, 0);
  give(o, A.NAMES_OWN_FREE, A.NAME_O_QNEXT);
  wr32(t + A.NAMES_N_OWNERS, ld32(t + A.NAMES_N_OWNERS) - 1);
}

/** Unlink owner record `o` from name `e`'s queue. */
function queueRemove(e: u32, o: u32): void {
  const i = indexOf(o);
  const next = ld32(o + A.NAME_O_QNEXT);
  let prev: u32 = 0;
  if (ld32(e + A.NAME_HEAD) == i) wr32(e + A.NAME_HEAD, next);
  else {
    prev = nameEntry(ld32(e + A.NAME_HEAD));
    while (ld32(prev + A.NAME_O_QNEXT) != i) prev = nameEntry(ld32(prev + A.NAME_O_QNEXT));
    wr32(prev + A.NAME_O_QNEXT, next);
  }
  if (ld32(e + A.NAME_TAIL) == i) wr32(e + A.NAME_TAIL, prev == 0 ? 0 : indexOf(prev));
}

function queueAppend(e: u32, o: u32): void {
  const i = indexOf(o);
  const tail = nameEntry(ld32(e + A.NAME_TAIL));
  const act = nameActivator(e);
  if (act != 0 && act != o) {
    // the activator stays last: insert before it
    wr32(o + A.NAME_O_QNEXT, ld32(e + A.NAME_TAIL));
    if (ld32(e + A.NAME_HEAD) == ld32(e + A.NAME_TAIL)) wr32(e + A.NAME_HEAD, i);
    else {
      let p = nameEntry(ld32(e + A.NAME_HEAD));
      while (nameEntry(ld32(p + A.NAME_O_QNEXT)) != tail) p = nameEntry(ld32(p + A.NAME_O_QNEXT));
      wr32(p + A.NAME_O_QNEXT, i);
    }
    return;
  }
  wr32(o + A.NAME_O_QNEXT, 0);
  if (tail == 0) wr32(e + A.NAME_HEAD, i);
  else wr32(tail + A.NAME_O_QNEXT, i);
  wr32(e + A.NAME_TAIL, i);
}

/** Is owner record `o` an activator's? */
export function ownerIsActivator(o: u32): bool {
  return (ld32(o + A.NAME_O_FLAGS) & A.NAME_ACTIVATOR) != 0;
}

/** The activator's owner record of name `e` (always the last in its queue), 0 if none. */
export function nameActivator(e: u32): u32 {
  const t = nameEntry(ld32(e + A.NAME_TAIL));
  return t != 0 && ownerIsActivator(t) ? t : 0;
}

/**
 * Can activator `c` take the name at `s`? 0, or -1 (it has an activator: EEXIST), -2 (the
 * table is full: ENFILE). Bus lock held; nothing changed.
 */
export function nameActivateCheck(s: u32, len: u32): i32 {
  const e = nameLookup(s, len);
  if (e != 0 && nameActivator(e) != 0) return -1;
  if (nameTableFull()) return -2;
  return 0;
}

/**
 * Activator `c` takes the name at `s` (nameActivateCheck said 0; bus lock held): a free name
 * becomes its (a change record none -> c, flags ACTIVATOR: NAME_ADD); a name with owners
 * gets it last in its queue, silently.
 */
export function nameActivate(c: u32, s: u32, len: u32): void {
  chgName = 0;
  let e = nameLookup(s, len);
  const fresh = e == 0;
  if (fresh) e = nameNew(s, len);
  queueAppend(e, ownerNew(e, c, A.NAME_ACTIVATOR));
  if (fresh) record(e, 0, 0, c, A.NAME_ACTIVATOR);
}

function queuePush(e: u32, o: u32): void {
  const i = indexOf(o);
  wr32(o + A.NAME_O_QNEXT, ld32(e + A.NAME_HEAD));
  wr32(e + A.NAME_HEAD, i);
  if (ld32(e + A.NAME_TAIL) == 0) wr32(e + A.NAME_TAIL, i);
}

/**
 * The change record of name `e`: old owner `oldC` (0: none) with its stored flags `oldF`, new
 * owner `newC` (0: none) with `newF`. A side with an owner carries NAME_PRIMARY beside its
 * stored flags, as kdbus's notifications did (each side was, or has just become, the primary
 * owner); before stop 42 they carried the stored flags only (an outside audit).
 */
function record(e: u32, oldC: u32, oldF: u32, newC: u32, newF: u32): void {
  chgName = e;
  chgLen = ld32(e + A.NAME_LEN);
  chgOld = oldC;
  chgOldFlags = oldC == 0 ? 0 : oldF | A.NAME_PRIMARY;
  chgNew = newC;
  chgNewFlags = newC == 0 ? 0 : newF | A.NAME_PRIMARY;
}

/**
 * NAME_ACQUIRE's registry step for connection `c` (bus lock held; the name valid, the
 * per-connection limit checked): the return flags (>= 0), or -1 when the name is taken
 * (EEXIST), -2 when the table is full (ENFILE). Leaves a change record.
 */
export function nameAcquire(c: u32, s: u32, len: u32, flags: u32): i32 {
  chgName = 0;
  const keep = u32(flags & (A.NAME_ALLOW_REPLACEMENT | A.NAME_QUEUE));
  let e = nameLookup(s, len);
  if (e == 0) {
    if (nameTableFull()) return -2;
    e = nameNew(s, len);
    queueAppend(e, ownerNew(e, c, keep));
    record(e, 0, 0, c, keep);
    return A.NAME_PRIMARY | A.NAME_ACQUIRED;
  }
  const p = namePrimary(e);
  const mine = nameOwnerOf(e, c);
  if (ownerIsActivator(p)) {
    // only its activator holds it: the caller becomes the primary owner (NAME_CHANGE
    // activator -> caller; the caller moves the queued messages: activator.ts)
    if (nameTableFull()) return -2;
    const o = ownerNew(e, c, keep);
    queuePush(e, o);
    record(e, ownerConn(p), A.NAME_ACTIVATOR, c, keep);
    return A.NAME_PRIMARY | A.NAME_ACQUIRED;
  }
  if (mine == p) {
    wr32(p + A.NAME_O_FLAGS, keep); // already the primary owner: its flags are updated
    return A.NAME_PRIMARY;
  }
  const pf = ld32(p + A.NAME_O_FLAGS);
  if ((pf & A.NAME_ALLOW_REPLACEMENT) != 0 && (flags & A.NAME_REPLACE_EXISTING) != 0) {
    // the old primary stays first in line if it asked to queue, else it loses the name: its
    // record is freed first, so that on a full table the caller's new one takes its place
    // (the handover needs no record more: ENFILE for it before stop 46, an outside audit)
    const leaves = (pf & A.NAME_QUEUE) == 0;
    if (mine == 0 && !leaves && nameTableFull()) return -2;
    const pc = ownerConn(p);
    if (leaves) {
      queueRemove(e, p);
      ownerFree(p, true);
    }
    let o = mine;
    if (o == 0) o = ownerNew(e, c, keep);
    else {
      queueRemove(e, o);
      wr32(o + A.NAME_O_FLAGS, keep);
    }
    queuePush(e, o);
    record(e, pc, pf, c, keep);
    return A.NAME_PRIMARY | A.NAME_ACQUIRED; // it became the primary owner (from the queue, or new)
  }
  if ((flags & A.NAME_QUEUE) != 0) {
    if (mine != 0) {
      wr32(mine + A.NAME_O_FLAGS, keep);
      return A.NAME_IN_QUEUE;
    }
    if (nameTableFull()) return -2;
    queueAppend(e, ownerNew(e, c, keep));
    return A.NAME_IN_QUEUE | A.NAME_ACQUIRED;
  }
  if (mine != 0) {
    // queued, asking again without QUEUE: it leaves the queue (kdbus)
    queueRemove(e, mine);
    ownerFree(mine, true);
    return 0;
  }
  return -1;
}

/**
 * Drop owner record `o` of name `e` (bus lock held): a primary passes the name to the next in
 * its queue (a change record old -> next) or the name goes (old -> none); a queued record
 * just leaves. `unlinkConn` as in ownerFree.
 */
export function nameOwnerDrop(e: u32, o: u32, unlinkConn: bool): void {
  chgName = 0;
  const primary = namePrimary(e) == o;
  const oc = ownerConn(o), ofl = ld32(o + A.NAME_O_FLAGS);
  queueRemove(e, o);
  ownerFree(o, unlinkConn);
  if (!primary) return;
  const next = namePrimary(e);
  if (next != 0) record(e, oc, ofl, ownerConn(next), ld32(next + A.NAME_O_FLAGS));
  else {
    record(e, oc, ofl, 0, 0);
    nameFree(e); // its string stays readable until the entry is reused: the notification reads it
  }
}

/** The name entry of owner record `o`. */
export function ownerName(o: u32): u32 {
  return nameEntry(ld32(o + A.NAME_O_NAME));
}

/** The next owner record of the same connection. */
export function ownerNextOfConn(o: u32): u32 {
  return nameEntry(ld32(o + A.NAME_O_CNEXT));
}

/** Connection `c`'s first owner record (0: it has none). */
export function connFirstOwner(c: u32): u32 {
  return nameEntry(ld32(c + A.CONN_NAMES));
}
