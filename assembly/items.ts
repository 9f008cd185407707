// items: walking and validating kdbus items ({u64 size; u64 type; payload}, 8-aligned),
import * as A from "../js/shared/abi";
import { ld32, ld8 } from "./mem";

/** n rounded up to a multiple of 8 (items and slices are 8-byte aligned) */
export function align8(n: u32): u32 {
  return u32(u32(n + 7) & ~7);
}

/**
 * Size of the item at `p` if it lies wholly inside [p, end) and has at least a header,
 * else 0. The next item starts at p + align8(size).
 */
export function itemSize(p: u32, end: u32): u32 {
  if (p + A.ITEM_HDR > end) return 0;
  if (ld32(p + A.ITEM_SIZE + 4) != 0) return 0;
  const size = ld32(p + A.ITEM_SIZE);
  if (size < u32(A.ITEM_HDR) || size > end - p) return 0;
  return size;
}

export function itemType(p: u32): u32 {
  // types above 2^32 are never valid: report them as 0 (unknown)
  return ld32(p + A.ITEM_TYPE + 4) != 0 ? 0 : ld32(p + A.ITEM_TYPE);
}

/**
 * Length of the NUL-terminated string that fills the payload of the item at `p` (size
 * `size`): the NUL must be the payload's last byte and the only one. -1 when malformed.
 */
export function itemString(p: u32, size: u32): i32 {
  const n = i32(size) - A.ITEM_HDR;
  if (n < 1 || ld8(p + size - 1) != 0) return -1;
  const s = p + A.ITEM_HDR;
  for (let i = 0; i < n - 1; i++) if (ld8(s + i) == 0) return -1;
  return n - 1;
}
