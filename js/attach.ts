// attach: metadata attach flags by name (kdbus KDBUS_ATTACH_*), for the public API.
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import { kindOf, isList, listOnce } from './args.ts';

// (frozen, as DEFAULT_LIMITS: attachMask reads it, and ATTACH.creds = 4 made ['creds'] ask for
// PIDS before stop 48, an outside audit)
export const ATTACH = Object.freeze({
  timestamp: A.ATTACH_TIMESTAMP,
  creds: A.ATTACH_CREDS,
  pids: A.ATTACH_PIDS,
  auxgroups: A.ATTACH_AUXGROUPS,
  names: A.ATTACH_NAMES,
  tidComm: A.ATTACH_TID_COMM,
  pidComm: A.ATTACH_PID_COMM,
  exe: A.ATTACH_EXE,
  cmdline: A.ATTACH_CMDLINE,
  cgroup: A.ATTACH_CGROUP,
  caps: A.ATTACH_CAPS,
  seclabel: A.ATTACH_SECLABEL,
  audit: A.ATTACH_AUDIT,
  connDescription: A.ATTACH_CONN_DESCRIPTION,
  all: A.ATTACH_ALL,
} as const);

export type AttachName = keyof typeof ATTACH;
export type AttachSpec = number | 'all' | readonly AttachName[];

/** An attach mask from a number, 'all' or a list of names; -1 when invalid. */
export function attachMask(spec: AttachSpec | undefined, dflt: number): number {
  if (spec === undefined) return dflt;
  if (spec === 'all') return A.ATTACH_ALL;
  if (typeof spec === 'number') return Number.isInteger(spec) && spec >= 0 && spec <= 0xffffffff ? spec : -1;
  if (!isList(spec)) return -1;
  let m = 0;
  for (const n of spec) {
    // (its own keys only: 'toString' or 'constructor' read Object.prototype's and passed as 0 before stop 48)
    if (typeof n !== 'string' || !Object.hasOwn(ATTACH, n)) return -1;
    const bit = (ATTACH as Record<string, number>)[n];
    m |= bit;
  }
  return m;
}

/**
 * attachMask of a method's argument `name`, or EINVAL quoting the value (a list as JSON, a
 * number as itself, anything else by its kind): connect, update, info and creatorInfo alike
 * (update and info said only "got array" before stop 39: an outside audit).
 */
export function attachArg(op: string, name: string, specIn: unknown, dflt: number): number {
  // a list read once, its length and each entry (the mask and the message are made from the
  // copy: before stop 56 the length was read once per entry and the error path read the
  // entries again; an outside audit)
  // (a list of up to ATTACH_LIST_SHOWN entries is copied whole, for the error to quote it;
  // a longer one up to its first entry that is no ATTACH name)
  const len = isList(specIn) ? (specIn as readonly unknown[]).length : 0;
  const spec = isList(specIn) ? listOnce(specIn, len, (v) => len > ATTACH_LIST_SHOWN && (typeof v !== 'string' || !Object.hasOwn(ATTACH, v))) : specIn;
  const m = attachMask(spec as AttachSpec | undefined, dflt);
  if (m >= 0) return m;
  let got = kindOf(spec);
  if (typeof spec === 'number') got = String(spec);
  else if (isList(spec)) { try { const j = JSON.stringify(spec); if (j.length <= 200) got = j; } catch { /* (a BigInt, a cycle: its kind) */ } }
  // a list: which entry, and the names there are (since stop 50: 'tid-comm' for 'tidComm' was
  // told only as the whole list, an outside audit)
  let which = '';
  if (isList(spec)) {
    const i = (spec as readonly unknown[]).findIndex((n) => typeof n !== 'string' || !Object.hasOwn(ATTACH, n));
    if (i >= 0) {
      const n = (spec as readonly unknown[])[i];
      which = `: ${name}[${i}] is ${typeof n === 'string' ? JSON.stringify(n) : kindOf(n)}, not one of ${Object.keys(ATTACH).join(', ')}`;
    }
  }
  throw new BusError(A.EINVAL, op, `unknown attach flags: ${name} must be 'all', a mask (a u32) or a list of ATTACH names, got ${got}${which}`);
}

/** lists this long or shorter are copied whole before they are judged (an error quotes them) */
const ATTACH_LIST_SHOWN = 64;
