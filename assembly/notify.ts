// notify: bus notifications (NAME_ADD / NAME_REMOVE / NAME_CHANGE, ID_ADD / ID_REMOVE).
// stub: the notifications branch replaces this file
export function notifyNameChange(nameAddr: u32, nameLen: u32, oldLo: u32, oldHi: u32, newLo: u32, newHi: u32, oldFlags: u32, newFlags: u32): void {}
export function notifyIdAdd(c: u32): void {}
export function notifyIdRemove(c: u32): void {}
