// marshal: the D-Bus (dbus1) body codec. Encoding is two passes over the values, with nothing
// allocated but the DataView: sizeOf() says how many bytes, write() puts them into a buffer the
// caller owns (e.g. the shared memory, for a send path that marshals in place). Decoding reads
// a Uint8Array in place; an `ay` comes back as a subarray view of it, not a copy.
//
// Alignment is relative to `base` (the start of the message, whose body starts 8-aligned);
// padding is written as zeros and checked to be zeros when read.
//
// Values: y n q i u d -> number; x t -> bigint (numbers that are safe integers are accepted when
// encoding); b -> boolean; s o g -> string; a<T> -> array (ay: Uint8Array); a{KV} -> Map (a plain
// object is accepted for string keys when encoding); (..) -> array of the fields; v -> Variant
// { signature, value }. h (unix fd) is refused: EOPNOTSUPP.
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { type DType, parseSignature, parseSingle, signatureError } from './signature.ts';
import { objectPathError } from './names.ts';
import { options, optBoolean, isList, isRevoked, kindOf } from '../args.ts';
import { copyOut } from '../shared-copy.ts';

/** A variant: its value and that value's signature (one complete type). */
export interface Variant {
  signature: string;
  value: unknown;
}

/** Arrays (their element bytes) are at most 64 MiB. */
export const MAX_ARRAY = 67108864;
/** Containers (arrays, structs, dict entries, variants) nest at most 64 deep in a value. */
export const MAX_DEPTH = 64;

/** how much of a value's path an error keeps at each end, past which its middle is cut (the rule after it stays in a log line) */
const PATH_KEEP = 40;

/**
 * An error's text `text`, a path and then the rule (its last `ruleLen` characters), with the
 * path cut in the middle past 2 × PATH_KEEP characters (a value 64 levels deep gave some 400
 * characters of path before the rule: an outside audit, stop 62).
 */
function cutPath(text: string, ruleLen: number): string {
  const n = text.length - ruleLen;
  if (n <= 2 * PATH_KEEP + 1) return text;
  // (at steps' starts, ".value", "[3]", "{key}", where there are some)
  const head = text.slice(0, PATH_KEEP), tail = text.slice(n - PATH_KEEP, n);
  const h = head.search(/[.[{][^.[{]*$/), t = tail.search(/[.[{]/);
  return `${h > 0 ? head.slice(0, h) : head}…${t >= 0 ? tail.slice(t) : tail}${text.slice(n)}`;
}

/** The detail of a value nested past MAX_DEPTH at `path`. */
function tooDeep(path: string): string {
  const rule = `: nesting depth over ${MAX_DEPTH} (containers and variants)`;
  return path === REL ? REL + rule : cutPath(path + rule, rule.length);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // (ignoreBOM: a leading U+FEFF is kept, as D-Bus keeps it: the default drops it)

function pad(pos: number, base: number, align: number): number {
  return (align - ((pos - base) & (align - 1))) & (align - 1);
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (isRevoked(v)) return 'revoked Proxy';
  if (isList(v)) return 'array';
  if (v instanceof Uint8Array) return 'Uint8Array';
  if (typeof v === 'object') {
    const c = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    if (typeof c === 'string' && c !== '' && c !== 'Object') return `an object of class ${c}`;
  }
  return typeof v;
}

/** A plain object: made by {} or Object.create(null), not an instance of a class (a Set, a Date, a URLSearchParams has no own enumerable entries to send). */
function isPlain(v: object): boolean {
  const p = Object.getPrototypeOf(v) as object | null;
  return p === null || p === Object.prototype;
}

// Error paths ("arg0[3]{key}.value") are built only when an error is thrown: a value inside a
// container is coded with the path REL, an error made with a path that starts with it is a
// PathFail (not an Error, never seen outside this module) holding the rest of its text, and
// each container on the way up adds its own step ("[3]", "{key}", ".value") in a catch; the
// outermost value, whose path is real ("arg0"), turns it into the BusError it always was.
const REL = '\u0000';
const NO_BYTES = new Uint8Array(0);
const NO_DV = new DataView(NO_BYTES.buffer);
class PathFail {
  /** the length of the rule's text at the end of `detail` (the steps go before it) */
  readonly ruleLen: number;
  constructor(readonly errno: number, readonly op: string, public detail: string) { this.ruleLen = detail.length; }
}
/** A BusError, or a PathFail for a detail starting with REL (the rest of the text kept). */
function fault(errno: number, op: string, detail: string): BusError | PathFail {
  return detail.charCodeAt(0) === 0 ? new PathFail(errno, op, detail.slice(1)) : new BusError(errno, op, detail);
}
/** What a container throws for `e` thrown by its element at step `step`: its own path put before it. */
function lift(e: unknown, path: string, step: string): unknown {
  if (!(e instanceof PathFail)) return e;
  e.detail = step + e.detail;
  if (path === REL) return e;
  return new BusError(e.errno, e.op, cutPath(path + e.detail, e.ruleLen));
}
/** The outermost value's catch: a PathFail left (only for a caller's path starting with NUL) as its BusError. */
function settle(e: unknown): unknown {
  return e instanceof PathFail ? new BusError(e.errno, e.op, REL + e.detail) : e;
}

// ---------------------------------------------------------------------------------------------
// the public entry points' own arguments (sizeOf, write, encode, read): a signature that is
// not a string read as an empty one, and a plain array or another typed array as bytes threw
// a TypeError or was measured in elements, before stop 25 (an outside audit)

function sigArg(op: string, sig: unknown): void {
  if (typeof sig !== 'string') throw new BusError(A.EINVAL, op, `the signature must be a string, got ${kind(sig)}`);
}
export function bytesArg(op: string, name: string, b: unknown): void {
  if (isRevoked(b) || !(b instanceof Uint8Array)) throw new BusError(A.EINVAL, op, `${name} must be a Uint8Array, got ${kind(b)}`);
}
export function posArg(op: string, name: string, v: unknown, max: number): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw new BusError(A.EINVAL, op, `${name} must be an integer from 0 to ${max}, got ${typeof v === 'number' ? String(v) : kind(v)}`);
}

// ---------------------------------------------------------------------------------------------
// encoding

const ENC = 'dbus.encode';

function bad(detail: string): BusError | PathFail {
  return fault(A.EINVAL, ENC, detail);
}

/** A revoked Proxy met as a value of type `t` (every operation on it throws a TypeError: refused before any, stop 43). */
function revokedValue(t: DType, path: string): BusError | PathFail {
  return bad(`${path}: type '${t.sig}' takes a value, got revoked Proxy`);
}

/** UTF-8 byte length of a string that may go on the wire: no NUL, no lone surrogate. */
function utf8Length(s: string, what: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) throw bad(`${what} contains a NUL character`);
      n += 1;
    } else if (c < 0x800) {
      n += 2;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) throw bad(`${what} is not valid Unicode (a lone surrogate)`);
      n += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw bad(`${what} is not valid Unicode (a lone surrogate)`);
    } else {
      n += 3;
    }
  }
  return n;
}

function checkString(t: DType, v: unknown, path: string): string {
  if (typeof v !== 'string') throw bad(`${path}: type '${t.code}' takes a string, got ${kind(v)}`);
  if (t.code === 'o') {
    const e = objectPathError(v);
    if (e !== null) throw bad(`${path}: invalid object path ${JSON.stringify(v)}: ${e}`);
  } else if (t.code === 'g') {
    const e = signatureError(v);
    if (e !== null) throw bad(`${path}: invalid signature ${JSON.stringify(v)}: ${e}`);
  }
  return v;
}

const INT_RANGE: Record<string, [number, number]> = {
  y: [0, 255], n: [-32768, 32767], q: [0, 65535], i: [-2147483648, 2147483647], u: [0, 4294967295],
};

function checkInt(t: DType, v: unknown, path: string): number {
  const r = INT_RANGE[t.code];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < r[0] || v > r[1]) {
    throw bad(`${path}: type '${t.code}' takes an integer ${r[0]}..${r[1]}, got ${typeof v === 'number' ? v : kind(v)}`);
  }
  return v;
}

function checkBig(t: DType, v: unknown, path: string): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
  else throw bad(`${path}: type '${t.code}' takes a bigint (or a safe integer), got ${typeof v === 'number' ? v : kind(v)}`);
  if (t.code === 'x' ? b !== BigInt.asIntN(64, b) : b !== BigInt.asUintN(64, b)) {
    throw bad(`${path}: ${b} is outside the range of type '${t.code}'`);
  }
  return b;
}

function noFd(path: string): BusError | PathFail {
  return fault(A.EOPNOTSUPP, ENC, `${path}: type 'h' (unix fd) is not supported: there are no fds in a JS runtime`);
}

function checkVariant(v: unknown, path: string): [DType, unknown] {
  // (its signature read once: checked, then parsed; it was read twice before stop 56)
  const sig = v !== null && typeof v === 'object' && !isRevoked(v) ? (v as Variant).signature : undefined;
  if (typeof sig !== 'string' || !('value' in (v as object))) {
    throw bad(`${path}: type 'v' takes a { signature, value } object, got ${kind(v)}`);
  }
  let t: DType;
  try {
    t = parseSingle(sig, A.EINVAL, ENC);
  } catch (err) {
    throw bad(`${path}: ${(err as Error).message.replace(`${ENC}: EINVAL: `, '')}`);
  }
  return [t, (v as Variant).value];
}

// entries of a dict value: a Map, or a plain object when the key is string-like
function dictEntries(t: DType, v: unknown, path: string): Iterable<[unknown, unknown]> {
  if (v instanceof Map) return v;
  const keyCode = t.elem!.fields![0].code;
  if (v !== null && typeof v === 'object' && !isList(v) && isPlain(v) && (keyCode === 's' || keyCode === 'o' || keyCode === 'g')) {
    return Object.entries(v as Record<string, unknown>);
  }
  throw bad(`${path}: type '${t.sig}' takes a Map${keyCode === 's' || keyCode === 'o' || keyCode === 'g' ? ' or a plain object' : ''}, got ${kind(v)}`);
}

/** a typed array's own length (the intrinsic getter: a subclass's or a Proxy's `length` is not read) */
const TA_LENGTH = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length')!.get!;

/**
 * The bytes an `ay` value holds, its length read once (before stop 56 a plain array's `length`
 * was read three times while it was written, and a getter answering 2, then 40, made the
 * writer advance over 38 bytes it never wrote: the encode buffer's bytes of an earlier message,
 * sent to another receiver; an outside audit): a real Uint8Array by its intrinsic length, a
 * list by one read of its `length`.
 */
function byteCount(arr: ArrayLike<unknown>): number {
  return ArrayBuffer.isView(arr) && arr instanceof Uint8Array ? TA_LENGTH.call(arr) as number : arr.length;
}

function arrayValue(t: DType, v: unknown, path: string): ArrayLike<unknown> {
  if (t.elem!.code === 'y') {
    if (v instanceof Uint8Array) {
      // (a Proxy over one, or an object with its prototype alone, is not a view: its length
      // threw the runtime's TypeError before stop 56, an outside audit; API.md says the same
      // of a payload)
      if (!ArrayBuffer.isView(v)) throw bad(`${path}: type 'ay' takes a Uint8Array (or an array of bytes), got a Proxy or an object with a Uint8Array prototype, which is not a view`);
      return v;
    }
    if (isList(v)) return v;
    throw bad(`${path}: type 'ay' takes a Uint8Array (or an array of bytes), got ${kind(v)}`);
  }
  if (!isList(v)) throw bad(`${path}: type '${t.sig}' takes an array, got ${kind(v)}`);
  return v;
}

// size pass: the position after value v of type t written at pos
/**
 * The keys seen of a dict whose keys are 64-bit (x, t), or null: a Map may hold 1 and 1n as two
 * keys, one key on the wire, which the decoder refuses as a key that appears twice (two
 * entries could not both come back); every encode pass refuses it (keyOnce).
 */
function wideKeys(kt: DType): Set<string> | null {
  return kt.code === 'x' || kt.code === 't' ? new Set<string>() : null;
}
function keyOnce(seen: Set<string>, k: unknown, path: string): void {
  if (typeof k !== 'bigint' && typeof k !== 'number') return;
  const w = String(k);
  if (seen.has(w)) throw bad(`${path}: the key ${w} appears twice in the dict (as a number and as a bigint: one key on the wire, which a receiver refuses)`);
  seen.add(w);
}

function sizeValue(t: DType, v: unknown, pos: number, base: number, depth: number, path: string): number {
  if (isRevoked(v)) throw revokedValue(t, path);
  pos += pad(pos, base, t.align);
  switch (t.code) {
    case 'y': case 'n': case 'q': case 'i': case 'u':
      checkInt(t, v, path);
      return pos + t.fixed;
    case 'b':
      if (typeof v !== 'boolean') throw bad(`${path}: type 'b' takes a boolean, got ${kind(v)}`);
      return pos + 4;
    case 'x': case 't':
      checkBig(t, v, path);
      return pos + 8;
    case 'd':
      if (typeof v !== 'number') throw bad(`${path}: type 'd' takes a number, got ${kind(v)}`);
      return pos + 8;
    case 'h':
      throw noFd(path);
    case 's': case 'o':
      return pos + 4 + utf8Length(checkString(t, v, path), path) + 1;
    case 'g':
      return pos + 1 + checkString(t, v, path).length + 1;
    case 'v': {
      if (depth + 1 > MAX_DEPTH) throw bad(tooDeep(path));
      const [vt, vv] = checkVariant(v, path);
      pos += 1 + vt.sig.length + 1;
      try { return sizeValue(vt, vv, pos, base, depth + 1, REL); } catch (e) { throw lift(e, path, '.value'); }
    }
    case '(': {
      if (depth + 1 > MAX_DEPTH) throw bad(tooDeep(path));
      const f = t.fields!;
      if (!isList(v) || v.length !== f.length) {
        throw bad(`${path}: type '${t.sig}' takes an array of ${f.length} fields, got ${isList(v) ? `${v.length} fields` : kind(v)}`);
      }
      let k = 0;
      try { for (; k < f.length; k++) pos = sizeValue(f[k], v[k], pos, base, depth + 1, REL); } catch (e) { throw lift(e, path, `[${k}]`); }
      return pos;
    }
    case 'a': {
      if (depth + 1 > MAX_DEPTH) throw bad(tooDeep(path));
      const e = t.elem!;
      pos += 4;
      pos += pad(pos, base, e.align);
      const start = pos;
      if (e.code === '{') {
        const kt = e.fields![0], vt = e.fields![1];
        const seen = wideKeys(kt);
        for (const [k, val] of dictEntries(t, v, path)) {
          if (depth + 2 > MAX_DEPTH) throw bad(tooDeep(path));
          if (seen !== null) keyOnce(seen, k, path);
          pos += pad(pos, base, 8);
          try { pos = sizeValue(kt, k, pos, base, depth + 2, REL); } catch (e) { throw lift(e, path, '{key}'); }
          try { pos = sizeValue(vt, val, pos, base, depth + 2, REL); } catch (e) { throw lift(e, path, `{${String(k)}}`); }
        }
      } else {
        const arr = arrayValue(t, v, path);
        if (e.code === 'y') {
          const n = byteCount(arr);
          let k = 0;
          if (!(ArrayBuffer.isView(arr) && arr instanceof Uint8Array)) try { for (; k < n; k++) checkInt(e, arr[k], REL); } catch (err) { throw lift(err, path, `[${k}]`); }
          pos += n;
        } else {
          const n = arr.length; // (read once)
          let k = 0;
          try { for (; k < n; k++) pos = sizeValue(e, arr[k], pos, base, depth + 1, REL); } catch (err) { throw lift(err, path, `[${k}]`); }
        }
      }
      if (pos - start > MAX_ARRAY) throw bad(`${path}: array of ${pos - start} bytes is over the 64 MiB limit`);
      return pos;
    }
  }
  throw bad(`${path}: unknown type '${t.code}'`);
}

/** `values` are not the `n` values of `sig` (with values and no signature: the signature was left out, a new user's slip, said so) */
function countMismatch(sig: string, n: number, values: unknown): ReturnType<typeof bad> {
  // (not an array at all: said so, not as a count; stop 44, an outside audit)
  if (!isList(values)) return bad(`values must be an array of the ${n} value${n === 1 ? '' : 's'} of signature ${JSON.stringify(sig)}, got ${kind(values)}`);
  const got = values.length;
  const hint = n === 0 && typeof got === 'number' && got > 0 ? ' (values need their D-Bus signature: pass it, e.g. signature: \'ii\' for two int32)' : '';
  return bad(`signature ${JSON.stringify(sig)} has ${n} values, got ${got}${hint}`);
}

/**
 * Bytes that `values` of signature `sig` take when written at `start` (alignment relative to
 * 0 = the message start; a body starts 8-aligned). Validates every value: BusError EINVAL naming
 * the argument and the rule, EOPNOTSUPP for 'h'.
 */
export function sizeOf(sig: string, values: readonly unknown[], start = 0): number {
  sigArg(ENC, sig);
  posArg(ENC, 'start', start, Number.MAX_SAFE_INTEGER); // (NaN and -1 were taken before stop 35: an outside audit)
  const types = parseSignature(sig, A.EINVAL, ENC);
  if (!isList(values) || values.length !== types.length) {
    throw countMismatch(sig, types.length, values);
  }
  let pos = start;
  try {
    for (let k = 0; k < types.length; k++) pos = sizeValue(types[k], values[k], pos, 0, 0, argPath(k));
  } catch (e) { throw settle(e); }
  return pos - start;
}

/** "arg0" .. "arg63", made once (a value's path in error messages) */
const ARG_PATHS = Array.from({ length: 64 }, (_, k) => `arg${k}`);
function argPath(k: number): string {
  return k < 64 ? ARG_PATHS[k] : `arg${k}`;
}

// write pass
class Writer {
  dv!: DataView;
  u8!: Uint8Array;
  end = 0;
  base = 0;

  need(pos: number, n: number): void {
    if (pos + n > this.end) throw new BusError(A.EMSGSIZE, ENC, `the target buffer is too small (${this.end} bytes; sizeOf() says how many are needed)`);
  }

  align(pos: number, a: number): number {
    const n = pad(pos, this.base, a);
    if (n === 0) return pos;
    this.need(pos, n);
    for (let k = 0; k < n; k++) this.u8[pos + k] = 0;
    return pos + n;
  }

  str(s: string, pos: number, lenBytes: number, path: string): number {
    // length prefix (u32, or u8 for signatures), bytes, NUL
    const u8 = this.u8;
    const p0 = pos;
    pos += lenBytes;
    let ascii = true;
    for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) >= 0x80) { ascii = false; break; }
    let n: number;
    if (ascii) {
      n = s.length;
      this.need(pos, n + 1);
      for (let k = 0; k < n; k++) {
        const c = s.charCodeAt(k);
        if (c === 0) throw bad(`${path} contains a NUL character`);
        u8[pos + k] = c;
      }
    } else {
      n = utf8Length(s, path);
      this.need(pos, n + 1);
      const r = encoder.encodeInto(s, u8.subarray(pos, pos + n));
      if (r.written !== n) throw bad(`${path}: UTF-8 encoding failed`);
    }
    if (lenBytes === 4) this.dv.setUint32(p0, n, true);
    else u8[p0] = n;
    u8[pos + n] = 0;
    return pos + n + 1;
  }

  value(t: DType, v: unknown, pos: number, depth: number, path: string): number {
    if (isRevoked(v)) throw revokedValue(t, path);
    pos = this.align(pos, t.align);
    const dv = this.dv;
    switch (t.code) {
      case 'y': this.need(pos, 1); this.u8[pos] = checkInt(t, v, path); return pos + 1;
      case 'n': this.need(pos, 2); dv.setInt16(pos, checkInt(t, v, path), true); return pos + 2;
      case 'q': this.need(pos, 2); dv.setUint16(pos, checkInt(t, v, path), true); return pos + 2;
      case 'i': this.need(pos, 4); dv.setInt32(pos, checkInt(t, v, path), true); return pos + 4;
      case 'u': this.need(pos, 4); dv.setUint32(pos, checkInt(t, v, path), true); return pos + 4;
      case 'b':
        if (typeof v !== 'boolean') throw bad(`${path}: type 'b' takes a boolean, got ${kind(v)}`);
        this.need(pos, 4); dv.setUint32(pos, v ? 1 : 0, true); return pos + 4;
      case 'x': this.need(pos, 8); dv.setBigInt64(pos, checkBig(t, v, path), true); return pos + 8;
      case 't': this.need(pos, 8); dv.setBigUint64(pos, checkBig(t, v, path), true); return pos + 8;
      case 'd':
        if (typeof v !== 'number') throw bad(`${path}: type 'd' takes a number, got ${kind(v)}`);
        this.need(pos, 8); dv.setFloat64(pos, v, true); return pos + 8;
      case 'h': throw noFd(path);
      case 's': case 'o': this.need(pos, 4); return this.str(checkString(t, v, path), pos, 4, path);
      case 'g': this.need(pos, 1); return this.str(checkString(t, v, path), pos, 1, path);
      case 'v': {
        if (depth + 1 > MAX_DEPTH) throw bad(tooDeep(path));
        const [vt, vv] = checkVariant(v, path);
        pos = this.str(vt.sig, pos, 1, path);
        try { return this.value(vt, vv, pos, depth + 1, REL); } catch (e) { throw lift(e, path, '.value'); }
      }
      case '(': {
        if (depth + 1 > MAX_DEPTH) throw bad(tooDeep(path));
        const f = t.fields!;
        if (!isList(v) || v.length !== f.length) {
          throw bad(`${path}: type '${t.sig}' takes an array of ${f.length} fields, got ${isList(v) ? `${v.length} fields` : kind(v)}`);
        }
        let k = 0;
        try { for (; k < f.length; k++) pos = this.value(f[k], v[k], pos, depth + 1, REL); } catch (e) { throw lift(e, path, `[${k}]`); }
        return pos;
      }
      case 'a': {
        if (depth + 1 > MAX_DEPTH) throw bad(tooDeep(path));
        const e = t.elem!;
        this.need(pos, 4);
        const lenAt = pos;
        pos = this.align(pos + 4, e.align);
        const start = pos;
        if (e.code === '{') {
          const kt = e.fields![0], vt = e.fields![1];
          // (the checks sizeValue makes: this pass writes without one first, for dbus.write,
          // writeMessage and the one-pass encodes of emit, signal, sendMethod and dispatch's
          // replies, which put both keys and a 65th level on the wire before stop 66: an
          // outside reading against libdbus)
          const seen = wideKeys(kt);
          for (const [k, val] of dictEntries(t, v, path)) {
            if (depth + 2 > MAX_DEPTH) throw bad(tooDeep(path));
            if (seen !== null) keyOnce(seen, k, path);
            pos = this.align(pos, 8);
            try { pos = this.value(kt, k, pos, depth + 2, REL); } catch (e) { throw lift(e, path, '{key}'); }
            try { pos = this.value(vt, val, pos, depth + 2, REL); } catch (e) { throw lift(e, path, `{${String(k)}}`); }
          }
        } else {
          const arr = arrayValue(t, v, path);
          if (e.code === 'y') {
            // (its length read once: what is written is what the length word says)
            const n = byteCount(arr);
            this.need(pos, n);
            if (ArrayBuffer.isView(arr) && arr instanceof Uint8Array) this.u8.set(arr, pos);
            else {
              let k = 0;
              try { for (; k < n; k++) this.u8[pos + k] = checkInt(e, arr[k], REL); } catch (err) { throw lift(err, path, `[${k}]`); }
            }
            pos += n;
          } else {
            const n = arr.length; // (read once)
            let k = 0;
            try { for (; k < n; k++) pos = this.value(e, arr[k], pos, depth + 1, REL); } catch (err) { throw lift(err, path, `[${k}]`); }
          }
        }
        if (pos - start > MAX_ARRAY) throw bad(`${path}: array of ${pos - start} bytes is over the 64 MiB limit`);
        dv.setUint32(lenAt, pos - start, true);
        return pos;
      }
    }
    throw bad(`${path}: unknown type '${t.code}'`);
  }
}

/**
 * Write `values` of signature `sig` into `into` at `offset`, aligned relative to `base` (the
 * message start, default 0). Returns the offset after the last byte. Padding is zeroed. Throws
 * like sizeOf, and EMSGSIZE when `into` is too small (bytes before that may have been written).
 */
export function write(sig: string, values: readonly unknown[], into: Uint8Array, offset = 0, base = 0): number {
  sigArg(ENC, sig);
  bytesArg(ENC, 'into', into);
  const types = parseSignature(sig, A.EINVAL, ENC);
  if (!isList(values) || values.length !== types.length) {
    throw countMismatch(sig, types.length, values);
  }
  if (!(offset >= 0 && offset <= into.length)) {
    throw bad(`offset ${offset} is outside the ${into.length} bytes given`);
  }
  // (whole numbers only: an offset of 1.5 wrote at 1 and returned 2.5 before stop 35, an outside audit)
  posArg(ENC, 'offset', offset, into.length);
  posArg(ENC, 'base', base, Number.MAX_SAFE_INTEGER);
  // one Writer, unless the values' getters encode reentrantly (then the inner write makes its own)
  const w = writerBusy ? new Writer() : writer;
  const own = w === writer;
  w.u8 = into;
  w.dv = dataViewOf(into);
  w.end = into.length;
  w.base = base;
  if (own) writerBusy = true;
  let pos = offset;
  try {
    for (let k = 0; k < types.length; k++) pos = w.value(types[k], values[k], pos, 0, argPath(k));
  } catch (e) {
    throw settle(e);
  } finally {
    if (own) { writerBusy = false; w.u8 = NO_BYTES; w.dv = NO_DV; }
  }
  return pos;
}

const writer = new Writer();
let writerBusy = false;
/** the DataView over the whole of the last buffer written into (positions in `into` are its when into starts at 0) */
let lastBuffer: ArrayBufferLike | null = null;
let lastView: DataView | null = null;

/** A DataView whose positions are those of `into`: one kept per buffer (a transient buffer or the pool, written again and again). */
function dataViewOf(into: Uint8Array): DataView {
  if (into.byteOffset !== 0) return new DataView(into.buffer, into.byteOffset, into.byteLength);
  if (into.buffer !== lastBuffer || lastView === null) {
    const dv = new DataView(into.buffer);
    // no big private buffer kept alive
    if (into.buffer.byteLength <= 1048576 || isShared(into.buffer)) { lastBuffer = into.buffer; lastView = dv; }
    return dv;
  }
  return lastView;
}

function isShared(b: ArrayBufferLike): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && b instanceof SharedArrayBuffer;
}

/** Encode into a new Uint8Array of exactly the right size (sizeOf + write). */
export function encode(sig: string, values: readonly unknown[]): Uint8Array {
  const out = new Uint8Array(sizeOf(sig, values));
  // the values are read again by the write: one that grew since the sizing does not fit
  // (EINVAL, saying so, as encodeMessage says it), one that shrank ends the bytes early
  let end: number;
  try {
    end = write(sig, values, out, 0);
  } catch (err) {
    if (err instanceof BusError && err.errno === A.EMSGSIZE && err.message.includes('target buffer is too small')) {
      throw new BusError(A.EINVAL, ENC, `a value changed while it was encoded (a getter answered a longer value than it did when the bytes were sized: ${out.length} bytes)`);
    }
    throw err;
  }
  return end === out.length ? out : out.subarray(0, end);
}

// ---------------------------------------------------------------------------------------------
// decoding

const DEC = 'dbus.decode';

function malformed(detail: string): BusError | PathFail {
  return fault(A.EBADMSG, DEC, detail);
}

/** Options of read(). */
export interface ReadOptions {
  /** alignment origin (the message start); default 0 */
  base?: number | undefined;
  /** byte order; default true (dbus1 'l') */
  littleEndian?: boolean | undefined;
  /** `ay` values are copies instead of views of `bytes` (the values outlive the bytes) */
  copyArrays?: boolean | undefined;
}

class Reader {
  dv!: DataView;
  u8!: Uint8Array;
  end = 0;
  base = 0;
  le = true;
  copy = false;

  need(pos: number, n: number, what: string): void {
    if (pos + n > this.end) throw malformed(`${what} runs past the end of the data`);
  }

  align(pos: number, a: number, what: string): number {
    const n = pad(pos, this.base, a);
    if (n === 0) return pos;
    this.need(pos, n, what);
    for (let k = 0; k < n; k++) if (this.u8[pos + k] !== 0) throw malformed(`${what}: alignment padding not zero`);
    return pos + n;
  }

  // string bytes [pos, pos+n) followed by NUL; returns the string
  str(pos: number, n: number, what: string): string {
    this.need(pos, n + 1, what);
    const u8 = this.u8;
    if (u8[pos + n] !== 0) throw malformed(`${what}: string not NUL-terminated`);
    let ascii = true;
    for (let k = 0; k < n; k++) {
      const c = u8[pos + k];
      if (c === 0) throw malformed(`${what}: string contains a NUL byte`);
      if (c >= 0x80) ascii = false;
    }
    if (ascii && n <= 64) {
      let s = '';
      for (let k = 0; k < n; k++) s += String.fromCharCode(u8[pos + k]);
      return s;
    }
    let view = u8.subarray(pos, pos + n);
    // TextDecoder refuses views of shared memory in browsers: decode a private copy then
    if (typeof SharedArrayBuffer !== 'undefined' && view.buffer instanceof SharedArrayBuffer) view = copyOut(u8, pos, pos + n);
    try {
      return decoder.decode(view);
    } catch {
      throw malformed(`${what}: string is not valid UTF-8`);
    }
  }

  value(t: DType, pos: number, depth: number, path: string, out: unknown[], slot: number): number {
    pos = this.align(pos, t.align, path);
    const dv = this.dv, le = this.le;
    switch (t.code) {
      case 'y': this.need(pos, 1, path); out[slot] = this.u8[pos]; return pos + 1;
      case 'n': this.need(pos, 2, path); out[slot] = dv.getInt16(pos, le); return pos + 2;
      case 'q': this.need(pos, 2, path); out[slot] = dv.getUint16(pos, le); return pos + 2;
      case 'i': this.need(pos, 4, path); out[slot] = dv.getInt32(pos, le); return pos + 4;
      case 'u': this.need(pos, 4, path); out[slot] = dv.getUint32(pos, le); return pos + 4;
      case 'b': {
        this.need(pos, 4, path);
        const b = dv.getUint32(pos, le);
        if (b > 1) throw malformed(`${path}: a boolean is 0 or 1, got ${b}`);
        out[slot] = b === 1;
        return pos + 4;
      }
      case 'x': this.need(pos, 8, path); out[slot] = dv.getBigInt64(pos, le); return pos + 8;
      case 't': this.need(pos, 8, path); out[slot] = dv.getBigUint64(pos, le); return pos + 8;
      case 'd': this.need(pos, 8, path); out[slot] = dv.getFloat64(pos, le); return pos + 8;
      case 'h': throw fault(A.EOPNOTSUPP, DEC, `${path}: type 'h' (unix fd) is not supported: there are no fds in a JS runtime`);
      case 's': case 'o': {
        this.need(pos, 4, path);
        const n = dv.getUint32(pos, le);
        if (n > this.end - pos) throw malformed(`${path}: string length ${n} runs past the end of the data`);
        const s = this.str(pos + 4, n, path);
        if (t.code === 'o') {
          const e = objectPathError(s);
          if (e !== null) throw malformed(`${path}: invalid object path ${JSON.stringify(s)}: ${e}`);
        }
        out[slot] = s;
        return pos + 4 + n + 1;
      }
      case 'g': {
        this.need(pos, 1, path);
        const n = this.u8[pos];
        const s = this.str(pos + 1, n, path);
        const e = signatureError(s);
        if (e !== null) throw malformed(`${path}: invalid signature ${JSON.stringify(s)}: ${e}`);
        out[slot] = s;
        return pos + 1 + n + 1;
      }
      case 'v': {
        if (depth + 1 > MAX_DEPTH) throw malformed(tooDeep(path));
        this.need(pos, 1, path);
        const n = this.u8[pos];
        const sig = this.str(pos + 1, n, path);
        // the rule a bad variant signature breaks, named with the value's path (as the other types do)
        const se = signatureError(sig);
        if (se !== null) throw malformed(`${path}: invalid variant signature ${JSON.stringify(sig)}: ${se}`);
        let vt: DType;
        try { vt = parseSingle(sig, A.EBADMSG, DEC); } catch { throw malformed(`${path}: a variant signature is exactly one complete type, got ${JSON.stringify(sig)}`); }
        const box: unknown[] = [undefined];
        try { pos = this.value(vt, pos + 1 + n + 1, depth + 1, REL, box, 0); } catch (e) { throw lift(e, path, '.value'); }
        out[slot] = { signature: sig, value: box[0] } satisfies Variant;
        return pos;
      }
      case '(': {
        if (depth + 1 > MAX_DEPTH) throw malformed(tooDeep(path));
        const f = t.fields!;
        const arr: unknown[] = new Array(f.length);
        let k = 0;
        try { for (; k < f.length; k++) pos = this.value(f[k], pos, depth + 1, REL, arr, k); } catch (err) { throw lift(err, path, `[${k}]`); }
        out[slot] = arr;
        return pos;
      }
      case 'a': {
        if (depth + 1 > MAX_DEPTH) throw malformed(tooDeep(path));
        const e = t.elem!;
        this.need(pos, 4, path);
        const n = dv.getUint32(pos, le);
        if (n > MAX_ARRAY) throw malformed(`${path}: array length ${n} is over the 64 MiB limit`);
        pos = this.align(pos + 4, e.align, path);
        if (n > this.end - pos) throw malformed(`${path}: array length ${n} runs past the end of the data`);
        const stop = pos + n;
        if (e.code === 'y') {
          out[slot] = this.copy ? copyOut(this.u8, pos, stop) : this.u8.subarray(pos, stop); // in place: a view, no copy
          return stop;
        }
        if (e.code === '{') {
          const m = new Map<unknown, unknown>();
          const kv: unknown[] = [undefined, undefined];
          const kt = e.fields![0], vt = e.fields![1];
          while (pos < stop) {
            // (a dict entry is a container: its level counts, as a struct's does)
            if (depth + 2 > MAX_DEPTH) throw malformed(tooDeep(path));
            pos = this.align(pos, 8, path);
            try { pos = this.value(kt, pos, depth + 2, REL, kv, 0); } catch (err) { throw lift(err, path, '{key}'); }
            try { pos = this.value(vt, pos, depth + 2, REL, kv, 1); } catch (err) { throw lift(err, path, `{${String(kv[0])}}`); }
            // a Map holds one value per key: a second entry for a key is refused, not lost
            if (m.has(kv[0])) throw malformed(`${path}{${String(kv[0])}}: the key appears twice in the dict (a Map keeps one value per key)`);
            m.set(kv[0], kv[1]);
          }
          if (pos !== stop) throw malformed(`${path}: array contents do not end at its length`);
          out[slot] = m;
          return pos;
        }
        const arr: unknown[] = [];
        while (pos < stop) {
          try { pos = this.value(e, pos, depth + 1, REL, arr, arr.length); } catch (err) { throw lift(err, path, `[${arr.length}]`); }
        }
        if (pos !== stop) throw malformed(`${path}: array contents do not end at its length`);
        out[slot] = arr;
        return pos;
      }
    }
    throw malformed(`${path}: unknown type '${t.code}'`);
  }
}

/** read()'s Reader (see there); holds on to the last shared memory it read, no other bytes */
const reader = new Reader();
reader.u8 = NO_BYTES;
reader.dv = NO_DV;

/**
 * Decode values of signature `sig` from `bytes[offset .. end)`, which they must fill exactly
 * (trailing bytes: EBADMSG). Strings are validated (NUL-terminated, no NUL inside, UTF-8),
 * object paths and signatures too, padding must be zero. An `ay` is a subarray view of `bytes`.
 * Malformed data: BusError EBADMSG naming the argument and the rule; 'h': EOPNOTSUPP; an invalid
 * `sig`: EBADMSG too (it came with the data).
 */
export function read(sig: string, bytes: Uint8Array, offset = 0, end?: number, opts?: ReadOptions): unknown[] {
  sigArg(DEC, sig);
  bytesArg(DEC, 'bytes', bytes);
  const e = end === undefined ? bytes.length : end;
  posArg(DEC, 'end', e, bytes.length);
  posArg(DEC, 'offset', offset, e);
  const o = options<ReadOptions>(DEC, opts, READ_KEYS, '{ base: 0, littleEndian: true, copyArrays: false }');
  const oBase = o.base; // (read once)
  const base = oBase === undefined ? 0 : oBase;
  if (typeof base !== 'number' || !Number.isSafeInteger(base)) throw new BusError(A.EINVAL, DEC, `base must be an integer, got ${typeof base === 'number' ? String(base) : kind(base)}`);
  const le = optBoolean(DEC, 'littleEndian', o.littleEndian), copy = optBoolean(DEC, 'copyArrays', o.copyArrays);
  return readValues(sig, bytes, offset, e, base, le ?? true, copy === true);
}
const READ_KEYS = ['base', 'littleEndian', 'copyArrays'] as const;

/** @internal read() with its options as arguments (no object per message) */
export function readValues(sig: string, bytes: Uint8Array, offset: number, end: number, base: number, le: boolean, copyArrays: boolean): unknown[] {
  const types = parseSignature(sig, A.EBADMSG, DEC);
  if (!(offset >= 0 && offset <= end && end <= bytes.length)) {
    throw new BusError(A.EINVAL, DEC, `range ${offset}..${end} is outside the ${bytes.length} bytes given`);
  }
  // one Reader for every read(): reading runs no code of the caller's, so it is never reentered;
  // its DataView is kept while the bytes are the same array (a pool read again and again)
  const r = reader;
  if (r.u8 !== bytes) {
    r.u8 = bytes;
    r.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  r.end = end;
  r.base = base;
  r.le = le;
  r.copy = copyArrays;
  const out: unknown[] = new Array(types.length);
  let pos = offset;
  try {
    for (let k = 0; k < types.length; k++) pos = r.value(types[k], pos, 0, argPath(k), out, k);
  } catch (e) {
    throw settle(e);
  } finally {
    if (!isShared(bytes.buffer)) { r.u8 = NO_BYTES; r.dv = NO_DV; }
  }
  if (pos !== end) throw malformed(`${end - pos} bytes after the last value of signature ${JSON.stringify(sig)}`);
  return out;
}

/**
 * Decode one value of type `t` at `pos` (aligned relative to opts.base), reading no further than
 * `end`; returns the value and the position after it. The building block of the header parser.
 */
export function readAt(t: DType, bytes: Uint8Array, pos: number, end: number, opts?: ReadOptions, path = 'value'): { value: unknown; end: number } {
  // (the type and the bytes, before they are read: a revoked Proxy threw a TypeError before stop 48)
  if (t === null || typeof t !== 'object' || isRevoked(t) || typeof t.code !== 'string') throw new BusError(A.EINVAL, 'readAt', `type must be a DType (from parseSingle or parseSignature), got ${kindOf(t)}`);
  if (!(bytes instanceof Uint8Array)) throw new BusError(A.EINVAL, 'readAt', `bytes must be a Uint8Array, got ${kindOf(bytes)}`);
  // its range and options checked as read() checks them (before stop 66 a position past the
  // bytes threw a RangeError, an `end` past them let an array claim bytes that were not there,
  // a string position did string arithmetic, and a non-boolean littleEndian was taken as
  // truthy: an outside reading)
  posArg('readAt', 'end', end, bytes.length);
  posArg('readAt', 'pos', pos, end);
  const o = options<ReadOptions>('readAt', opts, READ_KEYS, '{ base: 0, littleEndian: true }');
  const oBase = o.base; // (read once)
  const base = oBase === undefined ? 0 : oBase;
  if (typeof base !== 'number' || !Number.isSafeInteger(base)) throw new BusError(A.EINVAL, 'readAt', `base must be an integer, got ${typeof base === 'number' ? String(base) : kind(base)}`);
  const le = optBoolean('readAt', 'littleEndian', o.littleEndian), copy = optBoolean('readAt', 'copyArrays', o.copyArrays);
  return readOne(t, bytes, pos, end, base, le ?? true, copy === true, path);
}

/** @internal readAt() with its arguments checked by the caller (the header parser: no options object per field) */
export function readOne(t: DType, bytes: Uint8Array, pos: number, end: number, base: number, le: boolean, copyArrays: boolean, path: string): { value: unknown; end: number } {
  const r = new Reader();
  r.u8 = bytes;
  r.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  r.end = end;
  r.base = base;
  r.le = le;
  r.copy = copyArrays;
  const box: unknown[] = [undefined];
  let after: number;
  try { after = r.value(t, pos, 0, path, box, 0); } catch (e) { throw settle(e); }
  return { value: box[0], end: after };
}
