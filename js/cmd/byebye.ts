// BYEBYE (struct kdbus_cmd): close a connection with an empty queue (or, with BYEBYE_DROP,
// whatever is queued).
import * as A from '../shared/abi.ts';
import { putHeader } from './header.ts';

export const NAME = 'BYEBYE';

export function encode(u32: Uint32Array, cmd: number, flags = 0): void {
  putHeader(u32, cmd, A.BYEBYE_CMD_SIZE, flags);
}
