// notification: a bus notification (a message from the bus: src_id 0, payload type 0, one
// item) decoded from its item: ID_ADD / ID_REMOVE `{u64 id; u64 flags}`, NAME_ADD /
// NAME_REMOVE / NAME_CHANGE `{old {u64 id; u64 flags}; new {u64 id; u64 flags}; char name[]}`
// (docs/API.md, "Broadcast signals and bus notifications"). Message.notification uses it.
import * as A from './shared/abi.ts';
import { get64 } from './wire.ts';
import { itemSize, itemType } from './cmd/items.ts';

export type NotificationKind = 'id-add' | 'id-remove' | 'name-add' | 'name-remove' | 'name-change';

export type Notification =
  | { kind: 'id-add' | 'id-remove'; id: number; flags: number }
  | {
    kind: 'name-add' | 'name-remove' | 'name-change';
    name: string;
    /** the previous primary owner (null for name-add) */
    oldOwner: number | null;
    /** the new primary owner (null for name-remove) */
    newOwner: number | null;
    oldFlags: number;
    newFlags: number;
  };

export const NOTIFICATION_ITEMS: Readonly<Record<NotificationKind, number>> = Object.freeze({
  'id-add': A.ITEM_ID_ADD, 'id-remove': A.ITEM_ID_REMOVE,
  'name-add': A.ITEM_NAME_ADD, 'name-remove': A.ITEM_NAME_REMOVE, 'name-change': A.ITEM_NAME_CHANGE,
});

const decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // (a leading U+FEFF kept: the default drops it)

/** The notification in the message at `m` (`size`: header and items), or null when its first item is none. */
export function decodeNotification(u8: Uint8Array, u32: Uint32Array, m: number, size: number): Notification | null {
  const p = m + A.MSG_HDR, end = m + size;
  const n = itemSize(u32, p, end);
  if (n === 0) return null;
  const type = itemType(u32, p), d = p + A.ITEM_HDR;
  if (type === A.ITEM_ID_ADD || type === A.ITEM_ID_REMOVE) {
    if (n < A.ITEM_HDR + 16) return null;
    return { kind: type === A.ITEM_ID_ADD ? 'id-add' : 'id-remove', id: get64(u32, d), flags: get64(u32, d + 8) };
  }
  if (type === A.ITEM_NAME_ADD || type === A.ITEM_NAME_REMOVE || type === A.ITEM_NAME_CHANGE) {
    if (n < A.ITEM_HDR + 32) return null;
    let e = d + 32;
    const stop = p + n;
    while (e < stop && u8[e] !== 0) e++;
    const oldId = get64(u32, d), newId = get64(u32, d + 16);
    return {
      kind: type === A.ITEM_NAME_ADD ? 'name-add' : type === A.ITEM_NAME_REMOVE ? 'name-remove' : 'name-change',
      name: decoder.decode(u8.slice(d + 32, e)), // a copy: decoders refuse shared views
      oldOwner: oldId === 0 ? null : oldId, newOwner: newId === 0 ? null : newId,
      oldFlags: get64(u32, d + 8), newFlags: get64(u32, d + 24),
    };
  }
  return null;
}
