// signature: D-Bus type signatures parsed into type trees (cached), with the specification's
// rules: at most 255 bytes, known type codes, complete types, non-empty structs, dict entries
// only as array elements with a basic key and exactly one value, at most 32 nested arrays and
// 32 nested structs (the specification's "32 array type codes and 32 open parentheses"). A dict
// entry is no parenthesis: it counted as a struct before stop 66, and valid signatures libdbus
// takes were refused; each sits in an array, which the array bound counts.
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { notString } from './names.ts';

/** One complete type. `code` is its type character; containers have `elem` or `fields`. */
export interface DType {
  /** the type character: 'y' 'b' 'n' 'q' 'i' 'u' 'x' 't' 'd' 'h' 's' 'o' 'g' 'v' 'a' '(' '{' */
  readonly code: string;
  /** this type's signature, e.g. "a{sv}" */
  readonly sig: string;
  /** alignment in bytes: 1, 2, 4 or 8 */
  readonly align: number;
  /** fixed size in bytes of a basic fixed type, else 0 */
  readonly fixed: number;
  /** array element type */
  readonly elem?: DType | undefined;
  /** struct fields, or [key, value] of a dict entry */
  readonly fields?: readonly DType[] | undefined;
}

export const MAX_SIGNATURE = 255;
export const MAX_ARRAY_DEPTH = 32;
export const MAX_STRUCT_DEPTH = 32;

const BASIC: Record<string, [number, number]> = {
  // code: [align, fixed size (0: string-like)]
  y: [1, 1], b: [4, 4], n: [2, 2], q: [2, 2], i: [4, 4], u: [4, 4],
  x: [8, 8], t: [8, 8], d: [8, 8], h: [4, 4], s: [4, 0], o: [4, 0], g: [1, 0],
};

/** True for the basic types (what a dict key may be). */
export function isBasic(code: string): boolean {
  return code in BASIC;
}

const cache = new Map<string, readonly DType[]>();
const CACHE_MAX = 512;

/**
 * Parse a signature (zero or more complete types). Throws BusError `errno` (EINVAL for a
 * signature the caller gave, EBADMSG for one read from a message) naming the broken rule.
 */
export function parseSignature(sig: string, errno: number = A.EINVAL, op = 'signature'): readonly DType[] {
  const hit = cache.get(sig);
  if (hit !== undefined) return hit;
  const err = signatureError(sig);
  // (a value that is not a string is named by its kind: JSON.stringify of a revoked Proxy threw a TypeError before stop 48)
  if (err !== null) throw new BusError(errno, op, typeof sig === 'string' ? `invalid signature ${JSON.stringify(sig)}: ${err}` : err);
  const p = new Parser(sig);
  const out: DType[] = [];
  while (p.i < sig.length) out.push(p.one(0, 0));
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(sig, out);
  return out;
}

/** Parse a signature that must be exactly one complete type (a variant's). */
export function parseSingle(sig: string, errno: number = A.EINVAL, op = 'signature'): DType {
  const t = parseSignature(sig, errno, op);
  if (t.length !== 1) {
    throw new BusError(errno, op, `a variant signature is exactly one complete type, got ${JSON.stringify(sig)}`);
  }
  return t[0];
}

/**
 * null when `sig` is a valid signature, else the rule it breaks (a value that is not a string
 * is none: it was null, "valid", before stop 41). Allocates nothing on success.
 */
export function signatureError(sig: string): string | null {
  if (typeof sig !== 'string') return notString('a signature', sig);
  if (sig.length > MAX_SIGNATURE) return `longer than ${MAX_SIGNATURE} bytes (signature too long)`;
  let i = 0;
  const one = (arrays: number, structs: number): string | null => {
    if (i >= sig.length) return 'an array without an element type';
    const c = sig[i++];
    if (c in BASIC || c === 'v') return null;
    if (c === 'a') {
      if (arrays + 1 > MAX_ARRAY_DEPTH) return `more than ${MAX_ARRAY_DEPTH} nested arrays (nesting depth)`;
      if (sig[i] === '{') {
        i++;
        if (i >= sig.length) return 'an unterminated dict entry';
        if (!(sig[i] in BASIC)) return `a dict entry key must be a basic type, got ${JSON.stringify(sig[i])}`;
        i++;
        if (sig[i] === '}') return 'a dict entry has a key and one value';
        const e = one(arrays + 1, structs);
        if (e !== null) return e;
        if (sig[i] !== '}') return i >= sig.length ? 'an unterminated dict entry' : 'a dict entry has a key and one value';
        i++;
        return null;
      }
      return one(arrays + 1, structs);
    }
    if (c === '(') {
      if (structs + 1 > MAX_STRUCT_DEPTH) return `more than ${MAX_STRUCT_DEPTH} nested structs (nesting depth)`;
      if (sig[i] === ')') return 'an empty struct';
      while (i < sig.length && sig[i] !== ')') {
        const e = one(arrays, structs + 1);
        if (e !== null) return e;
      }
      if (i >= sig.length) return 'an unterminated struct';
      i++;
      return null;
    }
    if (c === ')') return 'a ")" without "("';
    if (c === '{' || c === '}') return 'a dict entry outside an array';
    return `unknown type code ${JSON.stringify(c)}`;
  };
  while (i < sig.length) {
    const e = one(0, 0);
    if (e !== null) return e;
  }
  return null;
}

// builds the type tree of a signature already checked by signatureError
class Parser {
  i = 0;
  constructor(readonly sig: string) {}
  one(arrays: number, structs: number): DType {
    const start = this.i;
    const c = this.sig[this.i++];
    const basic = BASIC[c];
    if (basic !== undefined) return { code: c, sig: c, align: basic[0], fixed: basic[1] };
    if (c === 'v') return { code: c, sig: c, align: 1, fixed: 0 };
    if (c === 'a') {
      const elem = this.one(arrays + 1, structs);
      return { code: c, sig: this.sig.slice(start, this.i), align: 4, fixed: 0, elem };
    }
    // '(' or '{'
    const close = c === '(' ? ')' : '}';
    const fields: DType[] = [];
    while (this.sig[this.i] !== close) fields.push(this.one(arrays, structs + 1));
    this.i++;
    return { code: c, sig: this.sig.slice(start, this.i), align: 8, fixed: 0, fields };
  }
}
