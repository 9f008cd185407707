// name-change: the registry's change records passed on as notifications (notify.ts), and a
// closing connection's names released (BYEBYE and recovery, through connClose), each
// passed on to the next in its queue.
import * as A from "../js/shared/abi";
import { ld32 } from "./mem";
import { notifyNameChange } from "./notify";
import { chgName, chgOld, chgNew, chgOldFlags, chgNewFlags, nameOwnerDrop, ownerName, ownerNextOfConn, connFirstOwner } from "./registry";

/** Send the notification of the registry's last change record, if any (bus lock held). */
export function nameNotify(): void {
  const e = chgName;
  if (e == 0) return;
  const o = chgOld, n = chgNew;
  notifyNameChange(e + A.NAME_STR, ld32(e + A.NAME_LEN),
    o == 0 ? 0 : ld32(o + A.CONN_ID), o == 0 ? 0 : ld32(o + A.CONN_ID + 4),
    n == 0 ? 0 : ld32(n + A.CONN_ID), n == 0 ? 0 : ld32(n + A.CONN_ID + 4),
    chgOldFlags, chgNewFlags);
}

/**
 * Connection `c` is closing (bus and connection locks held): drop each of its owner records,
 * passing each name it owns to the next in its queue. Its own list is walked, not changed
 * (the slot's fields are don't-care once it is free). At most MAX_NAMES_PER_CONN steps.
 */
export function namesDropAll(c: u32): void {
  for (let o = connFirstOwner(c); o != 0;) {
    const next = ownerNextOfConn(o);
    nameOwnerDrop(ownerName(o), o, false);
    nameNotify();
    o = next;
  }
}
