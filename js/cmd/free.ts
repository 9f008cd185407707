// FREE (struct kdbus_cmd_free): give a published slice back to the pool.
import * as A from '../shared/abi.ts';
import { put64 } from '../wire.ts';
import { putHeader } from './header.ts';

export const NAME = 'FREE';

/** Write FREE at `cmd` for the slice at pool offset `offset`. */
export function encode(u32: Uint32Array, cmd: number, offset: number): void {
  putHeader(u32, cmd, A.FREE_CMD_SIZE, 0);
  put64(u32, cmd + A.FREE_OFFSET, offset);
}
