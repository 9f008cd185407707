// signals: matches, D-Bus signals and bus notifications on the public API (issue 8).
//   conn.addMatch(rule)        MATCH_ADD with a fresh cookie; returns its unsubscribe (MATCH_REMOVE)
//   conn.emit(signal)          a D-Bus signal (payload type DBusDBus) with its bloom filter,
//                              broadcast (dst ~0) or to one destination; a payload that fits is
//                              written into the command area, a larger one as a host vec (a
//                              broadcast's is staged in the sender's pool: assembly/stage.ts;
//                              emitAsync's set aside at a stop: js/bcast-park.ts)
//   conn.onSignal(rule, fn)    addMatch + a handler that conn.dispatch(msg) runs after the full
//                              re-check (bloom filters have false positives)
//   bus.waitForName(name)      the owner's id once the name has one (NAME_ADD / NAME_CHANGE)
// The rules live in the core (assembly/match.ts, broadcast.ts, notify.ts); this file encodes.
import * as A from './shared/abi.ts';
import { foreignKind } from './brand.ts';
import { BusError, canceled, shutdownError } from './errno.ts';
import { lockRetry, pause } from './lock-retry.ts';
import { isShutdown, type Engine } from './engine.ts';
import type { Connection, Destination } from './connection.ts';
import { Message } from './message.ts';
import { MATCH, SEND, items, commandError } from './cmd/index.ts';
import { describeReason } from './cmd/reasons.ts';
import { put64 } from './wire.ts';
import { kindOf, options, optBoolean, shown, isAbortSignal, asArgError, relabel, isList, isRevoked } from './args.ts';
import { matchRuleOf, type MatchRule } from './dbus/match.ts';
import { maskOf, signalFilter, signalFilterOfMessage, type BloomParams } from './dbus/bloom.ts';
import { encodeTransient, PAYLOAD_DBUS_LO, PAYLOAD_DBUS_HI, type DBusHeader, type DBusMessage } from './dbus/header.ts';
import { parseSignature } from './dbus/signature.ts';
import { uniqueNameId, busNameError } from './dbus/names.ts';
import { NOTIFICATION_ITEMS, type NotificationKind } from './notification.ts';
import { reservedName } from './names.ts';

/** A rule for addMatch in object form; every field given must match (a notification kind alone). */
export interface MatchSpec {
  /** a D-Bus match string (or a parsed rule): its bloom mask, and its unique sender / destination as ID / DST_ID */
  match?: string | MatchRule | undefined;
  /** the sender's connection id (ID rule) */
  sender?: number | undefined;
  /** the message's dst_id (DST_ID rule): this connection's id matches unicast signals to it only */
  destination?: number | undefined;
  /** a raw BLOOM_MASK: one or two generations of the bus's bloom size */
  bloomMask?: Uint8Array | undefined;
  /** a bus notification instead (alone): ID_ADD, ID_REMOVE, NAME_ADD, NAME_REMOVE, NAME_CHANGE */
  notifications?: NotificationKind | undefined;
  /** with notifications 'id-add' / 'id-remove': only about this connection id (default: any) */
  id?: number | undefined;
  /** with notifications 'name-add' / 'name-remove' / 'name-change': only about this well-known name (default: any) */
  name?: string | undefined;
}
export type MatchInput = string | MatchRule | MatchSpec;

/** A D-Bus signal to emit. */
export interface SignalSpec {
  /** object path, e.g. '/org/example/Obj' */
  path: string;
  interface: string;
  member: string;
  /** the body's D-Bus signature ('' or absent: no body) */
  signature?: string | undefined;
  body?: readonly unknown[] | undefined;
  /** unicast: a connection id, ':1.<id>' or a well-known name (delivered only if the receiver has a matching rule); absent: broadcast */
  destination?: Destination | undefined;
  /** s64 queue priority, default 0 */
  priority?: number | undefined;
}

export type SignalHandler = (signal: DBusMessage, msg: Message) => void;

const MATCH_KEYS = ['match', 'sender', 'destination', 'bloomMask', 'notifications', 'id', 'name'] as const;
const SIGNAL_KEYS = ['path', 'interface', 'member', 'signature', 'body', 'destination', 'priority'] as const;
const WAIT_KEYS = ['timeout', 'signal', 'owner', 'keepAlive'] as const;
const encoder = new TextEncoder();
const TWO32 = 4294967296;

/**
 * An onSignal handler: its rule, and the rule's bloom mask when the rule has argument
 * conditions (null without: a signal that passes such a rule has every element of its mask in
 * its filter, so the bus's check cannot have refused it)
 */
interface Handler { rule: MatchRule; fn: SignalHandler; mask: Uint8Array | null }
/** a connection's handlers; `filter`: dispatch's scratch for a signal's recomputed bloom filter (the bus's bloom size, made once) */
interface State { cookie: number; handlers: Set<Handler>; filter: Uint8Array | null }
const states = new WeakMap<Connection, State>();
function state(c: Connection): State {
  let s = states.get(c);
  if (!s) { s = { cookie: 1, handlers: new Set(), filter: null }; states.set(c, s); }
  return s;
}

function live(c: Connection, op: string): Engine {
  if (c.closed) throw new BusError(A.ECONNRESET, op);
  c.engine.checkAlive(); // (a thread declared dead writes nothing in its command area: Connection.live)
  return c.engine;
}

/** The bus's bloom parameters, from its header (what BUS_MAKE was given). */
export function bloomParams(e: Engine): BloomParams {
  return { size: e.u32[(A.BUS_BASE + A.BUS_BLOOM_SIZE) >>> 2], nHash: e.u32[(A.BUS_BASE + A.BUS_BLOOM_N_HASH) >>> 2] };
}

/** `v` as a connection id; `given`: the unique name it was read from, which an error quotes (a rounded id before stop 48) */
function idArg(op: string, what: string, v: unknown, given?: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new BusError(A.EINVAL, op, `${what} must be a connection id (a non-negative safe integer), got ${given !== undefined ? JSON.stringify(given) : typeof v === 'number' ? String(v) : kindOf(v)}`);
  return v;
}
const lo = (v: number) => v % TWO32, hi = (v: number) => Math.floor(v / TWO32);

/**
 * A D-Bus MatchRule rather than a MatchSpec: it has `args`, or a key only a MatchRule has
 * (`args` may be left out: before, such a rule was read as a MatchSpec and refused). One with
 * only `sender` / `destination` is a MatchSpec's (the same meaning either way).
 */
function isMatchRule(r: Record<string, unknown>): boolean {
  const keys = Object.keys(r);
  if (keys.some((k) => RULE_ONLY_KEYS.includes(k))) return true;
  // only sender / destination: a MatchSpec takes ids (numbers), a MatchRule names (strings)
  return keys.length > 0 && keys.every((k) => k === 'sender' || k === 'destination') &&
    (typeof r.sender === 'string' || typeof r.destination === 'string');
}
const RULE_ONLY_KEYS: readonly string[] = ['args', 'type', 'interface', 'member', 'path', 'pathNamespace'];

/**
 * A rule object's own enumerable keys and values, each value read once. A rule must be a plain
 * object: the keys of a prototype or a class would not be read (before, such a rule was read
 * as empty and matched every signal), so anything else is refused.
 */
function plainRule(op: string, rule: unknown): Record<string, unknown> {
  if (typeof rule !== 'object' || rule === null || isRevoked(rule) || isList(rule)) {
    throw new BusError(A.EINVAL, op, `rule must be a match string, a MatchRule or a MatchSpec, got ${kindOf(rule)}`);
  }
  const proto = Object.getPrototypeOf(rule);
  if (proto !== Object.prototype && proto !== null) {
    throw new BusError(A.EINVAL, op, 'rule must be a plain object (a literal, or parseMatch\'s result): the keys of its prototype or class are not read');
  }
  const snap: Record<string, unknown> = {};
  for (const k of Object.keys(rule)) snap[k] = (rule as Record<string, unknown>)[k];
  return snap;
}

/**
 * Write the rule items; returns their end. Everything that runs the caller's code (a rule's
 * getters, its args) runs first; then `at()` gives where the items go (the command area,
 * read after that code: a getter may have closed the connection or left the bus).
 */
function putRules(e: Engine, at: () => number, rule: MatchInput, op: string): number {
  const { u8, u32 } = e;
  let spec: MatchSpec;
  if (typeof rule === 'string') spec = { match: rule };
  else {
    // each value read once, into a plain object (a getter may answer differently each time);
    // then told apart: a D-Bus MatchRule or a MatchSpec
    const snap = plainRule(op, rule);
    if (isMatchRule(snap)) spec = { match: matchRuleOf(op, snap) };
    else {
      const o = options<MatchSpec>(op, snap as MatchSpec, MATCH_KEYS, "{ notifications: 'id-add' }", 'rule');
      spec = {};
      for (const k of MATCH_KEYS) { const v = o[k]; if (v !== undefined) (spec as Record<string, unknown>)[k] = v; }
    }
  }
  if (spec.notifications !== undefined) {
    // (a string first: a key lookup converts anything, and ['name-add'], or an object whose
    // toString gave a kind, made a match entry; a BigInt or a cycle threw a TypeError from the
    // message's JSON.stringify: an outside audit, stop 71)
    const kind: unknown = spec.notifications;
    if (typeof kind !== 'string' || !Object.hasOwn(NOTIFICATION_ITEMS, kind)) throw new BusError(A.EINVAL, op, `notifications must be one of ${Object.keys(NOTIFICATION_ITEMS).join(', ')}, got ${typeof kind === 'string' ? JSON.stringify(kind) : kindOf(kind)}`);
    const type = NOTIFICATION_ITEMS[kind as NotificationKind];
    if (spec.match !== undefined || spec.sender !== undefined || spec.destination !== undefined || spec.bloomMask !== undefined) {
      throw new BusError(A.EINVAL, op, 'a notification rule stands alone (no match, sender, destination or bloomMask with it)');
    }
    if (type === A.ITEM_ID_ADD || type === A.ITEM_ID_REMOVE) {
      if (spec.name !== undefined) throw new BusError(A.EINVAL, op, 'name applies to name-add / name-remove / name-change notifications only');
      const id = spec.id === undefined ? -1 : idArg(op, 'id', spec.id);
      return id < 0 ? MATCH.putIdChange(u32, at(), type, 0xffffffff, 0xffffffff) : MATCH.putIdChange(u32, at(), type, lo(id), hi(id));
    }
    if (spec.id !== undefined) throw new BusError(A.EINVAL, op, 'id applies to id-add / id-remove notifications only');
    const nameBytes = spec.name === undefined ? null : wellKnown(op, spec.name, 'name');
    return MATCH.putNameChange(u32, at(), type, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, u8, nameBytes);
  }
  if (spec.id !== undefined) throw new BusError(A.EINVAL, op, 'id applies to id-add / id-remove notifications only');
  if (spec.name !== undefined) throw new BusError(A.EINVAL, op, 'name applies to name-add / name-remove / name-change notifications only');
  let senderName: Uint8Array | null = null;
  let sender = spec.sender === undefined ? -1 : idArg(op, 'sender', spec.sender);
  let dst = spec.destination === undefined ? -1 : idArg(op, 'destination', spec.destination);
  let mask: Uint8Array | null = null;
  if (spec.match !== undefined) {
    const r = matchRuleOf(op, spec.match);
    mask = maskOf(r, bloomParams(e));
    // unique names become ID / DST_ID rules, a well-known sender a NAME rule (the bus checks
    // that the sender is its primary owner)
    // (one id per rule: the match string's and the spec's must agree, or the entry would hold
    // one of them and break the other, silently before stop 46: an outside audit)
    const s = r.sender !== undefined ? uniqueOf(op, 'sender', r.sender) : null;
    if (s !== null) sender = sameId(op, 'sender', sender, s, r.sender!);
    else if (r.sender !== undefined) senderName = wellKnown(op, r.sender);
    const d = r.destination !== undefined ? uniqueOf(op, 'destination', r.destination) : null;
    if (d !== null) dst = sameId(op, 'destination', dst, d, r.destination!);
  }
  if (spec.bloomMask !== undefined) {
    if (mask) throw new BusError(A.EINVAL, op, 'give match or bloomMask, not both');
    if (isRevoked(spec.bloomMask) || !(spec.bloomMask instanceof Uint8Array)) throw new BusError(A.EINVAL, op, `bloomMask must be a Uint8Array, got ${kindOf(spec.bloomMask)}`);
    // (longer than any bus's entry holds, and than the command area may take: refused here,
    // as the core would refuse it, with its reason; EMSGSIZE without one before stop 65, also
    // for a length the core refuses EDOM: an outside reading)
    const n = spec.bloomMask.length;
    if (n > A.MATCH_GENERATIONS * A.BLOOM_SIZE_MAX) {
      const size = bloomParams(e).size;
      const [errno, reason, arg] = n % size !== 0 ? [A.EDOM, A.R_MATCH_BLOOM_SIZE, size] : [A.EMSGSIZE, A.R_MATCH_BLOOM_GENERATIONS, A.MATCH_GENERATIONS];
      throw new BusError(errno, op, `${MATCH.NAME_ADD}: ${describeReason(reason, arg)!.text}`, reason);
    }
    mask = spec.bloomMask;
  }
  let p = at();
  if (mask) p = MATCH.putBloomMask(u8, u32, p, mask);
  if (sender >= 0) p = MATCH.putId(u32, p, A.ITEM_ID, lo(sender), hi(sender));
  if (dst >= 0) p = MATCH.putId(u32, p, A.ITEM_DST_ID, lo(dst), hi(dst));
  if (senderName) p = MATCH.putName(u8, u32, p, senderName);
  return p;
}

/** A well-known name's bytes, or EINVAL naming the rule it breaks. */
/**
 * The id of a match string's unique name (`:1.<id>`, as uniqueNameId reads it: at most 16
 * digits), null for any other name; a unique name with a longer or larger id is EINVAL (no connection has it: before stop 46 a sender said
 * "a well-known name is needed here" and a destination was left out, matching every signal).
 */
function uniqueOf(op: string, key: string, name: string): number | null {
  const id = uniqueNameId(name);
  if (id === null && /^:1\.\d+$/.test(name)) throw new BusError(A.EINVAL, op, `the match's ${key} ${JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name)} is a unique name no connection has: its id must be at most 16 digits (leading zeros count) and at most 2^53 - 1`);
  return id;
}

/** The spec's `key` id (-1: not given) and the match string's `fromMatch` (its `name`) in one rule: EINVAL when they differ. */
function sameId(op: string, key: string, given: number, fromMatch: number, name: string): number {
  if (given >= 0 && given !== fromMatch) throw new BusError(A.EINVAL, op, `${key} ${given} and the match's ${key}='${name}' disagree: an entry holds one ${key === 'sender' ? 'ID' : 'DST_ID'} rule (give one of them)`);
  return fromMatch;
}

function wellKnown(op: string, name: string, arg?: string): Uint8Array {
  const err = typeof name === 'string' ? busNameError(name) : `the name must be a string, got ${kindOf(name)}`;
  // (a rule's `name` says which argument and value it is: before stop 42 "a bus name has at
  // least 2 elements" alone, an outside audit)
  if (err !== null) throw new BusError(A.EINVAL, op, arg === undefined || typeof name !== 'string' ? err : `invalid ${arg} ${JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name)}: ${err}`);
  if (/^:1\.\d+$/.test(name)) throw new BusError(A.EINVAL, op, `${JSON.stringify(name)} is a unique name; a well-known name is needed here`);
  // (a match's sender: unique names of this bus, :1.<id>, are taken before this)
  if (name.startsWith(':')) throw new BusError(A.EINVAL, op, `${JSON.stringify(name)} is neither a unique name of this bus (:1.<id>, the id a decimal number) nor a well-known name (which cannot start with ':')`);
  return encoder.encode(name);
}

/** MATCH_ADD with a fresh cookie; the returned function removes it (MATCH_REMOVE; idempotent, a no-op once the connection is closed). */
export function addMatch(c: Connection, rule: MatchInput, op = 'addMatch'): () => void {
  if (rule === undefined) throw new BusError(A.EINVAL, op, "a rule is needed: a match string, a MatchRule or a MatchSpec ('' or {} match every signal)");
  const e = live(c, op);
  let cmd = 0;
  const end = putRules(e, () => { live(c, op); cmd = e.cmd; return cmd + A.MATCH_CMD_SIZE; }, rule, op);
  const st = state(c);
  const cookie = st.cookie++;
  MATCH.encode(e.u32, cmd, end - cmd, 0, cookie);
  const r = e.matchAdd(c.slot, c.gen);
  if (r < 0) throw commandError(e.u32, cmd, r, op, MATCH.NAME_ADD);
  let done = false;
  // (done once removed, or gone with its connection: a removal that failed, having changed
  // nothing, can be tried again; before stop 65 it was marked done first, and a retry after an
  // EDEADLK returned quietly, the entry left matching until the close: an outside reading)
  return () => {
    if (done || c.closed) { done = true; return; }
    const e2 = c.engine;
    // a thread declared dead: its recoverer closed the connection, and its matches with it
    // (this threw the engine's ECONNRESET before stop 54, where the docs promise a no-op)
    try { e2.checkAlive(); } catch (err) { if (e2.lost) { done = true; return; } throw err; }
    const cmd2 = e2.cmd;
    MATCH.encode(e2.u32, cmd2, A.MATCH_CMD_SIZE, 0, cookie);
    const r2 = e2.matchRemove(c.slot, c.gen);
    // EBADSLT: gone already (a recovery closed the connection under us)
    if (r2 < 0 && r2 !== -A.EBADSLT) throw commandError(e2.u32, cmd2, r2, 'removeMatch', MATCH.NAME_REMOVE);
    done = true;
  };
}

/** The largest D-Bus message (header and body) emit() sends through the command area (no reservation) on this bus without a destination name; a larger one is sent as a host vec. */
export function maxSignalSize(e: Engine): number {
  return A.CMD_MAX - SEND.MSG - A.MSG_HDR - (A.BLOOM_FILTER_HDR + bloomParams(e).size) - A.VEC_ITEM_SIZE;
}

/**
 * emit()'s prepared signal, its header and bloom filter, reused from signal to signal (an
 * emit allocated about 1 KiB before stop 54: the header, the filter, this record), unless an
 * emit is under way on this thread (the caller's code, run while the signal is prepared, may
 * emit): that one gets its own. emitAsync keeps its own across its wait.
 */
let scratch: PreparedSignal | null = null;
let scratchBusy = false;

/** Send a D-Bus signal (see SignalSpec); returns its cookie (the D-Bus serial). */
export function emit(c: Connection, sig: SignalSpec, cookie: number, op = 'emit'): number {
  if (scratchBusy) {
    const s = prepareSignal(c, sig, cookie, op);
    return sendSignal(c, s, s.bytes, cookie, op);
  }
  scratchBusy = true;
  const s = scratch ??= { bytes: NO_BYTES, bloom: NO_BYTES, dstLo: 0, dstHi: 0, dstName: null, destination: undefined, priority: 0, header: newHeader() };
  try {
    prepareSignal(c, sig, cookie, op, s);
    return sendSignal(c, s, s.bytes, cookie, op);
  } finally {
    // (nothing of the caller's kept alive by the scratch)
    s.bytes = NO_BYTES;
    s.destination = undefined;
    s.dstName = null;
    const h = s.header!;
    h.path = h.interface = h.member = h.signature = undefined;
    scratchBusy = false;
  }
}

const NO_BYTES = new Uint8Array(0);
const newHeader = (): DBusHeader => ({ type: 'signal', serial: 0, path: undefined, interface: undefined, member: undefined, signature: undefined });

/**
 * A signal checked and encoded (prepareSignal): the bytes of its D-Bus message (`bytes`:
 * the codec's scratch, valid until the next encoding: emitAsync's wait keeps its own copy),
 * its bloom filter, where it goes, its priority.
 */
export interface PreparedSignal {
  bytes: Uint8Array;
  bloom: Uint8Array;
  /** broadcast: dstLo = dstHi = 0xffffffff; a name: dstName (dstLo = dstHi = 0) */
  dstLo: number;
  dstHi: number;
  dstName: Uint8Array | null;
  /** the destination as given (undefined: a broadcast) */
  destination: Destination | undefined;
  priority: number;
  /** emit()'s scratch: the header object it reuses (prepareSignal fills it) */
  header?: DBusHeader;
}

/**
 * emit()'s first half: every option read once, checked, the message encoded, the
 * destination checked. Everything that runs the caller's code (option getters, the body's
 * values while they are measured, hashed and encoded) runs here, before the command area is
 * written by sendSignal: code that sends from there (this thread's command area) cannot
 * change what the send copies or where.
 */
export function prepareSignal(c: Connection, sig: SignalSpec, cookie: number, op: string, into?: PreparedSignal): PreparedSignal {
  const e = live(c, op);
  const o = options<SignalSpec>(op, sig, SIGNAL_KEYS, "{ path: '/org/example/Obj', interface: 'org.example.Foo', member: 'Changed' }", 'signal');
  if (cookie > 0xffffffff) throw new BusError(A.EINVAL, op, `the cookie ${cookie} does not fit a D-Bus serial (u32): this connection has sent 2^32 messages`);
  // every option read once; everything that runs the caller's code (option getters, the
  // body's values while they are measured, hashed and encoded) runs before the command area
  // is written: code that sends from there (this thread's command area) cannot then change
  // what this send copies or where (the message is encoded first, then copied in)
  const oPriority = o.priority, oSignature = o.signature, oDst = o.destination;
  // (null is not absent, for either: EINVAL; null was priority 0, and a null signature a
  // TypeError of the codec, before stop 25: an outside audit)
  const priority = oPriority === undefined ? 0 : oPriority;
  if (!Number.isSafeInteger(priority)) throw new BusError(A.EINVAL, op, `priority must be a safe integer, got ${shown(priority)}`);
  if (oSignature !== undefined && typeof oSignature !== 'string') throw new BusError(A.EINVAL, op, `signature must be a string, got ${kindOf(oSignature)}`);
  const header: DBusHeader = into?.header ?? newHeader();
  header.serial = cookie;
  header.path = o.path;
  header.interface = o.interface;
  header.member = o.member;
  header.signature = oSignature !== undefined && oSignature !== '' ? oSignature : undefined;
  const oBody = o.body; // (read once: twice before stop 35, an outside audit)
  const body = oBody === undefined ? [] : oBody; // (null is not absent: EINVAL below)
  if (!isList(body)) throw new BusError(A.EINVAL, op, `body must be an array, got ${kindOf(body)}`);
  // encoded first, which validates path, names, signature and values (EINVAL) as it writes:
  // the body's values are read once here (twice, sized then written, for a message over the
  // codec's 64 KiB scratch or one encoded from inside another's encoding), and this is the
  // last of the caller's code: the bytes stay as they are. The bloom filter is computed from
  // these bytes, never from the values again (before stop 54 they were read three times:
  // sized, hashed, encoded, and a getter that answered differently made a filter that missed
  // the signal's own subscribers: an outside audit)
  let bytes: Uint8Array;
  try {
    bytes = encodeTransient(header, body);
  } catch (err) {
    throw asArgError(op, err);
  }
  const params = bloomParams(e);
  const bloom = into !== undefined && into.bloom.length === params.size ? into.bloom : new Uint8Array(params.size);
  signalFilterOfMessage(header, parseSignature(header.signature ?? ''), bytes, params, bloom);
  live(c, op); // (again: a getter may have closed the connection, or left the bus)
  const dst = oDst;
  let dstLo = 0xffffffff, dstHi = 0xffffffff, dstName: Uint8Array | null = null; // broadcast
  if (dst !== undefined) {
    if (typeof dst === 'number') { idArg(op, 'destination', dst); dstLo = lo(dst); dstHi = hi(dst); }
    else if (typeof dst === 'string' && /^:1\.\d+$/.test(dst)) { const id = idArg(op, 'destination', Number(dst.slice(3)), dst); dstLo = lo(id); dstHi = hi(id); }
    else if (typeof dst === 'string') {
      const err = busNameError(dst);
      if (err !== null) throw new BusError(A.EINVAL, op, `destination ${JSON.stringify(dst)} is not a bus name: ${err}`);
      dstName = encoder.encode(dst);
      dstLo = 0; dstHi = 0;
    } else throw new BusError(A.EINVAL, op, `destination must be an id or a name, got ${kindOf(dst)}`);
  }
  if (into === undefined) return { bytes, bloom, dstLo, dstHi, dstName, destination: dst, priority };
  into.bytes = bytes; into.bloom = bloom; into.dstLo = dstLo; into.dstHi = dstHi; into.dstName = dstName; into.destination = dst; into.priority = priority;
  return into;
}

/** emit()'s second half: the prepared signal `s`, its message `bytes` (s.bytes, or a wait's copy of them), sent with `cookie`. */
export function sendSignal(c: Connection, s: PreparedSignal, bytes: Uint8Array, cookie: number, op: string, probe = false): number {
  const e = live(c, op);
  const params = bloomParams(e);
  const { bloom, dstLo, dstHi, priority } = s, dst = s.destination;
  const n = bytes.length;
  const { u8, u32 } = e, cmd = e.cmd;
  const msg = cmd + SEND.MSG;
  let p = msg + A.MSG_HDR;
  if (s.dstName !== null) p = items.putStringItem(u8, u32, p, A.ITEM_DST_NAME, s.dstName);
  const bloomAt = p;
  items.putItemHeader(u32, p, A.BLOOM_FILTER_HDR + params.size, A.ITEM_BLOOM_FILTER);
  put64(u32, p + A.ITEM_HDR, 0); // generation 0
  u8.set(bloom, bloomAt + A.BLOOM_FILTER_HDR);
  p += A.BLOOM_FILTER_HDR + params.size;
  const vecAt = p;
  p += A.VEC_ITEM_SIZE;
  // a message that fits after the command is copied there (one copy per receiver, no
  // reservation); a larger one goes as a host vec: copied once, straight into the slice the
  // core reserved (a broadcast's staging slice in this connection's pool, or the receiver's)
  const payload = p; // right after the message: 8-aligned, inside the command area
  const inCmd = n <= cmd + A.CMD_MAX - payload;
  if (inCmd) {
    items.putVec(u32, vecAt, n, payload);
    u8.set(bytes, payload);
  } else items.putHostVec(u32, vecAt, n);
  SEND.encodeMsg(u32, msg, p - msg, A.MSG_SIGNAL, priority, 0, cookie, 0);
  u32[(msg + A.MSG_DST_ID) >>> 2] = dstLo >>> 0; u32[(msg + A.MSG_DST_ID + 4) >>> 2] = dstHi >>> 0;
  u32[(msg + A.MSG_PAYLOAD_TYPE) >>> 2] = PAYLOAD_DBUS_LO; u32[(msg + A.MSG_PAYLOAD_TYPE + 4) >>> 2] = PAYLOAD_DBUS_HI; // (no BigInt per signal)
  SEND.encode(u32, cmd, msg, probe ? A.SEND_PROBE : 0);
  const r = e.send(c.slot, c.gen);
  // (emitAsync's broadcast stopped at a subscriber's lock and set aside: its caller goes on
  // with it, js/bcast-async.ts)
  if (r === A.WOULDBLOCK && e.parked !== null) return cookie;
  if (r < 0) throw commandError(u32, cmd, r, op, SEND.NAME, { dst: dst ?? 'broadcast' });
  if (probe) return r; // (SEND_PROBE: every check but the receiver's room, nothing sent: 0)
  if (r === A.SEND_PENDING && !inCmd) {
    // nothing may leave the send half done: whatever throws before send_commit has returned cancels it
    let k: number;
    // a staged broadcast is delivered by send_commit: emit()'s waits for each subscriber's lock
    // as a synchronous command does (an event-loop caller's short wait would pass over
    // subscribers busy for a moment); emitAsync's (parkBroadcast: its first try's other locks
    // looked at from timers, js/bcast-async.ts) is set aside at a subscriber's lock still taken after its
    // short wait, its slice kept in its sender's connection (js/bcast-park.ts, assembly/aside.ts;
    // it waited blocking before stop 69)
    if (dst === undefined && !e.parkBroadcast) e.lockWaitMs = e.syncLockWaitMs;
    try {
      if (u32[(vecAt + A.VEC_SIZE) >>> 2] !== n || u32[(vecAt + A.VEC_SIZE + 4) >>> 2] !== 0) throw new BusError(A.EFAULT, op, 'internal: the command area changed under this send');
      u8.set(bytes, SEND.vecDestination(u32, vecAt));
      k = e.sendCommit();
    } catch (err) {
      cancel(e);
      throw err;
    }
    // (set aside in its sender's connection: its caller goes on with it, js/bcast-async.ts)
    if (k === A.WOULDBLOCK && e.parked !== null) return cookie;
    if (k < 0) {
      const err = commandError(u32, cmd, k, op, SEND.NAME, { dst: dst ?? 'broadcast' }); // before the cancel rewrites the report
      cancel(e);
      throw err;
    }
  } else if (r !== 0) throw new BusError(A.EFAULT, op, `internal: SEND answered ${r} for a message without host vectors`);
  return cookie;
}

/** send_cancel after a failed two-phase send (EINVAL when nothing is pending any more; a thread declared dead: its recoverer cancels). */
function cancel(e: Engine): void {
  try { e.sendCancel(); } catch { /* recovered meanwhile */ }
}

/** addMatch(rule) and a handler that dispatch() calls for each delivered signal that passes the full rule. */
export function onSignal(c: Connection, rule: string | MatchRule, fn: SignalHandler): () => void {
  if (typeof fn !== 'function') throw new BusError(A.EINVAL, 'onSignal', `handler must be a function, got ${kindOf(fn)}`);
  const parsed = matchRuleOf('onSignal', rule);
  const remove = addMatch(c, parsed, 'onSignal');
  const h: Handler = { rule: parsed, fn, mask: parsed.args.length > 0 ? maskOf(parsed, bloomParams(c.engine)) : null };
  const st = state(c);
  st.handlers.add(h);
  // (the handler goes once its match is removed: a removal that failed leaves both, to be
  // tried again; the handler went first before stop 65, and the match's signals kept coming to
  // no handler: an outside reading)
  return () => { remove(); st.handlers.delete(h); };
}

/**
 * Run the onSignal handlers whose full rule `msg` matches (the bloom check lets false
 * positives through); returns how many ran. Does not free the message. A handler that throws
 * does not stop the others: once every one has run, the first error is thrown (as it was
 * thrown), the later ones are dropped (before stop 41 the first throw left the later handlers
 * unrun: an outside audit).
 */
export function dispatch(c: Connection, msg: Message): number {
  if (!Message.isMessage(msg)) throw new BusError(A.EINVAL, 'dispatch', `msg must be a received Message, got ${foreignKind(msg) ?? kindOf(msg)}`);
  if (msg.conn !== c) throw new BusError(A.EINVAL, 'dispatch', 'the message was received by another connection: dispatch it there (its handlers are that connection\'s)');
  const st = states.get(c);
  if (!st || st.handlers.size === 0) return 0;
  let d: DBusMessage | null;
  try { d = msg.dbus; } catch { return 0; } // malformed D-Bus payload: no handler's business
  if (!d) return 0;
  // the handlers whose rules the message matches as dispatch starts, all read before any
  // runs: a handler may free the message or close the connection, after which it cannot be
  // read (before stop 42 the next handler's match then threw ENXIO / ECONNRESET and the
  // later handlers never ran: an outside audit)
  // A handler runs when its own rule lets the signal in, as the bus would for that rule alone:
  // its bloom mask within the signal's filter (made from the message as emit makes it), and
  // the full rule. A rule on an argument the filter does not carry (one after the first that
  // is not a string, path, signature or array of them: DBUS.md's known limit) never runs its
  // handler, whatever the connection's other rules let in (before stop 47 it ran whenever
  // another rule of the connection admitted the signal: an outside audit).
  const hit: Handler[] = [];
  let filter: Uint8Array | null | undefined; // (made once, when a handler with a mask needs it; null: not a signal's)
  for (const h of st.handlers) {
    if (!msg.matchesRule(h.rule)) continue;
    if (h.mask !== null) {
      if (filter === undefined) filter = contentFilter(c, d, st);
      if (filter !== null && !within(h.mask, filter)) continue;
    }
    hit.push(h);
  }
  let n = 0;
  let failed: { err: unknown } | null = null;
  for (const h of hit) {
    if (!st.handlers.has(h)) continue; // removed by an earlier handler
    n++;
    try { h.fn(d, msg); } catch (err) { failed ??= { err }; }
  }
  if (failed !== null) throw failed.err;
  return n;
}

/** The bloom filter emit would give signal `d` on this bus, in `st`'s scratch (no allocation per signal); null for a message that is not a signal (the bus admits those by destination, not by a rule). */
function contentFilter(c: Connection, d: DBusMessage, st: State): Uint8Array | null {
  if (d.header.type !== 'signal') return null;
  const params = bloomParams(c.engine);
  if (st.filter === null || st.filter.length !== params.size) st.filter = new Uint8Array(params.size);
  try { return signalFilter(d.header, d.body, params, st.filter); } catch { return null; }
}

/** every bit of `mask` (one generation) set in `filter` */
function within(mask: Uint8Array, filter: Uint8Array): boolean {
  for (let i = 0; i < filter.length; i++) if ((filter[i] & mask[i]) !== mask[i]) return false;
  return true;
}

export interface WaitForNameOptions {
  /** milliseconds; default 30000 (then ETIMEDOUT) */
  timeout?: number | undefined;
  /** rejects with ECANCELED when aborted */
  signal?: AbortSignal | undefined;
  /**
   * a connection id: wait until the name's primary owner is that connection (a queued owner
   * waiting for its turn: conn.waitForName(name, { owner: conn.id })); default: any owner
   */
  owner?: number | undefined;
  /**
   * false: the wait does not keep the thread alive (as recvAsync's keepAlive). Default:
   * conn.waitForName follows the connection's ref() / unref(); bus.waitForName keeps it alive.
   * (Before stop 35 every waitForName kept its thread alive until its timeout, 30 s by
   * default, whatever unref() said: an outside audit.)
   */
  keepAlive?: boolean | undefined;
}

/** the wait's arguments, checked: `owner` undefined for any owner, `keepAlive` undefined for the default */
function waitArgs(op: string, name: unknown, opts: WaitForNameOptions | undefined): { timeout: number; signal: AbortSignal | undefined; owner: number | undefined; keepAlive: boolean | undefined } {
  if (typeof name !== 'string') throw new BusError(A.EINVAL, op, `name must be a string, got ${kindOf(name)}`);
  // a well-known name (an invalid one, or a unique name, which no NAME_ACQUIRE ever gives an owner, waited the whole timeout)
  const err = busNameError(name);
  if (err !== null) throw new BusError(A.EINVAL, op, `name ${JSON.stringify(name)} is not a bus name: ${err}`);
  if (name.startsWith(':')) throw new BusError(A.EINVAL, op, `${JSON.stringify(name)} is a unique name: waitForName waits for a well-known name to get an owner`);
  const reserved = reservedName(name); // (its wait would run out its timeout too: since stop 47, an outside audit)
  if (reserved !== null) throw new BusError(A.EINVAL, op, `${reserved}: waitForName would wait out its timeout`);
  const o = options<WaitForNameOptions>(op, opts, WAIT_KEYS, '{ timeout: 1000 }');
  // (each option read once: a getter runs the caller's code; timeout was read twice and signal
  // three times before stop 35, an outside audit)
  const oTimeout = o.timeout, signal = o.signal, owner = o.owner, keepAlive = optBoolean(op, 'keepAlive', o.keepAlive);
  const timeout = oTimeout === undefined ? 30000 : oTimeout; // (null is not absent: EINVAL below)
  if (typeof timeout !== 'number' || !(timeout >= 0)) throw new BusError(A.EINVAL, op, `timeout must be a number of ms >= 0, got ${typeof timeout === 'number' ? String(timeout) : kindOf(timeout)}${timeout === null ? ' (leave it out for the default)' : ''}`);
  if (signal !== undefined && !isAbortSignal(signal)) throw new BusError(A.EINVAL, op, `signal must be an AbortSignal, got ${kindOf(signal)}`);
  if (owner !== undefined && !(typeof owner === 'number' && Number.isSafeInteger(owner) && owner > 0)) {
    throw new BusError(A.EINVAL, op, `owner must be a connection id (an integer > 0), got ${shown(owner)}`);
  }
  if (signal?.aborted) throw canceled(op, signal);
  return { timeout, signal, owner, keepAlive };
}

/** `id` is the owner waited for (any, or the one asked for) */
function isAwaited(id: number | null, want: number | undefined): id is number {
  return id !== null && (want === undefined || id === want);
}

/** ETIMEDOUT of a wait for `name` (its owner `want`, or any) */
function timedOut(op: string, name: string, timeout: number, want: number | undefined): BusError {
  return new BusError(A.ETIMEDOUT, op, want === undefined ? `${JSON.stringify(name)} got no owner within ${timeout} ms`
    : `${JSON.stringify(name)} did not pass to ${want} (as its primary owner) within ${timeout} ms`);
}

/**
 * Bus.waitForName: on a short-lived connection of its own, add NAME_ADD and NAME_CHANGE
 * matches, then ask getNameOwner (after the matches, so no change falls in between), then
 * wait for a notification that gives `name` an owner.
 */
/** the short-lived connections of bus.waitForName calls under way (bus.close() ends them) */
const nameWaits = new WeakSet<Connection>();

/** Is `c` the connection of a bus.waitForName under way? */
export function isNameWait(c: Connection): boolean {
  return nameWaits.has(c);
}

/** the connections of waitForName calls that bus.close() ended (the others were closed by the user, or a recovery) */
const endedByBusClose = new WeakSet<Connection>();

/** Close the short-lived connection `c` of a waitForName, with whatever is queued (BYEBYE_DROP: nothing can arrive in between); `byBusClose`: bus.close() does. */
export function closeNameWait(c: Connection, byBusClose = false): void {
  if (c.closed) return;
  if (byBusClose) endedByBusClose.add(c);
  try { c.close({ drop: true }); } catch { /* closed by a recovery or a shutdown meanwhile */ }
}

/** ECONNRESET of a bus.waitForName whose connection `c` was closed under it (by bus.close() on this thread, or by the user) */
function closedUnder(op: string, c: Connection): BusError {
  return new BusError(A.ECONNRESET, op, endedByBusClose.has(c) ? 'the bus was closed on this thread (bus.close()) while it waited'
    : "its connection (the library's, listed in bus.connections) was closed while it waited");
}

/**
 * The wait's synchronous steps (its connection's HELLO, its matches, its look-ups) with an
 * event-loop caller's lock waits, tried again while a lock another thread holds is in their
 * way (lock-retry.ts): each blocked the thread LOCK_WAIT_MS and the wait then failed EDEADLK,
 * before stop 66 (an outside audit). EDEADLK once the lock has stayed taken LOCK_WAIT_MS.
 */
function softly<T>(e: Engine, op: string, name: string, args: ReturnType<typeof waitArgs>, deadline: number, fn: () => T, keepAlive = args.keepAlive ?? true): Promise<T> {
  return lockRetry(e, fn, {
    op, deadline, signal: args.signal, keepAlive,
    // (its owner could not be looked up: said so, not "got no owner")
    timedOut: (x) => new BusError(A.ETIMEDOUT, op, `${JSON.stringify(name)}: a lock of the bus stayed taken while the wait made its connection or looked the name up, until its timeout (${args.timeout} ms): ${x.message}`),
  });
}

export async function waitForNameOn(e: Engine, connect: () => Connection, name: string, opts?: WaitForNameOptions): Promise<number> {
  const op = 'waitForName';
  const args = waitArgs(op, name, opts);
  const { timeout, signal, owner: want, keepAlive } = args;
  const deadline = performance.now() + timeout;
  let c: Connection;
  try {
    // (marked as the wait's own as it is made: bus.close() right after the call, before the
    // await below ends, found it a user's connection and failed EBUSY, a review of stop 66)
    c = await softly(e, op, name, args, deadline, () => { const k = connect(); nameWaits.add(k); return k; });
  } catch (err) {
    // (its short-lived connection is this call's business: its errors are waitForName's)
    if (err instanceof BusError) throw relabel(op, err);
    throw err;
  }
  try {
    if (c.closed) throw closedUnder(op, c); // (bus.close() while the HELLO's await ended)
    // (only this name's changes: with every name's, a burst of other names filled the
    // short-lived connection's quota and the one awaited was dropped, an outside audit, stop 42)
    // a match table without two free entries: the wait polls getNameOwner, as conn.waitForName
    // does (it failed with the table's ENFILE before stop 46, even for a name that had an
    // owner: an outside audit)
    const unsubscribe: (() => void)[] = [];
    try {
      unsubscribe.push(await softly(e, op, name, args, deadline, () => addMatch(c, { notifications: 'name-add', name }, op)));
      unsubscribe.push(await softly(e, op, name, args, deadline, () => addMatch(c, { notifications: 'name-change', name }, op)));
    } catch (err) {
      if (c.closed) throw closedUnder(op, c); // (closed in a retry's pause: told as below)
      if (!(err instanceof BusError && err.errno === A.ENFILE)) throw err;
      for (const u of unsubscribe) u(); // (its entry back for others while this one polls)
      try {
        return await pollName(c, name, op, { ...args, keepAlive: keepAlive ?? true });
      } catch (e) {
        // its connection closed under it: told as below
        if (e instanceof BusError && e.errno === A.ECONNRESET && c.closed) throw closedUnder(op, c);
        throw e;
      }
    }
    let owner: number | null;
    try {
      owner = await softly(e, op, name, args, deadline, () => c.getNameOwner(name));
    } catch (err) {
      if (c.closed) throw closedUnder(op, c);
      // (this call's: it said getNameOwner before stop 65, where its later look-ups say waitForName)
      throw err instanceof BusError && !err.message.startsWith('engine: ') ? relabel(op, err) : err;
    }
    if (isAwaited(owner, want)) return owner;
    for (;;) {
      let m: Message;
      try {
        m = await c.recvAsync({ timeout: Math.max(0, deadline - performance.now()), signal, keepAlive });
      } catch (err) {
        if (err instanceof BusError && err.errno === A.ETIMEDOUT) throw timedOut(op, name, timeout, want);
        if (err instanceof BusError && err.errno === A.ECANCELED) throw canceled(op, signal);
        // bus.shutdown(): the receive's ESHUTDOWN, named as this call's (an outside audit, stop 21: it said recvAsync)
        if (err instanceof BusError && err.errno === A.ESHUTDOWN) throw shutdownError(op);
        // its connection closed under it: bus.close() on this thread ends the wait, and so
        // does a close of that connection by the user (it is listed in bus.connections)
        if (err instanceof BusError && err.errno === A.ECONNRESET && c.closed) throw closedUnder(op, c);
        // any other (a signal whose addEventListener throws: EINVAL) is this call's too, not
        // recvAsync's (an outside audit, stop 43); the engine's own EBUSY keeps its op
        throw err instanceof BusError && !err.message.startsWith('engine: ') ? relabel(op, err) : err;
      }
      m.free();
      // a notification says the name changed; the owner now is getNameOwner's (which leaves
      // an activator out: the service has not started). Those queued behind this one are
      // taken first, so that none wakes a later turn for nothing. Before stop 42 the first
      // NAME_ADD's owner was returned, though a release and another owner could be queued
      // behind it (an id that no longer owned the name), and one dropped (the connection's
      // quota full) was never noticed: an outside audit.
      let now: number | null;
      try {
        for (let q = c.recv(); q !== null; q = c.recv()) q.free();
        now = await softly(e, op, name, args, deadline, () => c.getNameOwner(name));
      } catch (err) {
        if (isShutdown(c.engine.u32)) throw shutdownError(op);
        if (c.closed) throw closedUnder(op, c);
        throw err instanceof BusError && !err.message.startsWith('engine: ') ? relabel(op, err) : err;
      }
      if (isAwaited(now, want)) return now;
    }
  } finally {
    nameWaits.delete(c);
    closeNameWait(c); // (it was left open before, and Bus.close failed)
  }
}

/**
 * Connection.waitForName: polls getNameOwner (1 ms, doubling up to 50 ms) so as not to take
 * messages from the connection's own queue; bounded the same way.
 */
export async function waitForNamePolling(c: Connection, name: string, opts?: WaitForNameOptions): Promise<number> {
  const op = 'waitForName';
  return pollName(c, name, op, waitArgs(op, name, opts)); // (async: a bad argument rejects, as before)
}

/** The polling of waitForNamePolling, its arguments checked (bus.waitForName's too, on a match table without room). */
async function pollName(c: Connection, name: string, op: string, args: ReturnType<typeof waitArgs>): Promise<number> {
  const { timeout, signal, owner: want, keepAlive } = args;
  if (c.closed) throw new BusError(A.ECONNRESET, op, 'the connection is closed');
  const deadline = performance.now() + timeout;
  let delay = 1;
  for (;;) {
    // bus.shutdown() ends it as it ends every wait (the creator's connections are closed by
    // then: ESHUTDOWN, not their ECONNRESET; other threads' still answer look-ups)
    if (isShutdown(c.engine.u32)) throw shutdownError(op);
    let owner: number | null;
    try {
      owner = await softly(c.engine, op, name, args, deadline, () => c.getNameOwner(name), keepAlive ?? c.keepsAlive);
    } catch (err) {
      if (isShutdown(c.engine.u32)) throw shutdownError(op);
      // (its look-ups are this wait's business: their errors, the connection closed meanwhile
      // say, are waitForName's; but the ECONNRESET of a thread declared dead is the engine's,
      // the same object every later command throws, op engine: an outside audit, stop 40)
      throw err instanceof BusError && !err.message.startsWith('engine: ') ? relabel(op, err) : err;
    }
    if (isAwaited(owner, want)) return owner;
    const left = deadline - performance.now();
    if (left <= 0) throw timedOut(op, name, timeout, want);
    // (its polling timer keeps the thread alive only if the wait should: the connection's
    // ref() / unref() at each poll, or keepAlive)
    await pause(Math.min(delay, left), { op, signal, keepAlive: keepAlive ?? c.keepsAlive });
    delay = Math.min(delay * 2, 50);
  }
}
