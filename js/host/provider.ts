// provider: what a runtime tells the core about the calling thread. One interface, one
// implementation per runtime (node, deno, mock); an answer of `false` means "not supported".

/** Credentials of the calling thread, as kdbus's CREDS item orders them. */
export interface Creds {
  uid: number; euid: number; suid: number; fsuid: number;
  gid: number; egid: number; sgid: number; fsgid: number;
}

export interface Provider {
  readonly name: string;
  /**
   * Clock `id` (0 REALTIME, 1 MONOTONIC, as WASI numbers them) in nanoseconds as a u64
   * split in two u32 halves: out[0] = low, out[1] = high. false: clock not supported.
   */
  clock(id: number, out: Uint32Array): boolean;
  /** Fill `buf` (never a view of the shared memory) with random bytes. */
  random(buf: Uint8Array): void;
  /** The calling thread's credentials; false when the runtime cannot tell. */
  creds(out: Creds): boolean;
}

export const CREDS_FIELDS = ['uid', 'euid', 'suid', 'fsuid', 'gid', 'egid', 'sgid', 'fsgid'] as const;

const TWO32 = 4294967296;

/**
 * Nanoseconds `sec * 1e9 + nsec` as u64 halves, exact for any sec < 2^32 (a double holds
 * the product only approximately, so it is built from 16-bit limbs).
 */
export function nsToHalves(sec: number, nsec: number, out: Uint32Array): void {
  const low = (sec % 65536) * 1e9 + nsec; // < 2^46: exact
  const high = Math.floor(sec / 65536) * 1e9; // counts units of 2^16 ns, < 2^46: exact
  let lo = (low % TWO32) + (high % 65536) * 65536;
  let hi = Math.floor(low / TWO32) + Math.floor(high / 65536);
  if (lo >= TWO32) { lo -= TWO32; hi += 1; }
  out[0] = lo;
  out[1] = hi;
}

/** A provider's clocks from performance.now() (docs/RUNTIMES.md, "Clocks and randomness"). */
export function performanceClock(id: number, out: Uint32Array): boolean {
  if (id !== 0 && id !== 1) return false;
  const ms = id === 0 ? performance.timeOrigin + performance.now() : performance.now();
  const sec = Math.floor(ms / 1000);
  nsToHalves(sec, Math.floor((ms - sec * 1000) * 1e6), out);
  return true;
}

export function cryptoRandom(buf: Uint8Array): void {
  for (let i = 0; i < buf.length; i += 65536) crypto.getRandomValues(buf.subarray(i, Math.min(buf.length, i + 65536)));
}
