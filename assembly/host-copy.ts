// host-copy: the host's copy of payload bytes that already lie in this memory (a received
// message's payload sent on, a reply that echoes a call, bytes in the user region) into the
// reservation of a send (SEND_PENDING), with memory.copy. The host copies every other payload
// itself (TypedArray.prototype.set); V8 copies into or out of a SharedArrayBuffer word by
// word, where memory.copy is a memmove: 64 KiB in 2.5 µs against 0.64 µs on the machine of
// docs/BENCHMARKS.md ("Stop 33"). The twin's copy is Uint8Array.prototype.copyWithin, with
// the same result (memmove's, for ranges that overlap).
//
// Not a command: it takes no lock and changes no state of the bus; the host names both
// ranges (the reservation it was given, and the view it was passed) and the core only
// checks that they lie in the memory.
import { copy, inMemory } from "./mem";

/** mem_copy: copy `n` bytes from `src` to `dst` (ranges that overlap as memmove): 1, or 0 (nothing copied) when a range leaves the memory. */
export function hostCopy(dst: u32, src: u32, n: u32): i32 {
  if (!inMemory(dst, n) || !inMemory(src, n)) return 0;
  copy(dst, src, n);
  return 1;
}
