// host: the functions the core imports (besides the shared memory); wasm engine layer.
// WASI preview1 where WASI has them, the "wasmbus" extension module for the rest; each
// writes into an out-pointer and returns 0 or a WASI errno. js/twin/host.ts gives the twin
// the same functions. The core passes precision as a u32 (no 64-bit values in the core).

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function wasi_clock_time_get(id: i32, precision: i64, out: usize): i32;

/** Writes the time of clock `id` (0 REALTIME, 1 MONOTONIC) as a u64 of ns at `out`. */
// @ts-ignore: decorator
@inline export function clock_time_get(id: u32, precision: u32, out: u32): i32 {
  return wasi_clock_time_get(<i32>id, <i64>precision, out);
}

/** Fills [buf, buf + len) with random bytes. */
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
export declare function random_get(buf: u32, len: u32): i32;

/** Writes 8 × u64 at `out`: uid, euid, suid, fsuid, gid, egid, sgid, fsgid. */
// @ts-ignore: decorator
@external("wasmbus", "creds_get")
export declare function creds_get(out: u32): i32;
