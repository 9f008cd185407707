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

/** pool offset of the message received */
export const offset = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.RECV_MSG_OFFSET);
/** its msg.size */
export const size = (u32: Uint32Array, cmd: number): number => get64(u32, cmd + A.RECV_MSG_SIZE);
/** messages the bus dropped for this connection since the last RECV (0 unless reported) */
export function dropped(u32: Uint32Array, cmd: number): number {
  return (returnFlags(u32, cmd) & A.RECV_RETURN_DROPPED_MSGS) !== 0 ? get64(u32, cmd + A.RECV_DROPPED_MSGS) : 0;
}
