// names: the public API of well-known names (requestName, releaseName, getNameOwner,
// nameHasOwner, listNames, listPeers, list), over NAME_ACQUIRE, NAME_RELEASE and LIST
// (js/cmd/name.ts, list.ts). Connection and Bus call these; the rules live in the core.
import * as A from './shared/abi.ts';
import { BusError } from './errno.ts';
import type { Engine } from './engine.ts';
import { NAMES, LIST, FREE, commandError } from './cmd/index.ts';
import { options, optBoolean, kindOf } from './args.ts';
import { busNameError } from './dbus/names.ts';

export type { AcquireResult } from './cmd/name.ts';

export interface RequestNameOptions {
  /** take the name from its owner if that owner allows replacement (REPLACE_EXISTING) */
  replaceExisting?: boolean | undefined;
  /** let a later requestName with replaceExisting take it from this connection (ALLOW_REPLACEMENT) */
  allowReplacement?: boolean | undefined;
  /** wait in the name's queue when it is taken, and stay queued when replaced (QUEUE) */
  queue?: boolean | undefined;
}

export interface ListOptions {
  /** every connection, a bare entry when nothing else lists it (LIST_UNIQUE) */
  unique?: boolean | undefined;
  /** one entry per primary owner of a name (LIST_NAMES) */
  names?: boolean | undefined;
  /** one entry per queued owner (LIST_QUEUED) */
  queued?: boolean | undefined;
  /**
   * activators' names (LIST_ACTIVATORS): one entry per activator, nameFlags NAME_ACTIVATOR |
   * NAME_PRIMARY while no real owner holds the name, else NAME_ACTIVATOR | NAME_IN_QUEUE
   * (without it an activator is listed as any connection, by `unique`). Monitors are never listed.
   */
  activators?: boolean | undefined;
}

/** One LIST record: a connection id, its HELLO flags, and the name it owns or queues for. */
export interface ListEntry {
  id: number;
  flags: number;
  name?: string;
  /** the owner's flags: NAME_ALLOW_REPLACEMENT, NAME_QUEUE, and NAME_PRIMARY or NAME_IN_QUEUE; an activator's: NAME_ACTIVATOR with NAME_PRIMARY or NAME_IN_QUEUE */
  nameFlags?: number;
}

/** The connection fields these functions need (Connection satisfies it). */
export interface NameConn { readonly engine: Engine; readonly slot: number; readonly gen: number; readonly closed: boolean }

const REQUEST_KEYS = ['replaceExisting', 'allowReplacement', 'queue'] as const;
const LIST_KEYS = ['unique', 'names', 'queued', 'activators'] as const;
const encoder = new TextEncoder();

/**
 * Names no connection may own through this API (requestName, connect({ activator })): the
 * D-Bus driver's, which the D-Bus layer gives the bus itself as a sender (id 0: `uniqueName(0)`),
 * and the local end's, as sd-bus refuses both (validate_request_name_parameters, EINVAL). Owned
 * by a connection, the first would let it pass for the bus: a rule with
 * sender='org.freedesktop.DBus' is judged by the name's owner (an outside audit, stop 47). The
 * core does not reserve them (kdbus did not: its driver lived in sd-bus), so a raw NAME_ACQUIRE can.
 */
const RESERVED_NAMES: readonly string[] = Object.freeze(['org.freedesktop.DBus', 'org.freedesktop.DBus.Local']);

/** Why `name` is reserved (RESERVED_NAMES), ending "no connection may own it"; null for any other name */
export function reservedName(name: string): string | null {
  if (name === RESERVED_NAMES[0]) return `${name} is the bus's own name (the D-Bus driver's, the sender of what the bus itself sends), reserved as sd-bus reserves it: no connection may own it`;
  if (name === RESERVED_NAMES[1]) return `${name} is reserved for the local end of a D-Bus connection, as sd-bus reserves it: no connection may own it`;
  return null;
}

/** EINVAL when `name` is one of RESERVED_NAMES */
export function checkNotReserved(op: string, name: string): void {
  const why = reservedName(name);
  if (why !== null) throw new BusError(A.EINVAL, op, why);
}

function nameBytes(op: string, name: unknown): Uint8Array {
  if (typeof name !== 'string') throw new BusError(A.EINVAL, op, `name must be a string, got ${kindOf(name)}`);
  const b = encoder.encode(name);
  // the command area holds it (the core judges the name itself: MAX_NAME_LEN, syntax)
  if (b.length > 4096) throw new BusError(A.EINVAL, op, `${JSON.stringify(name.slice(0, 40))}… is not a well-known name (longer than ${A.MAX_NAME_LEN} bytes)`);
  return b;
}

function live(c: NameConn, op: string): Engine {
  if (c.closed) throw new BusError(A.ECONNRESET, op);
  c.engine.checkAlive(); // (a thread declared dead writes nothing in its command area: Connection.live)
  return c.engine;
}

export function requestName(c: NameConn, name: string, opts?: RequestNameOptions): NAMES.AcquireResult {
  const op = 'requestName';
  const e = live(c, op);
  const o = options<RequestNameOptions>(op, opts, REQUEST_KEYS, '{ queue: true }');
  const flags = (optBoolean(op, 'replaceExisting', o.replaceExisting) ? A.NAME_REPLACE_EXISTING : 0) |
    (optBoolean(op, 'allowReplacement', o.allowReplacement) ? A.NAME_ALLOW_REPLACEMENT : 0) |
    (optBoolean(op, 'queue', o.queue) ? A.NAME_QUEUE : 0);
  const b = nameBytes(op, name);
  checkNotReserved(op, name);
  live(c, op); // (again: an option's getter may have closed the connection, or left the bus)
  NAMES.encode(e.u8, e.u32, e.cmd, flags, b);
  const r = e.nameAcquire(c.slot, c.gen);
  if (r < 0) throw commandError(e.u32, e.cmd, r, op, NAMES.ACQUIRE, { name });
  return NAMES.acquireResult(e.u32, e.cmd);
}

export function releaseName(c: NameConn, name: string): void {
  const op = 'releaseName';
  const e = live(c, op);
  // the form first, as sd_bus_release_name checks it (the raw NAME_RELEASE does not, as kdbus:
  // a typo would read "nobody owns it"); a reserved name, which nobody can own, as requestName
  const b = nameBytes(op, name);
  if (/^:1\.\d+$/.test(name)) throw new BusError(A.EINVAL, op, `${quoted(name)} is a unique name (a connection's own, for as long as it is open: nothing to release); releaseName takes a well-known name`);
  checkWellKnown(op, name);
  checkNotReserved(op, name);
  NAMES.encode(e.u8, e.u32, e.cmd, 0, b);
  const r = e.nameRelease(c.slot, c.gen);
  if (r < 0) throw commandError(e.u32, e.cmd, r, op, NAMES.RELEASE, { name });
}

export function list(c: NameConn, opts?: ListOptions, op = 'list'): ListEntry[] {
  const e = live(c, op);
  const o = options<ListOptions>(op, opts, LIST_KEYS, '{ unique: true, names: true }');
  const flags = (optBoolean(op, 'unique', o.unique) ? A.LIST_UNIQUE : 0) | (optBoolean(op, 'names', o.names) ? A.LIST_NAMES : 0) |
    (optBoolean(op, 'queued', o.queued) ? A.LIST_QUEUED : 0) | (optBoolean(op, 'activators', o.activators) ? A.LIST_ACTIVATORS : 0);
  live(c, op); // (again: an option's getter may have closed the connection, or left the bus)
  const { u8, u32, cmd } = e;
  LIST.encode(u32, cmd, flags);
  const r = e.list(c.slot, c.gen);
  if (r < 0) throw commandError(u32, cmd, r, op, LIST.NAME);
  const offset = LIST.offset(u32, cmd), size = LIST.size(u32, cmd);
  const entries = LIST.decode(u8, u32, e.poolBase(c.slot) + offset, size);
  FREE.encode(u32, cmd, offset);
  const f = e.free(c.slot, c.gen);
  if (f < 0) throw commandError(u32, cmd, f, op, FREE.NAME, { offset });
  return entries.map((x) => ({ id: Number(x.id), flags: x.flags, ...(x.name === undefined ? {} : { name: x.name, nameFlags: x.nameFlags }) }));
}

/** The id of the primary owner of `name`, or null. */
/**
 * The id of the primary owner of a well-known name, or null; for a unique name of this bus
 * (":1.<id>"), that id while its connection is on the bus (as D-Bus's GetNameOwner answers a
 * unique name with itself), else null. Any other string: EINVAL naming the rule.
 */
export function getNameOwner(c: NameConn, name: string, op = 'getNameOwner'): number | null {
  if (typeof name !== 'string') throw new BusError(A.EINVAL, op, `name must be a string, got ${kindOf(name)}`);
  if (/^:1\.\d+$/.test(name)) {
    const id = Number(name.slice(3));
    if (!Number.isSafeInteger(id)) throw new BusError(A.EINVAL, op, `${JSON.stringify(name)}: the id must be a safe integer`);
    // (LIST's connections: a monitor, which LIST never shows, is not found)
    return list(c, { unique: true }, op).some((x) => x.id === id) ? id : null;
  }
  checkWellKnown(op, name);
  return list(c, { names: true }, op).find((x) => x.name === name)?.id ?? null;
}

/** a name in an error message, cut to 60 characters */
const quoted = (name: string): string => JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name);

/** EINVAL unless `name` (a string) has a well-known name's form (D-Bus's rules, MAX_NAME_LEN bytes at most) */
function checkWellKnown(op: string, name: string): void {
  if (name.startsWith(':')) throw new BusError(A.EINVAL, op, `${quoted(name)} is neither a unique name of this bus (:1.<id>, the id a decimal number) nor a well-known name (which cannot start with ':')`);
  if (busNameError(name) !== null || encoder.encode(name).length > A.MAX_NAME_LEN) {
    throw new BusError(A.EINVAL, op, `${quoted(name)} is not a well-known name (two or more '.'-separated elements of [A-Za-z0-9_-], none starting with a digit, at most ${A.MAX_NAME_LEN} bytes)`);
  }
}

/** Well-known names that have a primary owner, sorted. */
export function listNames(c: NameConn): string[] {
  return list(c, { names: true }, 'listNames').map((x) => x.name as string).sort();
}

/** Names that have an activator (D-Bus ListActivatableNames), sorted. */
export function listActivatableNames(c: NameConn): string[] {
  return list(c, { activators: true }, 'listActivatableNames').filter((x) => x.name !== undefined).map((x) => x.name as string).sort();
}

/** Ids of the bus's connections (monitors excepted; activators included), ascending. */
export function listPeers(c: NameConn): number[] {
  return list(c, { unique: true }, 'listPeers').map((x) => x.id).sort((a, b) => a - b);
}
