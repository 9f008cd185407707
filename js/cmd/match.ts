// MATCH_ADD / MATCH_REMOVE (struct kdbus_cmd_match: { u64 size; u64 flags; u64 return_flags;
// u64 cookie; items }): the rules are items after the struct. Per call, plain numbers:
//   p = cmd + A.MATCH_CMD_SIZE; p = putBloomMask(u8, u32, p, masks) / putId(u32, p, type, id) ...
//   encode(u32, cmd, p - cmd, flags, cookie); r = engine.matchAdd(slot, gen)
import * as A from '../shared/abi.ts';
import { put64 } from '../wire.ts';
import { putHeader } from './header.ts';
import { putItemHeader, align8 } from './items.ts';

export const NAME_ADD = 'MATCH_ADD';
export const NAME_REMOVE = 'MATCH_REMOVE';

/** Write the struct at `cmd`: `size` covers the struct and the rule items written after it. */
export function encode(u32: Uint32Array, cmd: number, size: number, flags: number, cookie: number): void {
  putHeader(u32, cmd, size, flags);
  put64(u32, cmd + A.MATCH_CMD_COOKIE, cookie);
}

/** A BLOOM_MASK rule (one or more generations of bloom_size bytes); returns the next item's place. */
export function putBloomMask(u8: Uint8Array, u32: Uint32Array, p: number, masks: Uint8Array): number {
  putItemHeader(u32, p, A.ITEM_HDR + masks.length, A.ITEM_BLOOM_MASK);
  u8.set(masks, p + A.ITEM_HDR);
  u8.fill(0, p + A.ITEM_HDR + masks.length, p + align8(A.ITEM_HDR + masks.length));
  return p + align8(A.ITEM_HDR + masks.length);
}

/** An ID (sender) or DST_ID rule; `lo`/`hi` halves (~0 ~0: any). Returns the next item's place. */
export function putId(u32: Uint32Array, p: number, type: number, lo: number, hi: number): number {
  putItemHeader(u32, p, A.ITEM_HDR + 8, type);
  u32[(p + A.ITEM_HDR) >>> 2] = lo >>> 0; u32[(p + A.ITEM_HDR + 4) >>> 2] = hi >>> 0;
  return p + A.ITEM_HDR + 8;
}

/** An ID_ADD / ID_REMOVE rule about id (lo, hi) (~0 ~0: any connection). */
export function putIdChange(u32: Uint32Array, p: number, type: number, lo: number, hi: number): number {
  putItemHeader(u32, p, A.ITEM_HDR + A.NOTIFY_ID_SIZE, type);
  const i = (p + A.ITEM_HDR) >>> 2;
  u32[i] = lo >>> 0; u32[i + 1] = hi >>> 0; u32[i + 2] = 0; u32[i + 3] = 0;
  return p + A.ITEM_HDR + A.NOTIFY_ID_SIZE;
}

/**
 * A NAME_ADD / NAME_REMOVE / NAME_CHANGE rule with old and new ids (each ~0 ~0: any), about
 * the well-known name `name` (its UTF-8 bytes, a NUL added) or any name (null).
 */
export function putNameChange(u32: Uint32Array, p: number, type: number, oldLo: number, oldHi: number, newLo: number, newHi: number,
  u8?: Uint8Array, name?: Uint8Array | null): number {
  const size = A.ITEM_HDR + A.NOTIFY_NAME_HDR + (name ? name.length + 1 : 0);
  putItemHeader(u32, p, size, type);
  const i = (p + A.ITEM_HDR) >>> 2;
  u32[i] = oldLo >>> 0; u32[i + 1] = oldHi >>> 0; u32[i + 2] = 0; u32[i + 3] = 0;
  u32[i + 4] = newLo >>> 0; u32[i + 5] = newHi >>> 0; u32[i + 6] = 0; u32[i + 7] = 0;
  if (name && u8) {
    u8.set(name, p + A.ITEM_HDR + A.NOTIFY_NAME_HDR);
    u8.fill(0, p + A.ITEM_HDR + A.NOTIFY_NAME_HDR + name.length, p + align8(size));
  }
  return p + align8(size);
}

/** A NAME rule: the sender must be the primary owner of the well-known name `name` (UTF-8 bytes, a NUL added). */
export function putName(u8: Uint8Array, u32: Uint32Array, p: number, name: Uint8Array): number {
  const size = A.ITEM_HDR + name.length + 1;
  putItemHeader(u32, p, size, A.ITEM_NAME);
  u8.set(name, p + A.ITEM_HDR);
  u8.fill(0, p + A.ITEM_HDR + name.length, p + align8(size));
  return p + align8(size);
}
