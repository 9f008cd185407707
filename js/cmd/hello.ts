// HELLO (struct kdbus_cmd_hello): items (CONN_DESCRIPTION, NAME) follow the struct.
// Result: the connection's slot index; the struct's out fields below.
import * as A from '../shared/abi.ts';
import { put64, get64, get64big } from '../wire.ts';
import { putHeader } from './header.ts';

export const NAME = 'HELLO';
/** where the first item goes */
export const ITEMS = A.HELLO_CMD_SIZE;

/**
 * Write the HELLO struct at `cmd`; `size` covers the items the caller wrote from
 * cmd + ITEMS (items.ts). Masks and pool size are below 2^53 (~0 masks: see raw helpers).
 */
export function encode(u8: Uint8Array, u32: Uint32Array, cmd: number, size: number, flags: number,
  attachSend: number, attachRecv: number, poolSize: number): void {
  u8.fill(0, cmd, cmd + A.HELLO_CMD_SIZE);
  putHeader(u32, cmd, size, flags);
  put64(u32, cmd + A.HELLO_ATTACH_SEND, attachSend);
  put64(u32, cmd + A.HELLO_ATTACH_RECV, attachRecv);
  put64(u32, cmd + A.HELLO_POOL_SIZE, poolSize);
}

/** the new connection's 64-bit id */
export const id = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.HELLO_ID);
/** pool offset of the HELLO slice (a BLOOM_PARAMETER item), to FREE */
export const offset = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.HELLO_OFFSET);
export const itemsSize = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.HELLO_ITEMS_SIZE);
export const busFlags = (u32: Uint32Array, cmd: number): bigint => get64big(u32, cmd + A.HELLO_BUS_FLAGS);
export const id128 = (u8: Uint8Array, cmd: number): Uint8Array => u8.slice(cmd + A.HELLO_ID128, cmd + A.HELLO_ID128 + 16);
