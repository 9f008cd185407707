// header: the header every command starts with ({ u64 size; u64 flags; u64 return_flags }).
import * as A from '../shared/abi.ts';

/** Write a command header at `cmd` (size and flags below 2^32; return_flags cleared). */
export function putHeader(u32: Uint32Array, cmd: number, size: number, flags: number): void {
  const i = cmd >>> 2;
  u32[i] = size; u32[i + 1] = 0; // CMD_SIZE
  u32[i + 2] = flags; u32[i + 3] = 0; // CMD_FLAGS
  u32[i + 4] = 0; u32[i + 5] = 0; // CMD_RETURN_FLAGS
}

/** return_flags (low word: every flag kdbus defines is there). */
export function returnFlags(u32: Uint32Array, cmd: number): number {
  return u32[(cmd + A.CMD_RETURN_FLAGS) >>> 2];
}

if (A.CMD_SIZE !== 0 || A.CMD_FLAGS !== 8 || A.CMD_RETURN_FLAGS !== 16) throw new Error('wasmbus: the command header moved: revisit js/cmd/header.ts');
