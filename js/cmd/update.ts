// UPDATE (struct kdbus_cmd, then ATTACH_FLAGS_SEND / _RECV items { hdr; u64 flags }): change
// a connection's attach masks; a mask not given (-1 here) is kept.
import * as A from '../shared/abi.ts';
import { put64 } from '../wire.ts';
import { putHeader } from './header.ts';
import { putItemHeader } from './items.ts';

export const NAME = 'UPDATE';

/** Write UPDATE at `cmd` with the masks given (each a u32 mask, or -1: not given). Returns its size. */
export function encode(u32: Uint32Array, cmd: number, attachSend: number, attachRecv: number): number {
  let p = cmd + A.UPDATE_CMD_SIZE;
  if (attachSend >= 0) { putItemHeader(u32, p, A.ATTACH_ITEM_SIZE, A.ITEM_ATTACH_FLAGS_SEND); put64(u32, p + A.ITEM_HDR, attachSend); p += A.ATTACH_ITEM_SIZE; }
  if (attachRecv >= 0) { putItemHeader(u32, p, A.ATTACH_ITEM_SIZE, A.ITEM_ATTACH_FLAGS_RECV); put64(u32, p + A.ITEM_HDR, attachRecv); p += A.ATTACH_ITEM_SIZE; }
  putHeader(u32, cmd, p - cmd, 0);
  return p - cmd;
}
