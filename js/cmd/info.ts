// CONN_INFO / BUS_CREATOR_INFO (struct kdbus_cmd_info): the answer is a struct kdbus_info
// slice in the caller's pool ({ u64 size; u64 id; u64 flags; items }), to FREE.
import * as A from '../shared/abi.ts';
import { put64, get64 } from '../wire.ts';
import { putHeader } from './header.ts';
import { putStringItem } from './items.ts';

export const NAME = 'CONN_INFO';
export const CREATOR_NAME = 'BUS_CREATOR_INFO';

/** Write the command at `cmd`: the target's id (CONN_INFO; 0 for BUS_CREATOR_INFO) and the attach flags asked for. */
export function encode(u32: Uint32Array, cmd: number, id: number, attachFlags: number): void {
  putHeader(u32, cmd, A.INFO_CMD_SIZE, 0);
  put64(u32, cmd + A.INFO_ID, id);
  put64(u32, cmd + A.INFO_ATTACH_FLAGS, attachFlags);
  put64(u32, cmd + A.INFO_OFFSET, 0);
  put64(u32, cmd + A.INFO_INFO_SIZE, 0);
}

/** CONN_INFO by well-known name: id 0 and one NAME item (the name's bytes, without NUL). */
export function encodeByName(u8: Uint8Array, u32: Uint32Array, cmd: number, name: Uint8Array, attachFlags: number): void {
  encode(u32, cmd, 0, attachFlags);
  const end = putStringItem(u8, u32, cmd + A.INFO_CMD_SIZE, A.ITEM_NAME, name);
  put64(u32, cmd + A.CMD_SIZE, end - cmd);
}

/** pool offset of the kdbus_info slice */
export const offset = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.INFO_OFFSET);
/** its size (kdbus_info.size) */
export const infoSize = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.INFO_INFO_SIZE);
