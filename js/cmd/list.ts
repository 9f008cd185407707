// LIST (struct kdbus_cmd_list): the bus's connections and names as kdbus_info records in a
// slice of the caller's pool (which the caller frees).
import * as A from '../shared/abi.ts';
import { get64 } from '../wire.ts';
import { putHeader } from './header.ts';
import { itemSize, itemType, align8 } from './items.ts';

export const NAME = 'LIST';

/** Write LIST at `cmd`: flags LIST_UNIQUE | LIST_NAMES | LIST_ACTIVATORS | LIST_QUEUED. */
export function encode(u32: Uint32Array, cmd: number, flags: number): void {
  putHeader(u32, cmd, A.LIST_CMD_SIZE, flags);
  const i = (cmd + A.LIST_OFFSET) >>> 2;
  u32[i] = 0; u32[i + 1] = 0; u32[i + 2] = 0; u32[i + 3] = 0;
}

/** pool offset of the list (pool size when empty) */
export const offset = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.LIST_OFFSET);
/** its size in bytes */
export const size = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.LIST_SIZE);

/** One record: a connection id, its HELLO flags, and the name it owns or queues for (if listed with one). */
export interface Entry { id: bigint; flags: number; name?: string; nameFlags?: number }

const dec = new TextDecoder('utf-8', { ignoreBOM: true }); // (a leading U+FEFF kept: the default drops it)

/** Decode the records of the list at absolute address `p` (`n` bytes). */
export function decode(u8: Uint8Array, u32: Uint32Array, p: number, n: number): Entry[] {
  const out: Entry[] = [];
  const end = p + n;
  for (let r = p; r + A.KINFO_HDR <= end;) {
    const rsize = u32[(r + A.KINFO_SIZE) >>> 2];
    if (rsize < A.KINFO_HDR || r + rsize > end) break;
    const e: Entry = { id: BigInt(u32[(r + A.KINFO_ID) >>> 2]) | (BigInt(u32[(r + A.KINFO_ID + 4) >>> 2]) << 32n), flags: u32[(r + A.KINFO_FLAGS) >>> 2] };
    for (let it = r + A.KINFO_HDR, k = 0; (k = itemSize(u32, it, r + rsize)) !== 0; it += align8(k)) {
      if (itemType(u32, it) !== A.ITEM_OWNED_NAME) continue;
      e.nameFlags = u32[(it + A.OWNED_NAME_FLAGS) >>> 2];
      e.name = dec.decode(u8.slice(it + A.OWNED_NAME_STR, it + k - 1));
    }
    out.push(e);
    r += align8(rsize);
  }
  return out;
}
