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

// Process metadata (docs/API.md, "Module exports and imports"). Every one returns 0 or a WASI
// errno: ENOTSUP (58) when the provider cannot tell (the item is left out, never made up).
// Variable-size values take a capacity (bytes, or entries for groups), write the first
// min(full, cap) of it and report the full size, so a value over its cap
// (js/shared/meta-limits.ts) is seen. Strings include their NUL, in the data and the length.

/** WASI: argc and byte size of the command line (CMDLINE, capped to whole arguments). */
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "args_sizes_get")
export declare function args_sizes_get(argc_out: u32, size_out: u32): i32;

/** WASI: argc u32 pointers at `argv`, the NUL-terminated arguments at `argv_buf`. */
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "args_get")
export declare function args_get(argv: u32, argv_buf: u32): i32;

/** The full command line's argc and byte size (u32 each): larger than args_sizes_get's = truncated. */
// @ts-ignore: decorator
@external("wasmbus", "cmdline_size_get")
export declare function cmdline_size_get(argc_out: u32, size_out: u32): i32;

/** Writes 3 × u64 at `out`: pid, tid, ppid (kdbus PIDS; 0: not known). */
// @ts-ignore: decorator
@external("wasmbus", "pids_get")
export declare function pids_get(out: u32): i32;

/** Writes the first min(n, cap) supplementary gids as u64 at `buf`, n as u32 at `n_out`. */
// @ts-ignore: decorator
@external("wasmbus", "groups_get")
export declare function groups_get(buf: u32, cap: u32, n_out: u32): i32;

/** `which` 0: the calling thread's comm (TID_COMM), 1: the process's (PID_COMM); 28 otherwise. */
// @ts-ignore: decorator
@external("wasmbus", "comm_get")
export declare function comm_get(which: u32, buf: u32, cap: u32, len_out: u32): i32;

/** The executable's path (EXE). */
// @ts-ignore: decorator
@external("wasmbus", "exe_get")
export declare function exe_get(buf: u32, cap: u32, len_out: u32): i32;

/** The calling thread's cgroup v2 path (CGROUP). */
// @ts-ignore: decorator
@external("wasmbus", "cgroup_get")
export declare function cgroup_get(buf: u32, cap: u32, len_out: u32): i32;

/** kdbus CAPS payload: u32 last_cap, then inheritable, permitted, effective, bounding, each ceil((last_cap + 1) / 32) u32 words. */
// @ts-ignore: decorator
@external("wasmbus", "caps_get")
export declare function caps_get(buf: u32, cap: u32, len_out: u32): i32;

/** The calling thread's LSM label (SECLABEL). */
// @ts-ignore: decorator
@external("wasmbus", "seclabel_get")
export declare function seclabel_get(buf: u32, cap: u32, len_out: u32): i32;

/** kdbus AUDIT payload at `out`: u32 sessionid, u32 loginuid. */
// @ts-ignore: decorator
@external("wasmbus", "audit_get")
export declare function audit_get(out: u32): i32;

/** u32 at `out`: the provider's epoch; metadata collected under the same epoch is still valid. */
// @ts-ignore: decorator
@external("wasmbus", "meta_epoch_get")
export declare function meta_epoch_get(out: u32): i32;
