// shared-copy: bytes of the shared memory copied out into a fresh (unshared) Uint8Array, at
// memcpy speed whatever their alignment.
//
// V8 copies out of a SharedArrayBuffer with relaxed atomic loads (base::Relaxed_Memcpy): a word
// at a time only when the source and the destination share their address modulo 8, byte by
// byte otherwise. A fresh array starts 8-aligned, so a `slice()` of shared bytes that start at
// 4 modulo 8 (a D-Bus `ay` or string: its bytes follow an 8-aligned u32 length) went byte by
// byte: 22-31 µs for 64 KiB against 7-9 µs aligned on this VM, and the whole of a 64 KiB
// callMethod's decoding time (an outside audit, stop 57: 50 µs a copy in a profile). Copied
// here through a private scratch that shares the source's alignment (a word-wise copy), then
// into the result (an ordinary memmove between unshared buffers).
//
// Payloads (PAYLOAD_OFF items) are 8-aligned in the pool: `m.payload.slice()` is fast as it is.
import * as A from './shared/abi.ts';

/** below this many bytes a byte-wise copy costs less than the second copy */
const MIN = 256;
/**
 * the largest scratch kept: the bus's largest payload (MAX_PAYLOAD, 2 MiB), which bounds any
 * value of a message received on it (a copy of more, from bytes of the caller's own, goes
 * byte-wise rather than keep more memory)
 */
const MAX = A.MAX_PAYLOAD;

let scratch: Uint8Array | null = null;

/** A fresh copy of u8[from, to) (u8 a view of shared or unshared memory). */
export function copyOut(u8: Uint8Array, from: number, to: number): Uint8Array {
  const n = to - from, lead = (u8.byteOffset + from) & 7;
  if (lead === 0 || n < MIN || n + lead > MAX || from < lead || !isShared(u8)) return u8.slice(from, to);
  const m = n + lead;
  if (scratch === null || scratch.length < m) {
    let size = 65536;
    while (size < m) size *= 2;
    scratch = new Uint8Array(size);
  }
  scratch.set(u8.subarray(from - lead, to)); // shared -> private, both 8-aligned: word by word
  return scratch.slice(lead, m); // private -> fresh: memmove
}

function isShared(u8: Uint8Array): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && u8.buffer instanceof SharedArrayBuffer;
}
