// siphash: SipHash-2-4 (Aumasson & Bernstein, 2012) over a Uint8Array range, with the 64-bit
// state held as 32-bit halves in local variables: no BigInt, no allocation per hash. The
// bloom filters (bloom.ts) hash every element with it; siphash24() is the BigInt convenience
// for tests and one-off uses.
// Keys are 16 bytes: k0 = bytes 0..7, k1 = bytes 8..15, each little-endian (the reference
// implementation's convention). The 64-bit result is little-endian when seen as bytes.
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { kindOf } from '../args.ts';
import { bytesArg, posArg } from './marshal.ts';

/**
 * The key as 4 little-endian u32 words [k0 lo, k0 hi, k1 lo, k1 hi], what siphash24Into takes.
 * A key that is not 16 bytes is EINVAL (a RangeError before stop 41: an outside audit).
 */
export function sipKey(key: Uint8Array, op = 'sipKey'): Uint32Array {
  bytesArg(op, 'key', key);
  if (key.length !== 16) throw new BusError(A.EINVAL, op, `a SipHash key is 16 bytes, got ${key.length}`);
  const k = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    k[i] = (key[4 * i] | (key[4 * i + 1] << 8) | (key[4 * i + 2] << 16) | (key[4 * i + 3] << 24)) >>> 0;
  }
  return k;
}

function le32(d: Uint8Array, p: number): number {
  return (d[p] | (d[p + 1] << 8) | (d[p + 2] << 16) | (d[p + 3] << 24)) >>> 0;
}

/**
 * SipHash-2-4 of `data[off .. off+len)` under key `k` (from sipKey). Writes the 64-bit result
 * to out[0] (low half) and out[1] (high half). Allocates nothing. Its arguments are checked
 * (EINVAL): `k` a Uint32Array of 4 words, `data` a Uint8Array holding the range, `out` a
 * Uint32Array of at least 2.
 */
export function siphash24Into(k: Uint32Array, data: Uint8Array, off: number, len: number, out: Uint32Array): void {
  const op = 'siphash24Into';
  if (!(k instanceof Uint32Array) || k.length !== 4) throw new BusError(A.EINVAL, op, `k must be sipKey()'s Uint32Array of 4 words, got ${kindOf(k)}`);
  bytesArg(op, 'data', data);
  posArg(op, 'off', off, data.length);
  posArg(op, 'len', len, data.length - off);
  if (!(out instanceof Uint32Array) || out.length < 2) throw new BusError(A.EINVAL, op, `out must be a Uint32Array of 2 words or more, got ${kindOf(out)}`);
  sipHash(k, data, off, len, out);
}

/**
 * @internal siphash24Into of arguments known good (the bloom filters' own).
 *
 * The state lives in local variables (V8 keeps them in registers), each 64-bit word as two
 * u32 halves; one loop runs every compression: the whole message words (2 rounds each), the
 * last word with the length byte (2 rounds), then the finalization (v2 ^= 0xff, 4 rounds,
 * with a zero word so that its xors change nothing). The round is written once.
 */
export function sipHash(k: Uint32Array, data: Uint8Array, off: number, len: number, out: Uint32Array): void {
  // v0 = k0 ^ "somepseu", v1 = k1 ^ "dorandom", v2 = k0 ^ "lygenera", v3 = k1 ^ "tedbytes"
  let v0l = (k[0] ^ 0x70736575) >>> 0, v0h = (k[1] ^ 0x736f6d65) >>> 0;
  let v1l = (k[2] ^ 0x6e646f6d) >>> 0, v1h = (k[3] ^ 0x646f7261) >>> 0;
  let v2l = (k[0] ^ 0x6e657261) >>> 0, v2h = (k[1] ^ 0x6c796765) >>> 0;
  let v3l = (k[2] ^ 0x79746573) >>> 0, v3h = (k[3] ^ 0x74656462) >>> 0;
  const end = off + len;
  const whole = off + (len & ~7);
  let p = off, stage = 0; // 0: whole words, 1: the last word done, 2: finalized
  for (;;) {
    let ml = 0, mh = 0, rounds = 2;
    if (p < whole) {
      ml = le32(data, p); mh = le32(data, p + 4);
      p += 8;
    } else if (stage === 0) {
      // the remaining 0..7 bytes, little-endian, with (len & 0xff) in the top byte
      mh = (len & 0xff) << 24;
      for (let i = 0; p + i < end; i++) {
        const b = data[p + i];
        if (i < 4) ml |= b << (8 * i);
        else mh |= b << (8 * (i - 4));
      }
      ml >>>= 0; mh >>>= 0;
      stage = 1;
    } else if (stage === 1) {
      v2l = (v2l ^ 0xff) >>> 0;
      rounds = 4;
      stage = 2;
    } else break;
    v3l = (v3l ^ ml) >>> 0; v3h = (v3h ^ mh) >>> 0;
    for (let r = 0; r < rounds; r++) {
      let lo: number, t: number;
      // v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
      lo = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (lo < v0l ? 1 : 0)) >>> 0; v0l = lo;
      t = v1l; v1l = ((v1l << 13) | (v1h >>> 19)) >>> 0; v1h = ((v1h << 13) | (t >>> 19)) >>> 0;
      v1l = (v1l ^ v0l) >>> 0; v1h = (v1h ^ v0h) >>> 0;
      t = v0l; v0l = v0h; v0h = t;
      // v2 += v3; v3 = rotl(v3, 16) ^ v2
      lo = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (lo < v2l ? 1 : 0)) >>> 0; v2l = lo;
      t = v3l; v3l = ((v3l << 16) | (v3h >>> 16)) >>> 0; v3h = ((v3h << 16) | (t >>> 16)) >>> 0;
      v3l = (v3l ^ v2l) >>> 0; v3h = (v3h ^ v2h) >>> 0;
      // v0 += v3; v3 = rotl(v3, 21) ^ v0
      lo = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (lo < v0l ? 1 : 0)) >>> 0; v0l = lo;
      t = v3l; v3l = ((v3l << 21) | (v3h >>> 11)) >>> 0; v3h = ((v3h << 21) | (t >>> 11)) >>> 0;
      v3l = (v3l ^ v0l) >>> 0; v3h = (v3h ^ v0h) >>> 0;
      // v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
      lo = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (lo < v2l ? 1 : 0)) >>> 0; v2l = lo;
      t = v1l; v1l = ((v1l << 17) | (v1h >>> 15)) >>> 0; v1h = ((v1h << 17) | (t >>> 15)) >>> 0;
      v1l = (v1l ^ v2l) >>> 0; v1h = (v1h ^ v2h) >>> 0;
      t = v2l; v2l = v2h; v2h = t;
    }
    v0l = (v0l ^ ml) >>> 0; v0h = (v0h ^ mh) >>> 0;
  }
  out[0] = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  out[1] = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
}

const OUT = new Uint32Array(2);

/** SipHash-2-4 of `data` (a Uint8Array) under a 16-byte key, as a u64 bigint (convenience, allocates). */
export function siphash24(key: Uint8Array, data: Uint8Array): bigint {
  const k = sipKey(key, 'siphash24');
  bytesArg('siphash24', 'data', data);
  sipHash(k, data, 0, data.length, OUT);
  return (BigInt(OUT[1]) << 32n) | BigInt(OUT[0]);
}
