// answers: a provider's answers, checked before the core's imports (imports.ts) write them into
// the bus memory as metadata. A Provider is the caller's code; a receiver relies on what a
// message says of its sender, so an answer outside the Provider contract (a uid of -5, NaN, a
// string where bytes are due) is never coerced into something else (-5 into 4294967291, a
// string into NUL bytes): the command fails with EINVAL naming the provider, the method, the
// field and the rule, and changes nothing (a throw inside a command unwinds it, as a provider
// that throws does: engine.ts). "Not known" stays what the contract says: false or null, and
// the item is left out.
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { shown } from '../args.ts';
import type { Audit, Caps, Creds, Pids, Provider } from './provider.ts';
import { CREDS_FIELDS } from './provider.ts';

const U32 = 'an integer in 0 … 4294967295';
/**
 * A uid_t / gid_t: 0 … 4294967294. (uid_t) −1 is no id (setuid(-1) fails EINVAL; the kernel
 * never reports it), and wasmbus charges bus notifications to it (UID_KERNEL): a provider's
 * uid of 4294967295 shared the notifications' quota row in every receiver before stop 66.
 */
const ID = 'an integer in 0 … 4294967294 (4294967295, (uid_t) −1, is no id)';
export const isId = (v: unknown): boolean => isU32(v) && v !== 0xffffffff;

function wrong(p: Provider, what: string, rule: string, got: unknown): never {
  throw new BusError(A.EINVAL, 'provider', `provider ${JSON.stringify(String(p.name))}: ${what} must be ${rule}, got ${shown(got)}`);
}

/** an integer in 0 … 2^32 − 1 (a CAPS word, AUDIT field, epoch; ids: isId) */
export const isU32 = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * What the imports put in every field of an out-object (creds, pids, audit) before they hand it
 * to the provider: a field still NaN after an answer of true was never filled. The objects are
 * made once per thread (no allocation per command), so before stop 44 such a field kept the
 * last answer, or the 0 it was made with: a provider that assigned a new object to its
 * parameter (`creds(out) { out = {...}; return true }`) made every message say uid 0, root
 * (an outside audit).
 */
export const UNSET = NaN;

/** `out` was not filled (a field still UNSET): said as such, not as a wrong value. */
function unfilled(p: Provider, method: string, field: string): never {
  throw new BusError(A.EINVAL, 'provider', `provider ${JSON.stringify(String(p.name))}: ${method}(out) returned true with out.${field} unset (NaN): ` +
    `it must fill the object it is given (assigning a new object to the parameter fills nothing), or return false (not known)`);
}

/** creds(out) said true: every field an id (kdbus CREDS: uid_t / gid_t, not −1). */
export function checkCreds(p: Provider, c: Creds): void {
  for (let i = 0; i < 8; i++) {
    const k = CREDS_FIELDS[i];
    if (!isId(c[k])) {
      if (Number.isNaN(c[k])) unfilled(p, 'creds', k);
      wrong(p, `creds().${k}`, ID, c[k]);
    }
  }
}

/** pids(out) said true: pid, tid, ppid each a non-negative safe integer (0: not known). */
export function checkPids(p: Provider, x: Pids): void {
  for (const k of ['pid', 'tid', 'ppid'] as const) {
    const v = x[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      if (Number.isNaN(v)) unfilled(p, 'pids', k);
      wrong(p, `pids().${k}`, 'a non-negative safe integer (0: not known)', v);
    }
  }
}

/**
 * A byte-string answer (comm, exe, cgroup, seclabel: no NUL inside; cmdline: NUL-terminated
 * arguments): a genuine Uint8Array (ArrayBuffer.isView: not an array dressed as one, not a
 * Proxy, whose length could change between reads), or null / undefined (not known).
 */
export function bytesAnswer(p: Provider, what: string, v: unknown, nulAllowed = false): Uint8Array | null {
  if (v == null) return null;
  if (!(v instanceof Uint8Array) || !ArrayBuffer.isView(v)) return wrong(p, `${what}()`, `a Uint8Array (bytes${nulAllowed ? '' : ', no NUL'}) or null (not known)`, v);
  if (!nulAllowed && v.indexOf(0) >= 0) {
    throw new BusError(A.EINVAL, 'provider', `provider ${JSON.stringify(String(p.name))}: ${what}() must be bytes without a NUL (the item adds its own), got a NUL at byte ${v.indexOf(0)}`);
  }
  return v;
}

/** groups(): an array of gids (ids: not −1), or null / undefined (not known). */
export function groupsAnswer(p: Provider, g: unknown): readonly number[] | null {
  if (g == null) return null;
  if (!Array.isArray(g) && !(ArrayBuffer.isView(g) && !(g instanceof DataView))) wrong(p, 'groups()', 'an array of gids or null (not known)', g);
  const a = g as readonly number[];
  for (let i = 0; i < a.length; i++) if (!isId(a[i])) wrong(p, `groups()[${i}]`, ID, a[i]);
  return a;
}

/** caps(): lastCap an integer >= 0, and four sets of ceil((lastCap + 1) / 32) u32 words each; or null (not known). */
export function capsAnswer(p: Provider, c: unknown): Caps | null {
  if (c == null) return null;
  if (typeof c !== 'object') wrong(p, 'caps()', 'a Caps object or null (not known)', c);
  const x = c as Caps;
  const last = x.lastCap;
  if (typeof last !== 'number' || !Number.isInteger(last) || last < 0 || last > 0xffffffff) wrong(p, 'caps().lastCap', U32, last);
  const words = Math.ceil((last + 1) / 32);
  for (const k of ['inheritable', 'permitted', 'effective', 'bounding'] as const) {
    const s = x[k] as ArrayLike<number> | undefined;
    if (s == null || typeof s !== 'object' || typeof s.length !== 'number') wrong(p, `caps().${k}`, 'an array of u32 words', s);
    if (s.length !== words) wrong(p, `caps().${k}.length`, `${words} (ceil((lastCap + 1) / 32) words for lastCap ${last})`, s.length);
    for (let i = 0; i < words; i++) if (!isU32(s[i])) wrong(p, `caps().${k}[${i}]`, U32, s[i]);
  }
  return x;
}

/**
 * epoch(): a u32 (an integer in 0 … 2^32 − 1). Coerced with `>>> 0` before stop 39, so that
 * 0.1 and 0.2, "x" and "y", NaN, 7 and 2^32 + 7 read as the same epoch and the core kept
 * metadata the provider had changed: messages carried the old uid (an outside audit).
 */
export function epochAnswer(p: Provider, v: unknown): number {
  if (!isU32(v)) wrong(p, 'epoch()', `${U32} (a counter that moves when an answer may have)`, v);
  return v as number;
}

/** audit(out) said true: loginuid and sessionid each a u32 (4294967295: unset). */
export function checkAudit(p: Provider, a: Audit): void {
  if (!isU32(a.loginuid)) { if (Number.isNaN(a.loginuid)) unfilled(p, 'audit', 'loginuid'); wrong(p, 'audit().loginuid', U32, a.loginuid); }
  if (!isU32(a.sessionid)) { if (Number.isNaN(a.sessionid)) unfilled(p, 'audit', 'sessionid'); wrong(p, 'audit().sessionid', U32, a.sessionid); }
}
