// siphash: SipHash-2-4 (Aumasson & Bernstein, 2012) over a Uint8Array range, with the 64-bit
// state held as 32-bit halves in one preallocated Uint32Array: no BigInt, no allocation per
// hash. The bloom filters (bloom.ts) hash every element with it; siphash24() is the BigInt
// convenience for tests and one-off uses.
//
// State layout (SIP, u32 words):
//   ┌──────┬──────┬──────┬──────┬──────┬──────┬──────┬──────┐
//   │v0 lo │v0 hi │v1 lo │v1 hi │v2 lo │v2 hi │v3 lo │v3 hi │
//   └──────┴──────┴──────┴──────┴──────┴──────┴──────┴──────┘
//     0      1      2      3      4      5      6      7
// Keys are 16 bytes: k0 = bytes 0..7, k1 = bytes 8..15, each little-endian (the reference
// implementation's convention). The 64-bit result is little-endian when seen as bytes.

const S = new Uint32Array(8);

/** The key as 4 little-endian u32 words [k0 lo, k0 hi, k1 lo, k1 hi], what siphash24Into takes. */
export function sipKey(key: Uint8Array): Uint32Array {
  if (key.length !== 16) throw new RangeError(`SipHash key must be 16 bytes, got ${key.length}`);
  const k = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    k[i] = (key[4 * i] | (key[4 * i + 1] << 8) | (key[4 * i + 2] << 16) | (key[4 * i + 3] << 24)) >>> 0;
  }
  return k;
}

// a += b (64-bit, halves at S[a], S[a+1])
function add(a: number, b: number): void {
  const lo = (S[a] + S[b]) >>> 0;
  S[a + 1] = (S[a + 1] + S[b + 1] + (lo < S[a] ? 1 : 0)) >>> 0;
  S[a] = lo;
}

// x = rotl(x, r) for 0 < r < 32
function rotl(x: number, r: number): void {
  const lo = S[x], hi = S[x + 1];
  S[x] = ((lo << r) | (hi >>> (32 - r))) >>> 0;
  S[x + 1] = ((hi << r) | (lo >>> (32 - r))) >>> 0;
}

// x = rotl(x, 32): swap the halves
function swap(x: number): void {
  const lo = S[x];
  S[x] = S[x + 1];
  S[x + 1] = lo;
}

// a ^= b
function xor(a: number, b: number): void {
  S[a] ^= S[b];
  S[a + 1] ^= S[b + 1];
}

const V0 = 0, V1 = 2, V2 = 4, V3 = 6;

function round(): void {
  add(V0, V1); rotl(V1, 13); xor(V1, V0); swap(V0);
  add(V2, V3); rotl(V3, 16); xor(V3, V2);
  add(V0, V3); rotl(V3, 21); xor(V3, V0);
  add(V2, V1); rotl(V1, 17); xor(V1, V2); swap(V2);
}

// one message word m = (lo, hi): v3 ^= m; 2 rounds; v0 ^= m
function compress(lo: number, hi: number): void {
  S[V3] ^= lo; S[V3 + 1] ^= hi;
  round(); round();
  S[V0] ^= lo; S[V0 + 1] ^= hi;
}

function le32(d: Uint8Array, p: number): number {
  return (d[p] | (d[p + 1] << 8) | (d[p + 2] << 16) | (d[p + 3] << 24)) >>> 0;
}

/**
 * SipHash-2-4 of `data[off .. off+len)` under key `k` (from sipKey). Writes the 64-bit result
 * to out[0] (low half) and out[1] (high half). Allocates nothing.
 */
export function siphash24Into(k: Uint32Array, data: Uint8Array, off: number, len: number, out: Uint32Array): void {
  // v0 = k0 ^ "somepseu", v1 = k1 ^ "dorandom", v2 = k0 ^ "lygenera", v3 = k1 ^ "tedbytes"
  S[0] = k[0] ^ 0x70736575; S[1] = k[1] ^ 0x736f6d65;
  S[2] = k[2] ^ 0x6e646f6d; S[3] = k[3] ^ 0x646f7261;
  S[4] = k[0] ^ 0x6e657261; S[5] = k[1] ^ 0x6c796765;
  S[6] = k[2] ^ 0x79746573; S[7] = k[3] ^ 0x74656462;
  const end = off + len;
  const whole = off + (len & ~7);
  let p = off;
  for (; p < whole; p += 8) compress(le32(data, p), le32(data, p + 4));
  // last word: the remaining 0..7 bytes, little-endian, with (len & 0xff) in the top byte
  let lo = 0, hi = (len & 0xff) << 24;
  for (let i = 0; p + i < end; i++) {
    const b = data[p + i];
    if (i < 4) lo |= b << (8 * i);
    else hi |= b << (8 * (i - 4));
  }
  compress(lo >>> 0, hi >>> 0);
  S[V2] ^= 0xff;
  round(); round(); round(); round();
  out[0] = (S[0] ^ S[2] ^ S[4] ^ S[6]) >>> 0;
  out[1] = (S[1] ^ S[3] ^ S[5] ^ S[7]) >>> 0;
}

const OUT = new Uint32Array(2);

/** SipHash-2-4 of `data` under a 16-byte key, as a u64 bigint (convenience, allocates). */
export function siphash24(key: Uint8Array, data: Uint8Array): bigint {
  siphash24Into(sipKey(key), data, 0, data.length, OUT);
  return (BigInt(OUT[1]) << 32n) | BigInt(OUT[0]);
}
