// host: the functions the core imports (besides the shared memory). WASI preview1 where WASI
// has them, the "wasmbus" extension module for the rest; each writes into an out-pointer and
// returns 0 or a WASI errno. The twin calls the same functions through its HostImports.

/** Writes the time of clock `id` (0 REALTIME, 1 MONOTONIC) as a u64 of ns at `out`. */
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
export declare function clock_time_get(id: i32, precision: i64, out: usize): i32;

/** Fills [buf, buf + len) with random bytes. */
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
export declare function random_get(buf: usize, len: usize): i32;

/** Writes 8 × u64 at `out`: uid, euid, suid, fsuid, gid, egid, sgid, fsgid. */
// @ts-ignore: decorator
@external("wasmbus", "creds_get")
export declare function creds_get(out: usize): i32;
