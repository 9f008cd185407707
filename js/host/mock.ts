// mock: a deterministic provider for tests and the browser demo. Clocks advance by a fixed
// step on every read from a seeded start; random bytes come from a seeded PRNG; the identity
// (credentials and every other metadata item) is whatever the test configures, per instance
// (each thread has its own provider; per connection: set it before connect()). Credentials
// default to 1000 everywhere; every other item not configured is unsupported.
import type { Audit, Caps, Creds, Pids, Provider } from './provider.ts';
import { nsToHalves, utf8, performanceClock, CREDS_FIELDS } from './provider.ts';
import { BusError } from '../errno.ts';
import * as A from '../shared/abi.ts';
import { options, kindOf, listOnce } from '../args.ts';
import { isU32 as u32, isId } from './answers.ts';

const IDENTITY_KEYS = ['creds', 'pids', 'groups', 'comm', 'exe', 'cmdline', 'cgroup', 'caps', 'seclabel', 'audit'] as const;
const MOCK_KEYS = ['seed', 'step', 'realClock', ...IDENTITY_KEYS] as const;

/** Creds of which any field may be left out (or given as undefined: absent, it keeps its value). */
export type PartialCreds = { [K in keyof Creds]?: Creds[K] | undefined };

/**
 * Partial creds, checked: known fields only, each a uid_t / gid_t (an integer in 0 … 2^32 − 2:
 * −1 is no id, answers.ts),
 * each read once; a field given as undefined is left out (it was stored as undefined, and
 * Bus.create then failed on the provider's answer: an outside audit, stop 51).
 */
function credsArg(op: string, c: unknown): Partial<Creds> {
  const o = options<Creds>(op, c, CREDS_FIELDS, '{ uid: 1000 }', 'creds');
  const out: Partial<Creds> = {};
  for (const f of CREDS_FIELDS) {
    const v = o[f];
    if (v === undefined) continue;
    if (!isId(v)) {
      throw new BusError(A.EINVAL, op, `creds.${f} must be an integer in 0 … 2^32 − 2 (a uid_t / gid_t; 2^32 − 1, (uid_t) −1, is no id), got ${typeof v === 'number' ? String(v) : kindOf(v)}`);
    }
    out[f] = v;
  }
  return out;
}

/** Capability sets as u32 words (bit n = capability n); sets not given are empty. */
export interface MockCaps {
  lastCap: number;
  inheritable?: ArrayLike<number> | undefined; permitted?: ArrayLike<number> | undefined;
  effective?: ArrayLike<number> | undefined; bounding?: ArrayLike<number> | undefined;
}

/** The metadata a MockProvider reports; `null` or absent: unsupported (creds: 1000s). */
export interface MockIdentity {
  creds?: PartialCreds | undefined;
  pids?: Pids | null | undefined;
  groups?: readonly number[] | null | undefined;
  /** a string: thread and process comm alike */
  comm?: string | { thread?: string | null | undefined; process?: string | null | undefined } | null | undefined;
  exe?: string | null | undefined;
  /** the arguments (each is followed by a NUL in CMDLINE) */
  cmdline?: readonly string[] | null | undefined;
  cgroup?: string | null | undefined;
  caps?: MockCaps | null | undefined;
  seclabel?: string | null | undefined;
  audit?: Audit | null | undefined;
}

export interface MockOptions extends MockIdentity {
  seed?: number | undefined;
  /** nanoseconds a clock advances per read (default 1000) */
  step?: number | undefined;
  /**
   * true: the real clocks (as the default providers read them) instead of the stepping one.
   * The stepping clock only moves when it is read, so deadlines measured on it (a call's
   * timeout) do not follow real time; mock an identity with a real clock with this.
   */
  realClock?: boolean | undefined;
}

export const MOCK_REALTIME_SEC = 1767225600; // 2026-01-01T00:00:00Z

const nul = (b: Uint8Array): boolean => b.includes(0);

export class MockProvider implements Provider {
  readonly name = 'mock';
  private state: number;
  private ticks = 0;
  private readonly step: number;
  private readonly realClock: boolean;
  private current: Creds;
  private ep = 0;
  private pid: Pids | null = null;
  private grp: readonly number[] | null = null;
  private tcomm: Uint8Array | null = null;
  private pcomm: Uint8Array | null = null;
  private exePath: Uint8Array | null = null;
  private cmd: Uint8Array | null = null;
  private cg: Uint8Array | null = null;
  private capSets: Caps | null = null;
  private label: Uint8Array | null = null;
  private aud: Audit | null = null;

  constructor(opts: MockOptions = {}) {
    options<MockOptions>('MockProvider', opts, MOCK_KEYS, '{ seed: 42, creds: { uid: 1000 } }');
    // every option read once: the values checked are the values kept (before stop 56 `seed`
    // was read four times and `step` five, a getter's last answer stored unchecked, e.g. a
    // step of -1e9 that ran the MONOTONIC clock backwards; an outside audit)
    const seed = opts.seed, step = opts.step, realClock = opts.realClock;
    if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed))) throw new BusError(A.EINVAL, 'MockProvider', `seed must be an integer, got ${typeof seed === 'number' ? String(seed) : kindOf(seed)}`);
    if (step !== undefined && (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)) throw new BusError(A.EINVAL, 'MockProvider', `step must be a whole number of ns >= 0, got ${typeof step === 'number' ? String(step) : kindOf(step)}`);
    if (realClock !== undefined && typeof realClock !== 'boolean') throw new BusError(A.EINVAL, 'MockProvider', `realClock must be a boolean, got ${kindOf(realClock)}`);
    this.state = (seed ?? 1) >>> 0 || 1;
    this.step = step ?? 1000;
    this.realClock = realClock === true;
    this.current = { uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, gid: 1000, egid: 1000, sgid: 1000, fsgid: 1000 };
    this.identity(opts, 'MockProvider');
  }

  /** Change the identity the provider reports (fields not given keep their value). */
  setCreds(c: PartialCreds): void {
    this.current = { ...this.current, ...credsArg('setCreds', c) };
    this.ep = (this.ep + 1) >>> 0;
  }

  /**
   * Change any part of the identity: keys not given keep their value, a key given as null
   * makes that item unsupported. Strings must not contain a NUL (cmdline arguments neither).
   */
  setIdentity(id: MockIdentity): void {
    // (unknown keys refused, as every options object's: an outside audit found `exePath` taken silently)
    this.identity(options<MockIdentity>('setIdentity', id, IDENTITY_KEYS, "{ exe: '/usr/bin/app' }"), 'setIdentity');
  }

  private identity(given: MockIdentity, op: string): void {
    // each identity key read once, into a plain object (its nested objects are read once each
    // by apply)
    const id: Record<string, unknown> = {};
    for (const k of IDENTITY_KEYS) id[k] = (given as Record<string, unknown>)[k];
    // all or nothing: a bad field leaves the identity (and the epoch) as they were
    const saved = [this.current, this.pid, this.grp, this.tcomm, this.pcomm, this.exePath, this.cmd, this.cg, this.label, this.aud, this.capSets] as const;
    try {
      this.apply(id as MockIdentity, op);
    } catch (err) {
      [this.current, this.pid, this.grp, this.tcomm, this.pcomm, this.exePath, this.cmd, this.cg, this.label, this.aud, this.capSets] = saved;
      throw err;
    }
    this.ep = (this.ep + 1) >>> 0;
  }

  // Every field checked, each error EINVAL naming the option and op (MockProvider or
  // setIdentity): before stop 39 a cmdline string threw a TypeError, caps {} a RangeError,
  // comm: 5 and unknown comm or caps keys were ignored, pids and groups were taken unchecked
  // (and failed later, at Bus.create, as the provider's answers), audit -1 became 2^32 - 1
  // (an outside audit).
  private apply(id: MockIdentity, op: string): void {
    const bad = (what: string, rule: string, v: unknown): never => {
      throw new BusError(A.EINVAL, op, `${what} must be ${rule}, got ${typeof v === 'number' ? String(v) : kindOf(v)}`);
    };
    if (id.creds !== undefined) this.current = { ...this.current, ...credsArg(op, id.creds) };
    if (id.pids !== undefined) {
      if (id.pids === null) this.pid = null;
      else {
        const o = options<Pids>(op, id.pids, ['pid', 'tid', 'ppid'], '{ pid: 42, tid: 42, ppid: 1 }', 'pids');
        const v = { pid: o.pid, tid: o.tid, ppid: o.ppid } as Record<'pid' | 'tid' | 'ppid', unknown>; // (each read once)
        for (const k of ['pid', 'tid', 'ppid'] as const) {
          const x = v[k];
          if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) bad(`pids.${k}`, 'a non-negative safe integer (0: not known)', x);
        }
        this.pid = v as unknown as Pids;
      }
    }
    if (id.groups !== undefined) {
      const g = id.groups as unknown;
      if (g === null) this.grp = null;
      else {
        if (!Array.isArray(g)) bad('groups', 'an array of gids or null', g);
        this.grp = listOnce(g as unknown[], (g as unknown[]).length, (x, i) => { if (!isId(x)) bad(`groups[${i}]`, 'an integer in 0 … 2^32 − 2 (a gid_t; 2^32 − 1 is no id)', x); }) as number[];
      }
    }
    if (id.comm !== undefined) {
      const c = id.comm as unknown;
      if (c === null || typeof c === 'string') {
        this.tcomm = this.pcomm = c === null ? null : this.str(c, 'comm', op);
      } else {
        const o = options<{ thread: string | null; process: string | null }>(op, c, ['thread', 'process'], "{ thread: 'worker', process: 'node' }", 'comm');
        if (o.thread !== undefined) this.tcomm = o.thread === null ? null : this.str(o.thread, 'comm.thread', op);
        if (o.process !== undefined) this.pcomm = o.process === null ? null : this.str(o.process, 'comm.process', op);
      }
    }
    if (id.exe !== undefined) this.exePath = id.exe === null ? null : this.str(id.exe, 'exe', op);
    if (id.cmdline !== undefined) {
      const c = id.cmdline as unknown;
      if (c !== null && !Array.isArray(c)) bad('cmdline', 'an array of strings (the arguments) or null', c);
      this.cmd = c === null ? null : utf8((c as unknown[]).map((a, i) => {
        this.str(a as string, `cmdline[${i}]`, op);
        return a + '\0';
      }).join(''));
    }
    if (id.cgroup !== undefined) this.cg = id.cgroup === null ? null : this.str(id.cgroup, 'cgroup', op);
    if (id.seclabel !== undefined) this.label = id.seclabel === null ? null : this.str(id.seclabel, 'seclabel', op);
    if (id.audit !== undefined) {
      if (id.audit === null) this.aud = null;
      else {
        const o = options<Audit>(op, id.audit, ['loginuid', 'sessionid'], '{ loginuid: 1000, sessionid: 3 }', 'audit');
        const loginuid = o.loginuid, sessionid = o.sessionid; // (each read once)
        if (!u32(loginuid)) bad('audit.loginuid', 'an integer in 0 … 2^32 − 1 (4294967295: unset)', loginuid);
        if (!u32(sessionid)) bad('audit.sessionid', 'an integer in 0 … 2^32 − 1', sessionid);
        this.aud = { loginuid: loginuid!, sessionid: sessionid! };
      }
    }
    if (id.caps !== undefined) {
      if (id.caps === null) {
        this.capSets = null;
      } else {
        const c = options<MockCaps>(op, id.caps, ['lastCap', 'inheritable', 'permitted', 'effective', 'bounding'], '{ lastCap: 40, effective: [1] }', 'caps');
        const last = c.lastCap;
        if (typeof last !== 'number' || !Number.isInteger(last) || last < 0 || last > 2047) bad('caps.lastCap', 'an integer in 0 … 2047', last);
        const words = Math.floor(last! / 32) + 1;
        const bits = last! + 1 - (words - 1) * 32;
        const set = (k: string, w: unknown): Uint32Array => {
          const a = new Uint32Array(words);
          if (w === undefined) return a;
          if (w === null || typeof w !== 'object') bad(`caps.${k}`, 'an array of u32 words', w);
          const len = (w as ArrayLike<unknown>).length;
          if (typeof len !== 'number') bad(`caps.${k}`, 'an array of u32 words', w);
          // (each word read once: checked, then kept)
          const x = listOnce(w as ArrayLike<unknown>, len, (v, i) => { if (!u32(v)) bad(`caps.${k}[${i}]`, 'an integer in 0 … 2^32 − 1', v); });
          for (let i = 0; i < Math.min(words, x.length); i++) a[i] = x[i] as number;
          if (bits < 32) a[words - 1] &= 2 ** bits - 1;
          return a;
        };
        this.capSets = {
          lastCap: last!,
          inheritable: set('inheritable', c.inheritable), permitted: set('permitted', c.permitted), effective: set('effective', c.effective), bounding: set('bounding', c.bounding),
        };
      }
    }
  }

  private str(s: string, what: string, op: string): Uint8Array {
    if (typeof s !== 'string') throw new BusError(A.EINVAL, op, `${what} must be a string or null, got ${kindOf(s)}`);
    const b = utf8(s);
    if (nul(b)) throw new BusError(A.EINVAL, op, `${what} must not contain a NUL (the item adds its own)`);
    return b;
  }

  get credentials(): Creds {
    return { ...this.current };
  }

  clock(id: number, out: Uint32Array): boolean {
    if (this.realClock) return performanceClock(id, out);
    if (id !== 0 && id !== 1) return false;
    this.ticks++;
    const ns = this.ticks * this.step; // monotonic, exact below 2^53
    const sec = Math.floor(ns / 1e9);
    nsToHalves(id === 0 ? MOCK_REALTIME_SEC + sec : sec, ns - sec * 1e9, out);
    return true;
  }

  /** xorshift32: deterministic bytes from the seed */
  random(buf: Uint8Array): void {
    let x = this.state;
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      buf[i] = x & 0xff;
    }
    this.state = x;
  }

  creds(out: Creds): boolean {
    Object.assign(out, this.current);
    return true;
  }

  pids(out: Pids): boolean {
    if (!this.pid) return false;
    Object.assign(out, this.pid);
    return true;
  }

  groups(): readonly number[] | null { return this.grp; }
  comm(thread: boolean): Uint8Array | null { return thread ? this.tcomm : this.pcomm; }
  exe(): Uint8Array | null { return this.exePath; }
  cmdline(): Uint8Array | null { return this.cmd; }
  cgroup(): Uint8Array | null { return this.cg; }
  caps(): Caps | null { return this.capSets; }
  seclabel(): Uint8Array | null { return this.label; }

  audit(out: Audit): boolean {
    if (!this.aud) return false;
    Object.assign(out, this.aud);
    return true;
  }

  /** Moves on every setCreds / setIdentity. */
  epoch(): number { return this.ep; }
}
