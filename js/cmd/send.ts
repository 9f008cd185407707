// SEND (struct kdbus_cmd_send) and its message (struct kdbus_msg, then items). The public
// API puts the message right after the struct (MSG); per message, with plain numbers:
//   p = MSG + A.MSG_HDR; p = putHostVec(u32, p, len) ...      (items.ts)
//   encodeMsg(u32, MSG, p - MSG, flags, priority, dst, cookie, 0)
//   encode(u32, cmd, MSG, 0)
//   r = engine.send(slot, gen)   -> SEND_PENDING: copy to vecDestination(u32, vec), send_commit
import * as A from '../shared/abi.ts';
import { put64, get64, put64big } from '../wire.ts';
import { putHeader } from './header.ts';

export const NAME = 'SEND';
/** where the public API puts the message: right after the struct */
export const MSG = A.SEND_CMD_SIZE;

/** PAYLOAD_WASMBUS ("wasmbus\0", little-endian) as its two halves */
const PAYLOAD_LO = 0x6d736177, PAYLOAD_HI = 0x00737562;

/** Write the SEND struct at `cmd` for the message at `msg` (no command items). */
export function encode(u32: Uint32Array, cmd: number, msg: number, flags: number): void {
  putHeader(u32, cmd, A.SEND_CMD_SIZE, flags);
  const i = (cmd + A.SEND_MSG_ADDRESS) >>> 2;
  u32[i] = msg; u32[i + 1] = 0;
}

/**
 * Write a message header at `msg`: `size` covers the header and the items written after it;
 * src_id 0 (the core fills in the sender); payload type PAYLOAD_WASMBUS (encodePayloadType
 * changes it). priority is an s64 (negative allowed); the others below 2^53.
 */
export function encodeMsg(u32: Uint32Array, msg: number, size: number, flags: number, priority: number,
  dst: number, cookie: number, timeout: number): void {
  put64(u32, msg + A.MSG_SIZE, size);
  put64(u32, msg + A.MSG_FLAGS, flags);
  put64(u32, msg + A.MSG_PRIORITY, priority);
  put64(u32, msg + A.MSG_DST_ID, dst);
  const i = (msg + A.MSG_SRC_ID) >>> 2;
  u32[i] = 0; u32[i + 1] = 0;
  u32[i + 2] = PAYLOAD_LO; u32[i + 3] = PAYLOAD_HI; // MSG_PAYLOAD_TYPE
  put64(u32, msg + A.MSG_COOKIE, cookie);
  put64(u32, msg + A.MSG_TIMEOUT, timeout);
}

/** Set the message's payload type (a u64). */
export function encodePayloadType(u32: Uint32Array, msg: number, type: bigint): void {
  put64big(u32, msg + A.MSG_PAYLOAD_TYPE, type);
}

/** After SEND_PENDING: where the host copies the bytes of the host vec item at `vec` (the core wrote it back, < 4 GiB). */
export function vecDestination(u32: Uint32Array, vec: number): number {
  return u32[(vec + A.VEC_ADDRESS) >>> 2];
}

/** SEND_BATCH: how many of the batch's messages were sent (< 2^32) */
export const batchSent = (u32: Uint32Array, cmd: number): number => u32[(cmd + A.SEND_BATCH_SENT) >>> 2];
/** Zero SEND_BATCH_SENT before a batch (a SEND refused before its outputs are initialised leaves it as it was). */
export function clearBatchSent(u32: Uint32Array, cmd: number): void {
  u32[(cmd + A.SEND_BATCH_SENT) >>> 2] = 0; u32[(cmd + A.SEND_BATCH_SENT + 4) >>> 2] = 0;
}

/** reply fields (synchronous calls: replies issue) */
export const replyOffset = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.SEND_REPLY_OFFSET);
export const replySize = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.SEND_REPLY_SIZE);

if (A.MSG_PAYLOAD_TYPE !== A.MSG_SRC_ID + 8) throw new Error('wasmbus: the message header moved: revisit js/cmd/send.ts');
