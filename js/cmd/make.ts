// BUS_MAKE (wasmbus: fixed fields instead of kdbus's make items), run at MAKE_CMD_ADDR
// before any thread has joined. Layout: js/shared/abi.ts, MAKE_*.
import * as A from '../shared/abi.ts';
import { put64, get64 } from '../wire.ts';
import { putHeader } from './header.ts';

export const NAME = 'BUS_MAKE';

/** Write a BUS_MAKE command at `cmd`. Every argument is a u32. */
export function encode(u8: Uint8Array, u32: Uint32Array, cmd: number, flags: number, bloomSize: number, bloomHashes: number,
  threads: number, conns: number, poolMax: number, names: number, matches: number, replies: number,
  maxQueuedPerUser = 0): void {
  u8.fill(0, cmd, cmd + A.MAKE_CMD_SIZE_LIMITS);
  putHeader(u32, cmd, A.MAKE_CMD_SIZE_LIMITS, flags);
  u32[(cmd + A.MAKE_MAX_QUEUED) >>> 2] = maxQueuedPerUser;
  put64(u32, cmd + A.MAKE_BLOOM_SIZE, bloomSize);
  put64(u32, cmd + A.MAKE_BLOOM_N_HASH, bloomHashes);
  u32[(cmd + A.MAKE_N_THREADS) >>> 2] = threads;
  u32[(cmd + A.MAKE_N_CONNS) >>> 2] = conns;
  u32[(cmd + A.MAKE_POOL_MAX) >>> 2] = poolMax;
  u32[(cmd + A.MAKE_N_NAMES) >>> 2] = names;
  u32[(cmd + A.MAKE_N_MATCHES) >>> 2] = matches;
  u32[(cmd + A.MAKE_N_REPLIES) >>> 2] = replies;
}

/** The bus's 128-bit id (a copy). */
export function id128(u8: Uint8Array, cmd: number): Uint8Array {
  return u8.slice(cmd + A.MAKE_ID128, cmd + A.MAKE_ID128 + 16);
}

/** End of the bus state: where the user region starts. */
export function layoutEnd(u32: Uint32Array, cmd: number): number {
  return get64(u32, cmd + A.MAKE_LAYOUT_END);
}
