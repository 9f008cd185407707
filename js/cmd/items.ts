// items: kdbus items ({ u64 size; u64 type; payload }, each at an 8-aligned offset) written
// and walked by the host: the one place that knows the item format on the host side
// (commands' items, a received message's items). Nothing here allocates.
import * as A from '../shared/abi.ts';
import { put64 } from '../wire.ts';

/** n rounded up to a multiple of 8 */
export function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** Write an item header at `p` (8-aligned). */
export function putItemHeader(u32: Uint32Array, p: number, size: number, type: number): void {
  put64(u32, p + A.ITEM_SIZE, size);
  put64(u32, p + A.ITEM_TYPE, type);
}

/** A string item (`bytes` and a NUL, zero-padded to 8) at `p`; returns where the next item goes. */
export function putStringItem(u8: Uint8Array, u32: Uint32Array, p: number, type: number, bytes: Uint8Array): number {
  const size = A.ITEM_HDR + bytes.length + 1;
  putItemHeader(u32, p, size, type);
  u8.set(bytes, p + A.ITEM_HDR);
  u8.fill(0, p + A.ITEM_HDR + bytes.length, p + align8(size));
  return p + align8(size);
}

/** A PAYLOAD_VEC item at `p` whose bytes are at `address` in the shared memory (0: padding); returns the next item's place. */
export function putVec(u32: Uint32Array, p: number, size: number, address: number): number {
  putItemHeader(u32, p, A.VEC_ITEM_SIZE, A.ITEM_PAYLOAD_VEC);
  put64(u32, p + A.VEC_SIZE, size);
  put64(u32, p + A.VEC_ADDRESS, address);
  return p + A.VEC_ITEM_SIZE;
}

/** A host PAYLOAD_VEC (address ~0: the host copies the bytes after SEND_PENDING); returns the next item's place. */
export function putHostVec(u32: Uint32Array, p: number, size: number): number {
  putItemHeader(u32, p, A.VEC_ITEM_SIZE, A.ITEM_PAYLOAD_VEC);
  put64(u32, p + A.VEC_SIZE, size);
  const i = (p + A.VEC_ADDRESS) >>> 2;
  u32[i] = 0xffffffff;
  u32[i + 1] = 0xffffffff;
  return p + A.VEC_ITEM_SIZE;
}

/**
 * Walking: the size of the item at `p` when a whole one lies in [p, end) (header included,
 * size >= ITEM_HDR, high word 0), else 0, which ends the walk:
 *   for (let p = first, n; (n = itemSize(u32, p, end)) !== 0; p += align8(n)) ...
 */
export function itemSize(u32: Uint32Array, p: number, end: number): number {
  if (p + A.ITEM_HDR > end) return 0;
  const i = p >>> 2;
  const size = u32[i];
  if (u32[i + 1] !== 0 || size < A.ITEM_HDR || size > end - p) return 0;
  return size;
}

/** The item's type (types above 2^32 are reported as 0: unknown). */
export function itemType(u32: Uint32Array, p: number): number {
  const i = (p + A.ITEM_TYPE) >>> 2;
  return u32[i + 1] !== 0 ? 0 : u32[i];
}

/** A PAYLOAD_VEC / PAYLOAD_OFF item's size (low word: payloads are at most MAX_PAYLOAD). */
export function vecSize(u32: Uint32Array, p: number): number {
  return u32[(p + A.VEC_SIZE) >>> 2];
}

/** A PAYLOAD_VEC's address / PAYLOAD_OFF's offset, or -1 for ~0 (padding in a received message). */
export function vecAddress(u32: Uint32Array, p: number): number {
  const i = (p + A.VEC_ADDRESS) >>> 2;
  if (u32[i] === 0xffffffff && u32[i + 1] === 0xffffffff) return -1;
  return u32[i + 1] * 4294967296 + u32[i];
}

const ITEM_NAMES = new Map<number, string>();
for (const [k, v] of Object.entries(A)) {
  if (k.startsWith('ITEM_') && k !== 'ITEM_SIZE' && k !== 'ITEM_TYPE' && k !== 'ITEM_HDR') ITEM_NAMES.set(v as number, k.slice(5));
}
/** An item type's kdbus name ('CONN_DESCRIPTION'), or its number. */
export function itemName(type: number): string {
  return ITEM_NAMES.get(type) ?? `type ${type}`;
}
