// match: the match database. MATCH_ADD / MATCH_REMOVE keep each connection's entries on a
// chain (CONN_MATCH_HEAD, MATCH_NEXT) of entries in the bus's match table (layout in
// js/shared/abi.ts, "Match entry"); matchSignal / matchNotify answer whether a receiver's
// entries accept a signal or a bus notification (a message is delivered if any entry
// matches; an entry matches if all of its rules do; an entry without rules matches all).
//
// Free entries are on the bus's free list (BUS_MATCH_FREE) or past its high-water mark
// (BUS_MATCH_HWM): MATCH_ADD takes one in O(1), MATCH_REMOVE gives its entries back, and a
// connection's close gives back its whole chain (matchConnClosed).
//
// Locks: MATCH_ADD and MATCH_REMOVE hold the bus lock (the table's free entries are shared
// by every connection) and then the connection's own lock (its chain); a sender reads a
// receiver's chain under that receiver's lock, which it holds to deliver anyway.
//
// NAME rules (kdbus: the sender is the primary owner of the name) read the name registry,
// which changes under the bus lock: a signal is matched under the bus lock while the bus has
// any entry with a NAME rule (BUS_NAME_RULES, matchNamesLocked). A NAME rule met without it
// (an entry added while the signal was on its way) does not match: the entry came after.
import * as A from "../js/shared/abi";
import { ld32, ld8, st32, st64, copy, THREAD } from "./mem";
import { wr32, logCommit, logRange } from "./journal";
import { unlock, lockBusAndConn } from "./lock";
import { busBloomSize, busConns, busShutdown } from "./bus";
import { connGet, connLive, cmdCheck } from "./conn";
import { itemSize, itemType, itemString, align8 } from "./items";
import { nameValid } from "./names";
import { nameLookup, namePrimary, ownerConn } from "./registry";
import { bloomCheck } from "./bloom";
import { threadCmd } from "./thread";
import { fail, failArg } from "./reason";

const H: u32 = A.BUS_BASE;
const KINDS: u32 = A.HELLO_ACTIVATOR | A.HELLO_POLICY_HOLDER | A.HELLO_MONITOR;

function matchAddr(i: u32): u32 {
  return ld32(H + A.BUS_MATCHES) + i * ld32(H + A.BUS_MATCH_SIZE);
}

/** A free entry's index (the free list's first, else the first never taken), or -1: the table is full. O(1). */
function matchFreeIndex(): i32 {
  const f = ld32(H + A.BUS_MATCH_FREE);
  if (f != 0) return i32(f - 1);
  const hwm = ld32(H + A.BUS_MATCH_HWM);
  return hwm < ld32(H + A.BUS_N_MATCHES) ? i32(hwm) : -1;
}

/** Free entry `i` (matchFreeIndex's) is taken: off the free list, or past the high-water mark (bus lock held). */
function matchTake(i: u32): void {
  if (ld32(H + A.BUS_MATCH_FREE) == i + 1) wr32(H + A.BUS_MATCH_FREE, ld32(matchAddr(i) + A.MATCH_NEXT));
  else wr32(H + A.BUS_MATCH_HWM, i + 1);
}

/**
 * Connection `c` closes (bus and c locks held; connClose, for BYEBYE and recovery): its whole
 * chain goes onto the free list at once (read to its tail, then a few logged stores, whatever
 * its length: a close of MAX_MATCHES_PER_CONN entries stays far inside the undo log), and its
 * NAME rules stop counting in BUS_NAME_RULES. Its entries keep their owner and gen, stale from
 * here on (the slot's generation moves on with the close).
 */
export function matchConnClosed(c: u32): void {
  const head = ld32(c + A.CONN_MATCH_HEAD);
  if (head == 0) return;
  let tail = head, names: u32 = 0;
  for (let i = head; i != 0;) {
    const e = matchAddr(i - 1);
    if (ld32(e + A.MATCH_KIND) == 0 && (ld32(e + A.MATCH_RULES) & A.MATCH_RULE_NAME) != 0) names++;
    tail = i;
    i = ld32(e + A.MATCH_NEXT);
  }
  wr32(matchAddr(tail - 1) + A.MATCH_NEXT, ld32(H + A.BUS_MATCH_FREE));
  wr32(H + A.BUS_MATCH_FREE, head);
  if (names != 0) wr32(H + A.BUS_NAME_RULES, ld32(H + A.BUS_NAME_RULES) - names);
  wr32(c + A.CONN_MATCH_HEAD, 0);
  wr32(c + A.CONN_N_MATCHES, 0);
}

function isNotify(type: u32): bool {
  return type == A.ITEM_ID_ADD || type == A.ITEM_ID_REMOVE || type == A.ITEM_NAME_ADD ||
    type == A.ITEM_NAME_REMOVE || type == A.ITEM_NAME_CHANGE;
}

/** The command header and the caller's kind, shared by MATCH_ADD and MATCH_REMOVE: the connection, or -errno. */
function matchCmd(slot: u32, gen: u32, flags: u32): i32 {
  const c = connGet(slot, gen);
  if (c < 0) return c;
  if (ld32(THREAD + A.THREAD_OP) != A.OP_NONE) return fail(A.EINPROGRESS, A.R_OP_PENDING);
  // the caller's kind before the header, as SEND and NAME_ACQUIRE / NAME_RELEASE check it (and
  // kdbus's kdbus_cmd_match_add, kdbus_conn_is_ordinary first); it came after the header before
  // stop 48 (an outside audit of the raw ABI)
  if ((ld32(u32(c) + A.CONN_FLAGS) & KINDS) != 0) return fail(A.EOPNOTSUPP, A.R_MATCH_SENDER_KIND);
  const r = cmdCheck(threadCmd(), A.MATCH_CMD_SIZE, flags);
  if (r < 0) return r;
  return c;
}

/** Free the entries of `c` with `cookie` onto the free list (bus and c locks held); returns how many. */
function matchUnlink(c: u32, lo: u32, hi: u32): u32 {
  let n: u32 = 0, prev: u32 = 0;
  let i = ld32(c + A.CONN_MATCH_HEAD);
  while (i != 0) {
    const e = matchAddr(i - 1);
    const next = ld32(e + A.MATCH_NEXT);
    if (ld32(e + A.MATCH_COOKIE) == lo && ld32(e + A.MATCH_COOKIE + 4) == hi) {
      if (prev == 0) wr32(c + A.CONN_MATCH_HEAD, next);
      else wr32(matchAddr(prev - 1) + A.MATCH_NEXT, next);
      nameRuleGone(e);
      // owner 0: not live while c stays open (its slot and generation still match)
      wr32(e + A.MATCH_OWNER, 0);
      wr32(e + A.MATCH_NEXT, ld32(H + A.BUS_MATCH_FREE));
      wr32(H + A.BUS_MATCH_FREE, i);
      n++;
    } else prev = i;
    i = next;
  }
  if (n != 0) wr32(c + A.CONN_N_MATCHES, ld32(c + A.CONN_N_MATCHES) - n);
  return n;
}

/** Live entry `e` leaves its chain: it no longer counts in BUS_NAME_RULES (bus lock held). */
function nameRuleGone(e: u32): void {
  if (ld32(e + A.MATCH_KIND) == 0 && (ld32(e + A.MATCH_RULES) & A.MATCH_RULE_NAME) != 0) {
    wr32(H + A.BUS_NAME_RULES, ld32(H + A.BUS_NAME_RULES) - 1);
  }
}

/**
 * Must a signal be matched under the bus lock (some entry may hold a NAME rule)? The
 * sender takes the bus lock first (the lock order) when this says so, and passes it on to
 * matchSignal as `names`.
 */
export function matchNamesLocked(): bool {
  return ld32(H + A.BUS_NAME_RULES) != 0;
}

/** Is the name of entry `e` the `len` bytes at `s`? */
function nameIs(e: u32, s: u32, len: u32): bool {
  if (ld32(e + A.MATCH_NAME_LEN) != len) return false;
  for (let i: u32 = 0; i < len; i++) if (ld8(e + A.MATCH_NAME + i) != ld8(s + i)) return false;
  return true;
}

/** Is connection `c` the primary owner of the name of entry `e`? (bus lock held) */
function ownsName(e: u32, c: u32): bool {
  const n = nameLookup(e + A.MATCH_NAME, ld32(e + A.MATCH_NAME_LEN));
  if (n == 0) return false;
  const o = namePrimary(n);
  return o != 0 && ownerConn(o) == c;
}

/** How many entries of `c` have `cookie` (c's lock held). */
function matchCount(c: u32, lo: u32, hi: u32): u32 {
  let n: u32 = 0;
  for (let i = ld32(c + A.CONN_MATCH_HEAD); i != 0;) {
    const e = matchAddr(i - 1);
    if (ld32(e + A.MATCH_COOKIE) == lo && ld32(e + A.MATCH_COOKIE + 4) == hi) n++;
    i = ld32(e + A.MATCH_NEXT);
  }
  return n;
}

/** MATCH_ADD: one entry with the command's rules (MATCH_REPLACE: its cookie's entries go first). 0 or -errno. */
export function matchAdd(slot: u32, gen: u32): i32 {
  const ci = matchCmd(slot, gen, A.MATCH_REPLACE);
  if (ci < 0) return ci;
  if (busShutdown()) return fail(A.ESHUTDOWN, A.R_BUS_SHUTDOWN); // (MATCH_REMOVE still works)
  const c = u32(ci);
  const cmd = threadCmd();
  const end = cmd + ld32(cmd + A.CMD_SIZE);
  const bloomSize = busBloomSize();
  // the rules, validated before any lock
  let kind: u32 = 0, rules: u32 = 0, mask: u32 = 0, nGen: u32 = 0;
  let idItem: u32 = 0, dstItem: u32 = 0, notify: u32 = 0, name: u32 = 0, nameLen: u32 = 0;
  for (let p = cmd + A.MATCH_CMD_SIZE; p < end;) {
    const size = itemSize(p, end);
    if (size == 0) return fail(A.EINVAL, A.R_ITEM_MALFORMED);
    const type = itemType(p);
    const n = size - A.ITEM_HDR;
    if (type == A.ITEM_BLOOM_MASK) {
      if (mask != 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, type);
      if (n == 0 || u32(n % bloomSize) != 0) return failArg(A.EDOM, A.R_MATCH_BLOOM_SIZE, bloomSize);
      nGen = u32(n / bloomSize);
      if (nGen > u32(A.MATCH_GENERATIONS)) return failArg(A.EMSGSIZE, A.R_MATCH_BLOOM_GENERATIONS, A.MATCH_GENERATIONS);
      mask = p + A.ITEM_HDR;
      rules |= A.MATCH_RULE_BLOOM;
    } else if (type == A.ITEM_ID || type == A.ITEM_DST_ID) {
      if (n != 8) return failArg(A.EINVAL, A.R_MATCH_ITEM_SIZE, type);
      if (type == A.ITEM_ID) {
        if (idItem != 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, type);
        idItem = p + A.ITEM_HDR;
        rules |= A.MATCH_RULE_ID;
      } else {
        if (dstItem != 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, type);
        dstItem = p + A.ITEM_HDR;
        rules |= A.MATCH_RULE_DST_ID;
      }
    } else if (type == A.ITEM_NAME) {
      if ((rules & A.MATCH_RULE_NAME) != 0) return failArg(A.EINVAL, A.R_ITEM_DUPLICATE, type);
      const len = itemString(p, size);
      if (len < 0 || !nameValid(p + A.ITEM_HDR, u32(len))) return failArg(A.EINVAL, A.R_MATCH_NAME_INVALID, type);
      name = p + A.ITEM_HDR;
      nameLen = u32(len);
      rules |= A.MATCH_RULE_NAME;
    } else if (type == A.ITEM_ID_ADD || type == A.ITEM_ID_REMOVE) {
      if (n != u32(A.NOTIFY_ID_SIZE)) return failArg(A.EINVAL, A.R_MATCH_ITEM_SIZE, type);
      if (notify != 0) return failArg(A.EINVAL, A.R_MATCH_MIXED, type);
      notify = p + A.ITEM_HDR;
      kind = type;
    } else if (type == A.ITEM_NAME_ADD || type == A.ITEM_NAME_REMOVE || type == A.ITEM_NAME_CHANGE) {
      if (n < u32(A.NOTIFY_NAME_HDR)) return failArg(A.EINVAL, A.R_MATCH_ITEM_SIZE, type);
      if (notify != 0) return failArg(A.EINVAL, A.R_MATCH_MIXED, type);
      if (n > u32(A.NOTIFY_NAME_HDR)) {
        // the name the notifications are about: { old; new; char name[] } NUL-terminated
        const len = itemString(p + A.NOTIFY_NAME_HDR, size - A.NOTIFY_NAME_HDR);
        if (len < 0 || !nameValid(p + A.ITEM_HDR + A.NOTIFY_NAME_HDR, u32(len))) return failArg(A.EINVAL, A.R_MATCH_NAME_INVALID, type);
        name = p + A.ITEM_HDR + A.NOTIFY_NAME_HDR;
        nameLen = u32(len);
      }
      notify = p + A.ITEM_HDR;
      kind = type;
    } else return failArg(A.EINVAL, A.R_ITEM_UNKNOWN, type);
    p += align8(size);
  }
  if (kind != 0 && rules != 0) return failArg(A.EINVAL, A.R_MATCH_MIXED, kind);
  const lo = ld32(cmd + A.MATCH_CMD_COOKIE), hi = ld32(cmd + A.MATCH_CMD_COOKIE + 4);
  const replace = (ld32(cmd + A.CMD_FLAGS) & A.MATCH_REPLACE) != 0;

  if (!lockBusAndConn(c)) return A.WOULDBLOCK;
  let ret = 0;
  if (!connLive(c, gen)) ret = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  else {
    // every check before the first change: the entries REPLACE frees count as free
    const gone = replace ? matchCount(c, lo, hi) : 0;
    // an entry that was free before this command: its fields are don't-cares (plain stores)
    let free = matchFreeIndex();
    if (ld32(c + A.CONN_N_MATCHES) - gone >= u32(A.MAX_MATCHES_PER_CONN)) ret = failArg(A.EMFILE, A.R_MATCH_PER_CONN, A.MAX_MATCHES_PER_CONN);
    else if (gone == 0 && free < 0) ret = failArg(A.ENFILE, A.R_MATCH_TABLE_FULL, ld32(H + A.BUS_N_MATCHES));
    else {
      // (taken before the entries REPLACE frees go onto the free list in front of it)
      if (free >= 0) matchTake(u32(free));
      if (gone != 0) matchUnlink(c, lo, hi);
      if (free < 0) {
        // the table is full: an entry REPLACE just unlinked is taken again. It was live when
        // the command began, so every word of it is logged first: undone, the entry is whole
        // again (its link, cookie and rules), not the new one's plain stores
        free = matchFreeIndex();
        logRange(matchAddr(u32(free)), ld32(H + A.BUS_MATCH_SIZE));
        matchTake(u32(free));
      }
      matchWrite(c, u32(free), lo, hi, kind, rules, mask, nGen, bloomSize, idItem, dstItem, notify, name, nameLen);
      st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
    }
  }
  logCommit();
  unlock(c + A.CONN_LOCK);
  unlock(H + A.BUS_LOCK);
  return ret;
}

/**
 * Fill entry `i` (taken: matchTake) and put it at the head of c's chain. Its fields are
 * don't-cares while it is free (plain stores) but next, which links the free list; next,
 * owner, gen, the chain head and the count make it live (logged).
 */
function matchWrite(c: u32, i: u32, lo: u32, hi: u32, kind: u32, rules: u32, mask: u32, nGen: u32,
  bloomSize: u32, idItem: u32, dstItem: u32, notify: u32, name: u32, nameLen: u32): void {
  const e = matchAddr(i);
  if ((rules & A.MATCH_RULE_NAME) != 0) wr32(H + A.BUS_NAME_RULES, ld32(H + A.BUS_NAME_RULES) + 1);
  st32(e + A.MATCH_NAME_LEN, nameLen);
  if (nameLen != 0) copy(e + A.MATCH_NAME, name, nameLen);
  st64(e + A.MATCH_COOKIE, lo, hi);
  st32(e + A.MATCH_KIND, kind);
  st32(e + A.MATCH_RULES, rules);
  st32(e + A.MATCH_N_GEN, nGen);
  st64(e + A.MATCH_ID, 0xffffffff, 0xffffffff);
  st64(e + A.MATCH_ID2, 0xffffffff, 0xffffffff);
  if (mask != 0) copy(e + A.MATCH_MASK, mask, nGen * bloomSize);
  if (idItem != 0) copy(e + A.MATCH_ID, idItem, 8);
  if (dstItem != 0) copy(e + A.MATCH_ID2, dstItem, 8);
  if (kind == A.ITEM_ID_ADD || kind == A.ITEM_ID_REMOVE) copy(e + A.MATCH_ID, notify, 8);
  else if (notify != 0) {
    copy(e + A.MATCH_ID, notify, 8); // old id
    copy(e + A.MATCH_ID2, notify + 16, 8); // new id
  }
  wr32(e + A.MATCH_NEXT, ld32(c + A.CONN_MATCH_HEAD));
  wr32(e + A.MATCH_GEN, ld32(c + A.CONN_GEN));
  wr32(e + A.MATCH_OWNER, u32((c - busConns()) / A.CONN_SIZE) + 1);
  wr32(c + A.CONN_MATCH_HEAD, i + 1);
  wr32(c + A.CONN_N_MATCHES, ld32(c + A.CONN_N_MATCHES) + 1);
}

/** MATCH_REMOVE: the entries with the command's cookie; none -> -EBADSLT. */
export function matchRemove(slot: u32, gen: u32): i32 {
  const ci = matchCmd(slot, gen, 0);
  if (ci < 0) return ci;
  const c = u32(ci);
  const cmd = threadCmd();
  if (ld32(cmd + A.CMD_SIZE) != A.MATCH_CMD_SIZE) return failArg(A.EINVAL, A.R_CMD_ITEMS, A.MATCH_CMD_SIZE);
  const lo = ld32(cmd + A.MATCH_CMD_COOKIE), hi = ld32(cmd + A.MATCH_CMD_COOKIE + 4);
  if (!lockBusAndConn(c)) return A.WOULDBLOCK;
  let ret = 0;
  if (!connLive(c, gen)) ret = fail(A.ECONNRESET, A.R_CONN_CLOSED);
  else if (matchUnlink(c, lo, hi) == 0) ret = fail(A.EBADSLT, A.R_MATCH_NO_COOKIE);
  else st64(cmd + A.CMD_RETURN_FLAGS, 0, 0);
  logCommit();
  unlock(c + A.CONN_LOCK);
  unlock(H + A.BUS_LOCK);
  return ret;
}

/** Does a 64-bit rule value at `p` accept (lo, hi)? ~0 accepts any. */
function idOk(p: u32, lo: u32, hi: u32): bool {
  const rl = ld32(p), rh = ld32(p + 4);
  return (rl == 0xffffffff && rh == 0xffffffff) || (rl == lo && rh == hi);
}

/**
 * Do d's entries accept a signal from sender `c` to destination (dstLo, dstHi) with the
 * BLOOM_FILTER item at `filter`? (d's lock held; with `names`, the bus lock too: NAME rules
 * can be checked)
 */
export function matchSignal(d: u32, c: u32, dstLo: u32, dstHi: u32, filter: u32, names: bool): bool {
  const size = busBloomSize();
  for (let i = ld32(d + A.CONN_MATCH_HEAD); i != 0;) {
    const e = matchAddr(i - 1);
    i = ld32(e + A.MATCH_NEXT);
    // a notification rule never matches a signal
    if (ld32(e + A.MATCH_KIND) != 0) continue;
    const rules = ld32(e + A.MATCH_RULES);
    if ((rules & A.MATCH_RULE_ID) != 0 && !idOk(e + A.MATCH_ID, ld32(c + A.CONN_ID), ld32(c + A.CONN_ID + 4))) continue;
    if ((rules & A.MATCH_RULE_DST_ID) != 0 && !idOk(e + A.MATCH_ID2, dstLo, dstHi)) continue;
    if ((rules & A.MATCH_RULE_BLOOM) != 0 && !bloomCheck(filter, e + A.MATCH_MASK, ld32(e + A.MATCH_N_GEN), size)) continue;
    if ((rules & A.MATCH_RULE_NAME) != 0 && !(names && ownsName(e, c))) continue;
    return true;
  }
  return false;
}

/**
 * Do d's entries accept a notification of `kind` about id (lo, hi) (ID_ADD / ID_REMOVE), or
 * about the name at `name` (`nameLen` bytes) moving from (lo, hi) to (lo2, hi2) (NAME_*; 0
 * for no owner)? (d's lock held)
 */
export function matchNotify(d: u32, kind: u32, lo: u32, hi: u32, lo2: u32, hi2: u32, name: u32, nameLen: u32): bool {
  for (let i = ld32(d + A.CONN_MATCH_HEAD); i != 0;) {
    const e = matchAddr(i - 1);
    i = ld32(e + A.MATCH_NEXT);
    const k = ld32(e + A.MATCH_KIND);
    // an entry without rules matches everything; a user-signal rule never a notification
    if (k == 0) {
      if (ld32(e + A.MATCH_RULES) == 0) return true;
      continue;
    }
    if (k != kind || !idOk(e + A.MATCH_ID, lo, hi)) continue;
    if (isNotify(k) && k != A.ITEM_ID_ADD && k != A.ITEM_ID_REMOVE) {
      if (!idOk(e + A.MATCH_ID2, lo2, hi2)) continue;
      // a NAME_* rule with a name: notifications about that name only
      if (ld32(e + A.MATCH_NAME_LEN) != 0 && !nameIs(e, name, nameLen)) continue;
    }
    return true;
  }
  return false;
}
