// wire: u64 fields of the shared memory read and written as two u32 halves, from and to
// JS numbers (exact for safe integers) or bigints. The one place the API converts 64-bit
// values; nothing here allocates except the bigint functions.
const TWO32 = 4294967296;

/** Store a safe integer (negative for s64 fields) at 8-aligned `addr`. */
export function put64(u32: Uint32Array, addr: number, v: number): void {
  const i = addr >>> 2;
  if (v >= 0 && v < TWO32) { // most fields: no division (per-message path)
    u32[i] = v;
    u32[i + 1] = 0;
    return;
  }
  const hi = Math.floor(v / TWO32);
  u32[i] = v - hi * TWO32;
  u32[i + 1] = hi; // a negative hi wraps to its two's complement, as s64 wants
}

/** A u64 as a number (exact below 2^53). */
export function get64(u32: Uint32Array, addr: number): number {
  const i = addr >>> 2;
  return u32[i + 1] * TWO32 + u32[i];
}

/** An s64 as a number (exact within ±2^53). */
export function getS64(u32: Uint32Array, addr: number): number {
  const i = addr >>> 2;
  return (u32[i + 1] | 0) * TWO32 + u32[i];
}

export function put64big(u32: Uint32Array, addr: number, v: bigint): void {
  const i = addr >>> 2;
  u32[i] = Number(v & 0xffffffffn);
  u32[i + 1] = Number((v >> 32n) & 0xffffffffn);
}

export function get64big(u32: Uint32Array, addr: number): bigint {
  const i = addr >>> 2;
  return (BigInt(u32[i + 1]) << 32n) | BigInt(u32[i]);
}

/** Store ~0 (all ones). */
export function putAllOnes(u32: Uint32Array, addr: number): void {
  u32[addr >>> 2] = 0xffffffff;
  u32[(addr >>> 2) + 1] = 0xffffffff;
}

/** Is `v` usable as a u64 / s64 field from JS (a safe integer in range)? */
export function isU64(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
export function isS64(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}
