// own-copy: a copy of a payload's bytes for a send that waits (sendAsync, replyAsync, call):
// the bytes sent are those of the moment of the call, whatever the caller does with its memory
// meanwhile (a received message's payload is freed and its slice reused; a buffer is filled
// again). Copied through `set` (internal slots: no user code runs). What is not a payload is
// returned as it is (the send's own checks refuse it).
//
// A small payload (at most SMALL bytes) is copied into a slab shared by the copies of this
// thread, as a view of it: no ArrayBuffer, backing store and ArrayBuffer extension of its own
// (a burst of 10 000 calls waiting for slots kept ~10 000 of each alive, ~180 bytes of heap
// per call and a malloc, which the collector copied and swept while they waited; stop 32,
// docs/BENCHMARKS.md). A slab is never reused: a new one is cut when it is full, and a slab's
// memory goes when the last view of it does. The cost of that: a copy that waits long keeps
// its whole slab (SLAB bytes) alive, at most SLAB / 8 times its own size for the smallest ones.
// Since stop 57 copies of up to 4 KiB go into slabs of 64 KiB (512 bytes and 16 KiB before):
// 1 000 concurrent call()s of 4 KiB, most of them waiting for a pending-call slot with their
// copies, took 0.76, 0.92 and 0.90 times as long (three alternated A/B runs, medians of 11-15
// repetitions; docs/BENCHMARKS.md, stop 57).
import { payloadBytes, payloadLength } from './args.ts';

/** payloads of at most this many bytes are copied into the slab (larger ones get memory of their own) */
export const SMALL = 4096;
/** a slab's size: 16 copies of SMALL bytes, 1 024 of 64 */
export const SLAB = 65536;

let slab: Uint8Array | null = null;
/** the slab's bytes in use (8-aligned) */
let used = 0;

/** A copy of `payload`'s bytes that no one else writes (a Uint8Array), or `payload` itself if it is not a payload. */
export function ownCopy<P>(payload: P): P | Uint8Array {
  const b = payloadBytes(payload);
  if (b === null) return payload;
  const n = payloadLength(b);
  let c: Uint8Array;
  if (n > SMALL) c = new Uint8Array(n);
  else {
    if (slab === null || used + n > SLAB) { slab = new Uint8Array(SLAB); used = 0; }
    c = slab.subarray(used, used + n);
    used = (used + n + 7) & ~7;
  }
  c.set(b);
  return c;
}
