// provider: what a runtime tells the core about the calling thread. One interface, one
// implementation per runtime (node, deno, mock); an answer of `false` / `null` means "not
// supported" (the import then returns WASI ENOTSUP and the core leaves the item out).
//
// clock, random and creds are required; the other metadata methods are optional (a provider
// without one reports that item as unsupported), so a provider written for the three-method
// interface keeps working. docs/API.md, "Providers", documents every method and its source.

import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { kindOf, isRevoked } from '../args.ts';

/**
 * A provider given as an argument: an object with the three required methods, else EINVAL
 * naming the rule. undefined is "none given" (Bus.create / Bus.join pick one) unless
 * `required` (the engines, which take one: before stop 41 they took anything, and their first
 * command threw a plain TypeError: an outside audit).
 */
export function checkProvider(op: string, p: unknown, required = false): Provider | undefined {
  if (p === undefined && !required) return undefined;
  const x = p as Provider | null;
  // (a revoked Proxy first, as every argument check: reading clock threw a TypeError before stop 48)
  if (isRevoked(x) || typeof x !== 'object' || x === null || typeof x.clock !== 'function' || typeof x.random !== 'function' || typeof x.creds !== 'function') {
    throw new BusError(A.EINVAL, op, `provider must be a Provider (an object with clock, random and creds methods), got ${kindOf(p)}`);
  }
  return x;
}

/** Credentials of the calling thread, as kdbus's CREDS item orders them. */
export interface Creds {
  uid: number; euid: number; suid: number; fsuid: number;
  gid: number; egid: number; sgid: number; fsgid: number;
}

/** kdbus PIDS: process id, the calling thread's OS thread id, parent process id (0: not known). */
export interface Pids { pid: number; tid: number; ppid: number }

/**
 * kdbus CAPS: `lastCap` (the highest capability number the kernel knows) and the four sets
 * kdbus reports, each as ceil((lastCap + 1) / 32) u32 words, bit n of the set = capability n,
 * bits above lastCap clear. (Ambient capabilities came after kdbus: not reported.)
 */
export interface Caps {
  lastCap: number;
  inheritable: Uint32Array; permitted: Uint32Array; effective: Uint32Array; bounding: Uint32Array;
}

/** kdbus AUDIT: the audit login uid and session id (4294967295: unset, as the kernel says). */
export interface Audit { loginuid: number; sessionid: number }

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
  /** Process id, calling thread's id, parent's id; false: the pid is not known. */
  pids?(out: Pids): boolean;
  /** Supplementary group ids (not including the egid unless it is one); null: not known. */
  groups?(): readonly number[] | null;
  /**
   * `thread` true: the calling thread's comm (TID_COMM), false: the process's (PID_COMM,
   * the main thread's). Bytes without a NUL; null: not known.
   */
  comm?(thread: boolean): Uint8Array | null;
  /** The executable's path, bytes as the OS reports them, without a NUL; null: not known. */
  exe?(): Uint8Array | null;
  /** The command line as the OS reports it: every argument followed by a NUL; null: not known. */
  cmdline?(): Uint8Array | null;
  /** The calling thread's cgroup (v2) path, without a NUL; null: not known. */
  cgroup?(): Uint8Array | null;
  /** The calling thread's capability sets; null: not known. */
  caps?(): Caps | null;
  /** The calling thread's LSM security label, without a NUL; null: no LSM, or not known. */
  seclabel?(): Uint8Array | null;
  /** Audit login uid and session id; false: not known. */
  audit?(out: Audit): boolean;
  /**
   * A number that changes whenever an answer of this provider may have changed (credentials
   * changed by the host, or a cache expired). Whoever caches answers may keep them while it
   * reads the same value. Absent: answers may change at any time (do not cache).
   */
  epoch?(): number;
  /**
   * Forget every cached answer now (the default Node and Deno providers: e.g. after a native
   * addon changed the credentials); absent on providers that cache nothing.
   */
  invalidate?(): void;
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

/**
 * The origin of the real providers' MONOTONIC clock: 2020-01-01T00:00:00Z, in ms since the
 * epoch. A constant, so that every thread reads one clock.
 */
export const MONOTONIC_ORIGIN_MS = 1577836800000;

/**
 * A provider's clocks from performance (docs/RUNTIMES.md, "Clocks and randomness"): REALTIME
 * is `performance.timeOrigin + performance.now()`, MONOTONIC the same less
 * MONOTONIC_ORIGIN_MS. Not `performance.now()` alone: it counts from the thread's own start in
 * browsers and Deno (Node's workers share the process's origin), so a call's deadline set by
 * a worker started later lay in the past on the clock of a thread started earlier, whose
 * next command expired the call at once.
 */
export function performanceClock(id: number, out: Uint32Array): boolean {
  if (id !== 0 && id !== 1) return false;
  const abs = performance.timeOrigin + performance.now();
  const ms = id === 0 ? abs : abs - MONOTONIC_ORIGIN_MS;
  const sec = Math.floor(ms / 1000);
  nsToHalves(sec, Math.floor((ms - sec * 1000) * 1e6), out);
  return true;
}

export function cryptoRandom(buf: Uint8Array): void {
  for (let i = 0; i < buf.length; i += 65536) crypto.getRandomValues(buf.subarray(i, Math.min(buf.length, i + 65536)));
}

/**
 * The default provider where the runtime is neither Node nor Deno (browsers and their
 * workers): real clocks (performanceClock) and random bytes, and no identity: a browser has
 * no process credentials, so CREDS, PIDS and the other process items are left out of
 * messages, and every connection's quota user is 65534 (DIFFERENCES.md D3). MockProvider
 * mocks an identity instead.
 */
export class WebProvider implements Provider {
  readonly name = 'web';
  clock(id: number, out: Uint32Array): boolean { return performanceClock(id, out); }
  random(buf: Uint8Array): void { cryptoRandom(buf); }
  creds(_out: Creds): false { return false; }
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string given by a caller (mock identities). */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}
