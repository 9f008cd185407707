// host: the twin's side of assembly/host.ts: the core's host functions, forwarded to the
// import object that the wasm core gets too (js/host/imports.ts), bound per command.
import { HOST } from './mem.ts';

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
