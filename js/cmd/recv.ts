// RECV (struct kdbus_cmd_recv): the next message is published in the caller's pool.
import * as A from '../shared/abi.ts';
import { put64, get64 } from '../wire.ts';
import { putHeader, returnFlags } from './header.ts';

export const NAME = 'RECV';

/** Write RECV at `cmd`: flags RECV_PEEK / RECV_DROP / RECV_USE_PRIORITY, priority an s64. */
export function encode(u32: Uint32Array, cmd: number, flags: number, priority: number): void {
  putHeader(u32, cmd, A.RECV_CMD_SIZE, flags);
  put64(u32, cmd + A.RECV_PRIORITY, priority);
}

/**
 * Write RECV_BATCH at `cmd` with `n` entries: the first `nFree` of them the slices at the
 * offsets in `free` (freed first).
 */
export function encodeBatch(u32: Uint32Array, cmd: number, n: number, free: Uint32Array, nFree: number): void {
  putHeader(u32, cmd, A.RECV_BATCH_ENTRIES + 8 * n, A.RECV_BATCH);
  put64(u32, cmd + A.RECV_PRIORITY, 0);
  const i = cmd >>> 2;
  u32[i + (A.RECV_BATCH_FREE >>> 2)] = nFree;
  u32[i + (A.RECV_BATCH_TAKEN >>> 2)] = 0;
  for (let k = 0, e = i + (A.RECV_BATCH_ENTRIES >>> 2); k < nFree; k++, e += 2) u32[e] = free[k];
}
/** RECV_BATCH: messages received */
export const batchTaken = (u32: Uint32Array, cmd: number): number => u32[(cmd + A.RECV_BATCH_TAKEN) >>> 2];
/** RECV_BATCH whose free failed: how many were freed */
export const batchFreed = (u32: Uint32Array, cmd: number): number => u32[(cmd + A.RECV_BATCH_FREE) >>> 2];

/** pool offset of the message received */
export const offset = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.RECV_MSG_OFFSET);
/** its msg.size */
export const size = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.RECV_MSG_SIZE);
/** messages the bus dropped for this connection since the last RECV (0 unless reported) */
export function dropped(u32: Uint32Array, cmd: number): number {
  return (returnFlags(u32, cmd) & A.RECV_RETURN_DROPPED_MSGS) !== 0 ? get64(u32, cmd + A.RECV_DROPPED_MSGS) : 0;
}

/** RECV_REPLY_FIRST's EAGAIN: the end is queued behind a message, and was left there */
export function behind(u32: Uint32Array, cmd: number): boolean {
  return (returnFlags(u32, cmd) & A.RECV_RETURN_BEHIND) !== 0;
}

/** RECV_REPLY's EAGAIN: the connection has no record of the call either (its end was dropped for lack of room) */
export function noCall(u32: Uint32Array, cmd: number): boolean {
  return (returnFlags(u32, cmd) & A.RECV_RETURN_NO_CALL) !== 0;
}
