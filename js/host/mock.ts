// mock: a deterministic provider for tests and the browser demo. Clocks advance by a fixed
// step on every read from a seeded start; random bytes come from a seeded PRNG; the identity
// (credentials and every other metadata item) is whatever the test configures, per instance
// (each thread has its own provider; per connection: set it before connect()). Credentials
// default to 1000 everywhere; every other item not configured is unsupported.
import type { Audit, Caps, Creds, Pids, Provider } from './provider.ts';
import { nsToHalves, utf8, performanceClock, CREDS_FIELDS } from './provider.ts';
import { BusError } from '../errno.ts';
import * as A from '../shared/abi.ts';
import { options, kindOf } from '../args.ts';

const IDENTITY_KEYS = ['creds', 'pids', 'groups', 'comm', 'exe', 'cmdline', 'cgroup', 'caps', 'seclabel', 'audit'] as const;
const MOCK_KEYS = ['seed', 'step', 'realClock', ...IDENTITY_KEYS] as const;

/** Partial creds, checked: known fields only, each a uid_t / gid_t (an integer in 0 … 2^32 − 1). */
function credsArg(op: string, c: unknown): Partial<Creds> {
  const o = options<Creds>(op, c, CREDS_FIELDS, '{ uid: 1000 }', 'creds');
  for (const f of CREDS_FIELDS) {
    const v = o[f];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new BusError(A.EINVAL, op, `creds.${f} must be an integer in 0 … 2^32 − 1 (a uid_t / gid_t), got ${typeof v === 'number' ? String(v) : kindOf(v)}`);
    }
  }
  return o;
}

/** Capability sets as u32 words (bit n = capability n); sets not given are empty. */
export interface MockCaps {
  lastCap: number;
  inheritable?: ArrayLike<number>; permitted?: ArrayLike<number> | undefined;
  effective?: ArrayLike<number>; bounding?: ArrayLike<number> | undefined;
}

/** The metadata a MockProvider reports; `null` or absent: unsupported (creds: 1000s). */
export interface MockIdentity {
  creds?: Partial<Creds> | undefined;
  pids?: Pids | null | undefined;
  groups?: readonly number[] | null | undefined;
  /** a string: thread and process comm alike */
  comm?: string | { thread?: string | null; process?: string | null } | null | undefined;
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
    if (opts.seed !== undefined && (typeof opts.seed !== 'number' || !Number.isInteger(opts.seed))) throw new BusError(A.EINVAL, 'MockProvider', `seed must be an integer, got ${typeof opts.seed === 'number' ? String(opts.seed) : kindOf(opts.seed)}`);
    if (opts.step !== undefined && (typeof opts.step !== 'number' || !Number.isSafeInteger(opts.step) || opts.step < 0)) throw new BusError(A.EINVAL, 'MockProvider', `step must be a whole number of ns >= 0, got ${typeof opts.step === 'number' ? String(opts.step) : kindOf(opts.step)}`);
    if (opts.realClock !== undefined && typeof opts.realClock !== 'boolean') throw new BusError(A.EINVAL, 'MockProvider', `realClock must be a boolean, got ${kindOf(opts.realClock)}`);
    this.state = (opts.seed ?? 1) >>> 0 || 1;
    this.step = opts.step ?? 1000;
    this.realClock = opts.realClock === true;
    this.current = { uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, gid: 1000, egid: 1000, sgid: 1000, fsgid: 1000 };
    this.identity(opts, 'MockProvider');
  }

  /** Change the identity the provider reports (fields not given keep their value). */
  setCreds(c: Partial<Creds>): void {
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

  private identity(id: MockIdentity, op: string): void {
    // all or nothing: a bad field leaves the identity (and the epoch) as they were
    const saved = [this.current, this.pid, this.grp, this.tcomm, this.pcomm, this.exePath, this.cmd, this.cg, this.label, this.aud, this.capSets] as const;
    try {
      this.apply(id, op);
    } catch (err) {
      [this.current, this.pid, this.grp, this.tcomm, this.pcomm, this.exePath, this.cmd, this.cg, this.label, this.aud, this.capSets] = saved;
      throw err;
    }
    this.ep = (this.ep + 1) >>> 0;
  }

  private apply(id: MockIdentity, op: string): void {
    if (id.creds) this.current = { ...this.current, ...credsArg(op, id.creds) };
    if (id.pids !== undefined) this.pid = id.pids ? { pid: id.pids.pid, tid: id.pids.tid, ppid: id.pids.ppid } : null;
    if (id.groups !== undefined) this.grp = id.groups ? [...id.groups] : null;
    if (id.comm !== undefined) {
      const c = id.comm;
      if (c === null || typeof c === 'string') {
        this.tcomm = this.pcomm = c === null ? null : this.str(c, 'comm');
      } else {
        if (c.thread !== undefined) this.tcomm = c.thread === null ? null : this.str(c.thread, 'comm.thread');
        if (c.process !== undefined) this.pcomm = c.process === null ? null : this.str(c.process, 'comm.process');
      }
    }
    if (id.exe !== undefined) this.exePath = id.exe === null ? null : this.str(id.exe, 'exe');
    if (id.cmdline !== undefined) {
      this.cmd = id.cmdline === null ? null : utf8(id.cmdline.map((a) => {
        this.str(a, 'cmdline argument');
        return a + '\0';
      }).join(''));
    }
    if (id.cgroup !== undefined) this.cg = id.cgroup === null ? null : this.str(id.cgroup, 'cgroup');
    if (id.seclabel !== undefined) this.label = id.seclabel === null ? null : this.str(id.seclabel, 'seclabel');
    if (id.audit !== undefined) this.aud = id.audit ? { loginuid: id.audit.loginuid >>> 0, sessionid: id.audit.sessionid >>> 0 } : null;
    if (id.caps !== undefined) {
      const c = id.caps;
      if (c === null) {
        this.capSets = null;
      } else {
        if (!Number.isInteger(c.lastCap) || c.lastCap < 0 || c.lastCap > 2047) throw new RangeError(`MockProvider: caps.lastCap must be an integer in 0 … 2047, got ${c.lastCap}`);
        const words = Math.floor(c.lastCap / 32) + 1;
        const bits = c.lastCap + 1 - (words - 1) * 32;
        const set = (w?: ArrayLike<number>): Uint32Array => {
          const a = new Uint32Array(words);
          if (w) for (let i = 0; i < Math.min(words, w.length); i++) a[i] = w[i];
          if (bits < 32) a[words - 1] &= 2 ** bits - 1;
          return a;
        };
        this.capSets = {
          lastCap: c.lastCap,
          inheritable: set(c.inheritable), permitted: set(c.permitted), effective: set(c.effective), bounding: set(c.bounding),
        };
      }
    }
  }

  private str(s: string, what: string): Uint8Array {
    if (typeof s !== 'string') throw new BusError(A.EINVAL, 'MockProvider', `${what} must be a string or null, got ${kindOf(s)}`);
    const b = utf8(s);
    if (nul(b)) throw new RangeError(`MockProvider: ${what} must not contain a NUL`);
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
