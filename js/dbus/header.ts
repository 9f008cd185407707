// header: a D-Bus message (dbus1 header + body) as the payload of a kdbus message of payload
// type DBusDBus, the way sd-bus carried D-Bus over kdbus. The bus itself supplies the sender
// (src_id) and the destination (dst_id / DST_NAME), so a message sent on wasmbus normally
// carries neither; a receiver fills them in from the kdbus message (withKdbusAddresses).
//
// dbus1 message, little-endian ('l'); offsets from the message start:
//   ┌────────┬────────┬────────┬────────┬──────────────────┬──────────────────┐
//   │ 0 'l'  │ 1 type │ 2 flags│ 3 ver 1│ 4 u32 body length│ 8 u32 serial     │
//   ├────────┴────────┴────────┴────────┼──────────────────┴──────────────────┘
//   │ 12 u32 length of the field array  │ 16: fields a(yv), each 8-aligned:
//   └───────────────────────────────────┘     y code, g signature, value
//   … zero padding to 8 │ body (the values of SIGNATURE, marshalled from an 8-aligned start)
// Field codes: 1 PATH o, 2 INTERFACE s, 3 MEMBER s, 4 ERROR_NAME s, 5 REPLY_SERIAL u,
// 6 DESTINATION s, 7 SENDER s, 8 SIGNATURE g, 9 UNIX_FDS u (only 0: no fds on wasmbus).
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { guard } from '../host/guard.ts';
import { parseSignature, signatureError, type DType } from './signature.ts';
import { sizeOf, write, readValues, readOne, bytesArg, posArg } from './marshal.ts';
import {
  objectPathError, interfaceNameError, memberNameError, errorNameError, busNameError, uniqueName, u64Error,
} from './names.ts';
import { headerArg } from './check.ts';
import { kindOf, isList, isRevoked } from '../args.ts';

/** kdbus payload type of D-Bus messages: "DBusDBus" (KDBUS_PAYLOAD_DBUS, 0x4442757344427573). */
export const PAYLOAD_DBUS = 0x4442757344427573n;
/** PAYLOAD_DBUS as its two little-endian u32 halves (a send writes them without BigInt arithmetic) */
export const PAYLOAD_DBUS_LO = Number(PAYLOAD_DBUS & 0xffffffffn), PAYLOAD_DBUS_HI = Number(PAYLOAD_DBUS >> 32n);

export type MessageType = 'method_call' | 'method_return' | 'error' | 'signal';
export const MESSAGE_TYPES: readonly MessageType[] = ['method_call', 'method_return', 'error', 'signal'];

/** Header flags. */
export const FLAG_NO_REPLY_EXPECTED = 1;
export const FLAG_NO_AUTO_START = 2;
export const FLAG_ALLOW_INTERACTIVE_AUTHORIZATION = 4;
const FLAGS_KNOWN = 7;

/** Header field codes. */
export const FIELD = {
  PATH: 1, INTERFACE: 2, MEMBER: 3, ERROR_NAME: 4, REPLY_SERIAL: 5,
  DESTINATION: 6, SENDER: 7, SIGNATURE: 8, UNIX_FDS: 9,
} as const;

/** The largest message the D-Bus specification allows (128 MiB); kdbus allows 2 MiB of payload. */
export const MAX_MESSAGE = 134217728;

export interface DBusHeader {
  type: MessageType;
  /** FLAG_* bits; default 0 */
  flags?: number | undefined;
  /** 1 .. 2^32-1; on wasmbus the kdbus cookie of the message (so cookies must fit 32 bits) */
  serial: number;
  path?: string | undefined;
  interface?: string | undefined;
  member?: string | undefined;
  errorName?: string | undefined;
  replySerial?: number | undefined;
  /** normally absent: the bus routes by the kdbus destination; a receiver fills it in */
  destination?: string | undefined;
  /** normally absent: the bus supplies the sender; a receiver fills it in */
  sender?: string | undefined;
  /** the body's signature; absent or '' for an empty body */
  signature?: string | undefined;
}

/** A decoded message: its header and where its body lies in the bytes given. */
export interface DBusMessage {
  header: DBusHeader;
  /** the body's values (read() of its signature) */
  body: unknown[];
  /** offset of the body in the bytes given, and its length */
  bodyOffset: number;
  bodyLength: number;
  /** bytes of the whole message (header, padding, body) */
  size: number;
}

const ENC = 'dbus.header';
const DEC = 'dbus.header';

function bad(detail: string): BusError {
  return new BusError(A.EINVAL, ENC, detail);
}

function malformed(detail: string): BusError {
  return new BusError(A.EBADMSG, DEC, detail);
}

// the rules of each header's required fields and of each field's value; `fail` makes the error
// (plain functions, no closures: this runs for every message received)
function checkHeader(h: DBusHeader, fail: (d: string) => BusError): void {
  switch (h.type) {
    case 'method_call': need(h, 'a path', h.path, fail); need(h, 'a member', h.member, fail); break;
    case 'method_return': need(h, 'a reply serial', h.replySerial, fail); break;
    case 'error': need(h, 'an error name', h.errorName, fail); need(h, 'a reply serial', h.replySerial, fail); break;
    case 'signal': need(h, 'a path', h.path, fail); need(h, 'an interface', h.interface, fail); need(h, 'a member', h.member, fail); break;
    default: throw fail(`type must be one of ${MESSAGE_TYPES.join(', ')}, got ${JSON.stringify(h.type)}`);
  }
  checkStr('path', h.path, RULE_PATH, fail);
  checkStr('interface', h.interface, RULE_INTERFACE, fail);
  checkStr('member', h.member, RULE_MEMBER, fail);
  checkStr('errorName', h.errorName, RULE_ERROR, fail);
  checkStr('destination', h.destination, RULE_BUS, fail);
  checkStr('sender', h.sender, RULE_BUS, fail);
  serialError('replySerial', h.replySerial, fail);
  checkNumbers(h, fail);
}

function need(h: DBusHeader, what: string, v: unknown, fail: (d: string) => BusError): void {
  if (v === undefined) throw fail(`${h.type === 'error' ? 'an' : 'a'} ${h.type} has ${what}`);
}

/**
 * A name rule and the last string it passed: a rule is a pure function of the string, so a
 * string equal to the last one passed is valid without looking at it again (a service answers
 * the same path, interface and member again and again).
 */
interface Rule { check: (s: string) => string | null; lastValid: string | null }
const RULE_PATH: Rule = { check: objectPathError, lastValid: null };
const RULE_INTERFACE: Rule = { check: interfaceNameError, lastValid: null };
const RULE_MEMBER: Rule = { check: memberNameError, lastValid: null };
const RULE_ERROR: Rule = { check: errorNameError, lastValid: null };
const RULE_BUS: Rule = { check: busNameError, lastValid: null };

/** null when `s` passes `rule` (remembered), else the rule it breaks. */
function ruleError(rule: Rule, s: string): string | null {
  if (s === rule.lastValid) return null;
  const e = rule.check(s);
  if (e === null) rule.lastValid = s;
  return e;
}

function checkStr(name: string, v: unknown, rule: Rule, fail: (d: string) => BusError): void {
  if (v === undefined) return;
  if (typeof v !== 'string') throw fail(`${name} must be a string, got ${typeof v}`);
  const e = ruleError(rule, v);
  if (e !== null) throw fail(`invalid ${name} ${JSON.stringify(v)}: ${e}`);
}

function serialError(name: string, v: unknown, fail: (d: string) => BusError): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 0xffffffff) {
    throw fail(`${name} must be an integer 1..2^32-1, got ${typeof v === 'number' ? v : typeof v}`);
  }
}

// the serial and the flags: what changes from one message to the next with the same fields
function checkNumbers(h: DBusHeader, fail: (d: string) => BusError): void {
  serialError('serial', h.serial, fail);
  if (h.serial === undefined) throw fail('serial must be an integer 1..2^32-1, got undefined');
  const f = h.flags ?? 0;
  if (typeof f !== 'number' || !Number.isInteger(f) || f < 0 || (f & ~FLAGS_KNOWN) !== 0) {
    throw fail(`flags must be a combination of FLAG_* bits (0..7), got ${f}`);
  }
}

// the header's string fields, in field-code order, as [code, type char, value]
function fields(h: DBusHeader): [number, string, string | number][] {
  const out: [number, string, string | number][] = [];
  if (h.path !== undefined) out.push([FIELD.PATH, 'o', h.path]);
  if (h.interface !== undefined) out.push([FIELD.INTERFACE, 's', h.interface]);
  if (h.member !== undefined) out.push([FIELD.MEMBER, 's', h.member]);
  if (h.errorName !== undefined) out.push([FIELD.ERROR_NAME, 's', h.errorName]);
  if (h.replySerial !== undefined) out.push([FIELD.REPLY_SERIAL, 'u', h.replySerial]);
  if (h.destination !== undefined) out.push([FIELD.DESTINATION, 's', h.destination]);
  if (h.sender !== undefined) out.push([FIELD.SENDER, 's', h.sender]);
  if (h.signature !== undefined && h.signature !== '') out.push([FIELD.SIGNATURE, 'g', h.signature]);
  return out;
}

function utf8Len(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? (i++, 4) : 3;
  }
  return n;
}

// end of the field array when it starts at 16 (header names are ASCII once validated)
function fieldsEnd(fs: [number, string, string | number][]): number {
  let pos = 16;
  for (const [, t, v] of fs) {
    pos = (pos + 7) & ~7;
    pos += 3; // code, signature length 1, the type char, then its NUL below
    pos += 1;
    if (t === 'u') pos = ((pos + 3) & ~3) + 4;
    else if (t === 'g') pos += 1 + utf8Len(v as string) + 1;
    else pos = ((pos + 3) & ~3) + 4 + utf8Len(v as string) + 1;
  }
  return pos;
}

/**
 * The header part of the last message written of each type, kept: its fixed part (serial,
 * flags, body length and the reply serial written per message) and field array, padded to 8.
 * A thread that sends one signal, or makes one method call and answers one (a call and its
 * method_return alternate), validates and lays out each header once; every string field is
 * compared (by value), and whether there is a reply serial, so any change makes a new one.
 */
interface Template {
  type: MessageType;
  path: string | undefined;
  iface: string | undefined;
  member: string | undefined;
  errorName: string | undefined;
  /** offset of the REPLY_SERIAL value in `bytes` (written per message), or -1: none */
  replySerialAt: number;
  destination: string | undefined;
  sender: string | undefined;
  signature: string | undefined;
  bytes: Uint8Array;
}
/** the last template of each message type (index: type number - 1) */
const lastOfType: (Template | null)[] = [null, null, null, null];

function typeIndex(type: unknown): number {
  switch (type) {
    case 'method_call': return 0;
    case 'method_return': return 1;
    case 'error': return 2;
    case 'signal': return 3;
  }
  return -1;
}

/**
 * The header bytes of `h` (serial, flags and body length left 0; the reply serial written),
 * validated; kept for the next message of its type. The template's bytes are shared: copy them.
 */
function template(h: DBusHeader): Uint8Array {
  const ti = typeIndex(h.type);
  const t = ti < 0 ? null : lastOfType[ti];
  if (t !== null && t.path === h.path && t.iface === h.interface && t.member === h.member &&
    t.errorName === h.errorName && (t.replySerialAt >= 0) === (h.replySerial !== undefined) &&
    t.destination === h.destination && t.sender === h.sender && t.signature === h.signature) {
    // the fields are the same strings, already checked: the reply serial, serial and flags vary
    serialError('replySerial', h.replySerial, bad);
    checkNumbers(h, bad);
    if (t.replySerialAt >= 0) putU32(t.bytes, t.replySerialAt, h.replySerial!);
    return t.bytes;
  }
  // the body's signature named as such (its field's encoding called it "arg0" before stop 35:
  // an outside audit)
  const sig: unknown = h.signature;
  if (sig !== undefined) {
    const e = typeof sig === 'string' ? signatureError(sig) : `it must be a string, got ${sig === null ? 'null' : typeof sig}`;
    if (e !== null) throw bad(`signature: invalid signature${typeof sig === 'string' ? ` ${JSON.stringify(sig.length > 64 ? sig.slice(0, 64) + '…' : sig)}` : ''}: ${e}`);
  }
  checkHeader(h, bad);
  const fs = fields(h);
  const bytes = new Uint8Array((fieldsEnd(fs) + 7) & ~7);
  bytes[0] = 0x6c; // 'l'
  bytes[1] = MESSAGE_TYPES.indexOf(h.type) + 1;
  bytes[3] = 1;
  // the field array: each field a struct (y, v) at an 8-aligned offset
  let pos = 16, replySerialAt = -1;
  for (const [code, ty, v] of fs) {
    pos = (pos + 7) & ~7;
    bytes[pos] = code; bytes[pos + 1] = 1; bytes[pos + 2] = ty.charCodeAt(0); bytes[pos + 3] = 0;
    if (code === FIELD.REPLY_SERIAL) replySerialAt = pos + 4; // 'u' right after the 4 bytes: 4-aligned
    pos = write(ty, [v], bytes, pos + 4, 0);
  }
  const n = pos - 16;
  bytes[12] = n & 0xff; bytes[13] = (n >>> 8) & 0xff; bytes[14] = (n >>> 16) & 0xff; bytes[15] = n >>> 24;
  lastOfType[ti] = {
    type: h.type, path: h.path, iface: h.interface, member: h.member, errorName: h.errorName,
    replySerialAt, destination: h.destination, sender: h.sender, signature: h.signature, bytes,
  };
  return bytes;
}

/** The keys a DBusHeader may have. */
const HEADER_KEYS = new Set(['type', 'flags', 'serial', 'path', 'interface', 'member', 'errorName', 'replySerial', 'destination', 'sender', 'signature']);

/**
 * A header object from the caller: an object whose own keys are all DBusHeader's (a key
 * misspelt, or one D-Bus has and this codec does not, such as `unixFds`, would be left out
 * of the message silently). The library's own headers skip this (they are built from checked specs).
 */
function userHeader(h: DBusHeader): DBusHeader {
  if (typeof h !== 'object' || h === null || isRevoked(h) || isList(h)) throw bad(`the header must be an object like { type: 'signal', serial: 1, path, interface, member }, got ${h === null ? 'null' : isRevoked(h) ? 'revoked Proxy' : isList(h) ? 'an array' : typeof h}`);
  for (const k in h) {
    if (Object.prototype.hasOwnProperty.call(h, k) && !HEADER_KEYS.has(k)) throw bad(`unknown header key ${JSON.stringify(k)} (known: ${[...HEADER_KEYS].join(', ')}${k === 'unixFds' ? '; no unix fd crosses this bus' : ''})`);
  }
  // a plain copy, each field read once: the sizing, the checks and the writing all read the
  // copy (before stop 56 a header's `signature` was read up to 8 times, and a getter's later
  // answer wrote a header and a body of two signatures; an outside audit)
  const c: Record<string, unknown> = {};
  for (const k of HEADER_KEYS) {
    const v = (h as unknown as Record<string, unknown>)[k];
    if (v !== undefined) c[k] = v;
  }
  return c as unknown as DBusHeader;
}

/** Bytes of the message `header` + `body` (header fields, padding to 8, the body). Validates both. */
export function messageSize(header: DBusHeader, body: readonly unknown[] = []): number {
  return sizeMessage(userHeader(header), body);
}

/** @internal messageSize() of a header the library built */
export function sizeMessage(header: DBusHeader, body: readonly unknown[] = []): number {
  const headerLen = template(header).length;
  const total = headerLen + sizeOf(header.signature ?? '', body, headerLen);
  if (total > MAX_MESSAGE) throw new BusError(A.EMSGSIZE, ENC, `message of ${total} bytes is over the 128 MiB limit`);
  return total;
}

/**
 * Write the message into `into` at `offset` (alignment relative to `offset`, so put it at an
 * 8-aligned address of the target memory). Returns the offset after the message. The caller
 * sizes `into` with messageSize(); too small: BusError EMSGSIZE.
 */
export function writeMessage(header: DBusHeader, body: readonly unknown[], into: Uint8Array, offset = 0): number {
  // (the target checked first: an array or a negative offset gave a TypeError or a RangeError
  // before stop 35, an offset of 1.5 a result of 65.5: an outside audit)
  bytesArg(ENC, 'into', into);
  posArg(ENC, 'offset', offset, into.length);
  return writeMsg(userHeader(header), body, into, offset);
}

function writeMsg(header: DBusHeader, body: readonly unknown[], into: Uint8Array, offset: number): number {
  const tpl = template(header);
  const headerLen = tpl.length;
  if (offset + headerLen > into.length) {
    throw new BusError(A.EMSGSIZE, ENC, `the target buffer is too small (${into.length} bytes; messageSize() says how many are needed)`);
  }
  into.set(tpl, offset);
  into[offset + 2] = header.flags ?? 0;
  putU32(into, offset + 8, header.serial);
  const pos = offset + headerLen;
  let end: number;
  try {
    end = write(header.signature ?? '', body, into, pos, offset);
  } catch (err) {
    // (a body that does not fit is the message's: its text names messageSize(), not sizeOf(),
    // and this op, since stop 35: an outside audit)
    if (err instanceof BusError && err.errno === A.EMSGSIZE && err.message.includes('target buffer is too small')) {
      throw new BusError(A.EMSGSIZE, ENC, `the target buffer is too small (${into.length} bytes; messageSize() says how many are needed)`);
    }
    throw err;
  }
  putU32(into, offset + 4, end - pos);
  if (end - offset > MAX_MESSAGE) throw new BusError(A.EMSGSIZE, ENC, `message of ${end - offset} bytes is over the 128 MiB limit`);
  return end;
}

function putU32(into: Uint8Array, p: number, v: number): void {
  into[p] = v & 0xff; into[p + 1] = (v >>> 8) & 0xff; into[p + 2] = (v >>> 16) & 0xff; into[p + 3] = v >>> 24;
}

/** Encode a message into a new Uint8Array of exactly its size. */
export function encodeMessage(header: DBusHeader, body: readonly unknown[] = []): Uint8Array {
  return encodeMsg(userHeader(header), body);
}

/** @internal encodeMessage() of a header the library built */
export function encodeMsg(header: DBusHeader, body: readonly unknown[] = []): Uint8Array {
  const out = new Uint8Array(sizeMessage(header, body));
  return out.subarray(0, writeSized(header, body, out));
}

/**
 * Write a message into `out`, sized for it by sizeMessage(): its end. The body's values are
 * read again here, and a getter may answer differently from the sizing's read: a value that
 * grew does not fit (EINVAL, saying so, not the codec's EMSGSIZE about its buffer), one that
 * shrank ends the message early (the caller takes the bytes up to the end returned: before
 * stop 54 the whole sized buffer was sent, garbage after the message: an outside audit).
 */
function writeSized(header: DBusHeader, body: readonly unknown[], out: Uint8Array): number {
  try {
    return writeMsg(header, body, out, 0);
  } catch (err) {
    if (err instanceof BusError && err.errno === A.EMSGSIZE && err.message.includes('target buffer is too small')) {
      throw new BusError(A.EINVAL, ENC, `a body value changed while the message was encoded (a getter answered a longer value than it did when the message was sized: ${out.length} bytes)`);
    }
    throw err;
  }
}

/**
 * the buffer encodeTransient() writes into: made at SCRATCH_MIN, so that a message that fits
 * is written in one pass, its values read once (a smaller one that grew took three: written
 * until it ran out, sized, written; an outside audit, stop 54). A message that does not fit
 * is sized and written into a larger one (the next power of two, at most SCRATCH_MAX: 2 MiB), which
 * the thread keeps: the next messages of that size take one pass again, with no buffer of their
 * own and no error thrown and caught (64 KiB method calls made an ArrayBuffer and a BusError
 * per message on each side, and the collector took 14-17 % of both threads: an outside audit,
 * stop 57). Only a message over SCRATCH_MAX gets a buffer of its own.
 */
let scratch: Uint8Array | null = null;
let scratchBusy = false;
const NO_VIEW: Uint8Array = new Uint8Array(0);
let view0: Uint8Array = NO_VIEW, view1: Uint8Array = NO_VIEW;
/** the scratch's first size: most messages fit */
const SCRATCH_MIN = 65536;
/**
 * the largest scratch a thread keeps: the bus's largest payload (MAX_PAYLOAD, 2 MiB, a power
 * of two), which bounds a whole D-Bus message sent on it; a larger one, which no send can
 * carry, gets a buffer of its own and leaves the kept one as it was (an outside audit, stop 57)
 */
const SCRATCH_MAX = A.MAX_PAYLOAD;

/** the scratch grown to hold `size` bytes (its views dropped), or null when `size` is over SCRATCH_MAX */
function scratchFor(size: number): Uint8Array | null {
  if (size > SCRATCH_MAX) return null;
  let n = scratch === null ? SCRATCH_MIN : scratch.length;
  while (n < size) n *= 2;
  if (scratch === null || n !== scratch.length) {
    scratch = new Uint8Array(n);
    view0 = view1 = NO_VIEW;
  }
  return scratch;
}

/**
 * @internal encodeMessage() into a buffer shared by every call: the bytes are valid until the
 * next encodeTransient(), for a send that copies them at once (no ArrayBuffer per message). A
 * message that fits is written in one pass (encodeMessage's sizing pass is skipped). The
 * values' getters may encode reentrantly, and a provider may encode from a clock read the
 * host makes between an outer call's encoding and its send (host/guard.ts): such an inner
 * call gets a buffer of its own.
 */
export function encodeTransient(header: DBusHeader, body: readonly unknown[] = []): Uint8Array {
  if (scratchBusy || guard.running) return encodeMsg(header, body);
  scratchBusy = true;
  try {
    // one pass, straight into the buffer: the same checks in the same order as sizeOf's; a
    // message that does not fit (EMSGSIZE) takes the two passes below, which say why
    let buf = scratch ?? scratchFor(SCRATCH_MIN)!;
    let end = -1;
    try {
      end = writeMsg(header, body, buf, 0);
    } catch (err) {
      if (!(err instanceof BusError && err.errno === A.EMSGSIZE)) throw err;
    }
    if (end < 0) {
      // larger than the scratch: sized, then written into the scratch grown for it, or over
      // SCRATCH_MAX into a buffer of its own (the values read up to three times: the first
      // write's prefix, the sizing, the write)
      const size = sizeMessage(header, body);
      const grown = scratchFor(size);
      if (grown === null) {
        const out = new Uint8Array(size);
        const n = writeSized(header, body, out);
        return n === out.length ? out : out.subarray(0, n);
      }
      buf = grown;
      end = writeSized(header, body, buf.subarray(0, size));
    }
    // the view of `end` bytes: the last two kept (a call's and its reply's sizes alternate)
    if (view0.length === end) return view0;
    if (view1.length === end) return view1;
    view1 = view0;
    view0 = buf.subarray(0, end);
    return view0;
  } finally {
    scratchBusy = false;
  }
}

const FIELD_SIG: Record<number, [string, string]> = {
  [FIELD.PATH]: ['path', 'o'], [FIELD.INTERFACE]: ['interface', 's'], [FIELD.MEMBER]: ['member', 's'],
  [FIELD.ERROR_NAME]: ['errorName', 's'], [FIELD.REPLY_SERIAL]: ['replySerial', 'u'],
  [FIELD.DESTINATION]: ['destination', 's'], [FIELD.SENDER]: ['sender', 's'],
  [FIELD.SIGNATURE]: ['signature', 'g'], [FIELD.UNIX_FDS]: ['unixFds', 'u'],
};
const FIELD_STRUCT: DType = parseSignature('(yv)')[0];

/** A parsed header and where the body lies, without decoding the body. */
export interface HeaderInfo {
  header: DBusHeader;
  bodyOffset: number;
  bodyLength: number;
  size: number;
  littleEndian: boolean;
}

function getU32(b: Uint8Array, p: number, le: boolean): number {
  return le
    ? (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0
    : ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

// what fastField read: the field code, its variant's signature and value
let fCode = 0;
let fSig = '';
let fValue: unknown = undefined;
/**
 * The last two strings read for each field code (index 2 * code and 2 * code + 1): the same
 * bytes again give the same string, not a new one (a call's signature and its reply's alternate).
 */
const lastFieldStrings: string[] = new Array<string>(20).fill('');
let fieldStringTurn = 0;
/** the last two signatures that passed signatureError (a call's and its reply's alternate) */
let validSignature0 = '';
let validSignature1 = '';

/**
 * One header field (y, v) at `pos` (8-aligned relative to `base`) whose variant is a single
 * 's', 'o', 'g' or 'u' and whose strings are ASCII: the position after it (fCode, fSig, fValue
 * set), without objects or a DataView. -1 for anything else, anything malformed included:
 * then the general reader reads the field (and makes the same error it always made).
 */
function fastField(b: Uint8Array, pos: number, stop: number, base: number, le: boolean): number {
  const pad = (8 - ((pos - base) & 7)) & 7;
  for (let k = 0; k < pad; k++) if (pos + k >= stop || b[pos + k] !== 0) return -1;
  pos += pad;
  if (pos + 4 > stop || b[pos + 1] !== 1 || b[pos + 3] !== 0) return -1;
  const code = b[pos], t = b[pos + 2];
  pos += 4; // 4-aligned here (8-aligned start + 4)
  let n: number, sp: number;
  if (t === 0x75) { // 'u'
    if (pos + 4 > stop) return -1;
    fCode = code; fSig = 'u'; fValue = getU32(b, pos, le);
    return pos + 4;
  }
  if (t === 0x73 || t === 0x6f) { // 's', 'o'
    if (pos + 4 > stop) return -1;
    n = getU32(b, pos, le);
    sp = pos + 4;
  } else if (t === 0x67) { // 'g'
    if (pos >= stop) return -1;
    n = b[pos];
    sp = pos + 1;
  } else return -1;
  if (n >= stop - sp || b[sp + n] !== 0) return -1;
  let s: string;
  const c0 = code < 10 ? lastFieldStrings[2 * code] : '', c1 = code < 10 ? lastFieldStrings[2 * code + 1] : '';
  if (c0.length === n && sameAscii(c0, b, sp, n)) s = c0;
  else if (c1.length === n && sameAscii(c1, b, sp, n)) s = c1;
  else {
    s = '';
    for (let k = 0; k < n; k++) {
      const c = b[sp + k];
      if (c === 0 || c >= 0x80) return -1;
      s += String.fromCharCode(c);
    }
    if (code < 10) { lastFieldStrings[2 * code + fieldStringTurn] = s; fieldStringTurn ^= 1; }
  }
  if (t === 0x6f) {
    if (ruleError(RULE_PATH, s) !== null) return -1;
    fSig = 'o';
  } else if (t === 0x67) {
    if (s !== validSignature0 && s !== validSignature1) {
      if (signatureError(s) !== null) return -1;
      validSignature1 = validSignature0;
      validSignature0 = s;
    }
    fSig = 'g';
  } else fSig = 's';
  fCode = code; fValue = s;
  return sp + n + 1;
}

function sameAscii(s: string, b: Uint8Array, p: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (s.charCodeAt(k) !== b[p + k]) return false;
  return true;
}

/**
 * Parse the header of the message at `bytes[offset ..]` (in place; `length` bounds the message,
 * default the rest of `bytes`). Malformed: BusError EBADMSG naming the rule.
 */
export function readHeader(bytes: Uint8Array, offset = 0, length?: number): HeaderInfo {
  const header = parseHeader(bytes, offset, lengthArg(bytes, offset, length));
  return { header, bodyOffset: hBodyOffset, bodyLength: hBodyLength, size: hBodyOffset - offset + hBodyLength, littleEndian: hLittleEndian };
}

// where parseHeader found the body, and the byte order
let hBodyOffset = 0;
let hBodyLength = 0;
let hLittleEndian = true;

/**
 * The reading functions' own arguments, checked first (EINVAL): `bytes` a Uint8Array, `offset`
 * and `length` whole numbers within it; `length` defaults to the rest of `bytes`. (Before stop
 * 35 a null gave a TypeError, an array a DataView's, and a length past the end the misleading
 * "a message is at least 16 bytes": an outside audit.)
 */
function lengthArg(bytes: Uint8Array, offset: number, length: number | undefined): number {
  bytesArg(DEC, 'bytes', bytes);
  posArg(DEC, 'offset', offset, bytes.length);
  if (length === undefined) return bytes.length - offset;
  posArg(DEC, 'length', length, bytes.length - offset);
  return length;
}

/** readHeader's work: the header; the body's place in hBodyOffset, hBodyLength, the byte order in hLittleEndian. */
function parseHeader(bytes: Uint8Array, offset: number, length: number): DBusHeader {
  const end = offset + length;
  if (length < 16 || end > bytes.length) throw malformed(`a message is at least 16 bytes, got ${Math.max(0, Math.min(length, bytes.length - offset))}`);
  const e = bytes[offset];
  if (e !== 0x6c && e !== 0x42) throw malformed(`byte order must be 'l' or 'B', got ${e}`);
  const le = e === 0x6c;
  const typeNo = bytes[offset + 1];
  if (typeNo < 1 || typeNo > 4) throw malformed(`unknown message type ${typeNo}`);
  if (bytes[offset + 3] !== 1) throw malformed(`protocol version must be 1, got ${bytes[offset + 3]}`);
  const bodyLength = getU32(bytes, offset + 4, le);
  const serial = getU32(bytes, offset + 8, le);
  const fieldsLen = getU32(bytes, offset + 12, le);
  if (serial === 0) throw malformed('serial must not be 0');
  if (fieldsLen > 67108864) throw malformed(`header field array length ${fieldsLen} is over the 64 MiB limit`);
  const fieldsStop = offset + 16 + fieldsLen;
  if (fieldsStop > end) throw malformed('the header field array runs past the end of the message');
  const header: DBusHeader = { type: MESSAGE_TYPES[typeNo - 1], serial };
  const flags = bytes[offset + 2];
  if (flags !== 0) header.flags = flags & FLAGS_KNOWN; // unknown flags are ignored (spec)
  let seen = 0; // bit `code` of each known field read
  let pos = offset + 16;
  for (let n = 0; pos < fieldsStop; n++) {
    let code: number, vsig: string, value: unknown;
    const after = fastField(bytes, pos, fieldsStop, offset, le);
    if (after >= 0) {
      code = fCode; vsig = fSig; value = fValue;
      pos = after;
    } else {
      // anything unusual (another type, non-ASCII, a rule broken, past the end): the general
      // reader, which makes the error it always made
      // named by its place and its code byte: "header field 3 (code 8)[1].value" is the value of the fourth field, SIGNATURE
      const r = readOne(FIELD_STRUCT, bytes, pos, fieldsStop, offset, le, false, `header field ${n} (code ${bytes[offset + ((pos - offset + 7) & ~7)]})`); // (the code is the struct's first byte, 8-aligned: pos may be on the padding before it, which said code 0 before stop 35)
      pos = r.end;
      const [c, variant] = r.value as [number, { signature: string; value: unknown }];
      code = c; vsig = variant.signature; value = variant.value;
    }
    if (code === 0) throw malformed('header field code 0 is INVALID (D-Bus specification, "Header Fields")');
    const known = code >= 1 && code <= 9 ? FIELD_SIG[code] : undefined;
    if (known === undefined) continue; // unknown fields are ignored (spec)
    if ((seen & (1 << code)) !== 0) throw malformed(`header field ${code} (${known[0]}) appears twice`);
    seen |= 1 << code;
    if (vsig !== known[1]) {
      throw malformed(`header field ${code} (${known[0]}) must have type '${known[1]}', got '${vsig}'`);
    }
    switch (code) {
      case FIELD.PATH: header.path = value as string; break;
      case FIELD.INTERFACE: header.interface = value as string; break;
      case FIELD.MEMBER: header.member = value as string; break;
      case FIELD.ERROR_NAME: header.errorName = value as string; break;
      case FIELD.REPLY_SERIAL: header.replySerial = value as number; break;
      case FIELD.DESTINATION: header.destination = value as string; break;
      case FIELD.SENDER: header.sender = value as string; break;
      case FIELD.SIGNATURE: header.signature = value as string; break;
      case FIELD.UNIX_FDS:
        if (value !== 0) throw new BusError(A.EOPNOTSUPP, DEC, 'the message carries unix fds: not supported (no fds in a JS runtime)');
        break;
    }
  }
  if (pos !== fieldsStop) throw malformed('header fields do not end at the field array length');
  const bodyOffset = offset + ((16 + fieldsLen + 7) & ~7);
  if (bodyOffset > end) throw malformed('the header padding runs past the end of the message');
  for (let p = fieldsStop; p < bodyOffset; p++) if (bytes[p] !== 0) throw malformed('header padding: alignment padding not zero');
  if (bodyLength > end - bodyOffset) throw malformed(`body length ${bodyLength} runs past the end of the message`);
  if (bodyOffset - offset + bodyLength > MAX_MESSAGE) throw malformed('message over the 128 MiB limit');
  checkHeader(header, malformed);
  if (header.signature === undefined && bodyLength !== 0) throw malformed('a body without a SIGNATURE field');
  if (header.signature === '') delete header.signature;
  hBodyOffset = bodyOffset; hBodyLength = bodyLength; hLittleEndian = le;
  return header;
}

/**
 * Parse a whole message at `bytes[offset ..]`: header and body (an `ay` is a view of `bytes`;
 * with `copyArrays` a copy, so that the values outlive the bytes, e.g. a pool slice).
 */
export function readMessage(bytes: Uint8Array, offset = 0, length?: number, copyArrays = false): DBusMessage {
  return readMsg(bytes, offset, lengthArg(bytes, offset, length), copyArrays);
}

/** readMessage with its arguments checked (readPayload's: checked once, per received message) */
function readMsg(bytes: Uint8Array, offset: number, length: number, copyArrays: boolean): DBusMessage {
  const header = parseHeader(bytes, offset, length);
  const bodyOffset = hBodyOffset, bodyLength = hBodyLength;
  const body = readValues(header.signature ?? '', bytes, bodyOffset, bodyOffset + bodyLength, offset, hLittleEndian, copyArrays);
  return { header, body, bodyOffset, bodyLength, size: bodyOffset - offset + bodyLength };
}

/**
 * A DBusDBus payload: exactly one D-Bus message, as sd-bus required (EBADMSG unless 16 +
 * ALIGN8(fields) + body is the size). readMessage alone reads the first message of a longer
 * buffer (a stream); a payload with bytes after its message is refused here.
 */
export function readPayload(bytes: Uint8Array, offset = 0, length?: number, copyArrays = false): DBusMessage {
  const n = lengthArg(bytes, offset, length);
  const d = readMsg(bytes, offset, n, copyArrays);
  if (d.size !== n) throw malformed(`the payload is ${n} bytes and its D-Bus message ${d.size}: a DBusDBus payload is exactly one message`);
  return d;
}

/** kdbus message flags (KDBUS.md, Messages). */
const KDBUS_EXPECT_REPLY = 1, KDBUS_NO_AUTO_START = 2, KDBUS_SIGNAL = 4;
/** kdbus dst_id of a broadcast */
const BROADCAST = 0xffffffffffffffffn;

/** The kdbus side of a received message, as much as the header checks need. */
export interface KdbusEnvelope {
  /** sender connection id; 0 = the bus */
  src: number | bigint;
  /** destination id; ~0 (2^64-1) = broadcast; 0 = by name */
  dst: number | bigint;
  /** DST_NAME, when the message was sent to a name */
  dstName?: string | undefined;
  cookie?: number | bigint | undefined;
  cookieReply?: number | bigint | undefined;
  /** kdbus message flags */
  flags?: number | undefined;
}

/**
 * The header with sender and destination taken from the kdbus message, as sd-bus did: the
 * header's own values are overridden (the bus, not the sender, is the authority). `self` is
 * the receiver's unique name (":1.<id>"), the destination of a message sent by name without
 * DST_NAME. Its arguments are checked (EINVAL): the header as signalFilter checks one, `env` an
 * object whose `src` and `dst` are u64s, `env.dstName` and `self` bus names when given.
 */
export function withKdbusAddresses(header: DBusHeader, env: KdbusEnvelope, self?: string): DBusHeader {
  const { h, src, dst, dstName } = addressArgs(header, env, self);
  h.sender = uniqueName(src);
  const d = BigInt(dst);
  if (dstName !== undefined) h.destination = dstName;
  else if (d === BROADCAST) delete h.destination;
  else if (d === 0n) { if (self !== undefined) h.destination = self; else delete h.destination; }
  else h.destination = uniqueName(d);
  return h;
}

/**
 * withKdbusAddresses' arguments, each read once and checked (EINVAL), as used: the header as
 * a copy, the envelope's src, dst and dstName. Before stop 41 a null envelope gave a
 * TypeError and an id of -1 the sender ":1.-1"; before stop 56 they were checked, then read
 * again and the second answer used (a getter's "!not a name" became the destination): outside audits.
 */
function addressArgs(header: DBusHeader, env: KdbusEnvelope, self: string | undefined): { h: DBusHeader; src: number | bigint; dst: number | bigint; dstName: string | undefined } {
  const op = 'withKdbusAddresses';
  const h = headerArg(op, header); // (a copy of its fields, each read once: the header returned is built on it)
  if (env === null || typeof env !== 'object' || isRevoked(env)) throw new BusError(A.EINVAL, op, `env must be a KdbusEnvelope object ({ src, dst, dstName? }), got ${kindOf(env)}`);
  const src = env.src, dst = env.dst, dstName = env.dstName;
  const e = u64Error('env.src', src) ?? u64Error('env.dst', dst);
  if (e !== null) throw new BusError(A.EINVAL, op, e);
  busNameArg(op, 'env.dstName', dstName);
  busNameArg(op, 'self', self);
  return { h, src, dst, dstName };
}

/** `v`: undefined or a bus name (EINVAL naming it `what`) */
function busNameArg(op: string, what: string, v: unknown): void {
  const e = v === undefined ? null : ruleError(RULE_BUS, v as string);
  if (e !== null) throw new BusError(A.EINVAL, op, `${what}: ${e}`);
}

/**
 * sd-bus's consistency checks between the D-Bus header and its kdbus message: the serial is
 * the cookie, the reply serial the cookie_reply, EXPECT_REPLY iff a method call expecting a
 * reply, SIGNAL iff a signal, NO_AUTO_START in both or neither. Inconsistent: BusError EBADMSG.
 */
export function checkKdbusEnvelope(headerIn: DBusHeader, env: KdbusEnvelope): void {
  const op = 'checkKdbusEnvelope';
  // (the two objects, before their fields are read: a revoked Proxy threw a TypeError before stop 48)
  if (headerIn === null || typeof headerIn !== 'object' || isRevoked(headerIn)) throw new BusError(A.EINVAL, op, `header must be a DBusHeader object, got ${kindOf(headerIn)}`);
  if (env === null || typeof env !== 'object' || isRevoked(env)) throw new BusError(A.EINVAL, op, `env must be a KdbusEnvelope object ({ src, dst, cookie?, flags? }), got ${kindOf(env)}`);
  // every field read once, and the numbers checked before they are compared (a serial or a
  // cookie that was no integer threw a SyntaxError or a RangeError from BigInt() before stop 56,
  // and a cookie read twice could say two values in one message; an outside audit)
  const header = headerArg(op, headerIn);
  const cookie = env.cookie, cookieReply = env.cookieReply, envFlags = env.flags;
  const flags = u32Of(op, 'env.flags', envFlags ?? 0);
  const hf = u32Of(op, 'header.flags', header.flags ?? 0);
  if (cookie !== undefined) {
    const serial = u64Of(op, 'header.serial', header.serial), c = u64Of(op, 'env.cookie', cookie);
    if (c !== serial) throw malformed(`the header serial ${serial} is not the kdbus cookie ${c}`);
  }
  const expect = header.type === 'method_call' && (hf & FLAG_NO_REPLY_EXPECTED) === 0;
  if (expect !== ((flags & KDBUS_EXPECT_REPLY) !== 0)) {
    throw malformed(`EXPECT_REPLY must be set exactly for a method call that expects a reply`);
  }
  if ((header.type === 'signal') !== ((flags & KDBUS_SIGNAL) !== 0)) {
    throw malformed(`the D-Bus header says ${header.type} and the kdbus SIGNAL flag is ${(flags & KDBUS_SIGNAL) !== 0 ? 'set' : 'clear'}: it must be set exactly for a signal`);
  }
  if (((hf & FLAG_NO_AUTO_START) !== 0) !== ((flags & KDBUS_NO_AUTO_START) !== 0)) {
    throw malformed('NO_AUTO_START must be set in both the header and the kdbus message, or in neither');
  }
  if (header.replySerial !== undefined && cookieReply !== undefined) {
    const rs = u64Of(op, 'header.replySerial', header.replySerial), cr = u64Of(op, 'env.cookieReply', cookieReply);
    if (cr !== rs) throw malformed(`the reply serial ${rs} is not the kdbus cookie_reply ${cr}`);
  }
}

/** `v` as a bigint when it is a kdbus u64 (a safe integer or a bigint 0..2^64-1), else EINVAL naming it */
function u64Of(op: string, what: string, v: unknown): bigint {
  const e = u64Error(what, v);
  if (e !== null) throw new BusError(A.EINVAL, op, e);
  return BigInt(v as number | bigint);
}

/** `v` when it is an integer 0..2^32-1, else EINVAL naming it */
function u32Of(op: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new BusError(A.EINVAL, op, `${what} must be an integer 0..2^32-1, got ${typeof v === 'number' ? String(v) : kindOf(v)}`);
  return v;
}
