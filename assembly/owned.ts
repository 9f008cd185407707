// owned: the OWNED_NAME items of a connection: "the names the sender owns" (kdbus: one
// item { u64 flags; char name[] } per primary name). The name registry lives in the names
// branch, which fills namesOwnedBy in; until then no connection owns a name and the items
// are left out.
import * as A from "../js/shared/abi";

/**
 * Write the OWNED_NAME items of connection `c` at `out` (at most `cap` bytes, each item
 * 8-aligned) and return their total size; 0 when it owns none, or when they do not all fit
 * (all are left out then: a partial list misstates what it owns). Called before any lock for
 * a message and under the bus lock for CONN_INFO.
 */
export function namesOwnedBy(c: u32, out: u32, cap: u32): u32 {
  // the names branch walks the registry here (A.ITEM_OWNED_NAME items)
  if (c == 0 || out == 0 || cap < u32(A.ITEM_HDR)) return 0;
  return 0;
}
