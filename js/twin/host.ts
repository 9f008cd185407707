// host: the twin's side of assembly/host.ts: the core's host functions, forwarded to the
// import object that the wasm core gets too (js/host/imports.ts), bound per command.
import { HOST } from './mem.ts';
import type { CoreImports } from '../host/imports.ts';

/** Every host function (the engine binds the whole import object: wasi_snapshot_preview1 and wasmbus). */
type Host = CoreImports['wasi_snapshot_preview1'] & CoreImports['wasmbus'];
const host = (): Host => HOST as unknown as Host;

/** Writes the time of clock `id` (0 REALTIME, 1 MONOTONIC) as a u64 of ns at `out`. */
export function clock_time_get(id: number, precision: number, out: number): number {
  return HOST.clock_time_get(id, precision === 0 ? 0n : BigInt(precision), out);
}
/** Fills [buf, buf + len) with random bytes. */
export function random_get(buf: number, len: number): number {
  return HOST.random_get(buf, len);
}
/** Writes 8 × u64 at `out`: uid, euid, suid, fsuid, gid, egid, sgid, fsgid. */
export function creds_get(out: number): number {
  return HOST.creds_get(out);
}
/** WASI: argc and byte size of the command line (CMDLINE, capped to whole arguments). */
export function args_sizes_get(argc_out: number, size_out: number): number {
  return host().args_sizes_get(argc_out, size_out);
}
/** WASI: argc u32 pointers at `argv`, the NUL-terminated arguments at `argv_buf`. */
export function args_get(argv: number, argv_buf: number): number {
  return host().args_get(argv, argv_buf);
}
/** The full command line's argc and byte size (u32 each): larger than args_sizes_get's = truncated. */
export function cmdline_size_get(argc_out: number, size_out: number): number {
  return host().cmdline_size_get(argc_out, size_out);
}
/** Writes 3 × u64 at `out`: pid, tid, ppid (kdbus PIDS; 0: not known). */
export function pids_get(out: number): number {
  return host().pids_get(out);
}
/** Writes the first min(n, cap) supplementary gids as u64 at `buf`, n as u32 at `n_out`. */
export function groups_get(buf: number, cap: number, n_out: number): number {
  return host().groups_get(buf, cap, n_out);
}
/** `which` 0: the calling thread's comm (TID_COMM), 1: the process's (PID_COMM); 28 otherwise. */
export function comm_get(which: number, buf: number, cap: number, len_out: number): number {
  return host().comm_get(which, buf, cap, len_out);
}
/** The executable's path (EXE). */
export function exe_get(buf: number, cap: number, len_out: number): number {
  return host().exe_get(buf, cap, len_out);
}
/** The calling thread's cgroup v2 path (CGROUP). */
export function cgroup_get(buf: number, cap: number, len_out: number): number {
  return host().cgroup_get(buf, cap, len_out);
}
/** kdbus CAPS payload: u32 last_cap, then inheritable, permitted, effective, bounding, each ceil((last_cap + 1) / 32) u32 words. */
export function caps_get(buf: number, cap: number, len_out: number): number {
  return host().caps_get(buf, cap, len_out);
}
/** The calling thread's LSM label (SECLABEL). */
export function seclabel_get(buf: number, cap: number, len_out: number): number {
  return host().seclabel_get(buf, cap, len_out);
}
/** kdbus AUDIT payload at `out`: u32 sessionid, u32 loginuid. */
export function audit_get(out: number): number {
  return host().audit_get(out);
}
/** u32 at `out`: the provider's epoch; metadata collected under the same epoch is still valid. */
export function meta_epoch_get(out: number): number {
  return host().meta_epoch_get(out);
}
