// NAME_ACQUIRE / NAME_RELEASE (struct kdbus_cmd_name): { size; flags; return_flags } and one
// NAME item holding the well-known name.
import * as A from '../shared/abi.ts';
import { putHeader, returnFlags } from './header.ts';
import { putStringItem } from './items.ts';

export const ACQUIRE = 'NAME_ACQUIRE';
export const RELEASE = 'NAME_RELEASE';

/**
 * Write NAME_ACQUIRE (flags NAME_REPLACE_EXISTING | NAME_ALLOW_REPLACEMENT | NAME_QUEUE) or
 * NAME_RELEASE (flags 0) at `cmd` for the UTF-8 `name`; returns the command's size.
 */
export function encode(u8: Uint8Array, u32: Uint32Array, cmd: number, flags: number, name: Uint8Array): number {
  const end = putStringItem(u8, u32, cmd + A.NAME_CMD_SIZE, A.ITEM_NAME, name);
  putHeader(u32, cmd, end - cmd, flags);
  return end - cmd;
}

/** The answer of NAME_ACQUIRE, by its return flags. */
export type AcquireResult = 'primary' | 'in-queue' | 'already-owner' | 'already-queued' | 'left-queue';

/**
 * NAME_ACQUIRE's return flags as a word: 'primary' (it became the primary owner), 'in-queue'
 * (newly queued), 'already-owner' (it was the primary owner: its flags were updated),
 * 'already-queued' (it was queued: its flags were updated), 'left-queue' (it was queued and
 * asked again without QUEUE: it left the queue, as kdbus does).
 */
export function acquireResult(u32: Uint32Array, cmd: number): AcquireResult {
  const f = returnFlags(u32, cmd);
  if (f & A.NAME_PRIMARY) return f & A.NAME_ACQUIRED ? 'primary' : 'already-owner';
  if (f & A.NAME_IN_QUEUE) return f & A.NAME_ACQUIRED ? 'in-queue' : 'already-queued';
  return 'left-queue';
}
