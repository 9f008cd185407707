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
import { parseSignature, type DType } from './signature.ts';
import { sizeOf, write, read, readAt } from './marshal.ts';
import {
  objectPathError, interfaceNameError, memberNameError, errorNameError, busNameError, uniqueName,
} from './names.ts';

/** kdbus payload type of D-Bus messages: "DBusDBus" (KDBUS_PAYLOAD_DBUS, 0x4442757344427573). */
export const PAYLOAD_DBUS = 0x4442757344427573n;

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
  flags?: number;
  /** 1 .. 2^32-1; on wasmbus the kdbus cookie of the message (so cookies must fit 32 bits) */
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  /** normally absent: the bus routes by the kdbus destination; a receiver fills it in */
  destination?: string;
  /** normally absent: the bus supplies the sender; a receiver fills it in */
  sender?: string;
  /** the body's signature; absent or '' for an empty body */
  signature?: string;
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
function checkHeader(h: DBusHeader, fail: (d: string) => BusError): void {
  const need = (what: string, v: unknown) => {
    if (v === undefined) throw fail(`a ${h.type} has ${what}`);
  };
  switch (h.type) {
    case 'method_call': need('a path', h.path); need('a member', h.member); break;
    case 'method_return': need('a reply serial', h.replySerial); break;
    case 'error': need('an error name', h.errorName); need('a reply serial', h.replySerial); break;
    case 'signal': need('a path', h.path); need('an interface', h.interface); need('a member', h.member); break;
    default: throw fail(`type must be one of ${MESSAGE_TYPES.join(', ')}, got ${JSON.stringify(h.type)}`);
  }
  const str = (name: string, v: unknown, rule: (s: string) => string | null) => {
    if (v === undefined) return;
    if (typeof v !== 'string') throw fail(`${name} must be a string, got ${typeof v}`);
    const e = rule(v);
    if (e !== null) throw fail(`invalid ${name} ${JSON.stringify(v)}: ${e}`);
  };
  str('path', h.path, objectPathError);
  str('interface', h.interface, interfaceNameError);
  str('member', h.member, memberNameError);
  str('errorName', h.errorName, errorNameError);
  str('destination', h.destination, busNameError);
  str('sender', h.sender, busNameError);
  serialError('replySerial', h.replySerial, fail);
  checkNumbers(h, fail);
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
 * The header part of the last message written, kept: its fixed part (serial, flags and body
 * length written per message) and field array, padded to 8. A thread that sends one signal or
 * one method call again and again validates and lays out its header once; every field is
 * compared (strings by value), so any change makes a new one.
 */
interface Template {
  type: MessageType;
  path: string | undefined;
  iface: string | undefined;
  member: string | undefined;
  errorName: string | undefined;
  replySerial: number | undefined;
  destination: string | undefined;
  sender: string | undefined;
  signature: string | undefined;
  bytes: Uint8Array;
}
let last: Template | null = null;

/** The header bytes of `h` (serial, flags and body length left 0), validated; kept for the next call. */
function template(h: DBusHeader): Uint8Array {
  const t = last;
  if (t !== null && t.type === h.type && t.path === h.path && t.iface === h.interface && t.member === h.member &&
    t.errorName === h.errorName && t.replySerial === h.replySerial && t.destination === h.destination &&
    t.sender === h.sender && t.signature === h.signature) {
    checkNumbers(h, bad); // the fields are the same strings, already checked: serial and flags vary
    return t.bytes;
  }
  checkHeader(h, bad);
  const fs = fields(h);
  const bytes = new Uint8Array((fieldsEnd(fs) + 7) & ~7);
  bytes[0] = 0x6c; // 'l'
  bytes[1] = MESSAGE_TYPES.indexOf(h.type) + 1;
  bytes[3] = 1;
  // the field array: each field a struct (y, v) at an 8-aligned offset
  let pos = 16;
  for (const [code, ty, v] of fs) {
    pos = (pos + 7) & ~7;
    bytes[pos] = code; bytes[pos + 1] = 1; bytes[pos + 2] = ty.charCodeAt(0); bytes[pos + 3] = 0;
    pos = write(ty, [v], bytes, pos + 4, 0);
  }
  const n = pos - 16;
  bytes[12] = n & 0xff; bytes[13] = (n >>> 8) & 0xff; bytes[14] = (n >>> 16) & 0xff; bytes[15] = n >>> 24;
  last = {
    type: h.type, path: h.path, iface: h.interface, member: h.member, errorName: h.errorName,
    replySerial: h.replySerial, destination: h.destination, sender: h.sender, signature: h.signature, bytes,
  };
  return bytes;
}

/** Bytes of the message `header` + `body` (header fields, padding to 8, the body). Validates both. */
export function messageSize(header: DBusHeader, body: readonly unknown[] = []): number {
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
  const tpl = template(header);
  const headerLen = tpl.length;
  if (offset + headerLen > into.length) {
    throw new BusError(A.EMSGSIZE, ENC, `the target buffer is too small (${into.length} bytes; messageSize() says how many are needed)`);
  }
  into.set(tpl, offset);
  into[offset + 2] = header.flags ?? 0;
  putU32(into, offset + 8, header.serial);
  const pos = offset + headerLen;
  const end = write(header.signature ?? '', body, into, pos, offset);
  putU32(into, offset + 4, end - pos);
  if (end - offset > MAX_MESSAGE) throw new BusError(A.EMSGSIZE, ENC, `message of ${end - offset} bytes is over the 128 MiB limit`);
  return end;
}

function putU32(into: Uint8Array, p: number, v: number): void {
  into[p] = v & 0xff; into[p + 1] = (v >>> 8) & 0xff; into[p + 2] = (v >>> 16) & 0xff; into[p + 3] = v >>> 24;
}

/** Encode a message into a new Uint8Array of exactly its size. */
export function encodeMessage(header: DBusHeader, body: readonly unknown[] = []): Uint8Array {
  const out = new Uint8Array(messageSize(header, body));
  writeMessage(header, body, out, 0);
  return out;
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

/**
 * Parse the header of the message at `bytes[offset ..]` (in place; `length` bounds the message,
 * default the rest of `bytes`). Malformed: BusError EBADMSG naming the rule.
 */
export function readHeader(bytes: Uint8Array, offset = 0, length = bytes.length - offset): HeaderInfo {
  const end = offset + length;
  if (length < 16 || end > bytes.length) throw malformed(`a message is at least 16 bytes, got ${Math.max(0, Math.min(length, bytes.length - offset))}`);
  const e = bytes[offset];
  if (e !== 0x6c && e !== 0x42) throw malformed(`byte order must be 'l' or 'B', got ${e}`);
  const le = e === 0x6c;
  const typeNo = bytes[offset + 1];
  if (typeNo < 1 || typeNo > 4) throw malformed(`unknown message type ${typeNo}`);
  if (bytes[offset + 3] !== 1) throw malformed(`protocol version must be 1, got ${bytes[offset + 3]}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLength = dv.getUint32(offset + 4, le);
  const serial = dv.getUint32(offset + 8, le);
  const fieldsLen = dv.getUint32(offset + 12, le);
  if (serial === 0) throw malformed('serial must not be 0');
  if (fieldsLen > 67108864) throw malformed(`header field array length ${fieldsLen} is over the 64 MiB limit`);
  const fieldsStop = offset + 16 + fieldsLen;
  if (fieldsStop > end) throw malformed('the header field array runs past the end of the message');
  const header: DBusHeader = { type: MESSAGE_TYPES[typeNo - 1], serial };
  const flags = bytes[offset + 2];
  if (flags !== 0) header.flags = flags & FLAGS_KNOWN; // unknown flags are ignored (spec)
  const opts = { base: offset, littleEndian: le };
  const seen = new Set<number>();
  let pos = offset + 16;
  while (pos < fieldsStop) {
    const r = readAt(FIELD_STRUCT, bytes, pos, fieldsStop, opts, 'header field');
    pos = r.end;
    const [code, variant] = r.value as [number, { signature: string; value: unknown }];
    const known = FIELD_SIG[code];
    if (known === undefined) continue; // unknown fields are ignored (spec)
    if (seen.has(code)) throw malformed(`header field ${code} (${known[0]}) appears twice`);
    seen.add(code);
    if (variant.signature !== known[1]) {
      throw malformed(`header field ${code} (${known[0]}) must have type '${known[1]}', got '${variant.signature}'`);
    }
    if (code === FIELD.UNIX_FDS) {
      if (variant.value !== 0) throw new BusError(A.EOPNOTSUPP, DEC, 'the message carries unix fds: not supported (no fds in a JS runtime)');
      continue;
    }
    (header as unknown as Record<string, unknown>)[known[0]] = variant.value;
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
  return { header, bodyOffset, bodyLength, size: bodyOffset - offset + bodyLength, littleEndian: le };
}

/** Parse a whole message at `bytes[offset ..]`: header and body (an `ay` is a view of `bytes`). */
export function readMessage(bytes: Uint8Array, offset = 0, length = bytes.length - offset): DBusMessage {
  const h = readHeader(bytes, offset, length);
  const body = read(h.header.signature ?? '', bytes, h.bodyOffset, h.bodyOffset + h.bodyLength, {
    base: offset, littleEndian: h.littleEndian,
  });
  return { header: h.header, body, bodyOffset: h.bodyOffset, bodyLength: h.bodyLength, size: h.size };
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
  dstName?: string;
  cookie?: number | bigint;
  cookieReply?: number | bigint;
  /** kdbus message flags */
  flags?: number;
}

/**
 * The header with sender and destination taken from the kdbus message, as sd-bus did: the
 * header's own values are overridden (the bus, not the sender, is the authority). `self` is
 * the receiver's unique name, the destination of a message sent by name without DST_NAME.
 */
export function withKdbusAddresses(header: DBusHeader, env: KdbusEnvelope, self?: string): DBusHeader {
  const h: DBusHeader = { ...header, sender: uniqueName(env.src) };
  const dst = BigInt(env.dst);
  if (env.dstName !== undefined) h.destination = env.dstName;
  else if (dst === BROADCAST) delete h.destination;
  else if (dst === 0n) { if (self !== undefined) h.destination = self; else delete h.destination; }
  else h.destination = uniqueName(dst);
  return h;
}

/**
 * sd-bus's consistency checks between the D-Bus header and its kdbus message: the serial is
 * the cookie, the reply serial the cookie_reply, EXPECT_REPLY iff a method call expecting a
 * reply, SIGNAL iff a signal, NO_AUTO_START in both or neither. Inconsistent: BusError EBADMSG.
 */
export function checkKdbusEnvelope(header: DBusHeader, env: KdbusEnvelope): void {
  const flags = env.flags ?? 0;
  const hf = header.flags ?? 0;
  if (env.cookie !== undefined && BigInt(env.cookie) !== BigInt(header.serial)) {
    throw malformed(`the header serial ${header.serial} is not the kdbus cookie ${env.cookie}`);
  }
  const expect = header.type === 'method_call' && (hf & FLAG_NO_REPLY_EXPECTED) === 0;
  if (expect !== ((flags & KDBUS_EXPECT_REPLY) !== 0)) {
    throw malformed(`EXPECT_REPLY must be set exactly for a method call that expects a reply`);
  }
  if ((header.type === 'signal') !== ((flags & KDBUS_SIGNAL) !== 0)) {
    throw malformed('the kdbus SIGNAL flag must be set exactly for a signal');
  }
  if (((hf & FLAG_NO_AUTO_START) !== 0) !== ((flags & KDBUS_NO_AUTO_START) !== 0)) {
    throw malformed('NO_AUTO_START must be set in both the header and the kdbus message, or in neither');
  }
  if (header.replySerial !== undefined && env.cookieReply !== undefined && BigInt(env.cookieReply) !== BigInt(header.replySerial)) {
    throw malformed(`the reply serial ${header.replySerial} is not the kdbus cookie_reply ${env.cookieReply}`);
  }
}
