// owned: the OWNED_NAME items of a connection: the well-known names it owns as primary owner
// (queued names are not listed), one kdbus item { hdr; u64 flags; char name[] } each, 8-aligned,
// flags as LIST reports them (its acquire flags | PRIMARY). Read from the name registry, so
// only under the bus lock (the registry's lock): SEND and broadcasts take it for these items
// only when the sender may own a name (CONN_N_NAMES, see ownedMayHave) and a receiver asks
// for them (docs/ARCHITECTURE.md, "Owned names in metadata").
import * as A from "../js/shared/abi";
import { ld32, aLoad, st64, copy, fill } from "./mem";
import { align8 } from "./items";
import { connFirstOwner, ownerNextOfConn, ownerName, namePrimary } from "./registry";

/** Did the last namesOwnedBy leave names out (they did not fit)? (a scratch result: set by it, read after it in the same command) */
export let ownedCut: bool = false;

/**
 * May connection `c` own a name? Read without a lock: CONN_N_NAMES counts its owned and queued
 * names, and only `c`'s own NAME_ACQUIRE raises it (a queued name that becomes primary was
 * already counted), so a 0 read here is "owns none" at a moment no earlier than the command's
 * start. A count > 0 says only "maybe": the list is read under the bus lock.
 */
export function ownedMayHave(c: u32): bool {
  return aLoad(c + A.CONN_N_NAMES) != 0;
}

/** Size of owner record `o`'s OWNED_NAME item, 8-aligned; 0 when `o` is queued, not primary. */
function itemSizeOf(o: u32): u32 {
  const e = ownerName(o);
  if (namePrimary(e) != o) return 0;
  return align8(A.OWNED_NAME_STR + ld32(e + A.NAME_LEN) + 1);
}

/**
 * Write the OWNED_NAME items of connection `c` (bus lock held) at `out`, at most `cap` bytes,
 * in the order `c` asked for the names (oldest first), and return their total size (0: it
 * owns none). When they do not all fit, the list is cut at its end: the most recently asked
 * names are left out, whole, and ownedCut says so (the TRUNCATED item, meta.ts).
 * The connection's list is newest first: one walk sums the sizes, a second skips the newest
 * until the rest fits, then writes each item backwards from the end. At most
 * 2 × MAX_NAMES_PER_CONN steps.
 */
export function namesOwnedBy(c: u32, out: u32, cap: u32): u32 {
  ownedCut = false;
  let total: u32 = 0;
  for (let o = connFirstOwner(c); o != 0; o = ownerNextOfConn(o)) total += itemSizeOf(o);
  let o = connFirstOwner(c);
  while (total > cap) {
    const n = itemSizeOf(o);
    if (n != 0) ownedCut = true;
    total -= n;
    o = ownerNextOfConn(o);
  }
  let w = out + total;
  for (; o != 0; o = ownerNextOfConn(o)) {
    const n = itemSizeOf(o);
    if (n == 0) continue;
    w -= n;
    const e = ownerName(o);
    const len = ld32(e + A.NAME_LEN);
    st64(w + A.ITEM_SIZE, A.OWNED_NAME_STR + len + 1, 0);
    st64(w + A.ITEM_TYPE, A.ITEM_OWNED_NAME, 0);
    st64(w + A.OWNED_NAME_FLAGS, u32(ld32(o + A.NAME_O_FLAGS) | A.NAME_PRIMARY), 0);
    copy(w + A.OWNED_NAME_STR, e + A.NAME_STR, len);
    fill(w + A.OWNED_NAME_STR + len, 0, n - A.OWNED_NAME_STR - len);
  }
  return total;
}
