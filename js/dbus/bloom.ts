// bloom: the signal bloom filters and match masks of kdbus, built the way systemd's sd-bus built
// them (bus-bloom.c; KDBUS.md, "Matches and bloom filters"), and the check the bus applies.
//
// A filter is m = 8 * size bits, stored as u64 words, little-endian: bit i is bit (i & 63) of
// word i >> 6, which is bit (i & 7) of byte i >> 3. An element (a UTF-8 string "key:value") sets
// k bits: SipHash-2-4 of the element under key 0, key 1, ... of BLOOM_KEYS (a new hash each 8
// output bytes) makes one byte stream (each hash as 8 little-endian bytes); each bit index is
// w = (floor(log2 m) + 7) div 8 bytes of it read big-endian, & (m - 1). With the default
// (64 bytes, 8 hashes) w = 2: two SipHash runs give the 8 indices.
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { sipKey, sipHash } from './siphash.ts';
import type { DType } from './signature.ts';
import type { DBusHeader } from './header.ts';
import { matchRuleOf, type MatchRule } from './match.ts';
import { str, headerArg, bodyTypes, stringArg, arrayArg, sinkArg } from './check.ts';
import { isRevoked, kindOf } from '../args.ts';
import { bytesArg } from './marshal.ts';
import { u64Error } from './names.ts';

/** a prefix separator: one ASCII character (the writer searches its bytes) */
function sepArg(op: string, sep: unknown): string {
  if (typeof sep !== 'string' || sep.length !== 1 || sep.charCodeAt(0) >= 0x80) throw new BusError(A.EINVAL, op, `sep must be one ASCII character, got ${typeof sep === 'string' ? JSON.stringify(sep) : typeof sep}`);
  return sep;
}

export interface BloomParams {
  /** bytes: 8 .. 4096, a multiple of 8 (the bus's BLOOM_PARAMETER size) */
  size: number;
  /** hash functions, >= 1 (BLOOM_PARAMETER n_hash) */
  nHash: number;
}

/**
 * Bloom parameters as the helpers take them: sd-bus's `{ size, nHash }`, or the bus's own
 * `{ size, hashes }` (`bus.bloom`, `Bus.create`'s option) as it is (before stop 56 the second
 * was refused: "bloom nHash must be an integer >= 1, got undefined", an outside audit).
 */
export type BloomParamsLike = BloomParams | { size: number; hashes: number };

/**
 * Bloom parameters read once (each key one read: a getter's second answer is never used, as
 * it was before stop 56, when a size checked as 64 and read again as 12 made a 12-byte
 * Bloom: an outside audit), and the name the hash count was given under.
 */
interface ParamsRead { size: unknown; nHash: unknown; key: 'nHash' | 'hashes'; other: unknown }

function readParams(p: object): ParamsRead {
  const q = p as { size?: unknown; nHash?: unknown; hashes?: unknown };
  const size = q.size, nHash = q.nHash, hashes = q.hashes;
  // (a key whose value is undefined counts as absent, as for every option: API.md, Conventions)
  return nHash !== undefined || hashes === undefined ? { size, nHash, key: 'nHash', other: hashes } : { size, nHash: hashes, key: 'hashes', other: undefined };
}

/** a value in a bloom error: a number as it is, anything else by its kind (a string "64" said "got 64" before stop 56) */
const got = (v: unknown): string => (typeof v === 'number' ? String(v) : typeof v === 'string' ? `string ${JSON.stringify(v)}` : kindOf(v));

/** sd-bus's default: 512 bits, 8 hashes. */
export const BLOOM_DEFAULT: Readonly<BloomParams> = Object.freeze({ size: 64, nHash: 8 });

// the fixed SipHash keys of sd-bus's bus-bloom.c, in order
const KEY_HEX = [
  'b9660bf0467047c18875c49c54b9bd15',
  'aaa154a2e0714b39bfe1dd2e9fc54a3b',
  '63fdaebecd824812a16e4126cbfaa0c8',
  '23be452932d2462d82035228fe3717f5',
  '563bbfee5a4f4339afaa9408dff0fc10',
  '3180c873c7ea46d3aa25750f9e4c0929',
  '7df7184b7ba444d5853c06e06553966d',
  'f277e96f93b54e719a0c34883925bf35',
];

/** The 8 SipHash keys (16 bytes each) of sd-bus's bloom filters. */
export const BLOOM_KEYS: readonly Uint8Array[] = KEY_HEX.map((h) => Uint8Array.from(h.match(/../g)!, (b) => parseInt(b, 16)));
const KEYS: readonly Uint32Array[] = BLOOM_KEYS.map((k) => sipKey(k));

// floor(log2 m) for m >= 1
function log2(m: number): number {
  return 31 - Math.clz32(m);
}

/** Index width in bytes for a filter of `size` bytes. */
function indexBytes(size: number): number {
  return Math.floor((log2(size * 8) + 7) / 8);
}

/** null when the parameters are valid (kdbus bus limits and sd-bus's k * w <= 64), else why. */
export function bloomParamsError(p: BloomParamsLike): string | null {
  if (p === null || typeof p !== 'object' || isRevoked(p)) return `bloom parameters must be an object like { size: 64, nHash: 8 } (or the bus's { size: 64, hashes: 8 }), got ${kindOf(p)}`;
  return readParamsError(readParams(p));
}

/** bloomParamsError of parameters read (readParams) */
function readParamsError(r: ParamsRead): string | null {
  const { size, nHash, key, other } = r;
  if (other !== undefined && !Object.is(other, nHash)) return `bloom nHash and hashes name one count and differ (${got(nHash)}, ${got(other)}): give one`;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 8 || size > 4096 || size % 8 !== 0) {
    return `bloom size must be 8..4096 bytes and a multiple of 8, got ${got(size)}`;
  }
  if (typeof nHash !== 'number' || !Number.isInteger(nHash) || nHash < 1) return `bloom ${key} must be an integer >= 1, got ${got(nHash)}`;
  if (nHash * indexBytes(size) > KEYS.length * 8) {
    return `bloom ${key} ${nHash} needs more than the ${KEYS.length * 8} hash bytes of the ${KEYS.length} keys`;
  }
  return null;
}

/**
 * Bloom parameters, checked (EINVAL, `bloomParamsError`'s rule, op `op`), as `{ size, nHash }`:
 * BLOOM_DEFAULT itself, else a plain copy of the values read (one small object per call: the
 * values checked are the values used, whatever getters the caller's object has).
 */
function paramsArg(op: string, params: BloomParamsLike): BloomParams {
  if (params === BLOOM_DEFAULT) return BLOOM_DEFAULT;
  if (params === null || typeof params !== 'object' || isRevoked(params)) throw new BusError(A.EINVAL, op, bloomParamsError(params)!);
  const r = readParams(params);
  const e = readParamsError(r);
  if (e !== null) throw new BusError(A.EINVAL, op, e);
  return { size: r.size as number, nHash: r.nHash as number };
}

/** Receives the elements of a filter or mask: a Bloom sets bits, a list collects strings. */
export interface ElementSink {
  /** the element "key:value" */
  addPair(key: string, value: string): void;
  /** "key:value", then "key:" + each prefix of value with separator sep (see prefixes()) */
  addPrefixes(key: string, value: string, sep: string): void;
}

/**
 * The prefixes of `value` with separator `sep`, as the bloom elements use them: value itself,
 * then from the right each prefix with its trailing sep and (unless sep is value's first
 * character) without it. "/a/b" -> "/a/b", "/a/", "/a", "/".
 */
export function prefixes(value: string, sep: string): string[] {
  str('prefixes', 'value', value);
  sepArg('prefixes', sep);
  const out = [value];
  let end = value.length;
  for (;;) {
    const e = value.lastIndexOf(sep, end - 1);
    if (e < 0 || end === 0) break;
    out.push(value.slice(0, e + 1));
    if (e === 0) break;
    out.push(value.slice(0, e));
    end = e;
  }
  return out;
}

const encoder = new TextEncoder();
const OUT = new Uint32Array(2);

/** A bloom filter (or mask) being built. `data` may be a view of the target memory. */
export class Bloom implements ElementSink {
  readonly data: Uint8Array;
  readonly size: number;
  readonly nHash: number;
  private readonly w: number;
  private scratch = new Uint8Array(256);

  constructor(paramsLike: BloomParamsLike = BLOOM_DEFAULT, data?: Uint8Array) {
    const params = paramsArg('Bloom', paramsLike);
    // (a Uint8Array: before stop 56 any object with a length was taken, a Float64Array wrote
    // a byte per element past the filter's 64 bytes, null was a TypeError; an outside audit)
    if (data !== undefined) bytesArg('Bloom', 'data', data);
    if (data !== undefined && data.length !== params.size) {
      throw new BusError(A.EINVAL, 'Bloom', `data must be ${params.size} bytes (the bloom size), got ${data.length}`);
    }
    this.size = params.size;
    this.nHash = params.nHash;
    this.w = indexBytes(params.size);
    this.data = data ?? new Uint8Array(params.size);
  }

  clear(): this {
    this.data.fill(0);
    return this;
  }

  /** Add one element: the bytes scratch[0 .. n). */
  private hash(n: number): void {
    const m = this.size * 8;
    const w = this.w, data = this.data, s = this.scratch;
    let c = 0, key = 0;
    for (let i = 0; i < this.nHash; i++) {
      let p = 0;
      for (let d = 0; d < w; d++) {
        if (c === 0) {
          sipHash(KEYS[key++], s, 0, n, OUT);
          c = 8;
        }
        const j = 8 - c; // next byte of the hash, little-endian
        const byte = j < 4 ? (OUT[0] >>> (8 * j)) & 0xff : (OUT[1] >>> (8 * (j - 4))) & 0xff;
        p = p * 256 + byte;
        c--;
      }
      p &= m - 1;
      data[p >>> 3] |= 1 << (p & 7);
    }
  }

  // write str as UTF-8 at scratch[at ..]; returns the end
  private put(str: string, at: number): number {
    if (at + str.length * 3 > this.scratch.length) {
      const grown = new Uint8Array(Math.max(at + str.length * 3, this.scratch.length * 2));
      grown.set(this.scratch.subarray(0, at));
      this.scratch = grown;
    }
    const s = this.scratch;
    for (let i = 0; i < str.length; i++) {
      const ch = str.charCodeAt(i);
      if (ch >= 0x80) return at + encoder.encodeInto(str, s.subarray(at)).written;
      s[at + i] = ch;
    }
    return at + str.length;
  }

  // scratch = key ":" value; returns its length
  private element(key: string, value: string): number {
    const n = this.put(key, 0);
    this.put(':', n);
    return this.put(value, n + 1);
  }

  /** Add the raw element string (e.g. "member:Changed"). */
  add(element: string): this {
    this.hash(this.put(str('Bloom', 'element', element), 0));
    return this;
  }

  addPair(key: string, value: string): void {
    this.hash(this.element(str('Bloom', 'key', key), str('Bloom', 'value', value)));
  }

  addPrefixes(key: string, value: string, sep: string): void {
    sepArg('Bloom', sep);
    const n = this.element(str('Bloom', 'key', key), str('Bloom', 'value', value));
    this.prefixHashes(n, sep.charCodeAt(0));
  }

  /**
   * @internal addPair with the value given as UTF-8 bytes, src[at .. at + len) (a marshalled
   * string: signalFilterOfMessage), nothing converted to a string.
   */
  addPairBytes(key: string, src: Uint8Array, at: number, len: number): void {
    this.hash(this.elementBytes(key, src, at, len));
  }

  /** @internal addPrefixes with the value given as UTF-8 bytes (`sep` ASCII, as the keys used here). */
  addPrefixesBytes(key: string, src: Uint8Array, at: number, len: number, sep: number): void {
    this.prefixHashes(this.elementBytes(key, src, at, len), sep);
  }

  // scratch = key ":" the bytes src[at .. at + len); returns its length
  private elementBytes(key: string, src: Uint8Array, at: number, len: number): number {
    const n = this.put(key, 0) + 1;
    if (n + len > this.scratch.length) {
      const grown = new Uint8Array(Math.max(n + len, this.scratch.length * 2));
      grown.set(this.scratch.subarray(0, n));
      this.scratch = grown;
    }
    const s = this.scratch;
    s[n - 1] = 58; // ':'
    for (let i = 0; i < len; i++) s[n + i] = src[at + i]!; // (an element's bytes: a name or a path, short)
    return n + len;
  }

  /** Hash the element scratch[0 .. n) ("key:value"), then each prefix of its value with separator byte `sc`. */
  private prefixHashes(n: number, sc: number): void {
    const s = this.scratch;
    let p = 0; // start of the value: after the first ':'
    while (s[p] !== 58) p++;
    p++;
    this.hash(n);
    // the separator is ASCII, never part of a multi-byte UTF-8 sequence: search the bytes
    let end = n;
    for (;;) {
      let e = end - 1;
      while (e >= p && s[e] !== sc) e--;
      if (e < p) break;
      this.hash(e + 1); // prefix with its trailing separator
      if (e === p) break;
      this.hash(e); // and without it
      end = e;
    }
  }
}

/** Collects the element strings instead of hashing them (documentation, tests, debugging). */
export class ElementList implements ElementSink {
  readonly elements: string[] = [];
  addPair(key: string, value: string): void {
    this.elements.push(`${str('ElementList', 'key', key)}:${str('ElementList', 'value', value)}`);
  }

  addPrefixes(key: string, value: string, sep: string): void {
    str('ElementList', 'key', key);
    for (const p of prefixes(value, sep)) this.elements.push(`${key}:${p}`);
  }
}

/** Argument keys "argN" (N decimal, 0..63) and their suffixed forms, made once (not per signal). */
const ARG_KEYS = Array.from({ length: 64 }, (_, i) => 'arg' + i);
const DOT_KEYS = ARG_KEYS.map((k) => k + '-dot-prefix');
const SLASH_KEYS = ARG_KEYS.map((k) => k + '-slash-prefix');
const HAS_KEYS = ARG_KEYS.map((k) => k + '-has');
function argKey(i: number): string {
  return ARG_KEYS[i]!;
}

/**
 * Feed the elements of a signal's filter to `sink` (KDBUS.md): message-type, interface, member,
 * path and its '/' prefixes, then the leading arguments: a string, object path or signature N
 * gives argN, argN-dot-prefix and argN-slash-prefix; an array of those gives argN-has per
 * element; the first argument of any other type ends the scan (at most 64 arguments). Shipped
 * sd-bus stopped after the first string argument (a bug); this is the intended rule.
 */
export function signalElements(headerIn: DBusHeader, body: readonly unknown[], sink: ElementSink): void {
  const header = headerArg('signalElements', headerIn);
  const types = bodyTypes('signalElements', header, body);
  sinkArg('signalElements', sink);
  headerElements(header, sink);
  argElements(types, body, sink);
}


/** The elements of a signal's header: message-type, interface, member, path and its prefixes. */
function headerElements(header: DBusHeader, sink: ElementSink): void {
  sink.addPair('message-type', header.type);
  if (header.interface !== undefined) sink.addPair('interface', header.interface);
  if (header.member !== undefined) sink.addPair('member', header.member);
  if (header.path !== undefined) {
    sink.addPair('path', header.path);
    // sd-bus adds "path-slash-prefix:P" twice (a pair, then the prefixes from P itself): the
    // same bits, so once is enough
    sink.addPrefixes('path-slash-prefix', header.path, '/');
  }
}

/** The elements of a signal's leading string arguments (see signalElements); `types`: the body's. */
function argElements(types: readonly DType[], body: readonly unknown[], sink: ElementSink): void {
  const n = Math.min(types.length, 64);
  for (let i = 0; i < n; i++) {
    const t = types[i];
    if (t.code === 's' || t.code === 'o' || t.code === 'g') {
      const v = stringArg('bloom', i, t, body[i]);
      sink.addPair(argKey(i), v);
      sink.addPrefixes(DOT_KEYS[i]!, v, '.');
      sink.addPrefixes(SLASH_KEYS[i]!, v, '/');
    } else if (t.code === 'a' && (t.elem!.code === 's' || t.elem!.code === 'o' || t.elem!.code === 'g')) {
      const k = HAS_KEYS[i]!;
      const vs = arrayArg('bloom', i, t, body[i]);
      for (let j = 0; j < vs.length; j++) sink.addPair(k, str('bloom', `arg${i}[${j}]`, vs[j]));
    } else {
      break;
    }
  }
}

/**
 * The header part of the last signal's filter, kept: a thread that emits one signal again and
 * again (the common case) hashes its header elements once. Keyed by the bloom parameters and
 * the header fields the elements come from; the arguments are hashed every time.
 */
interface HeaderBits {
  size: number;
  nHash: number;
  type: string;
  iface: string | undefined;
  member: string | undefined;
  path: string | undefined;
  /** the header's bits */
  bits: Uint8Array;
  /** where filters are built (a Bloom over its own buffer, reused) */
  bloom: Bloom;
}
let last: HeaderBits | null = null;

/**
 * The bloom filter of a signal (generation 0, as sd-bus sent it): `size` bytes, written into
 * `into` when given (e.g. the BLOOM_FILTER item's data in the shared memory).
 */
export function signalFilter(headerIn: DBusHeader, body: readonly unknown[], paramsLike: BloomParamsLike = BLOOM_DEFAULT, into?: Uint8Array): Uint8Array {
  // the header's fields read once, into a copy the filter is built from (headerArg)
  const header = headerArg('signalFilter', headerIn);
  const types = bodyTypes('signalFilter', header, body);
  const params = paramsArg('signalFilter', paramsLike);
  if (into !== undefined) bytesArg('signalFilter', 'into', into);
  if (into !== undefined && into.length !== params.size) {
    throw new BusError(A.EINVAL, 'signalFilter', `into must be ${params.size} bytes (the bloom size), got ${into.length}`);
  }
  // a body value's getter may build a filter itself (an emit from inside an emit's arguments):
  // that one gets a Bloom of its own, never the cached one this call is filling (it overwrote
  // the outer filter before stop 54, which then missed its own subscribers: an outside audit)
  const outer = !filterBusy;
  const b = headerBloomFor(header, params);
  filterBusy = true;
  try {
    argElements(types, body, b);
  } finally {
    if (outer) filterBusy = false;
  }
  const out = into ?? new Uint8Array(params.size);
  out.set(b.data);
  return out;
}

/** a filter is being built with the cached Bloom (`last`): a nested build uses its own */
let filterBusy = false;

/**
 * A Bloom holding the header elements of `header`: the cached one (its header hashed again
 * only when it changed), or, while a filter is being built in it (filterBusy), one of its own.
 */
function headerBloomFor(header: DBusHeader, params: BloomParams): Bloom {
  if (filterBusy) {
    const b = new Bloom(params);
    headerElements(header, b);
    return b;
  }
  return headerBloom(header, params);
}

/** The cached Bloom of `params`, holding the header elements of `header` (hashed again only when they changed). */
function headerBloom(header: DBusHeader, params: BloomParams): Bloom {
  let h = last;
  if (h === null || h.size !== params.size || h.nHash !== params.nHash) {
    const bloom = new Bloom(params);
    h = last = { size: params.size, nHash: params.nHash, type: '', iface: undefined, member: undefined, path: undefined, bits: new Uint8Array(params.size), bloom };
  }
  const b = h.bloom;
  if (h.type !== header.type || h.iface !== header.interface || h.member !== header.member || h.path !== header.path) {
    h.type = ''; // matches no header while it is rebuilt (a throw leaves it so)
    b.clear();
    headerElements(header, b);
    h.bits.set(b.data);
    h.iface = header.interface;
    h.member = header.member;
    h.path = header.path;
    h.type = header.type;
  } else {
    b.data.set(h.bits);
  }
  return b;
}

/**
 * @internal emit's filter: the signal's filter (as signalFilter's) computed from its encoded
 * message `msg` (encodeTransient's bytes: a little-endian dbus1 message whose header is
 * `header`, validated), its arguments read from the marshalled body, so that the filter is
 * always the one of the bytes sent and no body value of the caller is read again (a getter
 * that answered differently the second time gave a filter that missed its subscribers before
 * stop 54: an outside audit). Written into `into` (params.size bytes). No strings made.
 */
export function signalFilterOfMessage(header: DBusHeader, types: readonly DType[], msg: Uint8Array, params: BloomParams, into: Uint8Array): void {
  const b = headerBloomFor(header, params);
  const bodyLen = msg[4]! | (msg[5]! << 8) | (msg[6]! << 16) | (msg[7]! << 24);
  let p = msg.length - (bodyLen >>> 0); // (alignment is from the message start, as msg's offsets)
  const n = Math.min(types.length, 64);
  for (let i = 0; i < n; i++) {
    const c = types[i]!.code;
    if (c === 's' || c === 'o' || c === 'g') {
      let len: number;
      if (c === 'g') len = msg[p++]!;
      else { p = (p + 3) & ~3; len = u32le(msg, p); p += 4; }
      b.addPairBytes(ARG_KEYS[i]!, msg, p, len);
      b.addPrefixesBytes(DOT_KEYS[i]!, msg, p, len, 46); // '.'
      b.addPrefixesBytes(SLASH_KEYS[i]!, msg, p, len, 47); // '/'
      p += len + 1;
    } else if (c === 'a' && (types[i]!.elem!.code === 's' || types[i]!.elem!.code === 'o' || types[i]!.elem!.code === 'g')) {
      const g = types[i]!.elem!.code === 'g';
      p = (p + 3) & ~3;
      const bytes = u32le(msg, p);
      p += 4; // (an s / o element's 4-alignment is the length's own; a g element's is 1)
      const end = p + bytes;
      while (p < end) {
        let len: number;
        if (g) len = msg[p++]!;
        else { p = (p + 3) & ~3; len = u32le(msg, p); p += 4; }
        b.addPairBytes(HAS_KEYS[i]!, msg, p, len);
        p += len + 1;
      }
    } else {
      break;
    }
  }
  into.set(b.data);
}

/**
 * Feed the elements of a match rule's mask to `sink` (KDBUS.md): type, interface, member, path
 * as in the filter; path_namespace=V -> path-slash-prefix:V; argN -> argN:V; argNhas ->
 * argN-has:V; argNnamespace -> argN-dot-prefix:V. argNpath, sender and destination add nothing.
 */
export function ruleElements(rule: MatchRule | string, sink: ElementSink): void {
  ruleOf(matchRuleOf('ruleElements', rule), sinkArg('ruleElements', sink));
}

/** ruleElements of a rule already checked (parseMatch's, matchRuleOf's) */
function ruleOf(rule: MatchRule, sink: ElementSink): void {
  if (rule.type !== undefined) sink.addPair('message-type', rule.type);
  if (rule.interface !== undefined) sink.addPair('interface', rule.interface);
  if (rule.member !== undefined) sink.addPair('member', rule.member);
  if (rule.path !== undefined) sink.addPair('path', rule.path);
  if (rule.pathNamespace !== undefined) sink.addPair('path-slash-prefix', rule.pathNamespace);
  for (const a of rule.args ?? []) {
    if (a.kind === 'string') sink.addPair(argKey(a.n), a.value);
    else if (a.kind === 'has') sink.addPair(argKey(a.n) + '-has', a.value);
    else if (a.kind === 'namespace') sink.addPair(argKey(a.n) + '-dot-prefix', a.value);
  }
}

/**
 * The BLOOM_MASK payload of a rule: `generations` blocks of `size` bytes (one per filter
 * generation; all the same, as there is one filter construction so far). A rule without bloom
 * elements is an all-zero mask (matches every filter).
 */
export function ruleMask(rule: MatchRule | string, params: BloomParamsLike = BLOOM_DEFAULT, generations = 1): Uint8Array {
  // (the rule checked as onSignal checks one, a match string parsed: before stop 35 a string
  // gave an all-zero mask, which passes every filter, and an invalid path went into the mask:
  // an outside audit)
  return maskOf(matchRuleOf('ruleMask', rule), params, generations);
}

/** @internal ruleMask of a rule already checked (addMatch's, parsed by matchRuleOf) */
export function maskOf(rule: MatchRule, paramsLike: BloomParamsLike = BLOOM_DEFAULT, generations = 1): Uint8Array {
  // (a mask no command could carry is refused: 2^32 threw a RangeError, 2^26 made 4 GiB,
  // before stop 56, an outside audit; a match entry of this bus holds MATCH_GENERATIONS)
  const params = paramsArg('ruleMask', paramsLike);
  const b = new Bloom(params);
  if (!Number.isInteger(generations) || generations < 1 || generations * params.size > A.CMD_MAX) {
    throw new BusError(A.EINVAL, 'ruleMask', `generations must be an integer >= 1 whose mask (generations × ${params.size} bytes) fits a command (${A.CMD_MAX} bytes; a match of this bus holds ${A.MATCH_GENERATIONS}), got ${typeof generations === 'number' ? String(generations) : typeof generations}`);
  }
  ruleOf(rule, b);
  const out = new Uint8Array(params.size * generations);
  for (let g = 0; g < generations; g++) out.set(b.data, g * params.size);
  return out;
}

// u32 at byte offset p, little-endian (filters and masks are little-endian u64 words)
function u32le(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

/**
 * The bus's bloom check (KDBUS.md): the mask block for a filter of generation g is block
 * min(g, nGenerations - 1) of `masks`; the filter matches iff (filter & mask) == mask in every
 * word. `filter` is the BLOOM_FILTER item's data (without its u64 generation), `masks` the
 * BLOOM_MASK item's payload. A mask length that is not a non-zero multiple of the filter size:
 * BusError EDOM, as kdbus answers MATCH_ADD. Written as plain loops over u32 words so that the
 * core (AssemblyScript) can carry it over line for line.
 */
export function bloomCheck(filter: Uint8Array, generation: number | bigint, masks: Uint8Array): boolean {
  bytesArg('bloomCheck', 'filter', filter);
  bytesArg('bloomCheck', 'masks', masks);
  const e = u64Error('generation', generation);
  if (e !== null) throw new BusError(A.EINVAL, 'bloomCheck', e);
  const size = filter.length;
  if (size === 0 || (size & 7) !== 0) throw new BusError(A.EDOM, 'bloomCheck', `a filter is a non-zero multiple of 8 bytes, got ${size}`);
  if (masks.length === 0 || masks.length % size !== 0) {
    throw new BusError(A.EDOM, 'bloomCheck', `masks must be a non-zero multiple of the bloom size ${size}, got ${masks.length}`);
  }
  const nGenerations = masks.length / size;
  // the newest mask this filter's generation knows: an older subscriber's last block serves
  // every newer generation
  const g = BigInt(generation) >= BigInt(nGenerations - 1) ? nGenerations - 1 : Number(generation);
  const base = g * size;
  for (let i = 0; i < size; i += 4) {
    const m = u32le(masks, base + i);
    // every bit the rule needs must be set in the signal's filter
    if (((u32le(filter, i) & m) >>> 0) !== m) return false;
  }
  return true;
}
